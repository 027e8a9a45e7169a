#include "preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "error.h"

namespace llamavid {

namespace {

constexpr float kClipMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr float kClipStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

// PIL's bicubic kernel (a = -0.5).
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Taps of one output coordinate along an axis: first input index and normalised weights.
struct Taps {
  int first = 0;
  std::vector<float> weights;
};

std::vector<Taps> make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  std::vector<Taps> taps(out_size);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    double sum = 0.0;
    std::vector<double> w;
    for (int j = lo; j < hi; ++j) {
      w.push_back(bicubic((j - center + 0.5) / filter_scale));
      sum += w.back();
    }
    taps[i].first = lo;
    for (double v : w) taps[i].weights.push_back(static_cast<float>(sum != 0.0 ? v / sum : 0.0));
  }
  return taps;
}

uint8_t to_u8(float v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// One separable pass along x (horizontal) or y, rounding to 8 bits as PIL does between passes.
cv::Mat resample_axis(const cv::Mat& src, int out_size, bool horizontal) {
  const int in_size = horizontal ? src.cols : src.rows;
  const std::vector<Taps> taps = make_taps(in_size, out_size);
  cv::Mat dst = horizontal ? cv::Mat(src.rows, out_size, CV_8UC3)
                           : cv::Mat(out_size, src.cols, CV_8UC3);
  for (int y = 0; y < dst.rows; ++y) {
    auto* out = dst.ptr<uint8_t>(y);
    for (int x = 0; x < dst.cols; ++x) {
      const Taps& t = taps[horizontal ? x : y];
      float acc[3] = {0.f, 0.f, 0.f};
      for (size_t k = 0; k < t.weights.size(); ++k) {
        const int sx = horizontal ? t.first + static_cast<int>(k) : x;
        const int sy = horizontal ? y : t.first + static_cast<int>(k);
        const uint8_t* p = src.ptr<uint8_t>(sy) + 3 * sx;
        for (int c = 0; c < 3; ++c) acc[c] += t.weights[k] * p[c];
      }
      for (int c = 0; c < 3; ++c) out[3 * x + c] = to_u8(acc[c]);
    }
  }
  return dst;
}

}  // namespace

bool pixel_format_from_string(const std::string& name, PixelFormat& out) {
  static const std::pair<const char*, PixelFormat> kNames[] = {
      {"RGB", PixelFormat::RGB},   {"RGBA", PixelFormat::RGBA}, {"BGR", PixelFormat::BGR},
      {"BGRx", PixelFormat::BGRx}, {"BGRA", PixelFormat::BGRA}, {"I420", PixelFormat::I420},
      {"NV12", PixelFormat::NV12}};
  for (const auto& [n, f] : kNames) {
    if (name == n) {
      out = f;
      return true;
    }
  }
  return false;
}

Frame frame_from_rgb(const cv::Mat& rgb, int64_t pts_ns) {
  if (rgb.type() != CV_8UC3) throw Error("frame: expected an 8-bit RGB image");
  Frame f;
  f.width = rgb.cols;
  f.height = rgb.rows;
  f.format = PixelFormat::RGB;
  f.planes[0] = rgb.data;
  f.strides[0] = static_cast<int>(rgb.step);
  f.pts_ns = pts_ns;
  return f;
}

cv::Mat frame_to_rgb(const Frame& f) {
  if (f.width <= 0 || f.height <= 0 || !f.planes[0])
    throw Error("frame: empty or without pixel data");
  const int w = f.width, h = f.height;
  auto plane = [&](int i, int rows, int cols, int type) {
    if (!f.planes[i]) throw Error("frame: plane " + std::to_string(i) + " is missing");
    return cv::Mat(rows, cols, type, const_cast<uint8_t*>(f.planes[i]),
                   static_cast<size_t>(f.strides[i]));
  };
  cv::Mat rgb;
  switch (f.format) {
    case PixelFormat::RGB: plane(0, h, w, CV_8UC3).copyTo(rgb); break;
    case PixelFormat::BGR: cv::cvtColor(plane(0, h, w, CV_8UC3), rgb, cv::COLOR_BGR2RGB); break;
    case PixelFormat::RGBA: cv::cvtColor(plane(0, h, w, CV_8UC4), rgb, cv::COLOR_RGBA2RGB); break;
    case PixelFormat::BGRx:
    case PixelFormat::BGRA: cv::cvtColor(plane(0, h, w, CV_8UC4), rgb, cv::COLOR_BGRA2RGB); break;
    case PixelFormat::I420:
    case PixelFormat::NV12: {
      // OpenCV wants the planes stacked in one buffer; gather them (strides may differ).
      const int cw = (w + 1) / 2, ch = (h + 1) / 2;
      if (w % 2 || h % 2) throw Error("frame: 4:2:0 formats need an even width and height");
      cv::Mat packed(h + h / 2, w, CV_8UC1);
      plane(0, h, w, CV_8UC1).copyTo(packed.rowRange(0, h));
      if (f.format == PixelFormat::I420) {
        cv::Mat u = plane(1, ch, cw, CV_8UC1), v = plane(2, ch, cw, CV_8UC1);
        uint8_t* dst = packed.ptr<uint8_t>(h);
        for (int r = 0; r < ch; ++r) std::copy_n(u.ptr<uint8_t>(r), cw, dst + r * cw);
        dst += ch * cw;
        for (int r = 0; r < ch; ++r) std::copy_n(v.ptr<uint8_t>(r), cw, dst + r * cw);
        cv::cvtColor(packed, rgb, cv::COLOR_YUV2RGB_I420);
      } else {
        plane(1, ch, w, CV_8UC1).copyTo(packed.rowRange(h, h + ch));
        cv::cvtColor(packed, rgb, cv::COLOR_YUV2RGB_NV12);
      }
      break;
    }
  }
  return rgb;
}

cv::Mat resize_bicubic_antialiased(const cv::Mat& rgb, int out_width, int out_height) {
  if (rgb.type() != CV_8UC3) throw Error("resize: expected an 8-bit RGB image");
  cv::Mat tmp = out_width == rgb.cols ? rgb : resample_axis(rgb, out_width, true);
  return out_height == tmp.rows ? tmp : resample_axis(tmp, out_height, false);
}

torch::Tensor clip_preprocess(const cv::Mat& rgb, int64_t size) {
  const int s = static_cast<int>(size);
  // Shortest edge to `size`, the other scaled by int(size * long / short) (CLIPImageProcessor).
  int w = rgb.cols, h = rgb.rows;
  int nw, nh;
  if (w <= h) {
    nw = s;
    nh = static_cast<int>(static_cast<int64_t>(s) * h / w);
  } else {
    nh = s;
    nw = static_cast<int>(static_cast<int64_t>(s) * w / h);
  }
  cv::Mat resized = resize_bicubic_antialiased(rgb, nw, nh);
  const int top = (nh - s) / 2, left = (nw - s) / 2;
  cv::Mat crop = resized(cv::Rect(left, top, s, s));

  auto pixels = torch::empty({3, size, size}, torch::kFloat32);
  auto acc = pixels.accessor<float, 3>();
  for (int y = 0; y < s; ++y) {
    const uint8_t* row = crop.ptr<uint8_t>(y);
    for (int x = 0; x < s; ++x)
      for (int c = 0; c < 3; ++c)
        acc[c][y][x] = (row[3 * x + c] / 255.0f - kClipMean[c]) / kClipStd[c];
  }
  return pixels;
}

}  // namespace llamavid
