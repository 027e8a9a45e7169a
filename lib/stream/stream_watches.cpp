// StreamAnalyzer's watches: adding and removing them, when a round of evaluations is due, the
// evaluations on the answer worker and the last round at EOS.
#include <algorithm>

#include "core/error_text.h"
#include "stream/stream_analyzer.h"

namespace llamavid {

namespace {

int64_t nanoseconds_since(std::chrono::steady_clock::time_point then) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              then)
      .count();
}

}  // namespace

uint64_t StreamAnalyzer::add_watch(const std::string& question, uint64_t id) {
  if (question.size() > kMaxQuestionBytes) throw QuestionError(queue_refusal(question, 0, 1));
  session_.validate(question);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    id = ids_->assign(id);
    Watch w;
    w.id = id;
    w.question = question;
    watches_.push_back(std::move(w));
    // Its baseline: at once when there is a memory to answer about, else with the first round.
    if (has_memory_) round_.push_back(id);
  }
  cv_.notify_all();
  return id;
}

bool StreamAnalyzer::remove_watch(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = std::find_if(watches_.begin(), watches_.end(),
                               [&](const Watch& w) { return w.id == id; });
  if (it == watches_.end()) return false;
  watches_.erase(it);  // an id of it still in the round is passed over
  return true;
}

void StreamAnalyzer::set_watch_options(const WatchOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  watch_options_ = options;
  watch_options_.interval_ns = std::max<int64_t>(options.interval_ns, 0);
  watch_options_.rules.confirm = std::max<uint32_t>(options.rules.confirm, 1);
  watch_options_.rules.cooldown_ns = std::max<int64_t>(options.rules.cooldown_ns, 0);
}

uint64_t StreamAnalyzer::watch_skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return watch_skipped_;
}

uint64_t StreamAnalyzer::schedule_watch_round_locked() {
  const int64_t newest = session_.memory_end_ns();
  const uint64_t entries = session_.memory_frames();
  const bool due = last_round_ns_ == kNoPts || entries != round_entries_ ||
                   newest - last_round_ns_ >= watch_options_.interval_ns;
  if (!due) return 0;
  last_round_ns_ = newest;
  round_entries_ = entries;
  const uint64_t left = round_.size();  // the previous round fell behind: its rest is skipped
  round_.clear();
  for (const auto& w : watches_) round_.push_back(w.id);
  if (left == 0) return 0;
  watch_skipped_ += left;
  return watch_skipped_;
}

void StreamAnalyzer::evaluate_next_watch(std::unique_lock<std::mutex>& lock) {
  const uint64_t id = round_.front();
  round_.pop_front();
  auto find = [&] {
    return std::find_if(watches_.begin(), watches_.end(),
                        [&](const Watch& w) { return w.id == id; });
  };
  if (find() == watches_.end()) return;  // unwatched since the round was due
  const std::string question = find()->question;
  const uint64_t generation = generation_;
  const auto aborted = [&] { return generation_.load() != generation; };
  evaluating_watch_ = true;
  lock.unlock();
  Answer answer;
  std::string reason;
  try {
    answer = session_.answer(question, false, aborted);
  } catch (const std::exception& e) {
    reason = error_text(e);
  }
  lock.lock();
  evaluating_watch_ = false;
  const auto it = find();
  if (aborted() || it == watches_.end()) return;  // flushed or unwatched meanwhile
  std::optional<WatchEvent> event;
  bool report = false;
  if (!reason.empty()) {
    report = !it->error_reported;
    it->error_reported = true;
  } else {
    it->error_reported = false;
    if (auto alert = it->tracker.observe(answer.text, answer.stream_time_ns, watch_options_.rules))
      event = WatchEvent{id, question, *alert, answer.stream_time_ns,
                         nanoseconds_since(newest_submitted_)};
  }
  lock.unlock();
  if (report && callbacks_.on_watch_error) callbacks_.on_watch_error(id, question, reason);
  if (reason.empty() && callbacks_.on_watch_answer) callbacks_.on_watch_answer(id, question, answer);
  if (event && callbacks_.on_alert) callbacks_.on_alert(*event);
  lock.lock();
}

bool StreamAnalyzer::finish_watches() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (watches_.empty()) return true;
  const uint64_t generation = generation_;
  const auto interrupted = [&] { return !running_ || stopping_ || generation_ != generation; };
  // A round under way ends first, so that every watch gets the same rounds (a round cut short
  // would leave some watches one evaluation behind the others); then the EOS round.
  const auto round_done = [&] { return interrupted() || !watch_round_busy_locked(); };
  cv_.wait(lock, round_done);
  if (interrupted()) return false;
  if (has_memory_) {
    for (const auto& w : watches_) round_.push_back(w.id);
    cv_.notify_all();
  }
  cv_.wait(lock, round_done);
  if (interrupted()) return false;
  const int64_t newest = session_.memory_end_ns();
  std::vector<WatchEvent> events;
  for (auto& w : watches_)
    if (auto alert = w.tracker.finish(newest, watch_options_.rules))
      events.push_back({w.id, w.question, *alert, newest, nanoseconds_since(newest_submitted_)});
  lock.unlock();
  if (callbacks_.on_alert)
    for (const auto& e : events) callbacks_.on_alert(e);
  return true;
}

}  // namespace llamavid
