#include "stream/watch_rule.h"

#include <algorithm>
#include <cctype>

#include "core/utf8.h"

namespace llamavid {

std::string normalized_answer(const std::string& answer) {
  std::string s = trim(answer);
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!s.empty() && s.back() == '.') s = trim(s.substr(0, s.size() - 1));
  return s;
}

std::optional<WatchAlert> WatchTracker::observe(const std::string& answer, int64_t at_ns,
                                                const WatchRules& rules) {
  const std::string norm = normalized_answer(answer);
  if (!has_baseline_) {
    has_baseline_ = true;
    current_ = norm;
    current_text_ = answer;
    current_since_ns_ = at_ns;
    if (norm != "yes") return std::nullopt;
    last_alert_ns_ = at_ns;
    return WatchAlert{answer, "", at_ns, 0};
  }
  if (norm == current_) {
    candidate_count_ = 0;  // the change did not hold
    return std::nullopt;
  }
  if (candidate_count_ > 0 && norm == candidate_) {
    ++candidate_count_;
    candidate_text_ = answer;
  } else {
    candidate_ = norm;
    candidate_text_ = answer;
    candidate_since_ns_ = at_ns;
    candidate_count_ = 1;
  }
  if (candidate_count_ < std::max<uint32_t>(rules.confirm, 1)) return std::nullopt;
  // Confirmed but within the cooldown: it waits, and fires at the first evaluation after it
  // that still gives it.
  if (last_alert_ns_ && at_ns - *last_alert_ns_ < rules.cooldown_ns) return std::nullopt;
  return fire(at_ns);
}

std::optional<WatchAlert> WatchTracker::finish(int64_t at_ns, const WatchRules& rules) {
  if (candidate_count_ == 0) return std::nullopt;
  if (last_alert_ns_ && at_ns - *last_alert_ns_ < rules.cooldown_ns) return std::nullopt;
  return fire(at_ns);
}

std::optional<WatchAlert> WatchTracker::fire(int64_t at_ns) {
  WatchAlert alert{candidate_text_, current_text_, candidate_since_ns_, current_since_ns_};
  current_ = candidate_;
  current_text_ = candidate_text_;
  current_since_ns_ = candidate_since_ns_;
  candidate_count_ = 0;
  last_alert_ns_ = at_ns;
  return alert;
}

}  // namespace llamavid
