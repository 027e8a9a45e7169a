#include "text/time_marker.h"

#include <algorithm>
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

}  // namespace llamavid
