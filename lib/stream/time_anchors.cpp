#include "stream/time_anchors.h"

#include <algorithm>

#include "text/time_marker.h"

namespace llamavid {

namespace {

// The entry holding time t (t at or after the first entry's start).
size_t holder(const std::vector<std::pair<int64_t, int64_t>>& spans, int64_t t) {
  const auto after = std::upper_bound(
      spans.begin(), spans.end(), t,
      [](int64_t v, const std::pair<int64_t, int64_t>& span) { return v < span.first; });
  return static_cast<size_t>(after - spans.begin()) - 1;
}

}  // namespace

std::vector<size_t> time_anchor_entries(const std::string& question,
                                        const std::vector<std::pair<int64_t, int64_t>>& spans_ns) {
  if (spans_ns.empty()) return {};
  const std::vector<int64_t> times = clock_times(question, 2);
  if (times.empty()) return {};
  const int64_t begin = spans_ns.front().first;
  const int64_t end = spans_ns.back().second + kAnchorSlackNs;
  const int64_t lo = *std::min_element(times.begin(), times.end());
  const int64_t hi = *std::max_element(times.begin(), times.end());
  if (hi < begin || lo > end) return {};
  if (times.size() == 1) return {holder(spans_ns, lo)};
  const size_t first = holder(spans_ns, std::max(lo, begin));
  const size_t last = holder(spans_ns, std::min(hi, end));
  const size_t n = last - first + 1;
  std::vector<size_t> out;
  if (n <= kMaxAnchorEntries) {
    for (size_t i = first; i <= last; ++i) out.push_back(i);
    return out;
  }
  // Evenly spaced, both ends kept: entry first + round(k (n - 1) / (kMax - 1)).
  for (size_t k = 0; k < kMaxAnchorEntries; ++k)
    out.push_back(first + (k * (n - 1) + (kMaxAnchorEntries - 1) / 2) / (kMaxAnchorEntries - 1));
  return out;
}

}  // namespace llamavid
