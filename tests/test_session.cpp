// Session: ingest frames into memory and answer questions on a tiny random model (answers are
// arbitrary; the mechanics are asserted).
#include <gtest/gtest.h>

#include <vector>

#include "answer_tensors.h"
#include "model.h"
#include "session.h"
#include "test_util.h"

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

  // Solid-colour RGB frames at 1 s intervals starting at `start_s`.
  void feed(Session& s, int count, int start_s = 0) {
    std::vector<std::vector<uint8_t>> pixels;
    std::vector<Frame> frames;
    for (int i = 0; i < count; ++i) pixels.emplace_back(40 * 30 * 3, static_cast<uint8_t>(i * 37));
    for (int i = 0; i < count; ++i) {
      Frame f;
      f.width = 40;
      f.height = 30;
      f.planes[0] = pixels[i].data();
      f.strides[0] = 40 * 3;
      f.pts_ns = (start_s + i) * kSecond;
      frames.push_back(f);
    }
    s.add_frames(frames);
  }

  static std::string* dir_;
};
std::string* SessionTest::dir_ = nullptr;

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

// The context token depends on the question, the content token does not.
TEST_F(SessionTest, ContextTokensFollowTheQuestion) {
  Session s(model());
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

// Bad option values are refused.
TEST_F(SessionTest, BadOptions) {
  SessionOptions o;
  o.time_markers = "sometimes";
  EXPECT_THROW(Session(model(), o), Error);
  o = SessionOptions();
  o.max_new_tokens = 0;
  EXPECT_THROW(Session(model(), o), Error);
}

// Time markers read hh:mm:ss: the start, or start, end and duration.
TEST(TimeMarker, Format) {
  EXPECT_EQ(format_clock((3600 + 23 * 60 + 45) * kSecond + 999), "01:23:45");
  EXPECT_EQ(format_clock(-5), "00:00:00");
  EXPECT_EQ(format_clock(101 * 3600 * kSecond), "101:00:00");
  EXPECT_EQ(format_time_marker("start", 62 * kSecond, 90 * kSecond), "[00:01:02]");
  EXPECT_EQ(format_time_marker("span", 62 * kSecond, 3723 * kSecond),
            "[00:01:02-01:02:03, 01:01:01]");
  EXPECT_EQ(format_time_marker("none", 0, kSecond), "");
}
