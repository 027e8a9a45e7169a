// The frames the vision encoder learns from: every variant of every pattern class rendered by
// GStreamer at several frame sizes, preprocessed as the session preprocesses frames.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"

namespace llamavid::world {

struct FrameBank {
  torch::Tensor pixels;  // [N, 3, S, S] float32, CLIP-normalised
  torch::Tensor labels;  // [N] int64 class index
  // Frame indices of each class.
  std::vector<std::vector<int64_t>> by_class;
};

// Frame sizes (width, height) the model is trained on; evaluation adds others.
const std::vector<std::pair<int, int>>& training_frame_sizes();

// Renders `frames_per_class` frames of each class at each training size (variants share them)
// and preprocesses them to `image_size`, fitted by `fit`. Loads `cache_path` instead when it
// holds a bank rendered with the same sizes, counts and fit, and writes it otherwise.
FrameBank load_or_render_frame_bank(int64_t image_size, FrameFit fit, int64_t frames_per_class,
                                    const std::string& cache_path);

}  // namespace llamavid::world
