// A decoded video frame as the core receives it from any host: pixels in one of the common
// raw layouts, borrowed for the duration of the call. Free of libtorch and GStreamer.
#pragma once

#include <cstdint>
#include <string>

namespace llamavid {

enum class PixelFormat { RGB, RGBA, BGR, BGRx, BGRA, I420, NV12 };

// Parses GStreamer's format names ("RGB", "BGRx", "I420", ...); false when unknown.
bool pixel_format_from_string(const std::string& name, PixelFormat& out);

struct Frame {
  int width = 0;
  int height = 0;
  PixelFormat format = PixelFormat::RGB;
  // Plane pointers and their bytes per row: one plane for packed formats, Y U V for I420,
  // Y UV for NV12.
  const uint8_t* planes[3] = {nullptr, nullptr, nullptr};
  int strides[3] = {0, 0, 0};
  int64_t pts_ns = 0;  // stream time of the frame
};

}  // namespace llamavid
