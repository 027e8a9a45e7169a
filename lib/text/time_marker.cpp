#include "text/time_marker.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace llamavid {

std::string format_clock(int64_t ns) {
  const int64_t s = std::max<int64_t>(ns, 0) / 1000000000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string format_time_marker(TimeMarkers kind, int64_t start_ns, int64_t end_ns) {
  switch (kind) {
    case TimeMarkers::Start:
      return "[" + format_clock(start_ns) + "]";
    case TimeMarkers::Span:
      return "[" + format_clock(start_ns) + "-" + format_clock(end_ns) + ", " +
             format_clock(end_ns - start_ns) + "]";
    case TimeMarkers::None:
      break;
  }
  return "";
}

namespace {

bool digit_at(const std::string& s, size_t i) {
  return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
}

// The clock time starting at `at` and where it ends; false when none starts there. At most 6
// hour digits are read, so the value cannot overflow.
bool clock_at(const std::string& s, size_t at, int64_t& ns, size_t& end) {
  if (!digit_at(s, at) || (at > 0 && digit_at(s, at - 1))) return false;
  size_t i = at;
  int64_t hours = 0;
  while (digit_at(s, i) && i - at < 7) hours = hours * 10 + (s[i++] - '0');
  if (i - at > 6) return false;
  int64_t part[2];
  for (int64_t& p : part) {
    if (i >= s.size() || s[i] != ':' || !digit_at(s, i + 1) || !digit_at(s, i + 2)) return false;
    p = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
    if (p >= 60) return false;
    i += 3;
  }
  if (digit_at(s, i)) return false;
  ns = ((hours * 60 + part[0]) * 60 + part[1]) * 1000000000;
  end = i;
  return true;
}

}  // namespace

std::vector<int64_t> clock_times(const std::string& text, size_t most) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < text.size() && out.size() < most;) {
    int64_t ns = 0;
    size_t end = 0;
    if (clock_at(text, i, ns, end)) {
      out.push_back(ns);
      i = end;
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace llamavid
