// The times a camera's frames carry into its analysis pipeline. Each connection to the camera
// has a stream time of its own, which usually starts again near 0 after a reconnection; the
// llamavid element must see one timeline that goes on across the gap. The first frame of a
// connection after the first is placed after the previous connection's newest frame by the wall
// time that passed between the two, and the later frames of that connection keep the same offset,
// so the memory's times are as far apart as the events were. Times never go back. Pure logic;
// the caller serialises the calls.
#pragma once

#include <cstdint>

namespace llamavid::monitor {

class SourceTimeline {
 public:
  // The next frame comes from a new connection.
  void new_connection() { pending_ = true; }
  // The analysis time (ns) of a frame at `stream_ns` of the current connection, arriving at
  // wall time `wall_ns` (any monotonic clock).
  int64_t place(int64_t stream_ns, int64_t wall_ns);

 private:
  bool pending_ = true;
  bool any_ = false;  // a frame was placed before
  int64_t offset_ns_ = 0, last_ns_ = 0, last_wall_ns_ = 0;
};

}  // namespace llamavid::monitor
