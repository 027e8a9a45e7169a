// The llamavid element's memory files (save-memory, load-memory, autosave) and the faults around
// them: unreadable and unwritable files, the model directory removed after loading, caps
// renegotiation storms, flushing seeks during answers and EOS while the model loads.
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "element_test_util.h"
#include "test_util.h"

using namespace llamavid::test;
namespace fs = std::filesystem;

namespace {

// Every frame sampled and encoded, so a question sees exactly the frames pushed before it.
const ElementHarness::Properties kEveryFrame = {{"sample-fps", "1000"}, {"skip-frames", "never"}};

gboolean save_memory(GstElement* e, const std::string& path) {
  gboolean ok = FALSE;
  g_signal_emit_by_name(e, "save-memory", path.c_str(), &ok);
  return ok;
}

gboolean load_memory(GstElement* e, const std::string& path) {
  gboolean ok = FALSE;
  g_signal_emit_by_name(e, "load-memory", path.c_str(), &ok);
  return ok;
}

// Asks and waits for the answer, so every frame pushed before is in memory.
void settle(ElementHarness& e) {
  const guint64 id = e.ask("What is on screen?");
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_id(m), id);
  EXPECT_EQ(result_name(m), "llamavid-answer");
  gst_message_unref(m);
}

// The next llamavid-memory message: its action, success and entries.
struct MemoryMessage {
  std::string action;
  bool success = false;
  guint64 entries = 0;
  std::string reason;
};

MemoryMessage next_memory_message(GstBus* bus) {
  MemoryMessage out;
  GstMessage* m = wait_message(bus, {"llamavid-memory"}, std::chrono::seconds(60));
  EXPECT_NE(m, nullptr) << "no llamavid-memory message";
  if (!m) return out;
  const GstStructure* s = gst_message_get_structure(m);
  out.action = gst_structure_get_string(s, "action");
  gboolean success = FALSE;
  gst_structure_get_boolean(s, "success", &success);
  out.success = success;
  gst_structure_get_uint64(s, "entries", &out.entries);
  out.reason = gst_structure_get_string(s, "reason");
  gst_message_unref(m);
  return out;
}

// A warning is the first message of its type on the bus (taken off it; earlier messages of
// other types are dropped, later ones stay).
bool took_warning(GstBus* bus) {
  GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_WARNING);
  if (!m) return false;
  gst_message_unref(m);
  return true;
}

}  // namespace

// save-memory writes the memory; load-memory in another element brings it back, and the stream
// goes on after it.
TEST(ElementPersistence, SaveAndLoadSignals) {
  const std::string path = scratch_dir("element_persist_signals") + "/memory.safetensors";
  {
    ElementHarness a(kEveryFrame);
    for (int i = 0; i < 4; ++i) a.push_frame(i, static_cast<guint8>(40 * i));
    settle(a);
    EXPECT_TRUE(save_memory(a.element, path));
    const MemoryMessage saved = next_memory_message(a.bus);
    EXPECT_EQ(saved.action, "save");
    EXPECT_TRUE(saved.success);
    EXPECT_EQ(saved.entries, 4u);
  }
  ElementHarness b(kEveryFrame);
  EXPECT_TRUE(load_memory(b.element, path));
  EXPECT_TRUE(next_memory_message(b.bus).success);
  EXPECT_EQ(b.uint64_property("memory-frames"), 4u);
  b.push_frame(1.0);  // inside the loaded span: the stream continues after it
  const guint64 id = b.ask("What came before?");
  GstMessage* m = wait_result(b.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_id(m), id);
  ASSERT_EQ(result_name(m), "llamavid-answer");
  guint frames = 0;
  guint64 start = 1, end = 0, stream_time = 0;
  const GstStructure* st = gst_message_get_structure(m);
  gst_structure_get_uint(st, "frames", &frames);
  gst_structure_get_uint64(st, "memory-start", &start);
  gst_structure_get_uint64(st, "memory-end", &end);
  gst_structure_get_uint64(st, "stream-time", &stream_time);
  EXPECT_EQ(frames, 5u);
  EXPECT_EQ(start, 0u);
  // The frame at 1 s follows the loaded memory (newest entry at 3 s) one second later, in the
  // memory's timeline; the answer's stream-time stays in this stream's.
  EXPECT_EQ(end, 4 * kSecond);
  EXPECT_EQ(stream_time, 1 * kSecond);
  gst_message_unref(m);
}

// A missing, corrupt or foreign file: load-memory returns FALSE, posts a warning and a failed
// llamavid-memory message, keeps the memory, and the stream goes on.
TEST(ElementPersistence, LoadFailuresKeepMemory) {
  const std::string dir = scratch_dir("element_persist_load_fail");
  write_file(dir + "/garbage.safetensors", "not a memory file at all");
  ElementHarness e(kEveryFrame);
  for (int i = 0; i < 3; ++i) e.push_frame(i);
  settle(e);
  for (const std::string& path : {dir + "/missing.safetensors", dir + "/garbage.safetensors",
                                  tiny_model_dir() + "/model.safetensors"}) {
    EXPECT_FALSE(load_memory(e.element, path)) << path;
    EXPECT_TRUE(took_warning(e.bus)) << path;  // posted first
    const MemoryMessage m = next_memory_message(e.bus);
    EXPECT_EQ(m.action, "load");
    EXPECT_FALSE(m.success);
    EXPECT_NE(m.reason.find(path), std::string::npos) << m.reason;
    EXPECT_EQ(e.uint64_property("memory-frames"), 3u);
  }
  e.push_frame(3);
  settle(e);
}

// A save that cannot be written returns FALSE with a warning, leaves the previous file intact,
// and the stream goes on.
TEST(ElementPersistence, SaveFailuresKeepThePreviousFile) {
  const std::string dir = scratch_dir("element_persist_save_fail");
  const std::string path = dir + "/memory.safetensors";
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  settle(e);
  ASSERT_TRUE(save_memory(e.element, path));
  next_memory_message(e.bus);
  const std::string before = read_file(path);
  e.push_frame(1);
  settle(e);
  // A directory in the target's place cannot be replaced, whoever runs the test.
  fs::create_directory(dir + "/taken");
  for (const std::string& bad : {dir + "/taken", dir + "/missing/memory.safetensors",
                                 std::string("")}) {
    EXPECT_FALSE(save_memory(e.element, bad)) << bad;
    EXPECT_TRUE(took_warning(e.bus));
    EXPECT_FALSE(next_memory_message(e.bus).success);
  }
  EXPECT_EQ(read_file(path), before);
  e.push_frame(2);
  settle(e);
}

// Before the model is loaded (NULL) both signals refuse with FALSE.
TEST(ElementPersistence, SignalsNeedTheModel) {
  GstElement* e = gst_element_factory_make("llamavid", nullptr);
  ASSERT_NE(e, nullptr);
  GstBus* bus = gst_bus_new();
  gst_element_set_bus(e, bus);
  EXPECT_FALSE(save_memory(e, scratch_dir("element_persist_null") + "/m.safetensors"));
  EXPECT_FALSE(load_memory(e, scratch_dir("element_persist_null") + "/m.safetensors"));
  gst_bus_set_flushing(bus, TRUE);
  gst_object_unref(bus);
  gst_object_unref(e);
}

// Autosave writes the memory every autosave-interval of stream time and at EOS.
TEST(ElementPersistence, AutosaveByStreamTimeAndAtEos) {
  const std::string path = scratch_dir("element_persist_autosave") + "/auto.safetensors";
  ElementHarness e({{"sample-fps", "1000"},
                    {"skip-frames", "never"},
                    {"autosave-path", path.c_str()},
                    {"autosave-interval", "2"}});
  for (int i = 0; i <= 2; ++i) e.push_frame(i, static_cast<guint8>(60 * i));
  const MemoryMessage periodic = next_memory_message(e.bus);
  EXPECT_EQ(periodic.action, "autosave");
  EXPECT_TRUE(periodic.success);
  EXPECT_TRUE(fs::exists(path));
  e.push_frame(3);
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  MemoryMessage last;
  do last = next_memory_message(e.bus);
  while (last.success && last.entries < 4);
  EXPECT_TRUE(last.success);
  EXPECT_EQ(last.entries, 4u);

  ElementHarness b(kEveryFrame);
  EXPECT_TRUE(load_memory(b.element, path));
  EXPECT_EQ(b.uint64_property("memory-frames"), 4u);
}

// restore-memory: a new element (a restarted pipeline, no application) starts from the
// autosave file and its times go on after it; with no file yet it starts empty without a
// warning; a corrupt file warns and starts empty.
TEST(ElementPersistence, RestoreMemoryAtStart) {
  const std::string dir = scratch_dir("element_persist_restore");
  const std::string path = dir + "/auto.safetensors";
  fs::remove(path);
  {
    ElementHarness first({{"sample-fps", "1000"},
                          {"skip-frames", "never"},
                          {"merge-threshold", "0"},
                          {"autosave-path", path.c_str()},
                          {"restore-memory", "true"}});
    EXPECT_EQ(first.uint64_property("memory-frames"), 0u);
    EXPECT_FALSE(took_warning(first.bus));
    for (int i = 0; i < 5; ++i) first.push_frame(i, static_cast<guint8>(50 * i));
    settle(first);
  }  // leaving PAUSED autosaves
  ASSERT_TRUE(fs::exists(path));
  ElementHarness again({{"sample-fps", "1000"},
                        {"skip-frames", "never"},
                        {"merge-threshold", "0"},
                        {"autosave-path", path.c_str()},
                        {"restore-memory", "true"}});
  const MemoryMessage restored = next_memory_message(again.bus);
  EXPECT_EQ(restored.action, "restore");
  EXPECT_TRUE(restored.success);
  EXPECT_EQ(restored.entries, 5u);
  EXPECT_EQ(again.uint64_property("memory-frames"), 5u);
  // The new stream starts at 0 again; its frames land after the restored ones.
  again.push_frame(0, 200);
  settle(again);
  EXPECT_EQ(again.uint64_property("memory-frames"), 6u);
  EXPECT_GT(again.uint64_property("memory-span"), 4 * kSecond);

  {
    std::ofstream(path, std::ios::trunc) << "not a memory file";
  }
  ElementHarness corrupt({{"autosave-path", path.c_str()}, {"restore-memory", "true"}});
  EXPECT_TRUE(took_warning(corrupt.bus));
  EXPECT_EQ(corrupt.uint64_property("memory-frames"), 0u);
}

// With its model directory removed after loading, the element answers, saves and loads.
TEST(ElementPersistence, ModelDirectoryRemovedAfterLoad) {
  const std::string dir = scratch_dir("element_persist_removed") + "/model";
  fs::copy(tiny_model_dir(), dir, fs::copy_options::recursive);
  const std::string file = scratch_dir("element_persist_removed_file") + "/m.safetensors";
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"model", dir.c_str()}});
  fs::remove_all(dir);
  for (int i = 0; i < 3; ++i) e.push_frame(i, static_cast<guint8>(50 * i));
  settle(e);
  EXPECT_TRUE(save_memory(e.element, file));
  EXPECT_TRUE(next_memory_message(e.bus).success);
  EXPECT_TRUE(load_memory(e.element, file));
  EXPECT_TRUE(next_memory_message(e.bus).success);
  e.push_frame(3);
  settle(e);
}

// Hundreds of caps changes (sizes and formats), one frame each: every frame passes, the memory
// keeps growing and questions are answered.
TEST(ElementPersistence, CapsRenegotiationStorm) {
  ElementHarness e(kEveryFrame);
  const struct {
    const char* format;
    int width, height;
  } kinds[] = {{"RGB", 32, 24}, {"I420", 64, 48}, {"BGRx", 20, 30}, {"NV12", 16, 16}};
  constexpr int kChanges = 200;
  for (int i = 0; i < kChanges; ++i) {
    const auto& k = kinds[i % 4];
    gst_harness_set_src_caps_str(e.video, ("video/x-raw,format=" + std::string(k.format) +
                                           ",width=" + std::to_string(k.width) +
                                           ",height=" + std::to_string(k.height) +
                                           ",framerate=30/1")
                                              .c_str());
    GstVideoInfo info;
    gst_video_info_set_format(&info, gst_video_format_from_string(k.format), k.width, k.height);
    GstBuffer* b = gst_buffer_new_and_alloc(GST_VIDEO_INFO_SIZE(&info));
    gst_buffer_memset(b, 0, static_cast<guint8>(i), GST_VIDEO_INFO_SIZE(&info));
    GST_BUFFER_PTS(b) = static_cast<GstClockTime>(i) * GST_SECOND / 10;
    ASSERT_EQ(gst_harness_push(e.video, b), GST_FLOW_OK) << "change " << i;
    gst_buffer_unref(gst_harness_pull(e.video));
    if (i % 50 == 49) settle(e);
  }
  EXPECT_GT(e.uint64_property("memory-frames"), 0u);
  EXPECT_EQ(e.uint64_property("frames-sampled"), static_cast<guint64>(kChanges));
}

// Flushing seeks while questions are being answered: every question gets exactly one result and
// the stream carries on after each flush.
TEST(ElementPersistence, FlushingSeeksDuringAnswers) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"max-new-tokens", "64"}});
  std::vector<guint64> ids;
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  for (int round = 0; round < 15; ++round) {
    for (int i = 0; i < 2; ++i) e.push_frame(round + 0.1 * i, static_cast<guint8>(round * 16));
    for (int q = 0; q < 3; ++q)
      ids.push_back(e.ask("What happened in round " + std::to_string(round) + "?"));
    std::this_thread::sleep_for(std::chrono::milliseconds(round % 3 * 5));
    ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_start()));
    ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_stop(TRUE)));
    ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_segment(&segment)));
  }
  e.push_frame(20);
  ids.push_back(e.ask("And at the end?"));
  std::map<guint64, int> results;
  for (size_t i = 0; i < ids.size(); ++i) {
    GstMessage* m = wait_result(e.bus);
    ASSERT_NE(m, nullptr) << "missing results after " << i;
    ++results[result_id(m)];
    gst_message_unref(m);
  }
  EXPECT_TRUE(pending_results(e.bus).empty());
  for (guint64 id : ids) EXPECT_EQ(results[id], 1) << "question " << id;
  EXPECT_EQ(results.size(), ids.size());
}

// EOS sent while the pipeline is still starting (the model loading) ends the pipeline normally.
TEST(ElementPersistence, EosDuringModelLoad) {
  GError* error = nullptr;
  GstElement* p = gst_parse_launch(
      ("videotestsrc ! video/x-raw,format=RGB,width=64,height=48 ! llamavid device=cpu "
       "max-new-tokens=4 ask-at-eos=\"What was shown?\" model=\"" + slow_model_dir() +
       "\" ! fakesink")
          .c_str(),
      &error);
  ASSERT_NE(p, nullptr) << (error ? error->message : "");
  GstBus* bus = gst_element_get_bus(p);
  std::thread starter([p] { gst_element_set_state(p, GST_STATE_PLAYING); });
  gst_element_send_event(p, gst_event_new_eos());
  starter.join();
  GstMessage* m = gst_bus_timed_pop_filtered(
      bus, 120 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ASSERT_NE(m, nullptr) << "neither EOS nor an error";
  EXPECT_EQ(GST_MESSAGE_TYPE(m), GST_MESSAGE_EOS);
  gst_message_unref(m);
  EXPECT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(p);
}
