#include "session_frames.h"

#include <cstdint>
#include <vector>

#include "stream/session.h"
#include "vision/frame.h"

namespace llamavid::test {

void feed_solid_frames(Session& session, int count, int start_s, int shade_start) {
  constexpr int kWidth = 40, kHeight = 30;
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<Frame> frames;
  for (int i = 0; i < count; ++i)
    pixels.emplace_back(kWidth * kHeight * 3, static_cast<uint8_t>((shade_start + i) * 37));
  for (int i = 0; i < count; ++i) {
    Frame f;
    f.width = kWidth;
    f.height = kHeight;
    f.planes[0] = pixels[i].data();
    f.strides[0] = kWidth * 3;
    f.pts_ns = (start_s + i) * int64_t{1000000000};
    frames.push_back(f);
  }
  session.add_frames(frames);
}

}  // namespace llamavid::test
