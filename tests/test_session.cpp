// Session: ingest frames into memory and answer questions on a tiny random model (answers are
// arbitrary; the mechanics are asserted).
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "model/model.h"
#include "model/prompt_embeddings.h"
#include "session_frames.h"
#include "stream/answer_tensors.h"
#include "stream/memory.h"
#include "stream/session.h"
#include "stream/standing_prefix.h"
#include "stream/class_anchors.h"
#include "stream/question_anchors.h"
#include "stream/time_anchors.h"
#include "test_util.h"
#include "text/prompt.h"
#include "text/time_marker.h"

using namespace llamavid;

namespace {

constexpr int64_t kSecond = 1000000000;

class SessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("session_model"));
    test::run_python("make_tiny_model.py", *dir_ + " movie");
  }
  static void TearDownTestSuite() { delete dir_; }

  std::shared_ptr<const Model> model() {
    LoadOptions o;
    o.device = "cpu";
    return Model::shared(*dir_, o);
  }

  static void feed(Session& s, int count, int start_s = 0) {
    test::feed_solid_frames(s, count, start_s);
  }

  static std::string* dir_;
};
std::string* SessionTest::dir_ = nullptr;

using Spans = std::vector<std::pair<int64_t, int64_t>>;

// The first-token logits of a full prefill (no cache) of the prompt that build_prompt_ids gives
// for `question` over entries with these spans, tokens and (when given) subtitles, each placed
// before its entry's span marker.
// context [T, C], content [T, K, C] -> [V]
torch::Tensor full_prefill_logits(const Model& m, const std::string& question, const Spans& spans,
                                  const torch::Tensor& context, const torch::Tensor& content,
                                  const std::vector<std::string>& subtitles = {},
                                  const std::vector<std::string>& anchor_texts = {}) {
  torch::InferenceMode guard;
  const int64_t per_entry = 1 + content.size(1);
  auto visual = torch::cat({context.unsqueeze(1), content}, 1).reshape({-1, content.size(2)});
  FrameLayout layout = entry_layout(spans, TimeMarkers::Span, per_entry);
  layout.text_after_anchor = anchor_texts;
  for (size_t i = 0; i < subtitles.size(); ++i)
    layout.text_after_frame[i] = subtitles[i] + layout.text_after_frame[i];
  auto prompt = build_prompt_ids(m.tokenizer(), question, m.config().prompt_style, layout);
  auto embeds = splice_visual(m.llm(), prompt, visual, 1).unsqueeze(0);
  return m.llm()->forward(embeds).select(1, -1).reshape({-1});
}

// The first-token logits of `question` on top of the prefix cache (what a standing answer does),
// leaving the cache as it was. -> [V]
torch::Tensor prefix_logits(const Model& m, StandingPrefix& p, const std::string& question,
                            const MemoryEntry& last) {
  torch::InferenceMode guard;
  const int64_t before = p.length();
  auto tail = p.tail_ids(question, format_time_marker(TimeMarkers::Span, last.start_ns, last.end_ns));
  auto ids = torch::tensor(tail, torch::kInt64).unsqueeze(0);
  auto logits = m.llm()->forward(m.llm()->embed(ids), p.cache(), false).reshape({-1});
  p.cache().truncate(before);
  return logits;
}

// A memory entry of random tokens for the model (C = 64, one content token).
MemoryEntry random_entry(int64_t t_s, float signature) {
  MemoryEntry e;
  e.start_ns = e.end_ns = t_s * kSecond;
  e.context = torch::randn({64});
  e.content = torch::randn({1, 64});
  e.signature = torch::tensor({1.0f, signature});
  return e;
}

Spans spans_of(const std::vector<MemoryEntry>& entries) {
  Spans spans;
  for (const auto& e : entries) spans.emplace_back(e.start_ns, e.end_ns);
  return spans;
}

torch::Tensor contexts_of(const std::vector<MemoryEntry>& entries) {
  std::vector<torch::Tensor> t;
  for (const auto& e : entries) t.push_back(e.context);
  return torch::stack(t);
}

torch::Tensor contents_of(const std::vector<MemoryEntry>& entries) {
  std::vector<torch::Tensor> t;
  for (const auto& e : entries) t.push_back(e.content);
  return torch::stack(t);
}

std::string question_error(Session& s, const std::string& q) {
  try {
    s.answer(q);
  } catch (const QuestionError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Elements naming the same directory and device share one loaded model; another dtype does not.
TEST_F(SessionTest, SharedModelIsOneInstance) {
  auto a = model(), b = model();
  EXPECT_EQ(a.get(), b.get());
  LoadOptions other;
  other.device = "cpu";
  other.dtype = "bfloat16";
  auto c = Model::shared(*dir_, other);
  EXPECT_NE(c.get(), a.get());
  EXPECT_EQ(c->dtype(), torch::kBFloat16);
}

// Before any frame, a question is an error that says so.
TEST_F(SessionTest, NoFrameYet) {
  Session s(model());
  EXPECT_NE(question_error(s, "What is on screen?").find("no frame"), std::string::npos);
}

// Empty, blank, invalid UTF-8, over-long and "<image>" questions are refused with a reason.
TEST_F(SessionTest, InvalidQuestions) {
  Session s(model());
  feed(s, 2);
  EXPECT_NE(question_error(s, "").find("empty"), std::string::npos);
  EXPECT_NE(question_error(s, " \n\t").find("empty"), std::string::npos);
  EXPECT_NE(question_error(s, "bad \xC3\x28 byte").find("UTF-8"), std::string::npos);
  EXPECT_NE(question_error(s, "overlong \xE0\x80\xAF").find("UTF-8"), std::string::npos);
  EXPECT_NE(question_error(s, "cut \xE2\x82").find("UTF-8"), std::string::npos);
  EXPECT_NE(question_error(s, "see <image> here").find("<image>"), std::string::npos);
  std::string long_q;
  for (int i = 0; i < 3000; ++i) long_q += "colour ";
  EXPECT_NE(question_error(s, long_q).find("too long"), std::string::npos);
  EXPECT_NO_THROW(s.validate("Ünïcödé is fine? 日本"));
}

// An answer reports the span and size of the memory it saw, and is reproducible.
TEST_F(SessionTest, AnswerFields) {
  SessionOptions o;
  o.max_new_tokens = 5;
  Session s(model(), o);
  feed(s, 3, 10);
  EXPECT_EQ(s.memory_frames(), 3u);
  Answer a = s.answer("What is on screen?", /*keep_tensors=*/true);
  EXPECT_EQ(a.stream_time_ns, 12 * kSecond);
  EXPECT_EQ(a.memory_start_ns, 10 * kSecond);
  EXPECT_EQ(a.memory_end_ns, 12 * kSecond);
  EXPECT_EQ(a.frames, 3u);
  EXPECT_LE(a.ids.size(), 5u);
  ASSERT_TRUE(a.tensors);
  EXPECT_EQ(a.tensors->context.sizes(), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(a.tensors->content.sizes(), (std::vector<int64_t>{3, 1, 64}));
  Answer b = s.answer("What is on screen?");
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_FALSE(b.tensors);
}

// In exact mode the context token depends on the question, the content token does not.
TEST_F(SessionTest, ContextTokensFollowTheQuestion) {
  SessionOptions o;
  o.context_mode = ContextMode::Exact;
  Session s(model(), o);
  feed(s, 2);
  Answer a = s.answer("What colour is the ball?", true);
  Answer b = s.answer("Is it red?", true);
  EXPECT_FALSE(torch::allclose(a.tensors->context, b.tensors->context));
  EXPECT_TRUE(torch::equal(a.tensors->content, b.tensors->content));
}

// The abort callback stops generation early.
TEST_F(SessionTest, AbortStopsEarly) {
  SessionOptions o;
  o.max_new_tokens = 20;
  Session s(model(), o);
  feed(s, 1);
  int calls = 0;
  Answer a = s.answer("What is on screen?", false, [&] { return ++calls >= 2; });
  EXPECT_LE(a.ids.size(), 2u);
}

// max_entries bounds the memory; thinning keeps the start of the stream.
TEST_F(SessionTest, MemoryBudget) {
  SessionOptions o;
  o.max_entries = 4;
  Session s(model(), o);
  feed(s, 6);
  feed(s, 6, 6);
  EXPECT_LE(s.memory_frames(), 4u);
  EXPECT_EQ(s.memory_start_ns(), 0);
  EXPECT_EQ(s.memory_end_ns(), 11 * kSecond);
  EXPECT_NO_THROW(s.answer("What happened?"));
  s.clear_memory();
  EXPECT_EQ(s.memory_frames(), 0u);
}

// The default budget keeps the prompt inside the model's context (max_token 2048 here).
TEST_F(SessionTest, DefaultBudgetFitsContext) {
  Session s(model());
  for (int i = 0; i < 12; ++i) feed(s, 100, i * 100);
  EXPECT_LT(s.memory_frames(), 1200u);
  EXPECT_NO_THROW(s.answer("What happened?"));
}

// Sampling with a seed is reproducible.
TEST_F(SessionTest, SeededSampling) {
  SessionOptions o;
  o.temperature = 1.0;
  o.seed = 42;
  o.max_new_tokens = 8;
  Session s(model(), o);
  feed(s, 2);
  EXPECT_EQ(s.answer("Anything?").ids, s.answer("Anything?").ids);
}

// Alike frames (the same colour) merge into one timed entry when a threshold is set.
TEST_F(SessionTest, AlikeFramesMerge) {
  SessionOptions o;
  o.merge_threshold = 0.999;
  Session s(model(), o);
  std::vector<uint8_t> grey(40 * 30 * 3, 128), white(40 * 30 * 3, 255);
  std::vector<Frame> frames;
  for (int i = 0; i < 6; ++i) {
    Frame f;
    f.width = 40;
    f.height = 30;
    f.planes[0] = (i < 4 ? grey : white).data();
    f.strides[0] = 40 * 3;
    f.pts_ns = i * kSecond;
    frames.push_back(f);
  }
  s.add_frames(frames);
  EXPECT_EQ(s.memory_frames(), 2u);
  EXPECT_EQ(s.memory_end_ns(), 5 * kSecond);
  Session never(model());  // the tiny model's config sets no threshold: nothing merges
  never.add_frames(frames);
  EXPECT_EQ(never.memory_frames(), 6u);
}

namespace {

// Counts the tensor buffers libtorch allocates on the CPU while it is installed.
class CountingAllocator : public c10::Allocator {
 public:
  CountingAllocator() : base_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this, kPriority); }
  ~CountingAllocator() override { c10::SetCPUAllocator(base_, kPriority); }
  c10::DataPtr allocate(size_t n) const override {
    ++count_;
    return base_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return base_->raw_deleter(); }
  int64_t count() const { return count_; }

 private:
  static constexpr uint8_t kPriority = 100;  // above libtorch's own registrations
  c10::Allocator* base_;
  mutable std::atomic<int64_t> count_{0};
};

// Tensor buffers allocated by one add_frames of `n` copies of one frame, 1 s apart from `t_s`.
int64_t buffers_for_batch(Session& s, int n, int64_t t_s) {
  static std::vector<uint8_t> grey(40 * 30 * 3, 128);
  std::vector<Frame> frames;
  for (int i = 0; i < n; ++i) {
    Frame f;
    f.width = 40;
    f.height = 30;
    f.planes[0] = grey.data();
    f.strides[0] = 40 * 3;
    f.pts_ns = (t_s + i) * kSecond;
    frames.push_back(f);
  }
  CountingAllocator counting;
  s.add_frames(frames);
  return counting.count();
}

}  // namespace

// Ingest allocates per batch, not per frame: a batch of 8 frames that merge into the newest
// entry allocates exactly as many tensor buffers as a batch of 2 (the input buffer is reused
// and merges happen in place), in both context modes. (A batch of 1 takes other paths inside
// libtorch's batched products.)
TEST_F(SessionTest, MergedFramesAllocateNothingPerFrame) {
  for (ContextMode mode : {ContextMode::Standing, ContextMode::Exact}) {
    SessionOptions o;
    o.merge_threshold = 0.999;
    o.context_mode = mode;
    Session s(model(), o);
    buffers_for_batch(s, 8, 0);  // the entry, the input buffer and the prefix cache
    const int64_t two = buffers_for_batch(s, 2, 8);
    const int64_t eight = buffers_for_batch(s, 8, 10);
    EXPECT_GT(two, 0) << context_mode_name(mode);  // the count sees libtorch's allocations at all
    EXPECT_EQ(eight, two) << context_mode_name(mode);
    EXPECT_EQ(s.memory_frames(), 1u) << context_mode_name(mode);
    EXPECT_EQ(s.memory_end_ns(), 17 * kSecond) << context_mode_name(mode);
  }
}

// The standing prompt guides the context tokens made at ingest exactly as a question does in
// exact mode; changing it applies to frames from then on, entries already made keep theirs.
TEST_F(SessionTest, StandingPromptGuidesContextTokens) {
  const std::string prompt = "Is it red?";
  SessionOptions exact;
  exact.context_mode = ContextMode::Exact;
  Session guided(model(), exact);
  feed(guided, 2);
  const torch::Tensor by_question = guided.answer(prompt, true).tensors->context;

  SessionOptions o;
  o.context_mode = ContextMode::Standing;
  o.standing_prompt = prompt;
  Session s(model(), o);
  feed(s, 2);
  const torch::Tensor standing = s.answer("What colour is the ball?", true).tensors->context;
  EXPECT_TRUE(torch::allclose(standing, by_question, 1e-5, 1e-6));

  SessionOptions plain_o;
  plain_o.context_mode = ContextMode::Standing;
  Session plain(model(), plain_o);
  feed(plain, 2);
  EXPECT_FALSE(torch::allclose(plain.answer(prompt, true).tensors->context, standing));

  o.standing_prompt = kStandingPrompt;
  s.set_options(o);
  feed(s, 2, 2);
  const torch::Tensor after = s.answer(prompt, true).tensors->context;  // [4, C]
  EXPECT_TRUE(torch::equal(after.narrow(0, 0, 2), standing));
  EXPECT_FALSE(torch::allclose(after.narrow(0, 2, 2), by_question));
}

// The hybrid mode: the entries of the last hybrid_window_ns get the question's context tokens,
// the older ones the standing prompt's (from the prefilled cache), and the answer is the full
// prompt's over exactly those tokens. A window over everything is the exact mode.
TEST_F(SessionTest, HybridGuidesTheWindowOnly) {
  SessionOptions standing_o, exact_o, hybrid_o;
  standing_o.context_mode = ContextMode::Standing;
  exact_o.context_mode = ContextMode::Exact;
  hybrid_o.context_mode = ContextMode::Hybrid;
  hybrid_o.hybrid_window_ns = 2 * kSecond + kSecond / 2;
  for (SessionOptions* o : {&standing_o, &exact_o, &hybrid_o})
    o->time_markers = TimeMarkers::Span;  // as full_prefill_logits writes them
  Session standing(model(), standing_o), exact(model(), exact_o), hybrid(model(), hybrid_o);
  feed(standing, 6);
  feed(exact, 6);
  feed(hybrid, 6);
  const std::string q = "What colour is the ball?";
  const auto s = standing.answer(q, true).tensors, e = exact.answer(q, true).tensors;
  Answer h = hybrid.answer(q, true);
  auto check = [&](const Answer& a, int64_t guided_from) {
    const auto& t = *a.tensors;
    const int64_t T = t.context.size(0);
    EXPECT_TRUE(torch::allclose(t.context.narrow(0, 0, guided_from),
                                s->context.narrow(0, 0, guided_from), 0, 1e-6));
    const int64_t g = std::min<int64_t>(T, 6) - guided_from;  // guided rows the others saw
    EXPECT_TRUE(torch::allclose(t.context.narrow(0, guided_from, g),
                                e->context.narrow(0, guided_from, g), 1e-5, 1e-6));
    EXPECT_FALSE(torch::allclose(t.context.narrow(0, guided_from, g),
                                 s->context.narrow(0, guided_from, g), 1e-5, 1e-6));
    Spans spans;
    for (int64_t i = 0; i < T; ++i) spans.emplace_back(i * kSecond, i * kSecond);
    auto want = full_prefill_logits(*model(), q, spans, t.context, t.content);
    EXPECT_LE((want - t.first_logits).abs().max().item<double>(), 1e-4);
  };
  check(h, 3);  // entries at 3, 4, 5 s end within 2.5 s of the newest

  // The window moves with the stream: entries leaving it join the cache with standing tokens.
  feed(hybrid, 2, 6);
  check(hybrid.answer(q, true), 5);

  hybrid_o.hybrid_window_ns = 60 * kSecond;
  Session whole(model(), hybrid_o);
  feed(whole, 6);
  Answer w = whole.answer(q, true);
  Answer x = exact.answer(q, true);
  EXPECT_TRUE(torch::allclose(w.tensors->context, x.tensors->context, 1e-5, 1e-6));
  EXPECT_LE((w.tensors->first_logits - x.tensors->first_logits).abs().max().item<double>(), 1e-4);
  EXPECT_EQ(w.ids, x.ids);
}

// `auto` serves a model in its config's mode: the tiny model, like the released checkpoints,
// names none, so it is the hybrid mode (question-guided tokens for the newest entries).
TEST_F(SessionTest, AutoIsTheModelsMode) {
  EXPECT_EQ(SessionOptions().context_mode, ContextMode::Auto);
  EXPECT_EQ(resolve_context_mode(ContextMode::Auto, model()->config()), ContextMode::Hybrid);
  EXPECT_EQ(resolve_context_mode(ContextMode::Exact, model()->config()), ContextMode::Exact);
  SessionOptions exact_o;
  exact_o.context_mode = ContextMode::Exact;
  Session a(model()), e(model(), exact_o);
  feed(a, 3);
  feed(e, 3);
  EXPECT_EQ(a.answer("Is it red?").ids, e.answer("Is it red?").ids);
}

// Subtitles join the last entry that starts before they end, once a frame at or after their end
// has come (or at a flush), cleaned of line breaks and "<image>"; every mode's prompt then holds
// each entry's subtitle right after its slots, before its marker, and a memory file keeps them.
TEST_F(SessionTest, SubtitlesFollowTheirEntry) {
  const std::string q = "What was said?";
  const std::vector<std::string> want = {"first", "", "hello world", "", "late"};
  for (ContextMode mode : {ContextMode::Standing, ContextMode::Exact, ContextMode::Hybrid}) {
    SessionOptions o;
    o.context_mode = mode;
    o.time_markers = TimeMarkers::Span;
    o.hybrid_window_ns = kSecond + kSecond / 2;
    Session s(model(), o);
    feed(s, 3);
    s.add_subtitle(kSecond + kSecond / 5, 2 * kSecond + kSecond / 2, " hello\n<image>world ");
    s.add_subtitle(0, kSecond / 2, "first");
    s.add_subtitle(kSecond, 2 * kSecond, " \n ");  // nothing left: not added
    feed(s, 2, 3);
    s.add_subtitle(4 * kSecond + kSecond / 2, 9 * kSecond, "late");
    const Answer before_flush = s.answer(q, true);
    s.flush_subtitles();
    const Answer a = s.answer(q, true);
    Spans spans;
    for (int64_t i = 0; i < 5; ++i) spans.emplace_back(i * kSecond, i * kSecond);
    auto logits = full_prefill_logits(*model(), q, spans, a.tensors->context, a.tensors->content,
                                      want);
    EXPECT_LE((logits - a.tensors->first_logits).abs().max().item<double>(), 1e-4)
        << context_mode_name(mode);
    FrameLayout layout = entry_layout(spans, TimeMarkers::Span, a.tensors->content.size(1) + 1);
    for (size_t i = 0; i < want.size(); ++i)
      layout.text_after_frame[i] = want[i] + layout.text_after_frame[i];
    EXPECT_EQ(a.tensors->prompt_ids,
              build_prompt_ids(model()->tokenizer(), q, model()->config().prompt_style, layout))
        << context_mode_name(mode);
    std::vector<std::string> unflushed = want;
    unflushed[4] = "";
    logits = full_prefill_logits(*model(), q, spans, before_flush.tensors->context,
                                 before_flush.tensors->content, unflushed);
    EXPECT_LE((logits - before_flush.tensors->first_logits).abs().max().item<double>(), 1e-4)
        << context_mode_name(mode);

    const std::string path = test::scratch_dir("session_subtitles") + "/m.safetensors";
    s.save_memory(path);
    Session t(model(), o);
    t.load_memory(path);
    const Answer b = t.answer(q, true);
    EXPECT_EQ(b.ids, a.ids) << context_mode_name(mode);
    EXPECT_TRUE(torch::allclose(b.tensors->first_logits, a.tensors->first_logits, 1e-5, 1e-5))
        << context_mode_name(mode);
  }
}

// Bad option values are refused.
TEST_F(SessionTest, BadOptions) {
  SessionOptions o;
  o.max_new_tokens = 0;
  EXPECT_THROW(Session(model(), o), Error);
  o = SessionOptions();
  o.standing_prompt = " \n";
  EXPECT_THROW(Session(model(), o), Error);
  o.standing_prompt = "\xff";
  EXPECT_THROW(Session(model(), o), Error);
  o = SessionOptions();
  o.hybrid_window_ns = -1;
  EXPECT_THROW(Session(model(), o), Error);
}

// The modes' names at the CLI and element edges: unknown names are refused.
TEST(SessionOptionNames, ContextModeAndTimeMarkers) {
  ContextMode mode = ContextMode::Standing;
  EXPECT_FALSE(parse_context_mode("sometimes", mode));
  EXPECT_TRUE(parse_context_mode("exact", mode));
  EXPECT_EQ(mode, ContextMode::Exact);
  EXPECT_STREQ(context_mode_name(mode), "exact");
  EXPECT_STREQ(context_mode_name(ContextMode::Standing), "standing");
  TimeMarkers markers = TimeMarkers::None;
  EXPECT_FALSE(parse_time_markers("sometimes", markers));
  for (TimeMarkers m : {TimeMarkers::None, TimeMarkers::Start, TimeMarkers::Span}) {
    EXPECT_TRUE(parse_time_markers(time_markers_name(m), markers));
    EXPECT_EQ(markers, m);
  }
}

// Time markers read hh:mm:ss: the start, or start, end and duration.
TEST(TimeMarker, Format) {
  EXPECT_EQ(format_clock((3600 + 23 * 60 + 45) * kSecond + 999), "01:23:45");
  EXPECT_EQ(format_clock(-5), "00:00:00");
  EXPECT_EQ(format_clock(101 * 3600 * kSecond), "101:00:00");
  EXPECT_EQ(format_time_marker(TimeMarkers::Start, 62 * kSecond, 90 * kSecond), "[00:01:02]");
  EXPECT_EQ(format_time_marker(TimeMarkers::Span, 62 * kSecond, 3723 * kSecond),
            "[00:01:02-01:02:03, 01:01:01]");
  EXPECT_EQ(format_time_marker(TimeMarkers::None, 0, kSecond), "");
}

// Clock times are read as written, h:mm:ss with minutes and seconds under 60; what is not one
// (a digit too many or too few, a bad minute) is skipped.
TEST(TimeMarker, ClockTimes) {
  EXPECT_EQ(clock_times("between 00:10:00 and 1:02:03?", 2),
            (std::vector<int64_t>{600 * kSecond, 3723 * kSecond}));
  EXPECT_EQ(clock_times("at 00:00:01, 00:00:02 and 00:00:03", 2),
            (std::vector<int64_t>{kSecond, 2 * kSecond}));
  EXPECT_EQ(clock_times("at 123456:00:00", 2), (std::vector<int64_t>{123456LL * 3600 * kSecond}));
  for (const std::string text : {"What is on screen?", "at 00:61:00", "at 00:01:5", "12:34",
                                 "at 1234567:00:00", "at 100:00:000", "at 00:01:0x", ":00:00",
                                 "00:00:"})
    EXPECT_TRUE(clock_times(text, 2).empty()) << text;
}

// A time names the entry that holds it (the last starting at or before it); two name the range
// between their entries, clipped to the memory and thinned to kMaxAnchorEntries with both ends.
TEST(TimeAnchors, EntriesNamed) {
  const std::vector<std::pair<int64_t, int64_t>> spans = {
      {10 * kSecond, 59 * kSecond}, {60 * kSecond, 299 * kSecond}, {310 * kSecond, 3723 * kSecond}};
  using V = std::vector<size_t>;
  EXPECT_EQ(time_anchor_entries("What was on at 00:02:00?", spans), V{1});
  // The gap between two entries' frames is the earlier's; the slack after the newest holds.
  EXPECT_EQ(time_anchor_entries("At 00:05:05, what was on?", spans), V{1});
  EXPECT_EQ(time_anchor_entries("at 1:02:08", spans), V{2});
  EXPECT_TRUE(time_anchor_entries("at 1:02:09", spans).empty());  // past the slack
  EXPECT_TRUE(time_anchor_entries("at 00:00:09", spans).empty());  // before the memory
  EXPECT_TRUE(time_anchor_entries("What is on screen?", spans).empty());
  EXPECT_TRUE(time_anchor_entries("at 00:00:10", {}).empty());
  EXPECT_EQ(time_anchor_entries("From 00:00:10 to 00:06:00?", spans), (V{0, 1, 2}));
  EXPECT_EQ(time_anchor_entries("From 00:06:00 back to 00:01:00?", spans), (V{1, 2}));
  // A range reaching outside the memory is clipped to it; one wholly outside names nothing.
  EXPECT_EQ(time_anchor_entries("From 00:00:00 to 00:02:00?", spans), (V{0, 1}));
  EXPECT_EQ(time_anchor_entries("From 00:03:00 to 09:00:00?", spans), (V{1, 2}));
  EXPECT_TRUE(time_anchor_entries("From 00:00:00 to 00:00:05?", spans).empty());

  std::vector<std::pair<int64_t, int64_t>> many;
  for (int64_t i = 0; i < 100; ++i) many.emplace_back(i * kSecond, i * kSecond);
  const V thinned = time_anchor_entries("between 00:00:10 and 00:01:30", many);
  ASSERT_EQ(thinned.size(), kMaxAnchorEntries);
  EXPECT_EQ(thinned.front(), 10u);
  EXPECT_EQ(thinned.back(), 90u);
  for (size_t i = 1; i < thinned.size(); ++i) {
    EXPECT_GT(thinned[i], thinned[i - 1]);
    EXPECT_LE(thinned[i] - thinned[i - 1], 6u);
  }
}

// A tiny random movie-layout model made with make_tiny_model.py's `flag`, on the CPU.
std::shared_ptr<const Model> anchor_model(const std::string& name, const std::string& flag) {
  const std::string dir = test::scratch_dir(name);
  test::run_python("make_tiny_model.py", dir + " movie " + flag);
  LoadOptions lo;
  lo.device = "cpu";
  return Model::shared(dir, lo);
}

// Options for the anchor tests: every frame its own entry, span markers as full_prefill_logits
// writes them, a hybrid window of the newest entry and the one before.
SessionOptions anchor_options(ContextMode mode) {
  SessionOptions o;
  o.context_mode = mode;
  o.time_markers = TimeMarkers::Span;
  o.hybrid_window_ns = kSecond + kSecond / 2;
  o.merge_threshold = 0.0;
  return o;
}

// A question names a caption where the caption's words occur in it whole, not inside a longer
// named caption's; consecutive entries with it make one run; runs are numbered from 1 and
// thinned to kMaxClassRuns with both ends kept.
TEST(ClassAnchors, RunsOfNamedCaptions) {
  const std::vector<std::string> captions = {"red", "red ball", "red ball", "snow",
                                             "red ball", "", "Red"};
  auto runs = [&](const std::string& q) {
    std::vector<std::tuple<size_t, size_t, int64_t>> out;
    for (const ClassRun& r : class_anchor_runs(q, captions)) out.emplace_back(r.first, r.last, r.number);
    return out;
  };
  using R = std::vector<std::tuple<size_t, size_t, int64_t>>;
  EXPECT_EQ(runs("When did the red ball last appear?"), (R{{1, 2, 1}, {4, 4, 2}}));
  EXPECT_EQ(runs("Was RED on screen?"), (R{{0, 0, 1}, {6, 6, 2}}));
  EXPECT_EQ(runs("How long was snow shown?"), (R{{3, 3, 1}}));
  EXPECT_TRUE(runs("Was it snowy?").empty());  // whole words only
  EXPECT_TRUE(runs("What is on screen?").empty());
  EXPECT_EQ(runs("Did red come before the red ball?"),
            (R{{0, 0, 1}, {1, 2, 2}, {4, 4, 3}, {6, 6, 4}}));
  // A caption nobody could name in a few words is never matched.
  EXPECT_TRUE(class_anchor_runs(std::string(80, 'a'), {std::string(80, 'a')}).empty());

  std::vector<std::string> alternating;
  for (int i = 0; i < 40; ++i) alternating.push_back(i % 2 ? "black" : "snow");
  const auto thinned = class_anchor_runs("How many times did snow appear?", alternating);
  ASSERT_EQ(thinned.size(), kMaxClassRuns);
  EXPECT_EQ(thinned.front().number, 1);
  EXPECT_EQ(thinned.back().number, 20);
  EXPECT_EQ(thinned.back().first, 38u);
}

// Time anchors come first, with no text; each class run follows with its span (first entry's
// start to last entry's end) and its number; a model without anchors gets none.
TEST(QuestionAnchors, TextsFollowTheConfig) {
  const std::vector<std::pair<int64_t, int64_t>> spans = {
      {0, 9 * kSecond}, {10 * kSecond, 19 * kSecond}, {20 * kSecond, 65 * kSecond}};
  const std::vector<std::string> captions = {"snow", "snow", "black"};
  ModelConfig c;
  const std::string q = "Was there snow at 00:00:25?";
  EXPECT_TRUE(question_anchors(c, TimeMarkers::Span, q, spans, captions).empty());
  c.time_anchors = true;
  c.class_anchors = true;
  const QuestionAnchors a = question_anchors(c, TimeMarkers::Span, q, spans, captions);
  EXPECT_EQ(a.entries, (std::vector<size_t>{2, 0}));
  EXPECT_EQ(a.texts, (std::vector<std::string>{"", "[00:00:00-00:00:19, 00:00:19] 1"}));
  EXPECT_EQ(question_anchors(c, TimeMarkers::None, q, spans, captions).texts.back(), "1");
  EXPECT_THROW(question_anchors(c, TimeMarkers::Span, q, spans, {"snow"}), Error);
}

// A model trained with class anchors captions each entry with its greedy answer to "What is on
// screen?" about that entry alone, and reads, in every context mode, the runs of the captions a
// question names after it: their first entries' tokens, then their spans and numbers; the first
// logits are those of the whole prompt with those rows, prefilled at once.
TEST(SessionAnchors, QuestionReadsItsClassRunsAgain) {
  const auto m = anchor_model("session_class_anchor_model", "--class-anchors");
  ASSERT_TRUE(m->config().class_anchors);
  for (ContextMode mode : {ContextMode::Standing, ContextMode::Exact, ContextMode::Hybrid}) {
    SessionOptions o = anchor_options(mode);
    o.max_new_tokens = 4;
    Session s(m, o);
    test::feed_solid_frames(s, 5);
    const std::vector<std::string> captions = s.answer("Hello?", true).tensors->captions;
    ASSERT_EQ(captions.size(), 5u);
    if (mode == ContextMode::Standing) {
      // Entry 2 alone in a memory, asked the standing prompt: the same prompt as its caption's.
      SessionOptions alone = o;
      alone.max_new_tokens = kMaxCaptionTokens;
      Session one(m, alone);
      test::feed_solid_frames(one, 1, 2, 2);
      EXPECT_EQ(one.answer(kStandingPrompt).text, captions[2]);
    }
    ASSERT_FALSE(captions[2].empty());
    const std::string q = "When did " + captions[2] + " last appear?";
    const Answer a = s.answer(q, true);
    EXPECT_EQ(a.tensors->captions, captions) << "captioned once";
    Spans spans;
    for (int64_t i = 0; i < 5; ++i) spans.emplace_back(i * kSecond, i * kSecond);
    const QuestionAnchors anchors = question_anchors(m->config(), TimeMarkers::Span, q, spans, captions);
    ASSERT_FALSE(anchors.empty());
    const int64_t per_entry = a.tensors->content.size(1) + 1;
    FrameLayout layout = entry_layout(spans, TimeMarkers::Span, per_entry);
    layout.text_after_anchor = anchors.texts;
    EXPECT_EQ(a.tensors->prompt_ids,
              build_prompt_ids(m->tokenizer(), q, m->config().prompt_style, layout))
        << context_mode_name(mode);
    std::vector<int64_t> rows = {0, 1, 2, 3, 4};
    for (size_t e : anchors.entries) rows.push_back(static_cast<int64_t>(e));
    const auto idx = torch::tensor(rows, torch::kInt64);
    auto logits = full_prefill_logits(*m, q, spans, a.tensors->context.index_select(0, idx),
                                      a.tensors->content.index_select(0, idx), {}, anchors.texts);
    EXPECT_LE((logits - a.tensors->first_logits).abs().max().item<double>(), 1e-4)
        << context_mode_name(mode);
  }
}

// A model trained with time anchors reads, in every context mode, the visual tokens of the
// entry a question's time names again after the question: the prompt has their slots, and the
// first logits are those of the whole prompt with those rows, prefilled at once.
TEST(SessionAnchors, QuestionReadsItsEntryAgain) {
  const auto m = anchor_model("session_anchor_model", "--time-anchors");
  ASSERT_TRUE(m->config().time_anchors);
  const std::string q = "What was on screen at 00:00:02?";
  for (ContextMode mode : {ContextMode::Standing, ContextMode::Exact, ContextMode::Hybrid}) {
    const SessionOptions o = anchor_options(mode);
    Session s(m, o);
    test::feed_solid_frames(s, 5);
    const Answer a = s.answer(q, true);
    const int64_t per_entry = a.tensors->content.size(1) + 1;
    Spans spans;
    for (int64_t i = 0; i < 5; ++i) spans.emplace_back(i * kSecond, i * kSecond);
    FrameLayout layout = entry_layout(spans, TimeMarkers::Span, per_entry);
    layout.text_after_anchor = {""};
    EXPECT_EQ(a.tensors->prompt_ids,
              build_prompt_ids(m->tokenizer(), q, m->config().prompt_style, layout))
        << context_mode_name(mode);
    // Entry 2 (the frame at 2 s) twice: in the memory and after the question.
    const auto& ctx = a.tensors->context;
    const auto& content = a.tensors->content;
    const auto idx = torch::tensor({0, 1, 2, 3, 4, 2}, torch::kInt64);
    auto logits = full_prefill_logits(*m, q, spans, ctx.index_select(0, idx),
                                      content.index_select(0, idx), {}, {""});
    EXPECT_LE((logits - a.tensors->first_logits).abs().max().item<double>(), 1e-4)
        << context_mode_name(mode);
  }
}

// The standing prefix plus a question's tail is exactly build_prompt_ids for the same entries,
// as entries are added, merged into the newest and thinned.
TEST_F(SessionTest, StandingPrefixIdsAreThePromptIds) {
  auto m = model();
  torch::manual_seed(1);
  StandingPrefix p(*m, 2);
  TokenMemory memory(MemoryBudget{6, 0.99});
  const std::string q = "What came before the ball?";
  for (int i = 0; i < 14; ++i) {
    // Every third frame repeats the previous signature, so it merges into the newest entry.
    memory.append(random_entry(i, i % 3 == 2 ? static_cast<float>(i - 1) : static_cast<float>(i)));
    p.sync(memory.entries(), TimeMarkers::Span, 2048);
    const auto& entries = memory.entries();
    auto ids = p.cached_ids();
    auto tail = p.tail_ids(q, format_time_marker(TimeMarkers::Span, entries.back().start_ns,
                                                 entries.back().end_ns));
    ids.insert(ids.end(), tail.begin(), tail.end());
    EXPECT_EQ(ids, build_prompt_ids(m->tokenizer(), q, PromptStyle::Movie,
                                    entry_layout(spans_of(entries), TimeMarkers::Span, 2)))
        << "after frame " << i;
    EXPECT_EQ(p.length(), static_cast<int64_t>(p.cached_ids().size()));
  }
}

// Logits on top of the incrementally extended cache equal a full prefill of the same prompt,
// after appends, merges into the newest entry and thinning (<= 1e-4).
TEST_F(SessionTest, StandingPrefixLogitsEqualFullPrefill) {
  auto m = model();
  torch::manual_seed(2);
  StandingPrefix p(*m, 2);
  TokenMemory memory(MemoryBudget{6, 0.99});
  const std::string q = "Is it red?";
  for (int i = 0; i < 12; ++i) {
    memory.append(random_entry(i, i % 3 == 2 ? static_cast<float>(i - 1) : static_cast<float>(i)));
    p.sync(memory.entries(), TimeMarkers::Span, 2048);
    const auto& entries = memory.entries();
    auto full = full_prefill_logits(*m, q, spans_of(entries), contexts_of(entries),
                                    contents_of(entries));
    auto cached = prefix_logits(*m, p, q, entries.back());
    EXPECT_LE((full - cached).abs().max().item<double>(), 1e-4) << "after frame " << i;
  }
}

// A standing-mode answer's first-token logits equal a full prefill of the same prompt with the
// standing context tokens, after frames arrived in several batches.
TEST_F(SessionTest, StandingAnswerEqualsFullPrefill) {
  SessionOptions o;
  o.time_markers = TimeMarkers::Span;
  o.max_new_tokens = 4;
  Session s(model(), o);
  feed(s, 3);
  feed(s, 1, 3);
  feed(s, 4, 4);
  const std::string q = "What colour is the ball?";
  Answer a = s.answer(q, true);
  Spans spans;
  for (int i = 0; i < 8; ++i) spans.emplace_back(i * kSecond, i * kSecond);
  auto full = full_prefill_logits(*model(), q, spans, a.tensors->context, a.tensors->content);
  EXPECT_LE((full - a.tensors->first_logits).abs().max().item<double>(), 1e-4);
}

// In standing mode the context tokens do not depend on the question, and an answer leaves the
// cache as it found it (the same question gives the same answer after another one).
TEST_F(SessionTest, StandingContextIgnoresTheQuestion) {
  SessionOptions o;
  o.context_mode = ContextMode::Standing;
  o.max_new_tokens = 6;
  Session s(model(), o);
  feed(s, 3);
  Answer a = s.answer("What colour is the ball?", true);
  Answer b = s.answer("Is it red?", true);
  Answer c = s.answer("What colour is the ball?", true);
  EXPECT_TRUE(torch::equal(a.tensors->context, b.tensors->context));
  EXPECT_EQ(a.ids, c.ids);
  EXPECT_TRUE(torch::equal(a.tensors->first_logits, c.tensors->first_logits));
}

// The exact mode over entries whose features were dropped by the byte cap uses their standing
// context tokens: the same tokens a standing session made for the same frames.
TEST_F(SessionTest, ExactModeFallsBackToStandingTokens) {
  SessionOptions standing_o, exact_o;
  standing_o.context_mode = ContextMode::Standing;
  exact_o.context_mode = ContextMode::Exact;
  Session standing(model(), standing_o), exact(model(), exact_o);
  feed(standing, 4);
  feed(exact, 4);
  const int64_t with_features = exact.memory_bytes();
  exact_o.max_memory_bytes = with_features - 1;
  exact.set_options(exact_o);  // too small for all features: the oldest entry loses them
  EXPECT_LT(exact.memory_bytes(), with_features);
  Answer a = exact.answer("Is it red?", true);
  Answer b = standing.answer("Is it red?", true);
  EXPECT_TRUE(torch::allclose(a.tensors->context[0], b.tensors->context[0], 0, 1e-6));
  EXPECT_FALSE(torch::allclose(a.tensors->context[3], b.tensors->context[3], 0, 1e-6));
}

// The byte cap holds over a long stream in both modes, and coverage still reaches the start.
TEST_F(SessionTest, ByteCapIsNeverExceeded) {
  for (ContextMode mode : {ContextMode::Standing, ContextMode::Exact}) {
    SessionOptions o;
    o.context_mode = mode;
    o.max_memory_bytes = 512 * 1024;  // a few dozen entries: thinning and dropped features
    Session s(model(), o);
    for (int i = 0; i < 30; ++i) {
      feed(s, 20, i * 20);
      EXPECT_LE(s.memory_bytes(), o.max_memory_bytes) << context_mode_name(mode);
    }
    EXPECT_EQ(s.memory_start_ns(), 0) << context_mode_name(mode);
    EXPECT_NO_THROW(s.answer("What happened?")) << context_mode_name(mode);
    EXPECT_LE(s.memory_bytes(), o.max_memory_bytes) << context_mode_name(mode);
  }
}

// A cap that cannot hold one entry (and, in standing mode, its cache) is refused with the need.
TEST_F(SessionTest, CapTooSmallIsRefused) {
  SessionOptions o;
  o.max_memory_bytes = 1000;
  try {
    Session s(model(), o);
    FAIL() << "accepted a 1000-byte cap";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max-memory-bytes 1000"), std::string::npos);
  }
  Session s(model());
  EXPECT_THROW(s.set_options(o), Error);
  EXPECT_EQ(s.options().max_memory_bytes, SessionOptions().max_memory_bytes);
}

// Answers while frames keep arriving on another thread: the cache an answer uses is never
// changed under it (a final answer still equals a full prefill).
TEST_F(SessionTest, IngestDuringAnswersKeepsTheCacheRight) {
  SessionOptions o;
  o.time_markers = TimeMarkers::Span;
  o.max_new_tokens = 8;
  Session s(model(), o);
  feed(s, 1);
  std::atomic<bool> done{false};
  std::thread ingest([&] {
    for (int i = 1; i < 30; i += 3) feed(s, 3, i);
    done = true;
  });
  int answered = 0;
  while (!done) {
    EXPECT_NO_THROW(s.answer("What is on screen?"));
    ++answered;
  }
  ingest.join();
  EXPECT_GT(answered, 0);
  const std::string q = "What colour is the ball?";
  Answer a = s.answer(q, true);
  ASSERT_EQ(a.frames, 31u);
  Spans spans;
  for (int i = 0; i < 31; ++i) spans.emplace_back(i * kSecond, i * kSecond);
  auto full = full_prefill_logits(*model(), q, spans, a.tensors->context, a.tensors->content);
  EXPECT_LE((full - a.tensors->first_logits).abs().max().item<double>(), 1e-4);
}

// Switching modes at run time applies to the next answer.
TEST_F(SessionTest, ModeSwitchApplies) {
  SessionOptions o;
  o.context_mode = ContextMode::Standing;
  Session s(model(), o);
  feed(s, 2);
  Answer standing_a = s.answer("Is it red?", true);
  o.context_mode = ContextMode::Exact;
  s.set_options(o);
  feed(s, 2, 2);  // these keep their features
  Answer exact_a = s.answer("Is it red?", true);
  EXPECT_TRUE(torch::equal(exact_a.tensors->context[0], standing_a.tensors->context[0]));
  o.context_mode = ContextMode::Standing;
  s.set_options(o);
  EXPECT_NO_THROW(s.answer("Is it red?"));
}
