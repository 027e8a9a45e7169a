#include "frame_bank.h"

#include <cstdio>
#include <filesystem>

#include "io/safetensors.h"
#include "render.h"
#include "vision/preprocess.h"
#include "world.h"

namespace llamavid::world {

namespace {

void index_classes(FrameBank& bank) {
  bank.by_class.assign(num_classes(), {});
  auto labels = bank.labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < labels.size(0); ++i) bank.by_class[labels[i]].push_back(i);
}

// Whether a preprocessed frame [3, S, S] is one colour (every channel's spread under 1 % of the
// normalised range).
bool is_flat(const torch::Tensor& frame) {
  return (frame.amax({1, 2}) - frame.amin({1, 2})).max().item<float>() < 0.04f;
}

// What a bank was rendered with, stored beside it: a cached bank of other sizes, counts or fit
// (an older run's) is rendered again rather than trained on.
torch::Tensor bank_recipe(int64_t image_size, FrameFit fit, int64_t frames_per_class) {
  std::vector<int64_t> recipe = {image_size, frames_per_class, static_cast<int64_t>(fit)};
  for (const auto& [w, h] : training_frame_sizes()) {
    recipe.push_back(w);
    recipe.push_back(h);
  }
  return torch::tensor(recipe, torch::kInt64);
}

}  // namespace

const std::vector<std::pair<int, int>>& training_frame_sizes() {
  // From 160x120 to 1080p, landscape, square and portrait. videotestsrc draws its ball at a
  // fixed size in pixels, so after the resize to the encoder's image size it is 16 px at
  // 160x120 and under 2 px at 1920x1080: an encoder that never saw the small ones tells a
  // moving ball from black by where it is, and the memory splits its segments.
  static const std::vector<std::pair<int, int>> sizes = {
      {320, 240}, {640, 360}, {400, 400}, {160, 120}, {800, 600},
      {960, 540}, {1024, 768}, {1920, 1080}, {480, 854}};
  return sizes;
}

FrameBank load_or_render_frame_bank(int64_t image_size, FrameFit fit, int64_t frames_per_class,
                                    const std::string& cache_path) {
  FrameBank bank;
  const torch::Tensor recipe = bank_recipe(image_size, fit, frames_per_class);
  if (std::filesystem::exists(cache_path)) {
    auto file = SafetensorsFile::open(cache_path);
    if (file->contains("recipe") && torch::equal(file->tensor("recipe"), recipe)) {
      bank.pixels = file->tensor("pixels").clone();
      bank.labels = file->tensor("labels").clone();
      index_classes(bank);
      return bank;
    }
    std::printf("%s was rendered with other frame sizes, counts or fit: rendering it again\n",
                cache_path.c_str());
  }
  std::vector<torch::Tensor> pixels;
  std::vector<int64_t> labels;
  for (int64_t cls = 0; cls < num_classes(); ++cls) {
    const auto& variants = pattern_classes()[cls].variants;
    const int64_t n_var = static_cast<int64_t>(variants.size());
    std::vector<torch::Tensor> rendered, flat;
    for (const auto& [w, h] : training_frame_sizes()) {
      for (int64_t v = 0; v < n_var; ++v) {
        RenderRequest r;
        r.pattern = variants[v];
        r.width = w;
        r.height = h;
        r.fps_num = 3;  // animated patterns move between the rendered frames
        r.frames = (frames_per_class + n_var - 1) / n_var;
        render_frames(r, [&](const cv::Mat& rgb, int64_t) {
          auto frame = clip_preprocess(rgb, image_size, fit);
          (is_flat(frame) ? flat : rendered).push_back(frame);
        });
      }
    }
    // A moving ball outside the centre crop leaves a black frame: it is not taught as a ball.
    // Flat frames are kept for the classes that are drawn flat (black, white, red, ...).
    if (rendered.empty()) rendered = std::move(flat);
    for (auto& frame : rendered) {
      pixels.push_back(std::move(frame));
      labels.push_back(cls);
    }
  }
  bank.pixels = torch::stack(pixels);
  bank.labels = torch::tensor(labels, torch::kInt64);
  save_safetensors(cache_path,
                   {{"pixels", bank.pixels}, {"labels", bank.labels}, {"recipe", recipe}});
  index_classes(bank);
  return bank;
}

}  // namespace llamavid::world
