#include "backoff.h"

#include <algorithm>

namespace llamavid::monitor {

int64_t Backoff::next_delay_ms() {
  const int64_t delay = next_ms_;
  next_ms_ = std::min(cap_ms_, next_ms_ * 2);
  return delay;
}

}  // namespace llamavid::monitor
