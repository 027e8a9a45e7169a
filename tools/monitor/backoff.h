// The delay before the next reconnection attempt of a camera: doubling from the first delay up
// to a cap, back to the first delay once a connection has worked. Pure logic.
#pragma once

#include <cstdint>

namespace llamavid::monitor {

class Backoff {
 public:
  static constexpr int64_t kFirstMs = 1000, kCapMs = 30000;

  explicit Backoff(int64_t first_ms = kFirstMs, int64_t cap_ms = kCapMs)
      : first_ms_(first_ms), cap_ms_(cap_ms), next_ms_(first_ms) {}

  // The delay before this attempt; the next one waits twice as long, at most the cap.
  int64_t next_delay_ms();
  // A connection worked: the next failure starts from the first delay again.
  void reset() { next_ms_ = first_ms_; }

 private:
  int64_t first_ms_, cap_ms_, next_ms_;
};

}  // namespace llamavid::monitor
