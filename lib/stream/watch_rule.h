// When a standing question (a watch) alerts: its answers over stream time, compared after
// normalizing, fire an alert once a changed answer has held for `confirm` evaluations and the
// cooldown since the watch's previous alert has passed. The first answer is the baseline: it
// alerts only when it is "yes". Pure logic, one watch per tracker, no locking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace llamavid {

struct WatchRules {
  uint32_t confirm = 2;      // consecutive evaluations a changed answer must hold (>= 1)
  int64_t cooldown_ns = 0;   // stream time from one alert of a watch to its next
};

struct WatchAlert {
  std::string answer;             // as the model gave it
  std::string previous;           // "" for the baseline
  int64_t since_ns = 0;           // first evaluation that gave the new answer
  int64_t previous_since_ns = 0;  // the same for the previous answer (0 for the baseline)
};

// Trimmed, lower-cased, a final full stop dropped: "Yes." and "yes" are one answer.
std::string normalized_answer(const std::string& answer);

class WatchTracker {
 public:
  // One evaluation's answer at stream time `at_ns`; the alert it fires, if any.
  std::optional<WatchAlert> observe(const std::string& answer, int64_t at_ns,
                                    const WatchRules& rules);
  // The stream ended at `at_ns`: a change still waiting for its confirmation fires now (when
  // the cooldown allows), so a file's last event is not lost.
  std::optional<WatchAlert> finish(int64_t at_ns, const WatchRules& rules);

  bool has_baseline() const { return has_baseline_; }

 private:
  std::optional<WatchAlert> fire(int64_t at_ns);

  bool has_baseline_ = false;
  std::string current_, current_text_;  // the confirmed answer: normalized, as given
  int64_t current_since_ns_ = 0;
  std::string candidate_, candidate_text_;  // a different answer waiting for its confirmation
  int64_t candidate_since_ns_ = 0;
  uint32_t candidate_count_ = 0;  // 0: none waiting
  std::optional<int64_t> last_alert_ns_;
};

}  // namespace llamavid
