#include "source_timeline.h"

#include <algorithm>

namespace llamavid::monitor {

int64_t SourceTimeline::place(int64_t stream_ns, int64_t wall_ns) {
  if (pending_) {
    pending_ = false;
    // The first connection keeps the source's own times.
    offset_ns_ = any_ ? last_ns_ + std::max<int64_t>(wall_ns - last_wall_ns_, 1) - stream_ns : 0;
  }
  const int64_t t = std::max(stream_ns + offset_ns_, last_ns_);
  any_ = true;
  last_ns_ = t;
  last_wall_ns_ = wall_ns;
  return t;
}

}  // namespace llamavid::monitor
