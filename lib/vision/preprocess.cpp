#include "vision/preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <opencv2/imgproc.hpp>

#include "core/error.h"

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

using AxisTaps = std::vector<Taps>;

AxisTaps make_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  AxisTaps taps(out_size);
  std::vector<double> w;
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    double sum = 0.0;
    w.clear();
    for (int j = lo; j < hi; ++j) {
      w.push_back(bicubic((j - center + 0.5) / filter_scale));
      sum += w.back();
    }
    taps[i].first = lo;
    for (double v : w) taps[i].weights.push_back(static_cast<float>(sum != 0.0 ? v / sum : 0.0));
  }
  return taps;
}

// Every frame of a stream has the same sizes, so the taps are made once per (in, out) pair.
std::shared_ptr<const AxisTaps> cached_taps(int in_size, int out_size) {
  constexpr size_t kMaxEntries = 16;  // a few streams' worth; cleared when exceeded
  static std::mutex mutex;
  static std::map<std::pair<int, int>, std::shared_ptr<const AxisTaps>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(in_size, out_size);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= kMaxEntries) cache.clear();
  auto taps = std::make_shared<const AxisTaps>(make_taps(in_size, out_size));
  cache.emplace(key, taps);
  return taps;
}

// Rounds half away from zero and clamps, as std::lround then clamping to [0, 255] would, without
// the libm call: v + 0.5 is exact in double, and truncation is floor for positive values.
uint8_t to_u8(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return static_cast<uint8_t>(static_cast<int>(static_cast<double>(v) + 0.5));
}

// Horizontal pass, rounding to 8 bits as PIL does between passes: dst row r is src row row0 + r
// resampled, dst column x is output column col0 + x.
void resample_horizontal(const cv::Mat& src, int row0, const AxisTaps& taps, int col0,
                         cv::Mat& dst) {
  for (int y = 0; y < dst.rows; ++y) {
    const uint8_t* in = src.ptr<uint8_t>(row0 + y);
    auto* out = dst.ptr<uint8_t>(y);
    for (int x = 0; x < dst.cols; ++x) {
      const Taps& t = taps[col0 + x];
      const uint8_t* p = in + 3 * t.first;
      float acc[3] = {0.f, 0.f, 0.f};
      for (size_t k = 0; k < t.weights.size(); ++k, p += 3)
        for (int c = 0; c < 3; ++c) acc[c] += t.weights[k] * p[c];
      for (int c = 0; c < 3; ++c) out[3 * x + c] = to_u8(acc[c]);
    }
  }
}

// Vertical pass for one output row: src rows t.first - row0 ... weighted into out (src.cols
// pixels). Row by row, so the inner loop runs over contiguous bytes; each pixel still sums its
// taps in the same order as a per-pixel loop would, so the result is unchanged.
void resample_vertical_row(const cv::Mat& src, int row0, const Taps& t, uint8_t* out) {
  const int n = 3 * src.cols;
  thread_local std::vector<float> acc;
  acc.assign(n, 0.f);
  for (size_t k = 0; k < t.weights.size(); ++k) {
    const uint8_t* in = src.ptr<uint8_t>(t.first - row0 + static_cast<int>(k));
    const float w = t.weights[k];
    for (int j = 0; j < n; ++j) acc[j] += w * in[j];
  }
  for (int j = 0; j < n; ++j) out[j] = to_u8(acc[j]);
}

// (v / 255 - mean) / std for every byte value and channel, computed by the same expression.
const std::array<std::array<float, 256>, 3>& clip_table() {
  static const auto table = [] {
    std::array<std::array<float, 256>, 3> t{};
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) t[c][v] = (v / 255.0f - kClipMean[c]) / kClipStd[c];
    return t;
  }();
  return table;
}

// Any supported pixel layout -> packed RGB in rgb, reusing its buffer when the size matches.
// RGB frames are copied.
void convert_to_rgb(const Frame& f, cv::Mat& rgb) {
  if (f.width <= 0 || f.height <= 0 || !f.planes[0])
    throw Error("frame: empty or without pixel data");
  const int w = f.width, h = f.height;
  auto plane = [&](int i, int rows, int cols, int type) {
    if (!f.planes[i]) throw Error("frame: plane " + std::to_string(i) + " is missing");
    return cv::Mat(rows, cols, type, const_cast<uint8_t*>(f.planes[i]),
                   static_cast<size_t>(f.strides[i]));
  };
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
      thread_local cv::Mat packed;
      packed.create(h + h / 2, w, CV_8UC1);
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
  cv::Mat rgb;
  convert_to_rgb(f, rgb);
  return rgb;
}

cv::Mat resize_bicubic_antialiased(const cv::Mat& rgb, int out_width, int out_height) {
  if (rgb.type() != CV_8UC3) throw Error("resize: expected an 8-bit RGB image");
  cv::Mat tmp = rgb;
  if (out_width != rgb.cols) {
    tmp = cv::Mat(rgb.rows, out_width, CV_8UC3);
    resample_horizontal(rgb, 0, *cached_taps(rgb.cols, out_width), 0, tmp);
  }
  if (out_height == tmp.rows) return tmp;
  const auto taps = cached_taps(tmp.rows, out_height);
  cv::Mat dst(out_height, out_width, CV_8UC3);
  for (int y = 0; y < out_height; ++y)
    resample_vertical_row(tmp, 0, (*taps)[y], dst.ptr<uint8_t>(y));
  return dst;
}

void clip_preprocess_into(const cv::Mat& rgb, torch::Tensor out, FrameFit fit) {
  if (rgb.type() != CV_8UC3) throw Error("clip_preprocess: expected an 8-bit RGB image");
  if (out.dim() != 3 || out.size(0) != 3 || out.size(1) != out.size(2) ||
      out.scalar_type() != torch::kFloat32 || !out.is_contiguous() || !out.device().is_cpu())
    throw Error("clip_preprocess: out must be a contiguous CPU float32 [3, size, size] tensor");
  if (fit == FrameFit::Pad && rgb.cols != rgb.rows) {
    // expand2square: the frame pasted at ((side - w) / 2, (side - h) / 2) on a square of the
    // mean colour, int(255 * CLIP mean) per channel, which then resizes without a crop.
    thread_local cv::Mat square;
    const int side = std::max(rgb.cols, rgb.rows);
    square.create(side, side, CV_8UC3);
    square.setTo(cv::Scalar(static_cast<int>(255 * kClipMean[0]),
                            static_cast<int>(255 * kClipMean[1]),
                            static_cast<int>(255 * kClipMean[2])));
    rgb.copyTo(square(cv::Rect((side - rgb.cols) / 2, (side - rgb.rows) / 2, rgb.cols, rgb.rows)));
    clip_preprocess_into(square, out, FrameFit::Crop);
    return;
  }
  const int s = static_cast<int>(out.size(1));
  // Shortest edge to `size`, the other scaled by int(size * long / short) (CLIPImageProcessor).
  const int w = rgb.cols, h = rgb.rows;
  int nw, nh;
  if (w <= h) {
    nw = s;
    nh = static_cast<int>(static_cast<int64_t>(s) * h / w);
  } else {
    nh = s;
    nw = static_cast<int>(static_cast<int64_t>(s) * w / h);
  }
  const int top = (nh - s) / 2, left = (nw - s) / 2;

  // Only what the centre crop keeps is resampled: its columns in the horizontal pass, and the
  // source rows its output rows read.
  std::shared_ptr<const AxisTaps> vtaps;
  int row0 = 0, row1 = h;
  if (nh != h) {
    vtaps = cached_taps(h, nh);
    const Taps& last = (*vtaps)[top + s - 1];
    row0 = (*vtaps)[top].first;
    row1 = last.first + static_cast<int>(last.weights.size());
  }
  thread_local cv::Mat across;
  cv::Mat tmp;  // rows row0 .. row1 - 1, the crop's s columns
  if (nw != w) {
    across.create(row1 - row0, s, CV_8UC3);
    resample_horizontal(rgb, row0, *cached_taps(w, nw), left, across);
    tmp = across;
  } else {
    tmp = rgb(cv::Range(row0, row1), cv::Range(left, left + s));
  }

  const auto& table = clip_table();
  float* planes[3];
  for (int c = 0; c < 3; ++c) planes[c] = out.data_ptr<float>() + static_cast<int64_t>(c) * s * s;
  thread_local std::vector<uint8_t> row_buf;
  row_buf.resize(3 * static_cast<size_t>(s));
  for (int y = 0; y < s; ++y) {
    const uint8_t* row;
    if (vtaps) {
      resample_vertical_row(tmp, row0, (*vtaps)[top + y], row_buf.data());
      row = row_buf.data();
    } else {
      row = tmp.ptr<uint8_t>(top + y - row0);
    }
    for (int x = 0; x < s; ++x)
      for (int c = 0; c < 3; ++c) planes[c][y * s + x] = table[c][row[3 * x + c]];
  }
}

void clip_preprocess_into(const Frame& frame, torch::Tensor out, FrameFit fit) {
  if (frame.format == PixelFormat::RGB && frame.planes[0] && frame.width > 0 && frame.height > 0) {
    // Read packed RGB in place: the resampler only reads it.
    clip_preprocess_into(cv::Mat(frame.height, frame.width, CV_8UC3,
                                 const_cast<uint8_t*>(frame.planes[0]),
                                 static_cast<size_t>(frame.strides[0])),
                         out, fit);
    return;
  }
  thread_local cv::Mat rgb;
  convert_to_rgb(frame, rgb);
  clip_preprocess_into(rgb, out, fit);
}

torch::Tensor clip_preprocess(const cv::Mat& rgb, int64_t size, FrameFit fit) {
  auto pixels = torch::empty({3, size, size}, torch::kFloat32);
  clip_preprocess_into(rgb, pixels, fit);
  return pixels;
}

}  // namespace llamavid
