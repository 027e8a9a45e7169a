// The llamavid element's questions and answers: the four ways in, the messages out, errors,
// ordering and EOS.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "element_test_util.h"

using namespace llamavid::test;

namespace {

// Every frame sampled and encoded, so a question sees exactly the frames pushed before it.
const ElementHarness::Properties kEveryFrame = {{"sample-fps", "1000"}, {"skip-frames", "never"}};

guint64 uint64_field(GstMessage* m, const char* name) {
  guint64 v = G_MAXUINT64;
  gst_structure_get_uint64(gst_message_get_structure(m), name, &v);
  return v;
}

// Waits for the result of question `id` (failing on any other result first).
void expect_answer(GstBus* bus, guint64 id, const std::string& question) {
  GstMessage* m = wait_result(bus);
  ASSERT_NE(m, nullptr) << "no result for question " << id;
  EXPECT_EQ(result_name(m), "llamavid-answer") << string_field(m, "reason");
  EXPECT_EQ(result_id(m), id);
  EXPECT_EQ(string_field(m, "question"), question);
  gst_message_unref(m);
}

}  // namespace

// The action signal returns increasing ids; the answer message has every field, typed.
TEST(ElementQuestions, SignalAndAnswerFields) {
  ElementHarness e(kEveryFrame);
  for (int i = 0; i < 3; ++i) e.push_frame(1.0 + i);
  const guint64 first = e.ask("What is on screen?");
  const guint64 second = e.ask("And now?");
  EXPECT_GT(first, 0u);
  EXPECT_GT(second, first);

  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(result_name(m), "llamavid-answer");
  EXPECT_EQ(GST_MESSAGE_SRC(m), GST_OBJECT(e.element));
  const GstStructure* s = gst_message_get_structure(m);
  const std::pair<const char*, GType> fields[] = {
      {"id", G_TYPE_UINT64},           {"question", G_TYPE_STRING},
      {"answer", G_TYPE_STRING},       {"stream-time", G_TYPE_UINT64},
      {"memory-start", G_TYPE_UINT64}, {"memory-end", G_TYPE_UINT64},
      {"frames", G_TYPE_UINT},         {"latency", G_TYPE_UINT64}};
  for (const auto& [name, type] : fields)
    EXPECT_TRUE(gst_structure_has_field_typed(s, name, type)) << name;
  EXPECT_EQ(result_id(m), first);
  EXPECT_EQ(string_field(m, "question"), "What is on screen?");
  EXPECT_EQ(uint64_field(m, "stream-time"), 3 * kSecond);
  EXPECT_EQ(uint64_field(m, "memory-start"), 1 * kSecond);
  EXPECT_EQ(uint64_field(m, "memory-end"), 3 * kSecond);
  guint frames = 0;
  gst_structure_get_uint(s, "frames", &frames);
  EXPECT_GE(frames, 1u);
  EXPECT_LE(frames, 3u);
  EXPECT_GT(uint64_field(m, "latency"), 0u);
  gst_message_unref(m);
  expect_answer(e.bus, second, "And now?");
}

// A serialized downstream llamavid-ask event is asked in stream order (it sees the frames
// before it), keeps its id and goes on downstream.
TEST(ElementQuestions, SerializedDownstreamEvent) {
  ElementHarness e(kEveryFrame);
  for (int i = 0; i < 5; ++i) e.push_frame(i);
  GstStructure* s = ask_structure("What happened?", 77);
  ASSERT_TRUE(
      gst_harness_push_event(e.video, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM, s)));
  for (int i = 5; i < 8; ++i) e.push_frame(i);
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_id(m), 77u);
  EXPECT_GE(uint64_field(m, "stream-time"), 4 * kSecond);
  gst_message_unref(m);
  EXPECT_EQ(e.ask("Next?"), 78u);  // assigned ids continue after given ones

  bool forwarded = false;
  while (GstEvent* ev = gst_harness_try_pull_event(e.video)) {
    const GstStructure* es = gst_event_get_structure(ev);
    forwarded |= GST_EVENT_TYPE(ev) == GST_EVENT_CUSTOM_DOWNSTREAM && es &&
                 gst_structure_has_name(es, "llamavid-ask");
    gst_event_unref(ev);
  }
  EXPECT_TRUE(forwarded);
}

// An out-of-band downstream llamavid-ask event is a question.
TEST(ElementQuestions, OutOfBandDownstreamEvent) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  ASSERT_TRUE(gst_harness_push_event(
      e.video, gst_event_new_custom(GST_EVENT_CUSTOM_DOWNSTREAM_OOB, ask_structure("Now?", 5))));
  expect_answer(e.bus, 5, "Now?");
}

// An upstream llamavid-ask event on src is a question.
TEST(ElementQuestions, UpstreamEventOnSrc) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  ASSERT_TRUE(gst_harness_push_upstream_event(
      e.video, gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, ask_structure("Up?", 9))));
  expect_answer(e.bus, 9, "Up?");
}

// The same upstream event arriving on src and text_src (same seqnum) is one question; another
// event on text_src alone is a question too.
TEST(ElementQuestions, UpstreamEventOnBothPadsOnce) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  GstEvent* ev = gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, ask_structure("Once?"));
  GstEvent* copy = gst_event_copy(ev);
  gst_event_set_seqnum(copy, gst_event_get_seqnum(ev));
  ASSERT_TRUE(gst_harness_push_upstream_event(e.video, ev));
  ASSERT_TRUE(gst_harness_push_upstream_event(e.text, copy));
  ASSERT_TRUE(gst_harness_push_upstream_event(
      e.text, gst_event_new_custom(GST_EVENT_CUSTOM_UPSTREAM, ask_structure("Text pad?"))));
  expect_answer(e.bus, 1, "Once?");
  expect_answer(e.bus, 2, "Text pad?");
  const guint64 last = e.ask("Last?");
  EXPECT_EQ(last, 3u);
  expect_answer(e.bus, last, "Last?");
}

// A buffer on query_sink is a question, without its trailing newline.
TEST(ElementQuestions, QuerySinkBuffer) {
  ElementHarness e(kEveryFrame);
  GstHarness* q = gst_harness_new_with_element(e.element, "query_sink", nullptr);
  gst_harness_set_src_caps_str(q, "text/x-raw,format=utf8");
  e.push_frame(0);
  const std::string text = "What colour is it?\n";
  ASSERT_EQ(gst_harness_push(q, gst_buffer_new_memdup(text.data(), text.size())), GST_FLOW_OK);
  expect_answer(e.bus, 1, "What colour is it?");
  ASSERT_TRUE(gst_harness_push_event(q, gst_event_new_eos()));  // questions end, video goes on
  e.push_frame(1);
  gst_harness_teardown(q);
}

// An application message on the bus is a question, for every llamavid element or the one named.
TEST(ElementQuestions, ApplicationMessage) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  auto post = [&](GstStructure* s) {
    ASSERT_TRUE(gst_bus_post(e.bus, gst_message_new_application(nullptr, s)));
  };
  post(ask_structure("For everyone?", 40));
  expect_answer(e.bus, 40, "For everyone?");
  post(ask_structure("For another element?", 50, "llamavid9"));
  post(ask_structure("For me?", 60, "llamavid0"));
  post(ask_structure("Without an id?"));
  expect_answer(e.bus, 60, "For me?");
  expect_answer(e.bus, 61, "Without an id?");
}

// Questions that cannot be answered are llamavid-error messages with a reason; the stream goes
// on.
TEST(ElementQuestions, Errors) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  GstMessage* m = nullptr;
  std::string too_long;
  for (int i = 0; i < 3000; ++i) too_long += "colour ";
  const std::pair<std::string, std::string> cases[] = {
      {"", "empty"}, {"bad \xC3\x28 byte", "UTF-8"}, {too_long, "too long"}};
  for (const auto& [question, reason] : cases) {
    const guint64 id = e.ask(question);
    m = wait_result(e.bus);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(result_name(m), "llamavid-error");
    EXPECT_EQ(result_id(m), id);
    // Message strings are UTF-8: invalid bytes are shown as U+FFFD. A question over 8192 bytes
    // is quoted by its first 8192 and "...".
    gchar* shown = g_utf8_make_valid(question.c_str(), static_cast<gssize>(question.size()));
    const std::string expected =
        question.size() > 8192 ? std::string(shown).substr(0, 8192) + "..." : std::string(shown);
    EXPECT_EQ(string_field(m, "question"), expected);
    g_free(shown);
    EXPECT_NE(string_field(m, "reason").find(reason), std::string::npos)
        << string_field(m, "reason");
    gst_message_unref(m);
  }
  e.push_frame(1);
  expect_answer(e.bus, e.ask("Still fine?"), "Still fine?");
}

// Many questions, some unanswerable: exactly one result each, in the order asked.
TEST(ElementQuestions, OrderAndExactlyOnce) {
  ElementHarness e(kEveryFrame);
  e.push_frame(0);
  std::vector<guint64> ids;
  for (int i = 0; i < 12; ++i)
    ids.push_back(e.ask(i % 4 == 3 ? "" : "Question " + std::to_string(i) + "?"));
  for (size_t i = 0; i < ids.size(); ++i) {
    GstMessage* m = wait_result(e.bus);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(result_id(m), ids[i]);
    EXPECT_EQ(result_name(m), i % 4 == 3 ? "llamavid-error" : "llamavid-answer");
    gst_message_unref(m);
  }
  EXPECT_EQ(wait_result(e.bus, std::chrono::seconds(1)), nullptr);
}

// EOS waits for pending questions: their answers are posted and pushed on text_src before EOS
// leaves on src and text_src.
TEST(ElementQuestions, EosAnswersPendingQuestions) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"max-new-tokens", "16"}});
  GstPad* text_src = gst_element_get_static_pad(e.element, "text_src");
  PadRecorder rec(text_src);
  gst_object_unref(text_src);
  for (int i = 0; i < 4; ++i) e.push_frame(i);
  std::vector<guint64> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(e.ask("Pending " + std::to_string(i) + "?"));
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));  // returns once EOS is out

  auto results = pending_results(e.bus);
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(result_id(results[i]), ids[i]);
    EXPECT_EQ(result_name(results[i]), "llamavid-answer");
    gst_message_unref(results[i]);
  }
  // On text_src, EOS follows the three answers (it may still be on its way).
  std::vector<std::string> items;
  for (int i = 0; i < 500 && (items.empty() || items.back() != "eos"); ++i) {
    g_usleep(10000);
    items = rec.items();
  }
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items.back(), "eos");
  EXPECT_EQ(std::count(items.begin(), items.end(), "buffer"), 3);
}

// ask-at-eos is answered at EOS, before EOS goes downstream.
TEST(ElementQuestions, AskAtEos) {
  ElementHarness e(
      {{"sample-fps", "1000"}, {"skip-frames", "never"}, {"ask-at-eos", "What did you see?"}});
  for (int i = 0; i < 3; ++i) e.push_frame(i);
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  auto results = pending_results(e.bus);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(result_name(results[0]), "llamavid-answer");
  EXPECT_EQ(string_field(results[0], "question"), "What did you see?");
  EXPECT_EQ(uint64_field(results[0], "stream-time"), 2 * kSecond);
  gst_message_unref(results[0]);
}

// A question asked before the first frame waits for it and is answered; one still waiting at an
// EOS that no frame came before gets "no frame has been seen yet".
TEST(ElementQuestions, EarlyQuestionWaitsForTheFirstFrame) {
  {
    ElementHarness e(kEveryFrame);
    const guint64 early = e.ask("Anything yet?");
    e.push_frame(0);
    expect_answer(e.bus, early, "Anything yet?");
  }
  ElementHarness e(kEveryFrame);
  const guint64 never = e.ask("Anything at all?");
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));
  GstMessage* m = wait_result(e.bus);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(result_name(m), "llamavid-error");
  EXPECT_EQ(result_id(m), never);
  EXPECT_NE(string_field(m, "reason").find("no frame"), std::string::npos);
  gst_message_unref(m);
}

// An answer given between a flush and the video's next segment waits for that segment on
// text_src: a buffer before a segment is a stream error for whatever is linked there.
TEST(ElementQuestions, AnswerAfterFlushWaitsForSegment) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}});
  GstPad* text_src = gst_element_get_static_pad(e.element, "text_src");
  PadRecorder rec(text_src);
  gst_object_unref(text_src);
  for (int i = 0; i < 3; ++i) e.push_frame(i);
  expect_answer(e.bus, e.ask("Before the flush?"), "Before the flush?");
  // count_buffers polls until the text task has pushed `n` buffers (or gives up).
  auto count_buffers = [&](long n) {
    std::vector<std::string> items;
    for (int i = 0; i < 500 && std::count(items.begin(), items.end(), "buffer") < n; ++i) {
      g_usleep(10000);
      items = rec.items();
    }
    return items;
  };
  count_buffers(1);  // out before the flush, which would drop it from the queue
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_stop(TRUE)));
  expect_answer(e.bus, e.ask("Between the flush and the segment?"),
                "Between the flush and the segment?");
  g_usleep(200000);  // time for the text task to push the answer if it were going to
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_segment(&segment)));
  e.push_frame(5);
  const std::vector<std::string> items = count_buffers(2);
  ASSERT_EQ(std::count(items.begin(), items.end(), "buffer"), 2) << testing::PrintToString(items);
  // The flush's new segment comes between the answer before it and the one after it.
  const auto before = std::find(items.begin(), items.end(), "buffer");
  const auto after = std::find(before + 1, items.end(), "buffer");
  EXPECT_NE(std::find(before, after, "segment"), after) << testing::PrintToString(items);
}

// A flush cancels questions in flight (each still gets one result) and the stream carries on.
TEST(ElementQuestions, FlushCancelsAndResumes) {
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"max-new-tokens", "300"}});
  for (int i = 0; i < 3; ++i) e.push_frame(i);
  std::vector<guint64> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(e.ask("Tell me everything?"));
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_start()));
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_flush_stop(TRUE)));
  std::set<guint64> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    GstMessage* m = wait_result(e.bus);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(result_id(m), ids[i]);
    seen.insert(result_id(m));
    gst_message_unref(m);
  }
  EXPECT_EQ(seen.size(), ids.size());
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_segment(&segment)));
  e.push_frame(5);
  expect_answer(e.bus, e.ask("After the flush?"), "After the flush?");
}
