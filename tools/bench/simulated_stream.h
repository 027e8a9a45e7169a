// llamavid-bench's stream: the default model's world (segments of GStreamer test patterns) with
// a cut every --min-cut to --max-cut seconds; within a segment the frames of the rendered pattern
// repeat (animated patterns move), so alike frames merge as they would on air.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vision/frame.h"
#include "world.h"

namespace llamavid::bench {

class SimulatedStream {
 public:
  SimulatedStream(uint64_t seed, int64_t length_s, int64_t min_cut_s, int64_t max_cut_s, int width,
                  int height);

  // Segments that start before second `t_s`.
  int64_t segments_up_to(int64_t t_s) const;
  // The frame shown at second `t_s`, stamped at it (valid until the next call renders more
  // patterns); `t_s` must not go back.
  Frame frame_at(int64_t t_s);

 private:
  static constexpr int64_t kBankFrames = 8;

  // The rendered frames of a segment's pattern (rendered at its first use).
  const std::vector<cv::Mat>& bank(const world::Segment& seg);

  int width_, height_;
  world::Stream stream_;
  size_t segment_ = 0;
  std::map<std::string, std::vector<cv::Mat>> bank_;
};

}  // namespace llamavid::bench
