#include "core/log.h"

#include <cstdint>
#include <cstdio>

namespace llamavid {

std::string log_seconds(int64_t ns) {
  char text[48];
  std::snprintf(text, sizeof text, "%.3f s", static_cast<double>(ns) / 1e9);
  return text;
}

}  // namespace llamavid
