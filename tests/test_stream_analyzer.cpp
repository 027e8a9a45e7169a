// StreamAnalyzer: the encoder and answer workers with real threads on a tiny random model
// (answers are arbitrary; ordering, counting and waiting are asserted).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "stream/stream_analyzer.h"
#include "test_util.h"

using namespace llamavid;

namespace {

constexpr int64_t kSecond = 1000000000;
constexpr auto kTimeout = std::chrono::seconds(120);

// What the callbacks reported, in order.
struct Result {
  uint64_t id = 0;
  std::string question;
  bool answered = false;
  std::string reason;  // errors
  Answer answer;
};

class Recorder {
 public:
  AnalyzerCallbacks callbacks() {
    AnalyzerCallbacks c;
    c.on_answer = [this](uint64_t id, const std::string& q, const Answer& a, int64_t) {
      Result r;
      r.id = id;
      r.question = q;
      r.answered = true;
      r.answer = a;
      add(std::move(r));
    };
    c.on_error = [this](uint64_t id, const std::string& q, const std::string& reason) {
      Result r;
      r.id = id;
      r.question = q;
      r.reason = reason;
      add(std::move(r));
    };
    c.on_skipped = [this](uint64_t total, int64_t) {
      std::lock_guard<std::mutex> lock(mutex_);
      skipped_reports_.push_back(total);
    };
    c.on_watch_answer = [this](uint64_t id, const std::string&, const Answer& a) {
      std::lock_guard<std::mutex> lock(mutex_);
      watch_answers_.push_back({id, a});
      events_.push_back("watch " + std::to_string(id));
    };
    c.on_alert = [this](const WatchEvent& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      alerts_.push_back(e);
    };
    c.on_watch_skipped = [this](uint64_t total, int64_t) {
      std::lock_guard<std::mutex> lock(mutex_);
      watch_skipped_reports_.push_back(total);
    };
    return c;
  }
  void note(const std::string& event) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back(event);
  }
  std::vector<std::pair<uint64_t, Answer>> watch_answers() {
    std::lock_guard<std::mutex> lock(mutex_);
    return watch_answers_;
  }
  std::vector<WatchEvent> alerts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return alerts_;
  }
  std::vector<uint64_t> watch_skipped_reports() {
    std::lock_guard<std::mutex> lock(mutex_);
    return watch_skipped_reports_;
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_;
  }

  // Waits for `n` results; fails the test on timeout.
  std::vector<Result> wait_for(size_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    EXPECT_TRUE(cv_.wait_for(lock, kTimeout, [&] { return results_.size() >= n; }))
        << "only " << results_.size() << " of " << n << " results";
    return results_;
  }
  std::vector<Result> results() {
    std::lock_guard<std::mutex> lock(mutex_);
    return results_;
  }
  std::vector<uint64_t> skipped_reports() {
    std::lock_guard<std::mutex> lock(mutex_);
    return skipped_reports_;
  }

 private:
  void add(Result r) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back((r.answered ? "answer " : "error ") + std::to_string(r.id));
      results_.push_back(std::move(r));
    }
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Result> results_;
  std::vector<uint64_t> skipped_reports_;
  std::vector<std::pair<uint64_t, Answer>> watch_answers_;
  std::vector<WatchEvent> alerts_;
  std::vector<uint64_t> watch_skipped_reports_;
  std::vector<std::string> events_;  // answers, errors and watch evaluations, in order
};

// A solid-colour 40x30 RGB frame at `pts`.
FrameCopy solid_frame(uint8_t value, int64_t pts) {
  std::vector<uint8_t> pixels(40 * 30 * 3, value);
  Frame f;
  f.width = 40;
  f.height = 30;
  f.planes[0] = pixels.data();
  f.strides[0] = 40 * 3;
  f.pts_ns = pts;
  return FrameCopy::of(f);
}

class StreamAnalyzerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("stream_analyzer_model"));
    test::run_python("make_tiny_model.py", *dir_ + " movie");
  }
  static void TearDownTestSuite() { delete dir_; }

  std::unique_ptr<StreamAnalyzer> make(size_t queue_size = 8, int64_t max_new_tokens = 4,
                                       size_t max_questions = AnalyzerOptions{}.max_questions) {
    SessionOptions s;
    s.max_new_tokens = max_new_tokens;
    AnalyzerOptions o;
    o.queue_size = queue_size;
    o.max_questions = max_questions;
    auto a = std::make_unique<StreamAnalyzer>(load_shared_model(*dir_, "cpu"), s, o,
                                              recorder_.callbacks());
    a->start();
    return a;
  }

  // Frames 0..count-1 at one per second from `start_s`, waiting for room (non-live).
  static void feed(StreamAnalyzer& a, int count, int start_s = 0) {
    for (int i = 0; i < count; ++i)
      ASSERT_EQ(a.submit_frame(
                    solid_frame(static_cast<uint8_t>(37 * (start_s + i)), (start_s + i) * kSecond),
                    /*live=*/false),
                SubmitResult::Queued);
  }

  static std::string* dir_;
  Recorder recorder_;
};
std::string* StreamAnalyzerTest::dir_ = nullptr;

}  // namespace

// A copy keeps the visible pixels, packs the rows and crops 4:2:0 frames to even sizes.
TEST(FrameCopy, CopiesRowsAndCropsOddChroma) {
  std::vector<uint8_t> rgb(8 * 3, 0);  // 2x3 RGB with stride 8
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 6; ++c) rgb[r * 8 + c] = static_cast<uint8_t>(10 * r + c);
  Frame f;
  f.width = 2;
  f.height = 3;
  f.planes[0] = rgb.data();
  f.strides[0] = 8;
  f.pts_ns = 7;
  FrameCopy c = FrameCopy::of(f);
  Frame v = c.view();
  EXPECT_EQ(v.strides[0], 6);
  EXPECT_EQ(v.pts_ns, 7);
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 6; ++col) EXPECT_EQ(v.planes[0][r * 6 + col], 10 * r + col);

  std::vector<uint8_t> y(5 * 3, 1), u(3 * 2, 2), vv(3 * 2, 3);
  Frame i420;
  i420.width = 5;
  i420.height = 3;
  i420.format = PixelFormat::I420;
  i420.planes[0] = y.data();
  i420.planes[1] = u.data();
  i420.planes[2] = vv.data();
  i420.strides[0] = 5;
  i420.strides[1] = i420.strides[2] = 3;
  FrameCopy i420_copy = FrameCopy::of(i420);
  Frame w = i420_copy.view();
  EXPECT_EQ(w.width, 4);
  EXPECT_EQ(w.height, 2);
  EXPECT_EQ(w.strides[0], 4);
  EXPECT_EQ(w.strides[1], 2);
  EXPECT_EQ(w.planes[2][0], 3);
}


// A copy made in the storage of an earlier one writes into it (no allocation when it is large
// enough) and is exact whatever size that storage had.
TEST(FrameCopy, ReusesTheStorageItIsGiven) {
  auto rgb = [](int w, int h, uint8_t value, std::vector<uint8_t>& pixels) {
    pixels.assign(static_cast<size_t>(w) * h * 3, value);
    Frame f;
    f.width = w;
    f.height = h;
    f.planes[0] = pixels.data();
    f.strides[0] = w * 3;
    return f;
  };
  std::vector<uint8_t> big, small;
  std::vector<uint8_t> storage = FrameCopy::of(rgb(64, 48, 1, big)).release_storage();
  const uint8_t* buffer = storage.data();
  FrameCopy c = FrameCopy::of(rgb(40, 30, 7, small), std::move(storage));
  EXPECT_EQ(c.view().planes[0], buffer);
  EXPECT_EQ(c.view().width, 40);
  EXPECT_EQ(c.view().strides[0], 40 * 3);
  EXPECT_EQ(c.view().planes[0][40 * 30 * 3 - 1], 7);
  FrameCopy grown = FrameCopy::of(rgb(64, 48, 9, big), c.release_storage());
  EXPECT_EQ(grown.view().planes[0][64 * 48 * 3 - 1], 9);
  EXPECT_EQ(grown.view().height, 48);
}

// copy_frame hands out the buffers of frames already encoded; frames whose size changes on the
// way are copied whole all the same.
TEST_F(StreamAnalyzerTest, CopiesInReusedBuffersAcrossSizes) {
  auto a = make(/*queue_size=*/2);
  for (int i = 0; i < 24; ++i) {
    const int w = i < 12 ? 40 : 64, h = i < 12 ? 30 : 48;
    const auto value = static_cast<uint8_t>(10 * i);
    std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * 3, value);
    Frame f;
    f.width = w;
    f.height = h;
    f.planes[0] = pixels.data();
    f.strides[0] = w * 3;
    f.pts_ns = i * kSecond;
    FrameCopy copy = a->copy_frame(f);
    const Frame view = copy.view();
    ASSERT_EQ(view.width, w);
    EXPECT_EQ(view.planes[0][0], value);
    EXPECT_EQ(view.planes[0][static_cast<size_t>(w) * h * 3 - 1], value);
    ASSERT_EQ(a->submit_frame(std::move(copy), /*live=*/false), SubmitResult::Queued);
    if (i % 6 == 5) a->drain();  // the encoder gives its buffers back
  }
  a->drain();
  EXPECT_EQ(a->frames_encoded(), 24u);
}

// Every question gets exactly one answer or error, in the order asked, validation included.
TEST_F(StreamAnalyzerTest, OneResultPerQuestionInOrder) {
  auto a = make();
  feed(*a, 3);
  const std::vector<std::string> questions = {"What is on screen?", "", "bad \xC3\x28", "Why?"};
  for (const auto& q : questions) a->ask(q);
  auto results = recorder_.wait_for(questions.size());
  a->drain();
  results = recorder_.results();
  ASSERT_EQ(results.size(), questions.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].id, i + 1);
    EXPECT_EQ(results[i].question, questions[i]);
  }
  EXPECT_TRUE(results[0].answered);
  EXPECT_NE(results[1].reason.find("empty"), std::string::npos);
  EXPECT_NE(results[2].reason.find("UTF-8"), std::string::npos);
  EXPECT_TRUE(results[3].answered);
}

// A question asked before any frame waits for the first one; a drain (EOS) that finds no frame
// coming ends the wait with an error that says so.
TEST_F(StreamAnalyzerTest, NoFrameYetWaitsForTheFirst) {
  auto a = make();
  a->ask("Anything?");
  EXPECT_TRUE(a->drain());
  auto results = recorder_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_NE(results[0].reason.find("no frame"), std::string::npos);
  a->ask("And now?");
  feed(*a, 1);
  results = recorder_.wait_for(2);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[1].answered) << results[1].reason;
}

// A question waits for the frames submitted before it, however far behind the encoder is.
TEST_F(StreamAnalyzerTest, QuestionSeesEarlierFrames) {
  auto a = make(/*queue_size=*/16);
  feed(*a, 6);
  a->ask("First?");
  feed(*a, 4, 6);
  a->ask("Second?");
  auto results = recorder_.wait_for(2);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].answered && results[1].answered);
  EXPECT_GE(results[0].answer.stream_time_ns, 5 * kSecond);
  EXPECT_EQ(results[1].answer.stream_time_ns, 9 * kSecond);
}

// Ids given by the caller are kept; assigned ids continue after them.
TEST_F(StreamAnalyzerTest, GivenIdsAreKept) {
  auto a = make();
  feed(*a, 1);
  EXPECT_EQ(a->ask("One?"), 1u);
  EXPECT_EQ(a->ask("Two?", 100), 100u);
  EXPECT_EQ(a->ask("Three?"), 101u);
  auto results = recorder_.wait_for(3);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[1].id, 100u);
  EXPECT_EQ(results[2].id, 101u);
}

// A question over kMaxQuestionBytes is refused when asked, unqueued: the host hears it through
// `refused`, or on_error reports it at once with an excerpt of the question (a megabyte question
// is not copied into messages).
TEST_F(StreamAnalyzerTest, OverlongQuestionsAreRefusedUnqueued) {
  auto a = make();
  const std::string huge(1 << 20, 'q');
  std::string refused;
  const uint64_t id = a->ask(huge, 0, &refused);
  EXPECT_NE(refused.find("too long: 1048576 bytes, at most 8192"), std::string::npos) << refused;
  a->ask(huge);
  auto results = recorder_.wait_for(1);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].id, id + 1);
  EXPECT_NE(results[0].reason.find("too long"), std::string::npos);
  EXPECT_EQ(results[0].question, std::string(kMaxQuestionBytes, 'q') + "...");
  EXPECT_EQ(a->ask(std::string(kMaxQuestionBytes, 'q'), 0, &refused), id + 2);  // at the limit
}

// Questions beyond max_questions waiting are refused with a reason; the ones queued are still
// answered, each once.
TEST_F(StreamAnalyzerTest, FullQuestionQueueRefuses) {
  auto a = make(/*queue_size=*/8, /*max_new_tokens=*/4, /*max_questions=*/3);
  a->stop();  // nothing is answered while the queue fills
  std::vector<std::string> refusals;
  for (int i = 0; i < 6; ++i) {
    std::string refused;
    a->ask("Question " + std::to_string(i) + "?", 0, &refused);
    if (!refused.empty()) refusals.push_back(refused);
  }
  ASSERT_EQ(refusals.size(), 3u);
  EXPECT_NE(refusals[0].find("too many questions waiting (3)"), std::string::npos) << refusals[0];
  a->start();
  feed(*a, 1);  // the queued questions wait for a first frame
  auto results = recorder_.wait_for(3);
  EXPECT_EQ(results.size(), 3u);
}

// drain() waits for what was pending when it was called, not for questions asked meanwhile:
// with an asker faster than the answers it returns while the asker still runs (it used to wait for the
// queue to empty, and so held EOS as long as questions kept coming).
TEST_F(StreamAnalyzerTest, DrainWaitsOnlyForWhatIsPending) {
  auto a = make(/*queue_size=*/8, /*max_new_tokens=*/48);  // answers of some milliseconds each
  feed(*a, 2);
  std::atomic<bool> stop{false}, asker_done{false};
  std::atomic<size_t> asked{0};
  std::thread asker([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!stop && std::chrono::steady_clock::now() < until) {
      a->ask("More?");
      ++asked;
      // A thousand questions a second: faster than they are answered.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    asker_done = true;
  });
  while (asked < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const size_t before = asked;
  a->drain();
  const size_t resolved = recorder_.results().size();
  const bool asker_still_running = !asker_done;
  std::printf("drain: %zu questions asked before it, %zu resolved when it returned, %zu asked by "
              "then\n", before, resolved, asked.load());
  stop = true;
  asker.join();
  EXPECT_TRUE(asker_still_running) << "drain returned only once the asking stopped";
  EXPECT_GE(resolved, before);
}

// A cancel() (a flush) ends a drain() at once with false, without waiting for the questions
// still queued; with nothing interrupting, drain() returns true.
TEST_F(StreamAnalyzerTest, DrainEndsAtCancel) {
  auto a = make(/*queue_size=*/8, /*max_new_tokens=*/48);
  feed(*a, 2);
  a->ask("First?");
  EXPECT_TRUE(a->drain());
  recorder_.wait_for(1);
  for (int i = 0; i < 200; ++i) a->ask("Pending " + std::to_string(i) + "?");
  std::atomic<int> drained{-1};
  std::thread eos([&] { drained = a->drain() ? 1 : 0; });
  recorder_.wait_for(2);  // the drain is under way
  a->cancel();
  eos.join();
  EXPECT_EQ(drained.load(), 0);
  a->reset();
  auto results = recorder_.wait_for(201);  // every question still gets its one result
  EXPECT_EQ(results.size(), 201u);
}

// Live: a full queue skips frames at once (counted and reported), never blocks.
TEST_F(StreamAnalyzerTest, LiveSkipsWhenFull) {
  auto a = make(/*queue_size=*/1);
  int queued = 0, skipped = 0;
  auto slowest = std::chrono::steady_clock::duration::zero();
  for (int i = 0; i < 40; ++i) {
    FrameCopy f = solid_frame(static_cast<uint8_t>(i), i * kSecond / 30);
    const auto t0 = std::chrono::steady_clock::now();
    SubmitResult r = a->submit_frame(std::move(f), /*live=*/true);
    slowest = std::max(slowest, std::chrono::steady_clock::now() - t0);
    (r == SubmitResult::Queued ? queued : skipped)++;
    ASSERT_NE(r, SubmitResult::Cancelled);
  }
  EXPECT_GT(skipped, 0);
  EXPECT_EQ(a->frames_skipped(), static_cast<uint64_t>(skipped));
  EXPECT_EQ(a->frames_submitted(), static_cast<uint64_t>(queued));
  EXPECT_LT(slowest, std::chrono::milliseconds(50));
  auto reports = recorder_.skipped_reports();
  ASSERT_EQ(reports.size(), static_cast<size_t>(skipped));
  EXPECT_EQ(reports.back(), static_cast<uint64_t>(skipped));
}

// Not live: a full queue makes the submitter wait, so every frame is encoded.
TEST_F(StreamAnalyzerTest, NonLiveWaitsForRoom) {
  auto a = make(/*queue_size=*/1);
  feed(*a, 12);
  a->drain();
  EXPECT_EQ(a->frames_skipped(), 0u);
  EXPECT_EQ(a->frames_submitted(), 12u);
  EXPECT_EQ(a->frames_encoded(), 12u);
  EXPECT_EQ(a->memory_end_ns(), 11 * kSecond);
}

// drain() returns only when every queued frame and question is done.
TEST_F(StreamAnalyzerTest, DrainWaitsForEverything) {
  auto a = make(/*queue_size=*/32);
  feed(*a, 10);
  for (int i = 0; i < 3; ++i) a->ask("What happened?");
  a->drain();
  EXPECT_EQ(recorder_.results().size(), 3u);
  EXPECT_EQ(a->frames_encoded(), 10u);
}

// cancel() resolves queued and in-flight questions exactly once ("cancelled" for those not
// answered yet), refuses frames until reset(), and the analyzer works again afterwards.
TEST_F(StreamAnalyzerTest, CancelResolvesEveryQuestion) {
  auto a = make(/*queue_size=*/32, /*max_new_tokens=*/400);
  feed(*a, 20);
  for (int i = 0; i < 5; ++i) a->ask("Tell me everything?");
  a->cancel();
  EXPECT_EQ(a->submit_frame(solid_frame(1, 30 * kSecond), false), SubmitResult::Cancelled);
  a->drain();
  auto results = recorder_.results();
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i].id, i + 1);
  EXPECT_EQ(results.back().reason, kCancelledReason);

  a->reset();
  feed(*a, 1, 40);
  a->ask("And now?");
  results = recorder_.wait_for(6);
  ASSERT_EQ(results.size(), 6u);
  EXPECT_TRUE(results[5].answered);
  EXPECT_EQ(results[5].answer.stream_time_ns, 40 * kSecond);
}

// stop() returns with every question resolved; questions asked while stopped wait for start().
TEST_F(StreamAnalyzerTest, StopResolvesAndStartResumes) {
  auto a = make(/*queue_size=*/32, /*max_new_tokens=*/400);
  feed(*a, 5);
  a->drain();
  for (int i = 0; i < 3; ++i) a->ask("Long answer please?");
  a->stop();
  EXPECT_EQ(recorder_.results().size(), 3u);
  EXPECT_EQ(a->submit_frame(solid_frame(1, 9 * kSecond), false), SubmitResult::Cancelled);
  a->ask("Still there?");
  EXPECT_EQ(recorder_.results().size(), 3u);
  a->start();
  auto results = recorder_.wait_for(4);
  ASSERT_EQ(results.size(), 4u);
  EXPECT_TRUE(results[3].answered);  // the memory survived stop()
}

// The destructor errors questions that were never answered.
TEST_F(StreamAnalyzerTest, DestructorCancelsLeftovers) {
  {
    SessionOptions s;
    StreamAnalyzer a(load_shared_model(*dir_, "cpu"), s, AnalyzerOptions{}, recorder_.callbacks());
    a.ask("Never started?");
  }
  auto results = recorder_.results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].reason, kCancelledReason);
}

// Frames going back in time (a seek back) are placed at the newest time instead of failing.
TEST_F(StreamAnalyzerTest, TimeNeverGoesBack) {
  auto a = make();
  feed(*a, 1, 5);
  feed(*a, 1, 2);
  a->drain();
  EXPECT_EQ(a->frames_encoded(), 2u);
  EXPECT_EQ(a->memory_start_ns(), 5 * kSecond);
  EXPECT_EQ(a->memory_end_ns(), 5 * kSecond);
}

// Questions from several threads at once: each exactly once, in the order their ids were given.
TEST_F(StreamAnalyzerTest, ManyAskersAtOnce) {
  auto a = make(/*queue_size=*/64, /*max_new_tokens=*/2);
  feed(*a, 2);
  constexpr int kThreads = 4, kEach = 8;
  std::mutex mutex;
  std::map<uint64_t, std::string> asked;
  std::vector<std::thread> askers;
  for (int t = 0; t < kThreads; ++t)
    askers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string q =
            "Thread " + std::to_string(t) + " question " + std::to_string(i) + "?";
        const uint64_t id = a->ask(q);
        std::lock_guard<std::mutex> lock(mutex);
        asked[id] = q;
      }
    });
  for (auto& t : askers) t.join();
  auto results = recorder_.wait_for(kThreads * kEach);
  ASSERT_EQ(results.size(), static_cast<size_t>(kThreads * kEach));
  ASSERT_EQ(asked.size(), results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].id, i + 1);
    EXPECT_EQ(results[i].question, asked[results[i].id]);
    EXPECT_TRUE(results[i].answered) << results[i].reason;
  }
}

// Watches on a file (not live): a round at each batch, none skipped, and the alerts are exactly
// what the rule makes of the evaluations' answers, the EOS round included.
TEST_F(StreamAnalyzerTest, WatchAlertsFollowTheirAnswers) {
  auto a = make();
  WatchOptions wo;
  wo.rules.confirm = 1;
  a->set_watch_options(wo);
  const uint64_t w1 = a->add_watch("Is the screen black?");
  const uint64_t w2 = a->add_watch("What is on screen?");
  EXPECT_GT(w2, w1);
  for (int i = 0; i < 24; ++i)
    ASSERT_EQ(a->submit_frame(solid_frame(static_cast<uint8_t>((i / 3) * 61), i * kSecond / 2),
                              /*live=*/false),
              SubmitResult::Queued);
  ASSERT_TRUE(a->drain());
  // drain() waits for frames and questions, not for a round due or under way: that round ends
  // first, then the EOS round evaluates each watch once more, in order, on the whole memory.
  const size_t before_eos = recorder_.watch_answers().size();
  ASSERT_TRUE(a->finish_watches());
  const auto answers = recorder_.watch_answers();
  ASSERT_GE(answers.size(), before_eos + 2);
  EXPECT_EQ(answers[answers.size() - 2].first, w1);
  EXPECT_EQ(answers.back().first, w2);
  for (size_t i = answers.size() - 2; i < answers.size(); ++i)
    EXPECT_EQ(answers[i].second.stream_time_ns, a->memory_end_ns());
  EXPECT_EQ(a->watch_skipped(), 0u);
  std::map<uint64_t, WatchTracker> replay;
  std::vector<std::pair<uint64_t, WatchAlert>> want;
  std::map<uint64_t, int> evaluations;
  for (const auto& [id, answer] : answers) {
    ++evaluations[id];
    if (auto alert = replay[id].observe(answer.text, answer.stream_time_ns, wo.rules))
      want.emplace_back(id, *alert);
  }
  for (auto& [id, tracker] : replay)
    if (auto alert = tracker.finish(a->memory_end_ns(), wo.rules)) want.emplace_back(id, *alert);
  EXPECT_GE(evaluations[w1], 12);  // one frame a batch with watches, a round at least every 1 s
  EXPECT_EQ(evaluations[w1], evaluations[w2]);  // no round cut short
  const auto alerts = recorder_.alerts();
  ASSERT_EQ(alerts.size(), want.size());
  for (size_t i = 0; i < alerts.size(); ++i) {
    EXPECT_EQ(alerts[i].watch_id, want[i].first);
    EXPECT_EQ(alerts[i].question, alerts[i].watch_id == w1 ? "Is the screen black?"
                                                           : "What is on screen?");
    EXPECT_EQ(alerts[i].alert.answer, want[i].second.answer);
    EXPECT_EQ(alerts[i].alert.previous, want[i].second.previous);
    EXPECT_EQ(alerts[i].alert.since_ns, want[i].second.since_ns);
    EXPECT_GE(alerts[i].latency_ns, 0);
  }
}

// On a live stream the encoder never waits for a round: one that falls behind is skipped and
// counted, and the count is reported.
TEST_F(StreamAnalyzerTest, LiveWatchRoundsThatFallBehindAreSkipped) {
  auto a = make(/*queue_size=*/2, /*max_new_tokens=*/8);
  WatchOptions wo;
  wo.interval_ns = 0;  // a round after every batch
  a->set_watch_options(wo);
  for (int i = 0; i < 12; ++i) a->add_watch("Is watch " + std::to_string(i) + " on screen?");
  for (int i = 0; i < 60; ++i) {
    a->submit_frame(solid_frame(static_cast<uint8_t>(i * 4), i * kSecond / 10), /*live=*/true);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  a->drain();
  EXPECT_GT(a->watch_skipped(), 0u);
  const auto reports = recorder_.watch_skipped_reports();
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back(), a->watch_skipped());
  EXPECT_TRUE(std::is_sorted(reports.begin(), reports.end()));
}

// An asked question goes before the watches: after it is ready, at most the evaluation already
// under way comes before its answer.
TEST_F(StreamAnalyzerTest, WatchesNeverDelayQuestions) {
  auto a = make();
  for (int i = 0; i < 16; ++i) a->add_watch("Is watch " + std::to_string(i) + " on screen?");
  feed(*a, 4);
  // Wait until the watches are being evaluated, then ask.
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (recorder_.watch_answers().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  recorder_.note("asked");
  const uint64_t id = a->ask("What is on screen?");
  recorder_.wait_for(1);
  const auto events = recorder_.events();
  const auto asked = std::find(events.begin(), events.end(), "asked");
  const auto answered = std::find(events.begin(), events.end(), "answer " + std::to_string(id));
  ASSERT_NE(answered, events.end());
  EXPECT_LE(std::count_if(asked, answered, [](const std::string& e) { return e.rfind("watch", 0) == 0; }),
            1);
}

// An unwatched watch is evaluated no more; the others go on.
TEST_F(StreamAnalyzerTest, UnwatchStopsEvaluations) {
  auto a = make();
  const uint64_t keep = a->add_watch("Is the screen black?");
  const uint64_t gone = a->add_watch("Is snow on screen?");
  feed(*a, 4);
  a->drain();
  EXPECT_TRUE(a->remove_watch(gone));
  EXPECT_FALSE(a->remove_watch(gone));
  const size_t seen = recorder_.watch_answers().size();
  feed(*a, 8, 4);
  a->drain();
  ASSERT_TRUE(a->finish_watches());
  const auto answers = recorder_.watch_answers();
  ASSERT_GT(answers.size(), seen);
  for (size_t i = seen; i < answers.size(); ++i) EXPECT_EQ(answers[i].first, keep);
}

// A watch that cannot be asked is refused at once.
TEST_F(StreamAnalyzerTest, BadWatchesAreRefused) {
  auto a = make();
  EXPECT_THROW(a->add_watch("  "), QuestionError);
  EXPECT_THROW(a->add_watch(std::string(kMaxQuestionBytes + 1, 'a')), QuestionError);
  EXPECT_THROW(a->add_watch("Is <image> on?"), QuestionError);
}
