#include "vision/frame_copy.h"

#include <cstring>

#include "core/error.h"

namespace llamavid {

namespace {

bool is_420(PixelFormat f) { return f == PixelFormat::I420 || f == PixelFormat::NV12; }

int plane_count(PixelFormat f) {
  switch (f) {
    case PixelFormat::I420:
      return 3;
    case PixelFormat::NV12:
      return 2;
    default:
      return 1;
  }
}

// Bytes of pixel data in one row of a plane (without the stride's padding).
size_t row_bytes(PixelFormat f, int width, int plane) {
  const size_t w = static_cast<size_t>(width), half = (w + 1) / 2;
  switch (f) {
    case PixelFormat::RGB:
    case PixelFormat::BGR:
      return w * 3;
    case PixelFormat::RGBA:
    case PixelFormat::BGRx:
    case PixelFormat::BGRA:
      return w * 4;
    case PixelFormat::I420:
      return plane == 0 ? w : half;
    case PixelFormat::NV12:
      return plane == 0 ? w : 2 * half;
  }
  return 0;
}

int plane_rows(PixelFormat f, int height, int plane) {
  return is_420(f) && plane > 0 ? (height + 1) / 2 : height;
}

}  // namespace

FrameCopy FrameCopy::of(const Frame& frame, std::vector<uint8_t> storage) {
  if (frame.width <= 0 || frame.height <= 0) throw Error("frame: empty");
  FrameCopy c;
  c.bytes_ = std::move(storage);
  c.frame_ = frame;
  if (is_420(frame.format)) {
    if (c.frame_.width > 1) c.frame_.width &= ~1;
    if (c.frame_.height > 1) c.frame_.height &= ~1;
  }
  const int planes = plane_count(frame.format);
  size_t total = 0;
  for (int i = 0; i < planes; ++i) {
    if (!frame.planes[i]) throw Error("frame: plane " + std::to_string(i) + " is missing");
    c.offsets_[i] = total;
    total += row_bytes(frame.format, c.frame_.width, i) *
             static_cast<size_t>(plane_rows(frame.format, c.frame_.height, i));
  }
  c.bytes_.resize(total);
  for (int i = 0; i < planes; ++i) {
    const size_t row = row_bytes(frame.format, c.frame_.width, i);
    const int rows = plane_rows(frame.format, c.frame_.height, i);
    for (int r = 0; r < rows; ++r)
      std::memcpy(c.bytes_.data() + c.offsets_[i] + row * static_cast<size_t>(r),
                  frame.planes[i] + static_cast<ptrdiff_t>(frame.strides[i]) * r, row);
    c.frame_.strides[i] = static_cast<int>(row);
  }
  for (int i = 0; i < 3; ++i) c.frame_.planes[i] = nullptr;
  return c;
}

std::vector<uint8_t> FrameCopy::release_storage() {
  std::vector<uint8_t> bytes = std::move(bytes_);
  *this = FrameCopy();
  return bytes;
}

Frame FrameCopy::view() const {
  Frame f = frame_;
  for (int i = 0; i < plane_count(f.format); ++i) f.planes[i] = bytes_.data() + offsets_[i];
  return f;
}

}  // namespace llamavid
