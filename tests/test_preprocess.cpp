// Frame conversion and CLIP preprocessing against PIL (the library LLaMA-VID preprocesses with).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "error.h"
#include "preprocess.h"
#include "safetensors.h"
#include "test_util.h"

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

// Resize + crop + normalise agrees with PIL within one 8-bit level on every pixel.
TEST(Preprocess, MatchesPilClipProcessor) {
  const std::string dir = test::scratch_dir("preprocess");
  test::run_python("clip_preprocess_ref.py", dir + " 28");
  auto expected = SafetensorsFile::open(dir + "/expected.safetensors");
  for (const std::string& name : expected->names()) {
    cv::Mat bgr = cv::imread(dir + "/" + name + ".png", cv::IMREAD_COLOR);
    ASSERT_FALSE(bgr.empty()) << name;
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    torch::Tensor got = clip_preprocess(rgb, 28);
    torch::Tensor want = expected->tensor(name);
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    const double one_level = 1.0 / 255.0 / 0.26;
    EXPECT_LE((got - want).abs().max().item<double>(), one_level + 1e-4) << name;
    EXPECT_LE((got - want).abs().mean().item<double>(), 0.1 * one_level) << name;
  }
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
