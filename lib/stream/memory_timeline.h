// The rule that maps a pipeline's stream times onto the memory's timeline. Normally they are
// the same. After load-memory the next stream continues the loaded timeline: its first sampled
// frame lands kResumeGap after the loaded memory's end when its own time would fall inside the
// loaded span (a pipeline restarted at 0), and every later time keeps that offset. Answers are
// stamped back in stream time. Thread-safe: the streaming thread maps frames, answer threads
// map answers back, the signal and state-change threads start and resume.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>

namespace llamavid {

class MemoryTimeline {
 public:
  static constexpr int64_t kResumeGapNs = 1000000000;

  // A new stream: stream time is memory time again; `keep_loaded` keeps a load-memory made
  // before the start pending (the stream then continues the loaded memory).
  void start(bool keep_loaded);
  // The next frame continues a memory just loaded.
  void resume_after_load() { resuming_ = true; }
  // A pending resume is dropped (the loaded memory was released).
  void forget_load() { resuming_ = false; }
  bool resuming() const { return resuming_; }

  // The memory time of a frame at `stream_ns`. The first frame after resume_after_load() asks
  // `loaded_end` for the loaded memory's end (nullopt: the memory is empty) to fix the offset.
  int64_t to_memory(int64_t stream_ns,
                    const std::function<std::optional<int64_t>()>& loaded_end);
  // The stream time of an answer about memory time `memory_ns`; 0 while a resume is pending
  // (the answer is about the loaded past only).
  int64_t to_stream(int64_t memory_ns) const;
  int64_t offset_ns() const { return offset_ns_; }

 private:
  std::atomic<bool> resuming_{false};
  std::atomic<int64_t> offset_ns_{0};
};

}  // namespace llamavid
