#include "simulated_stream.h"

#include <random>

#include "render.h"
#include "vision/preprocess.h"

namespace llamavid::bench {

SimulatedStream::SimulatedStream(uint64_t seed, int64_t length_s, int64_t min_cut_s,
                                 int64_t max_cut_s, int width, int height)
    : width_(width), height_(height) {
  std::mt19937_64 rng(seed);
  stream_ = world::stream_with_length(rng, length_s, world::StreamShape{min_cut_s, max_cut_s});
}

int64_t SimulatedStream::segments_up_to(int64_t t_s) const {
  int64_t n = 0;
  for (const auto& s : stream_.segments) n += s.start_s < t_s ? 1 : 0;
  return n;
}

Frame SimulatedStream::frame_at(int64_t t_s) {
  while (t_s >= stream_.segments[segment_].end_s) ++segment_;
  const world::Segment& seg = stream_.segments[segment_];
  const std::vector<cv::Mat>& frames = bank(seg);
  return frame_from_rgb(frames[static_cast<size_t>((t_s - seg.start_s) % kBankFrames)],
                        t_s * 1000000000);
}

const std::vector<cv::Mat>& SimulatedStream::bank(const world::Segment& seg) {
  const std::string& pattern = world::pattern_classes()[seg.cls].variants[seg.variant];
  auto it = bank_.find(pattern);
  if (it != bank_.end()) return it->second;
  world::RenderRequest r;
  r.pattern = pattern;
  r.width = width_;
  r.height = height_;
  r.frames = kBankFrames;
  std::vector<cv::Mat> frames;
  world::render_frames(r, [&](const cv::Mat& rgb, int64_t) { frames.push_back(rgb.clone()); });
  return bank_.emplace(pattern, std::move(frames)).first->second;
}

}  // namespace llamavid::bench
