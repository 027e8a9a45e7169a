#include "frame_bank.h"

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

}  // namespace

const std::vector<std::pair<int, int>>& training_frame_sizes() {
  static const std::vector<std::pair<int, int>> sizes = {{320, 240}, {640, 360}, {400, 400}};
  return sizes;
}

FrameBank load_or_render_frame_bank(int64_t image_size, int64_t frames_per_class,
                                    const std::string& cache_path) {
  FrameBank bank;
  if (std::filesystem::exists(cache_path)) {
    auto file = SafetensorsFile::open(cache_path);
    bank.pixels = file->tensor("pixels").clone();
    bank.labels = file->tensor("labels").clone();
    index_classes(bank);
    return bank;
  }
  std::vector<torch::Tensor> pixels;
  std::vector<int64_t> labels;
  for (int64_t cls = 0; cls < num_classes(); ++cls) {
    const auto& variants = pattern_classes()[cls].variants;
    const int64_t n_var = static_cast<int64_t>(variants.size());
    for (const auto& [w, h] : training_frame_sizes()) {
      for (int64_t v = 0; v < n_var; ++v) {
        RenderRequest r;
        r.pattern = variants[v];
        r.width = w;
        r.height = h;
        r.fps_num = 3;  // animated patterns move between the rendered frames
        r.frames = (frames_per_class + n_var - 1) / n_var;
        render_frames(r, [&](const cv::Mat& rgb, int64_t) {
          pixels.push_back(clip_preprocess(rgb, image_size));
          labels.push_back(cls);
        });
      }
    }
  }
  bank.pixels = torch::stack(pixels);
  bank.labels = torch::tensor(labels, torch::kInt64);
  save_safetensors(cache_path, {{"pixels", bank.pixels}, {"labels", bank.labels}});
  index_classes(bank);
  return bank;
}

}  // namespace llamavid::world
