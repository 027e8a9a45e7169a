#include "stream/memory_timeline.h"

namespace llamavid {

void MemoryTimeline::start(bool keep_loaded) {
  if (!keep_loaded) resuming_ = false;
  offset_ns_ = 0;
}

int64_t MemoryTimeline::to_memory(int64_t stream_ns,
                                  const std::function<std::optional<int64_t>()>& loaded_end) {
  if (resuming_.exchange(false)) {
    const std::optional<int64_t> end = loaded_end();
    offset_ns_ = end && stream_ns <= *end ? *end + kResumeGapNs - stream_ns : 0;
  }
  return stream_ns + offset_ns_;
}

int64_t MemoryTimeline::to_stream(int64_t memory_ns) const {
  return resuming_ ? 0 : memory_ns - offset_ns_;
}

}  // namespace llamavid
