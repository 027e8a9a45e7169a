// Frames that own their pixels, for queueing between a host thread and the encoder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vision/frame.h"

namespace llamavid {

// A frame that owns its pixels: hosts copy a borrowed frame into it (plain row copies, no
// conversion) before queueing it, so the encoder can work on it later.
class FrameCopy {
 public:
  FrameCopy() = default;
  // Copies the visible rows of every plane. 4:2:0 frames (I420, NV12) are cropped to an even
  // width and height (dropping at most one column and row), which the encoder requires.
  // `storage` is a buffer to reuse (one taken from an earlier copy): when its capacity suffices
  // the copy allocates nothing.
  static FrameCopy of(const Frame& frame, std::vector<uint8_t> storage = {});
  // Gives the pixel buffer back for reuse; the copy is empty afterwards.
  std::vector<uint8_t> release_storage();

  // A borrowed view of the copy, valid while the copy lives and is not moved.
  Frame view() const;
  int64_t pts_ns() const { return frame_.pts_ns; }
  void set_pts_ns(int64_t pts_ns) { frame_.pts_ns = pts_ns; }

 private:
  Frame frame_;  // geometry and timestamp; plane pointers are filled in by view()
  size_t offsets_[3] = {0, 0, 0};
  std::vector<uint8_t> bytes_;
};

}  // namespace llamavid
