#include "stream/stream_analyzer.h"

#include <algorithm>

#include "core/error_text.h"
#include "core/utf8.h"
#include "model/model.h"

namespace llamavid {

StreamAnalyzer::StreamAnalyzer(std::shared_ptr<const Model> model,
                               const SessionOptions& session_options,
                               const AnalyzerOptions& options, AnalyzerCallbacks callbacks)
    : session_(std::move(model), session_options),
      callbacks_(std::move(callbacks)),
      queue_size_(std::max<size_t>(options.queue_size, 1)),
      max_batch_(std::max<size_t>(options.max_batch, 1)),
      max_questions_(std::max<size_t>(options.max_questions, 1)),
      ids_(options.ids ? options.ids : std::make_shared<QuestionIds>()),
      last_pts_ns_(kNoPts),
      last_round_ns_(kNoPts) {
  if (callbacks_.on_log) session_.set_log(callbacks_.on_log);
}

StreamAnalyzer::~StreamAnalyzer() {
  stop();
  cancel_leftover_questions();
}

void StreamAnalyzer::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  cancelled_ = false;
  encoder_ = std::thread([this] { encoder_loop(); });
  answerer_ = std::thread([this] { answer_loop(); });
}

void StreamAnalyzer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) return;
    stopping_ = true;
    cancel_locked();
  }
  cv_.notify_all();
  encoder_.join();
  answerer_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  running_ = false;
  stopping_ = false;
  cancelled_ = false;
}

bool StreamAnalyzer::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

SubmitResult StreamAnalyzer::submit_frame(FrameCopy frame, bool live) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto refused = [&] { return cancelled_ || stopping_ || !running_; };
  if (refused()) return SubmitResult::Cancelled;
  if (frames_.size() >= queue_size_) {
    if (live) {
      const uint64_t total = ++skipped_;
      lock.unlock();
      if (callbacks_.on_skipped) callbacks_.on_skipped(total, frame.pts_ns());
      return SubmitResult::Skipped;
    }
    cv_.wait(lock, [&] { return refused() || frames_.size() < queue_size_; });
    if (refused()) return SubmitResult::Cancelled;
  }
  frames_.push_back({std::move(frame), live, std::chrono::steady_clock::now()});
  ++submitted_;
  ++accepted_;
  lock.unlock();
  cv_.notify_all();
  return SubmitResult::Queued;
}

FrameCopy StreamAnalyzer::copy_frame(const Frame& frame) {
  std::vector<uint8_t> storage;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!spare_buffers_.empty()) {
      storage = std::move(spare_buffers_.back());
      spare_buffers_.pop_back();
    }
  }
  return FrameCopy::of(frame, std::move(storage));
}

void StreamAnalyzer::add_subtitle(int64_t start_ns, int64_t end_ns, const std::string& text) {
  session_.add_subtitle(start_ns, end_ns, text);
}

void StreamAnalyzer::flush_subtitles() { session_.flush_subtitles(); }

bool StreamAnalyzer::skip_if_full(int64_t pts_ns) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (frames_.size() < queue_size_) return false;
  const uint64_t total = ++skipped_;
  lock.unlock();
  if (callbacks_.on_skipped) callbacks_.on_skipped(total, pts_ns);
  return true;
}

std::string quoted_question(const std::string& question) {
  return excerpt(question, kMaxQuestionBytes);
}

std::string queue_refusal(const std::string& question, size_t waiting, size_t max_waiting) {
  if (question.size() > kMaxQuestionBytes)
    return "the question is too long: " + std::to_string(question.size()) + " bytes, at most " +
           std::to_string(kMaxQuestionBytes) + " are accepted";
  if (waiting >= max_waiting)
    return "too many questions waiting (" + std::to_string(waiting) +
           "): ask again when some are answered";
  return "";
}

uint64_t StreamAnalyzer::ask(const std::string& question, uint64_t id, std::string* refused) {
  std::unique_lock<std::mutex> lock(mutex_);
  id = ids_->assign(id);
  const std::string refusal = queue_refusal(question, questions_.size(), max_questions_);
  if (!refusal.empty()) {
    lock.unlock();
    if (refused)
      *refused = refusal;
    else if (callbacks_.on_error)
      callbacks_.on_error(id, quoted_question(question), refusal);
    return id;
  }
  Question q;
  q.id = id;
  q.text = question;
  q.barrier = submitted_;
  q.generation = generation_;
  q.asked = std::chrono::steady_clock::now();
  questions_.push_back(std::move(q));
  ++questions_queued_;
  lock.unlock();
  cv_.notify_all();
  return id;
}

bool StreamAnalyzer::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  // What is pending now, not what arrives meanwhile: questions asked faster than they are
  // answered would otherwise hold EOS forever.
  const uint64_t frames = submitted_, questions = questions_queued_;
  const uint64_t generation = generation_;
  const auto interrupted = [&] { return !running_ || stopping_ || generation_ != generation; };
  ++draining_;
  cv_.notify_all();  // questions waiting for a first frame go on
  cv_.wait(lock, [&] {
    return interrupted() || (done_ >= frames && questions_resolved_ >= questions);
  });
  --draining_;
  return !interrupted();
}

void StreamAnalyzer::cancel_locked() {
  cancelled_ = true;
  ++generation_;
  done_ += frames_.size();
  frames_.clear();
  round_.clear();  // the memory it was due on is being dropped
}

void StreamAnalyzer::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancel_locked();
  }
  cv_.notify_all();
}

void StreamAnalyzer::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = false;
}

void StreamAnalyzer::clear() {
  session_.clear_memory();
  std::lock_guard<std::mutex> lock(mutex_);
  has_memory_ = false;
  accepted_ = 0;
  encoded_ = 0;
  skipped_ = 0;
  last_pts_ns_ = kNoPts;
  // A new stream: every watch takes a new baseline.
  for (auto& w : watches_) w.tracker = WatchTracker();
  round_.clear();
  last_round_ns_ = kNoPts;
  round_entries_ = 0;
  watch_skipped_ = 0;
}

uint64_t StreamAnalyzer::frames_submitted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepted_;
}

uint64_t StreamAnalyzer::frames_encoded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return encoded_;
}

uint64_t StreamAnalyzer::frames_skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

void StreamAnalyzer::set_queue_size(size_t frames) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_size_ = std::max<size_t>(frames, 1);
  }
  cv_.notify_all();
}

void StreamAnalyzer::set_session_options(const SessionOptions& options) {
  session_.set_options(options);
}

SessionOptions StreamAnalyzer::session_options() const { return session_.options(); }
uint64_t StreamAnalyzer::memory_frames() const { return session_.memory_frames(); }
int64_t StreamAnalyzer::memory_start_ns() const { return session_.memory_start_ns(); }
int64_t StreamAnalyzer::memory_end_ns() const { return session_.memory_end_ns(); }

void StreamAnalyzer::encoder_loop() {
  // Kept across batches, with the frames' buffers, so that a steady stream allocates nothing
  // here.
  std::vector<QueuedFrame> batch;
  std::vector<Frame> views;
  batch.reserve(max_batch_);
  views.reserve(max_batch_);
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !frames_.empty(); });
    if (stopping_) return;  // stop() has dropped the queue
    batch.clear();
    // With watches, frames not live go one a batch, so that a round can follow every new entry
    // (a file's watches see each state of its memory); live frames batch as they come.
    const size_t take =
        !watches_.empty() && !frames_.front().live && questions_.empty() ? 1 : max_batch_;
    while (!frames_.empty() && batch.size() < take) {
      batch.push_back(std::move(frames_.front()));
      frames_.pop_front();
    }
    // Memory entries must not go back in time (a seek back, a looping source): such frames
    // are placed at the newest time seen.
    for (auto& q : batch) {
      if (q.frame.pts_ns() < last_pts_ns_) q.frame.set_pts_ns(last_pts_ns_);
      last_pts_ns_ = q.frame.pts_ns();
    }
    lock.unlock();
    cv_.notify_all();  // room in the queue

    views.clear();
    for (const auto& q : batch) views.push_back(q.frame.view());
    std::string failure;
    try {
      session_.add_frames(views);
    } catch (const std::exception& e) {
      failure = error_text(e);
    }
    if (!failure.empty() && callbacks_.on_frame_error) callbacks_.on_frame_error(failure);
    const bool filled = session_.memory_frames() > 0;

    lock.lock();
    has_memory_ = has_memory_ || filled;
    // As many spare buffers as frames can be queued and in the batch being copied.
    for (auto& q : batch)
      if (spare_buffers_.size() < queue_size_ + max_batch_)
        spare_buffers_.push_back(q.frame.release_storage());
    newest_submitted_ = batch.back().submitted;
    const uint64_t skipped = filled && !watches_.empty() ? schedule_watch_round_locked() : 0;
    // The skip report goes out before the batch counts as done, so that a drain() (EOS) that
    // returns has every report of the frames it waited for behind it.
    if (skipped > 0 && callbacks_.on_watch_skipped) {
      const int64_t pts = last_pts_ns_;
      lock.unlock();
      callbacks_.on_watch_skipped(skipped, pts);
      lock.lock();
    }
    done_ += batch.size();
    encoded_ += batch.size();
    cv_.notify_all();
    // Not live: the video may wait, and the round sees the memory it was due on; but a question
    // asked meanwhile never waits for watches (the round's rest is skipped if the next is due).
    if (!batch.back().live)
      cv_.wait(lock, [&] {
        return stopping_ || !watch_round_busy_locked() || !questions_.empty();
      });
  }
}

void StreamAnalyzer::answer_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  // The front question waits for the frames queued before it and for a first frame in memory
  // (or for being cancelled, or a drain that no frame will come before).
  const auto question_ready = [&] {
    if (questions_.empty()) return false;
    const Question& q = questions_.front();
    return stopping_ || q.generation < generation_ ||
           (done_ >= q.barrier && (has_memory_ || draining_ > 0));
  };
  for (;;) {
    // A watch only while no question is queued: one waiting for its frames leaves the CPU to
    // the encoder.
    cv_.wait(lock, [&] {
      return stopping_ || question_ready() || (!round_.empty() && questions_.empty());
    });
    if (stopping_ && questions_.empty()) return;  // nothing left to resolve
    if (!question_ready()) {
      evaluate_next_watch(lock);
      cv_.notify_all();
      continue;
    }
    Question q = std::move(questions_.front());
    questions_.pop_front();
    const bool cancelled = stopping_ || q.generation < generation_;
    lock.unlock();
    answer_one(q, cancelled);
    lock.lock();
    ++questions_resolved_;
    cv_.notify_all();
  }
}

void StreamAnalyzer::answer_one(const Question& q, bool cancelled) {
  auto aborted = [&] { return q.generation < generation_.load(); };
  std::string reason;
  Answer answer;
  if (cancelled) {
    reason = kCancelledReason;
  } else {
    try {
      answer = session_.answer(q.text, false, aborted);
      if (aborted()) reason = kCancelledReason;
    } catch (const std::exception& e) {
      reason = error_text(e);
    }
  }
  if (!reason.empty()) {
    if (callbacks_.on_error) callbacks_.on_error(q.id, q.text, reason);
    return;
  }
  const auto latency = std::chrono::steady_clock::now() - q.asked;
  if (callbacks_.on_answer)
    callbacks_.on_answer(q.id, q.text, answer,
                         std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count());
}

void StreamAnalyzer::cancel_leftover_questions() {
  std::deque<Question> leftover;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    leftover.swap(questions_);
  }
  for (const auto& q : leftover)
    if (callbacks_.on_error) callbacks_.on_error(q.id, q.text, kCancelledReason);
}

std::shared_ptr<const Model> load_shared_model(const std::string& dir, const std::string& device) {
  LoadOptions options;
  options.device = device;
  return Model::shared(dir, options);
}

void StreamAnalyzer::save_memory(const std::string& path) const { session_.save_memory(path); }

void StreamAnalyzer::load_memory(const std::string& path) {
  session_.load_memory(path);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (session_.memory_frames() > 0) {
      last_pts_ns_ = std::max(last_pts_ns_, session_.memory_end_ns());
      has_memory_ = true;
    }
  }
  cv_.notify_all();
}

}  // namespace llamavid
