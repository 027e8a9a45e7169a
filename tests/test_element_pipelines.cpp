// The llamavid element in real pipelines: model errors at NULL->READY, state cycles with
// questions in flight, and a live source that the model cannot keep up with.
#include <gtest/gtest.h>

#include <thread>

#include "element_test_util.h"
#include "test_util.h"

using namespace llamavid::test;

namespace {

GstElement* parse(const std::string& description) {
  GError* error = nullptr;
  GstElement* p = gst_parse_launch(description.c_str(), &error);
  EXPECT_EQ(error, nullptr) << (error ? error->message : "");
  if (error) g_error_free(error);
  return p;
}

// The error message text posted while going to READY, or "" if the change succeeded.
std::string ready_error(const std::string& model) {
  GstElement* p = parse("videotestsrc ! llamavid name=l model=\"" + model + "\" ! fakesink");
  if (!p) return "no pipeline";
  const GstStateChangeReturn ret = gst_element_set_state(p, GST_STATE_READY);
  std::string text;
  GstBus* bus = gst_element_get_bus(p);
  if (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* error = nullptr;
    gst_message_parse_error(m, &error, nullptr);
    text = error->message;
    g_error_free(error);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  EXPECT_EQ(ret == GST_STATE_CHANGE_FAILURE, !text.empty());
  gst_element_set_state(p, GST_STATE_NULL);
  gst_object_unref(p);
  return text;
}


}  // namespace

// A missing model directory fails NULL->READY with an error naming the path.
TEST(ElementPipelines, MissingModelFailsReady) {
  const std::string dir = scratch_dir("element_missing_model") + "/nothing-here";
  const std::string error = ready_error(dir);
  EXPECT_NE(error.find(dir), std::string::npos) << error;
}

// An invalid model directory fails NULL->READY with an error naming the path and the problem.
TEST(ElementPipelines, InvalidModelFailsReady) {
  const std::string dir = scratch_dir("element_invalid_model");
  write_file(dir + "/config.json", "{ not json");
  const std::string error = ready_error(dir);
  EXPECT_NE(error.find(dir), std::string::npos) << error;
  EXPECT_NE(error.find("config.json"), std::string::npos) << error;
  EXPECT_EQ(ready_error(tiny_model_dir()), "");
  // Bytes that are not UTF-8 come out escaped: the message is valid UTF-8 and shows them.
  write_file(dir + "/config.json", "{\"hidden_size\": 128, \"a\": \"\xff\xfe\", \"b\": [1");
  const std::string bytes = ready_error(dir);
  EXPECT_TRUE(g_utf8_validate(bytes.c_str(), -1, nullptr)) << bytes;
  EXPECT_NE(bytes.find("\\xFF"), std::string::npos) << bytes;
}

// 200 fast cycles NULL -> PLAYING -> NULL with questions in flight: no hang, no ERROR, every
// question gets exactly one result, and the heap does not grow. Then questions asked in NULL and
// in READY wait for the next run's frames and are answered.
TEST(ElementPipelines, StateCyclesWithQuestionsInFlight) {
  GstElement* p = parse(
      "videotestsrc pattern=ball ! video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! "
      "llamavid name=l device=cpu sample-fps=10 max-new-tokens=32 model=\"" +
      tiny_model_dir() + "\" ! fakesink sync=false");
  ASSERT_NE(p, nullptr);
  g_object_set(p, "auto-flush-bus", FALSE, nullptr);  // keep results posted while going to NULL
  GstElement* l = gst_bin_get_by_name(GST_BIN(p), "l");
  GstBus* bus = gst_element_get_bus(p);
  size_t heap_at_10 = 0;
  for (int cycle = 0; cycle < 200; ++cycle) {
    ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    ASSERT_EQ(gst_element_get_state(p, nullptr, nullptr, 30 * GST_SECOND),
              GST_STATE_CHANGE_SUCCESS);
    std::vector<guint64> ids(3);
    for (auto& id : ids) g_signal_emit_by_name(l, "ask", "What is on screen?", &id);
    g_usleep((cycle % 5) * 5000);
    ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    auto results = pending_results(bus);
    ASSERT_EQ(results.size(), ids.size()) << "cycle " << cycle;
    for (size_t i = 0; i < results.size(); ++i) {
      EXPECT_EQ(result_id(results[i]), ids[i]);
      gst_message_unref(results[i]);
    }
    if (GstMessage* error = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(error, &e, &debug);
      ADD_FAILURE() << "cycle " << cycle << ": ERROR from " << GST_MESSAGE_SRC_NAME(error)
                    << ": " << e->message << " (" << (debug ? debug : "") << ")";
      g_error_free(e);
      g_free(debug);
      gst_message_unref(error);
    }
    gst_bus_set_flushing(bus, TRUE);  // drop the rest (state changes, stream status)
    gst_bus_set_flushing(bus, FALSE);
    if (cycle == 10) heap_at_10 = heap_in_use();
  }
  // A frame, a tensor or a message kept per cycle would pass this bound within the 190 cycles.
  const long growth = static_cast<long>(heap_in_use()) - static_cast<long>(heap_at_10);
  EXPECT_LT(growth, 1024 * 1024) << "heap in use grew by " << growth << " bytes";

  guint64 in_null = 0, in_ready = 0;
  g_signal_emit_by_name(l, "ask", "Asked in NULL?", &in_null);
  ASSERT_EQ(gst_element_set_state(p, GST_STATE_READY), GST_STATE_CHANGE_SUCCESS);
  g_signal_emit_by_name(l, "ask", "Asked in READY?", &in_ready);
  EXPECT_TRUE(pending_results(bus).empty()) << "answered before any frame";
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  for (guint64 id : {in_null, in_ready}) {
    GstMessage* m = wait_result(bus);
    ASSERT_NE(m, nullptr) << "no result for question " << id;
    EXPECT_EQ(result_id(m), id);
    EXPECT_EQ(result_name(m), "llamavid-answer") << string_field(m, "reason");
    gst_message_unref(m);
  }
  ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(l);
  gst_object_unref(p);
}

// A live 30 fps source into a model far too slow for it: the video stays real time at a synced
// sink (nothing late, nothing dropped) while frames are skipped and reported.
TEST(ElementPipelines, LiveVideoNeverWaitsForTheModel) {
  GstElement* p = parse(
      "videotestsrc is-live=true pattern=ball ! "
      "video/x-raw,format=RGB,width=320,height=240,framerate=30/1 ! "
      "llamavid name=l device=cpu sample-fps=1000 queue-size=1 model=\"" +
      slower_model_dir() +
      "\" ! fakesink name=sink sync=true qos=true max-lateness=20000000 "
      "l.text_src ! fakesink sync=true");
  ASSERT_NE(p, nullptr);
  GstElement* l = gst_bin_get_by_name(GST_BIN(p), "l");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(p), "sink");
  GstBus* bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  std::this_thread::sleep_for(std::chrono::seconds(4));

  GstMessage* skipped = wait_message(bus, {"llamavid-skipped"}, std::chrono::seconds(1));
  EXPECT_NE(skipped, nullptr);
  if (skipped) {
    guint64 total = 0;
    EXPECT_TRUE(gst_structure_get_uint64(gst_message_get_structure(skipped), "skipped", &total));
    EXPECT_GT(total, 0u);
    gst_message_unref(skipped);
  }
  guint64 frames_skipped = 0, frames_sampled = 0;
  g_object_get(l, "frames-skipped", &frames_skipped, "frames-sampled", &frames_sampled, nullptr);
  EXPECT_GT(frames_skipped, 0u);
  EXPECT_GT(frames_sampled, frames_skipped);

  expect_real_time(sink, 100u);  // about 120 frames in 4 s
  GstMessage* qos = gst_bus_pop_filtered(bus, GST_MESSAGE_QOS);
  EXPECT_EQ(qos, nullptr) << "the sink reported late buffers";
  if (qos) gst_message_unref(qos);

  ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(sink);
  gst_object_unref(l);
  gst_object_unref(p);
}

// A non-live pipeline with a synced sink on text_src prerolls (GAP events), takes a question
// from the application bus, answers ask-at-eos, and reaches EOS with the answers on text_src.
TEST(ElementPipelines, TextBranchAndBusQuestionToEos) {
  GstElement* p = parse(
      "videotestsrc num-buffers=45 pattern=ball ! "
      "video/x-raw,format=RGB,width=64,height=48,framerate=15/1 ! "
      "llamavid name=l device=cpu ask-at-eos=\"What was shown?\" model=\"" +
      tiny_model_dir() +
      "\" ! fakesink sync=true l.text_src ! appsink name=text sync=true wait-on-eos=false");
  ASSERT_NE(p, nullptr);
  GstElement* l = gst_bin_get_by_name(GST_BIN(p), "l");
  GstElement* text = gst_bin_get_by_name(GST_BIN(p), "text");
  GstBus* bus = gst_element_get_bus(p);
  ASSERT_NE(gst_element_set_state(p, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  ASSERT_EQ(gst_element_get_state(p, nullptr, nullptr, 30 * GST_SECOND), GST_STATE_CHANGE_SUCCESS);

  guint64 frames = 0;
  for (int i = 0; i < 500 && frames == 0; ++i) {
    g_usleep(10000);
    g_object_get(l, "memory-frames", &frames, nullptr);
  }
  ASSERT_GT(frames, 0u);
  ASSERT_TRUE(
      gst_bus_post(bus, gst_message_new_application(nullptr, ask_structure("From the bus?", 700))));

  // Results arrive before EOS.
  std::vector<std::string> results;
  for (;;) {
    GstMessage* m = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND,
        static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE(m, nullptr) << "no EOS";
    const GstMessageType type = GST_MESSAGE_TYPE(m);
    if (type == GST_MESSAGE_ELEMENT &&
        gst_structure_has_name(gst_message_get_structure(m), "llamavid-answer"))
      results.push_back(gst_structure_get_string(gst_message_get_structure(m), "question"));
    gst_message_unref(m);
    ASSERT_NE(type, GST_MESSAGE_ERROR);
    if (type == GST_MESSAGE_EOS) break;
  }
  EXPECT_EQ(results, (std::vector<std::string>{"From the bus?", "What was shown?"}));

  int answers = 0;
  for (;;) {
    GstSample* sample = nullptr;
    g_signal_emit_by_name(text, "try-pull-sample", static_cast<GstClockTime>(0), &sample);
    if (!sample) break;
    ++answers;
    gst_sample_unref(sample);
  }
  EXPECT_EQ(answers, 2);  // the bus question and ask-at-eos

  ASSERT_EQ(gst_element_set_state(p, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_object_unref(bus);
  gst_object_unref(text);
  gst_object_unref(l);
  gst_object_unref(p);
}
