// The llamavid element's pads: what gst-inspect shows, video passthrough, sampling by stream
// time, caps changes, text_src output (stream events, answer timestamps, GAPs), latency and the
// subtitle stream's EOS.
#include <gtest/gtest.h>

#include <cstdio>
#include <atomic>
#include <memory>
#include <thread>

#include "element_test_util.h"

using namespace llamavid::test;

namespace {

std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

// Pulls text_src events until GAPs (in order, without going back) cover `position`.
bool wait_gap_reaching(GstHarness* text, GstClockTime position) {
  GstClockTime reached = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (reached < position && std::chrono::steady_clock::now() < deadline) {
    GstEvent* ev = gst_harness_try_pull_event(text);
    if (!ev) {
      g_usleep(10000);
      continue;
    }
    if (GST_EVENT_TYPE(ev) == GST_EVENT_GAP) {
      GstClockTime ts, duration;
      gst_event_parse_gap(ev, &ts, &duration);
      EXPECT_GE(ts, reached);
      reached = ts + (GST_CLOCK_TIME_IS_VALID(duration) ? duration : 0);
    }
    gst_event_unref(ev);
  }
  return reached == position;
}

}  // namespace

// gst-inspect-1.0 (the real tool, on the build-tree plugin) lists every pad, property and signal.
TEST(ElementPads, InspectListsEverything) {
  const std::string out = run_command("gst-inspect-1.0 llamavid 2>&1");
  for (const char* item : {"Filter/Analyzer/Video",
                           "libgstllamavid.so",
                           "SRC: 'src'",
                           "SINK: 'sink'",
                           "SINK: 'query_sink'",
                           "SRC: 'text_src'",
                           "text/x-raw",
                           "utf8",
                           "RGBA",
                           "BGRx",
                           "BGRA",
                           "I420",
                           "NV12",
                           "model",
                           "device",
                           "sample-fps",
                           "max-new-tokens",
                           "temperature",
                           "seed",
                           "ask-at-eos",
                           "memory-frames",
                           "memory-span",
                           "memory-start",
                           "memory-end",
                           "max-memory-entries",
                           "merge-threshold",
                           "time-markers",
                           "queue-size",
                           "skip-frames",
                           "frames-sampled",
                           "frames-skipped",
                           "context-mode",
                           "standing-prompt",
                           "max-memory-bytes",
                           "autosave-path",
                           "autosave-interval",
                           "restore-memory",
                           "watches",
                           "watch-interval",
                           "watch-confirm",
                           "watch-cooldown",
                           "text-format",
                           "\"ask\"",
                           "\"watch\"",
                           "\"unwatch\"",
                           "guint64 user_function",
                           "\"save-memory\"",
                           "\"load-memory\"",
                           "gboolean user_function"})
    EXPECT_NE(out.find(item), std::string::npos) << "missing " << item << " in:\n" << out;
}

// standing-prompt starts at the default prompt, takes a new text while playing (frames and
// questions go on), and an empty value restores the default.
TEST(ElementPads, StandingPromptWhilePlaying) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}});
  auto prompt = [&] {
    gchar* text = nullptr;
    g_object_get(e.element, "standing-prompt", &text, nullptr);
    std::string out = text ? text : "";
    g_free(text);
    return out;
  };
  EXPECT_EQ(prompt(), "What is on screen?");
  e.push_frame(0);
  g_object_set(e.element, "standing-prompt", "Is anyone at the door?", nullptr);
  EXPECT_EQ(prompt(), "Is anyone at the door?");
  e.push_frame(1, 200);
  e.ask("What is on screen?");
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_name(m), "llamavid-answer");
  gst_message_unref(m);
  EXPECT_EQ(e.uint64_property("memory-frames"), 2u);
  g_object_set(e.element, "standing-prompt", "", nullptr);
  EXPECT_EQ(prompt(), "What is on screen?");
}

// Video buffers come out as the very same buffers, in order, with their timestamps and flags.
TEST(ElementPads, PassthroughWithoutCopy) {
  ElementHarness e({{"sample-fps", "1000"}});
  for (int i = 0; i < 5; ++i) {
    GstBuffer* b = solid_buffer(e.width, e.height, static_cast<guint8>(i * 40), i * kSecond / 10,
                                kSecond / 10);
    if (i == 0) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DISCONT);
    if (i % 2) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
    gst_buffer_ref(b);  // keep it alive to compare
    ASSERT_EQ(gst_harness_push(e.video, b), GST_FLOW_OK);
    GstBuffer* out = gst_harness_pull(e.video);
    EXPECT_EQ(out, b);
    EXPECT_EQ(GST_BUFFER_PTS(out), static_cast<GstClockTime>(i * kSecond / 10));
    EXPECT_EQ(GST_BUFFER_DURATION(out), kSecond / 10);
    EXPECT_EQ(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DISCONT), i == 0);
    EXPECT_EQ(GST_BUFFER_FLAG_IS_SET(out, GST_BUFFER_FLAG_DELTA_UNIT), i % 2 == 1);
    gst_buffer_unref(out);
    gst_buffer_unref(b);
  }
  GstCaps* caps = gst_pad_get_current_caps(GST_PAD_PEER(e.video->sinkpad));
  ASSERT_NE(caps, nullptr);
  GstCaps* expected =
      gst_caps_from_string("video/x-raw,format=RGB,width=32,height=24,framerate=30/1");
  EXPECT_TRUE(gst_caps_is_equal(caps, expected));
  gst_caps_unref(expected);
  gst_caps_unref(caps);
}

// Frames are sampled by timestamp at sample-fps, whatever the frame rate (0/1 here), its
// variations and gaps; a new segment restarts the sampling clock.
TEST(ElementPads, SamplesByStreamTime) {
  ElementHarness e({{"sample-fps", "2"}, {"skip-frames", "never"}, {"merge-threshold", "0"}},
                   "video/x-raw,format=RGB,width=32,height=24,framerate=0/1");
  // Half-second periods: 0 0 0 | 1 1 | 2 | (gap) 5 5 | 6
  const double times[] = {0.0, 0.1, 0.45, 0.5, 0.9, 1.0, 2.7, 2.72, 3.4};
  int i = 0;
  for (double t : times) e.push_frame(t, static_cast<guint8>(20 * i++));
  EXPECT_EQ(e.uint64_property("frames-sampled"), 5u);

  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_segment(&segment)));
  e.push_frame(3.45, 7);  // same period as 3.4, but the clock restarted
  EXPECT_EQ(e.uint64_property("frames-sampled"), 6u);

  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  EXPECT_EQ(e.uint64_property("memory-frames"), 6u);
  EXPECT_EQ(e.uint64_property("memory-span"), 3450 * GST_MSECOND);
}

// Stream time (not buffer time) places the frames: a segment starting at 10 s with time 100 s;
// memory-start and memory-end say so.
TEST(ElementPads, MemoryUsesStreamTime) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}});
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.start = 10 * kSecond;
  segment.time = 100 * kSecond;
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_segment(&segment)));
  e.push_frame(10.0);
  e.push_frame(12.0);
  const guint64 id = e.ask("When?");
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_id(m), id);
  guint64 stream_time = 0;
  ASSERT_TRUE(gst_structure_get_uint64(gst_message_get_structure(m), "stream-time", &stream_time));
  EXPECT_EQ(stream_time, 102 * kSecond);
  gst_message_unref(m);
  EXPECT_EQ(e.uint64_property("memory-start"), 100 * kSecond);
  EXPECT_EQ(e.uint64_property("memory-end"), 102 * kSecond);
}

// A change of size and format mid-stream keeps the memory.
TEST(ElementPads, CapsChangeKeepsMemory) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"merge-threshold", "0"}});
  for (int i = 0; i < 3; ++i) e.push_frame(i, static_cast<guint8>(50 * i));
  gst_harness_set_src_caps_str(e.video,
                               "video/x-raw,format=I420,width=48,height=36,framerate=30/1");
  for (int i = 3; i < 5; ++i) {
    const gsize size = 48 * 36 * 3 / 2;
    GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
    gst_buffer_memset(b, 0, static_cast<guint8>(30 * i), size);
    GST_BUFFER_PTS(b) = i * kSecond;
    ASSERT_EQ(gst_harness_push(e.video, b), GST_FLOW_OK);
    gst_buffer_unref(gst_harness_pull(e.video));
  }
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  EXPECT_EQ(e.uint64_property("memory-frames"), 5u);
  EXPECT_EQ(e.uint64_property("memory-span"), 4 * kSecond);
}

// text_src starts with stream-start, caps and segment, then carries each answer as a buffer
// stamped with the answer's stream time.
TEST(ElementPads, TextSrcCarriesAnswers) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}});
  for (int i = 0; i < 3; ++i) e.push_frame(i);
  const guint64 id = e.ask("What is on screen?");
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(result_name(m), "llamavid-answer");
  EXPECT_EQ(result_id(m), id);
  const GstStructure* s = gst_message_get_structure(m);
  guint64 stream_time = 0;
  gst_structure_get_uint64(s, "stream-time", &stream_time);
  const std::string answer = gst_structure_get_string(s, "answer");

  GstBuffer* b = gst_harness_pull(e.text);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(b), stream_time);
  EXPECT_EQ(stream_time, 2 * kSecond);
  GstMapInfo map;
  ASSERT_TRUE(gst_buffer_map(b, &map, GST_MAP_READ));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(map.data), map.size), answer);
  gst_buffer_unmap(b, &map);
  gst_buffer_unref(b);
  gst_message_unref(m);

  GstEvent* ev = gst_harness_pull_event(e.text);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(GST_EVENT_TYPE(ev), GST_EVENT_STREAM_START);
  gst_event_unref(ev);
  ev = gst_harness_pull_event(e.text);
  ASSERT_NE(ev, nullptr);
  ASSERT_EQ(GST_EVENT_TYPE(ev), GST_EVENT_CAPS);
  GstCaps* caps = nullptr;
  gst_event_parse_caps(ev, &caps);
  GstCaps* expected = gst_caps_from_string("text/x-raw,format=utf8");
  EXPECT_TRUE(gst_caps_is_equal(caps, expected));
  gst_caps_unref(expected);
  gst_event_unref(ev);
  ev = gst_harness_pull_event(e.text);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(GST_EVENT_TYPE(ev), GST_EVENT_SEGMENT);
  gst_event_unref(ev);
}

// As the video advances, text_src carries GAP events that follow it.
TEST(ElementPads, TextSrcGapsFollowVideo) {
  ElementHarness e({{"sample-fps", "1"}});
  for (int i = 0; i < 6; ++i) e.push_frame(i * 0.5);
  EXPECT_TRUE(wait_gap_reaching(e.text, 2500 * GST_MSECOND));
}

// Answers never go back in time on text_src, even about frames GAPs have already passed.
TEST(ElementPads, TextSrcTimestampsNeverGoBack) {
  ElementHarness e({{"sample-fps", "1"}, {"skip-frames", "never"}});
  GstPad* text_src = gst_element_get_static_pad(e.element, "text_src");
  PadRecorder rec(text_src);
  gst_object_unref(text_src);
  for (int i = 0; i < 10; ++i) e.push_frame(i * 0.3);  // sampled at 0, 1.2, 2.1; video at 2.7
  ASSERT_TRUE(wait_gap_reaching(e.text, 2700 * GST_MSECOND));
  e.ask("First?");
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  auto pts = rec.buffer_pts();
  ASSERT_EQ(pts.size(), 1u);
  EXPECT_EQ(pts[0], 2700 * GST_MSECOND);  // the answer speaks of 2.1 s; GAPs reached 2.7 s
}

// The LATENCY query passes through: the element adds nothing to upstream's latency.
TEST(ElementPads, LatencyIsPassthrough) {
  ElementHarness e;
  gst_harness_set_upstream_latency(e.video, 40 * GST_MSECOND);
  EXPECT_EQ(gst_harness_query_latency(e.video), 40 * GST_MSECOND);
}

namespace {

// A harness on subtitle_sink of `e`'s element, its stream started.
GstHarness* subtitle_harness(ElementHarness& e) {
  GstHarness* h = gst_harness_new_with_element(e.element, "subtitle_sink", nullptr);
  gst_harness_set_src_caps_str(h, "text/x-raw,format=utf8");
  return h;
}

// True when `done` is still unset after `ms` milliseconds.
bool still_waiting(const std::atomic<bool>& done, int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return !done;
}

}  // namespace

// With subtitle_sink linked, the video's EOS waits for the subtitle stream's (cues parsed after
// the last frame still belong to the memory), and goes on once it comes.
TEST(ElementPads, VideoEosWaitsForSubtitleEos) {
  ElementHarness e({{"sample-fps", "1"}});
  GstHarness* subs = subtitle_harness(e);
  e.push_frame(0);
  std::atomic<bool> done{false};
  std::thread eos([&] {
    EXPECT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
    done = true;
  });
  EXPECT_TRUE(still_waiting(done, 500));
  GstBuffer* cue = gst_buffer_new_memdup("late cue", 8);
  GST_BUFFER_PTS(cue) = 5 * kSecond;
  GST_BUFFER_DURATION(cue) = kSecond;
  EXPECT_EQ(gst_harness_push(subs, cue), GST_FLOW_OK);
  EXPECT_TRUE(still_waiting(done, 200));
  EXPECT_TRUE(gst_harness_push_event(subs, gst_event_new_eos()));
  eos.join();
  EXPECT_TRUE(done);
  gst_harness_teardown(subs);
}

// A subtitle stream that never ends holds the video's EOS only until the element stops.
TEST(ElementPads, StoppingEndsTheWaitForSubtitles) {
  auto e = std::make_unique<ElementHarness>(ElementHarness::Properties{{"sample-fps", "1"}});
  GstHarness* subs = subtitle_harness(*e);
  e->push_frame(0);
  std::atomic<bool> done{false};
  std::thread eos([&] {
    gst_harness_push_event(e->video, gst_event_new_eos());
    done = true;
  });
  EXPECT_TRUE(still_waiting(done, 300));
  EXPECT_EQ(gst_element_set_state(e->element, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  eos.join();
  EXPECT_TRUE(done);
  gst_harness_teardown(subs);
}
