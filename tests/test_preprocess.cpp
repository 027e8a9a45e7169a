// Frame conversion and CLIP preprocessing against PIL (the library LLaMA-VID preprocesses with).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "vision/preprocess.h"

using namespace llamavid;

namespace {

Frame packed_frame(const cv::Mat& m, PixelFormat fmt) {
  Frame f;
  f.width = m.cols;
  f.height = m.rows;
  f.format = fmt;
  f.planes[0] = m.data;
  f.strides[0] = static_cast<int>(m.step);
  return f;
}

cv::Mat gradient_rgb(int w, int h) {
  cv::Mat m(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 255 / (w - 1), y * 255 / (h - 1), 128);
  return m;
}

double max_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  double mx = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  return mx;
}

}  // namespace

// Resize + crop + normalise agrees with PIL within one 8-bit level on every pixel, padded to a
// square first or not.
TEST(Preprocess, MatchesPilClipProcessor) {
  const std::string dir = test::scratch_dir("preprocess");
  test::run_python("clip_preprocess_ref.py", dir + " 28");
  auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  int padded = 0;
  for (const std::string& name : expected->names()) {
    const bool pad = name.rfind("pad_", 0) == 0;
    padded += pad;
    cv::Mat bgr = cv::imread(dir + "/" + name.substr(pad ? 4 : 0) + ".png", cv::IMREAD_COLOR);
    ASSERT_FALSE(bgr.empty()) << name;
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    torch::Tensor got = clip_preprocess(rgb, 28, pad ? FrameFit::Pad : FrameFit::Crop);
    torch::Tensor want = expected->tensor(name);
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    const double one_level = 1.0 / 255.0 / 0.26;
    EXPECT_LE((got - want).abs().max().item<double>(), one_level + 1e-4) << name;
    EXPECT_LE((got - want).abs().mean().item<double>(), 0.1 * one_level) << name;
  }
  EXPECT_EQ(padded * 2, static_cast<int>(expected->names().size()));
}

// Packed formats convert to RGB exactly; padded rows (stride > width * bpp) are honoured.
TEST(Preprocess, PackedFormatsToRgb) {
  cv::Mat rgb = gradient_rgb(20, 10);
  cv::Mat bgr, rgba, bgra;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  cv::cvtColor(rgb, rgba, cv::COLOR_RGB2RGBA);
  cv::cvtColor(rgb, bgra, cv::COLOR_RGB2BGRA);
  EXPECT_EQ(max_abs_diff(frame_to_rgb(packed_frame(rgb, PixelFormat::RGB)), rgb), 0);
  EXPECT_EQ(max_abs_diff(frame_to_rgb(packed_frame(bgr, PixelFormat::BGR)), rgb), 0);
  EXPECT_EQ(max_abs_diff(frame_to_rgb(packed_frame(rgba, PixelFormat::RGBA)), rgb), 0);
  EXPECT_EQ(max_abs_diff(frame_to_rgb(packed_frame(bgra, PixelFormat::BGRA)), rgb), 0);
  EXPECT_EQ(max_abs_diff(frame_to_rgb(packed_frame(bgra, PixelFormat::BGRx)), rgb), 0);
  cv::Mat padded(10, 32, CV_8UC3, cv::Scalar(255, 0, 0));
  rgb.copyTo(padded(cv::Rect(0, 0, 20, 10)));
  Frame f = packed_frame(padded, PixelFormat::RGB);
  f.width = 20;
  EXPECT_EQ(max_abs_diff(frame_to_rgb(f), rgb), 0);
}

// I420 and NV12 planes (given separately, as GStreamer maps them) decode to the source colours.
TEST(Preprocess, PlanarFormatsToRgb) {
  const int w = 16, h = 8;
  cv::Mat rgb = gradient_rgb(w, h);
  cv::Mat i420;
  cv::cvtColor(rgb, i420, cv::COLOR_RGB2YUV_I420);  // Y then U then V, tightly packed
  Frame f;
  f.width = w;
  f.height = h;
  f.format = PixelFormat::I420;
  f.planes[0] = i420.data;
  f.strides[0] = w;
  f.planes[1] = i420.data + w * h;
  f.strides[1] = w / 2;
  f.planes[2] = i420.data + w * h + (w / 2) * (h / 2);
  f.strides[2] = w / 2;
  EXPECT_LE(max_abs_diff(frame_to_rgb(f), rgb), 32);  // 4:2:0 subsampling loses chroma detail

  // NV12: the same Y plane, U and V interleaved.
  std::vector<uint8_t> nv12(w * h + w * h / 2);
  std::copy_n(i420.data, w * h, nv12.begin());
  for (int i = 0; i < w * h / 4; ++i) {
    nv12[w * h + 2 * i] = f.planes[1][i];
    nv12[w * h + 2 * i + 1] = f.planes[2][i];
  }
  Frame g = f;
  g.format = PixelFormat::NV12;
  g.planes[0] = nv12.data();
  g.planes[1] = nv12.data() + w * h;
  g.strides[1] = w;
  g.planes[2] = nullptr;
  EXPECT_EQ(max_abs_diff(frame_to_rgb(g), frame_to_rgb(f)), 0);
}

// Unknown format names and frames without pixels are refused.
TEST(Preprocess, BadFrames) {
  PixelFormat fmt;
  EXPECT_TRUE(pixel_format_from_string("NV12", fmt));
  EXPECT_EQ(fmt, PixelFormat::NV12);
  EXPECT_FALSE(pixel_format_from_string("YUY2", fmt));
  EXPECT_THROW(frame_to_rgb(Frame{}), Error);
}

namespace {

// A deterministic noisy image, so every resampling tap matters.
cv::Mat noise_rgb(int w, int h, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed));
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

// rgb [H, W, 3] -> [3, size, size]: resize, centre crop and normalise done the plain way.
torch::Tensor plain_clip_preprocess(const cv::Mat& rgb, int size) {
  const int w = rgb.cols, h = rgb.rows;
  const int nw = w <= h ? size : size * w / h, nh = w <= h ? size * h / w : size;
  cv::Mat resized = resize_bicubic_antialiased(rgb, nw, nh);
  cv::Mat crop = resized(cv::Rect((nw - size) / 2, (nh - size) / 2, size, size)).clone();
  auto bytes = torch::from_blob(crop.data, {size, size, 3}, torch::kUInt8);
  auto v = bytes.permute({2, 0, 1}).to(torch::kFloat32) / 255.0f;
  auto mean = torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({3, 1, 1});
  auto std = torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({3, 1, 1});
  return (v - mean) / std;
}

}  // namespace

// Resampling only the crop gives exactly the full resize then crop, for wide, tall, square,
// upscaled and odd-sized frames, also when sizes alternate between calls (cached taps).
TEST(Preprocess, CropOnlyResampleMatchesFullResize) {
  const std::pair<int, int> sizes[] = {{320, 240}, {240, 320}, {64, 64}, {17, 9}, {101, 77},
                                       {28, 50},   {320, 240}, {17, 9}};
  int seed = 0;
  for (const auto& [w, h] : sizes) {
    cv::Mat rgb = noise_rgb(w, h, ++seed);
    torch::Tensor got = clip_preprocess(rgb, 28);
    torch::Tensor want = plain_clip_preprocess(rgb, 28);
    EXPECT_EQ((got - want).abs().max().item<float>(), 0.0f) << w << "x" << h;
  }
}

// Preprocessing a frame into a batch slice equals clip_preprocess of its RGB conversion, for
// RGB read in place (padded rows), a converted packed format and a planar one.
TEST(Preprocess, FrameIntoBatchMatchesRgbPath) {
  cv::Mat rgb = noise_rgb(40, 30, 7);
  cv::Mat padded(30, 48, CV_8UC3, cv::Scalar(255, 0, 0));
  rgb.copyTo(padded(cv::Rect(0, 0, 40, 30)));
  Frame rgb_frame = packed_frame(padded, PixelFormat::RGB);
  rgb_frame.width = 40;
  cv::Mat bgra;
  cv::cvtColor(rgb, bgra, cv::COLOR_RGB2BGRA);
  cv::Mat i420;
  cv::cvtColor(rgb, i420, cv::COLOR_RGB2YUV_I420);
  Frame yuv;
  yuv.width = 40;
  yuv.height = 30;
  yuv.format = PixelFormat::I420;
  yuv.planes[0] = i420.data;
  yuv.strides[0] = 40;
  yuv.planes[1] = i420.data + 40 * 30;
  yuv.strides[1] = 20;
  yuv.planes[2] = i420.data + 40 * 30 + 20 * 15;
  yuv.strides[2] = 20;
  const Frame frames[] = {rgb_frame, packed_frame(bgra, PixelFormat::BGRx), yuv};

  for (const FrameFit fit : {FrameFit::Crop, FrameFit::Pad}) {
    auto batch = torch::full({3, 3, 16, 16}, 99.0f);  // [B, 3, S, S]
    for (int64_t b = 0; b < 3; ++b) clip_preprocess_into(frames[b], batch[b], fit);
    for (int64_t b = 0; b < 3; ++b) {
      torch::Tensor want = clip_preprocess(frame_to_rgb(frames[b]), 16, fit);
      EXPECT_TRUE(torch::equal(batch[b], want)) << "frame " << b;
    }
  }
}

// An output tensor that is not a contiguous float32 [3, S, S] is refused.
TEST(Preprocess, IntoRefusesBadOutput) {
  cv::Mat rgb = noise_rgb(20, 20, 1);
  for (const FrameFit fit : {FrameFit::Crop, FrameFit::Pad}) {
    EXPECT_THROW(clip_preprocess_into(rgb, torch::empty({3, 8, 9}), fit), Error);
    EXPECT_THROW(clip_preprocess_into(rgb, torch::empty({3, 8, 8}, torch::kFloat64), fit), Error);
    EXPECT_THROW(clip_preprocess_into(rgb, torch::empty({3, 8, 16}).slice(2, 0, 8), fit), Error);
  }
}
