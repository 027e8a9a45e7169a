// Checkpoints of a training run: parameters (safetensors), optimizer state and progress, written
// atomically (a temporary directory renamed over the previous checkpoint), so a run killed at
// any moment resumes from its last checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "io/safetensors.h"

namespace llamavid::world {

struct Progress {
  int64_t vision_step = 0;  // steps of vision pretraining done
  int64_t step = 0;         // steps of the main phase done
  double merge_threshold = 0.0;
  double elapsed_s = 0.0;   // training time so far, over all sessions
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Writes DIR (replacing it): params.safetensors, optimizer.pt (when given), progress.json.
void save_checkpoint(const std::string& dir, const NamedTensors& params,
                     torch::optim::Optimizer* optimizer, const Progress& progress);
// Whether DIR holds a complete checkpoint.
bool has_checkpoint(const std::string& dir);
// Copies the checkpoint file's tensor `name` into `t`; Error naming DIR when the file lacks it or
// it has another shape.
void copy_stored_tensor(const SafetensorsFile& file, const std::string& dir,
                        const std::string& name, const torch::Tensor& t);
// Copies the stored parameters into `params` (by name; Error when one is missing or differs in
// shape) and returns the progress; loads the optimizer state when `optimizer` is given and the
// checkpoint has one.
Progress load_checkpoint(const std::string& dir, const NamedTensors& params,
                         torch::optim::Optimizer* optimizer);
// Loads the optimizer state stored in DIR, when it has one (the parameters are left alone).
void load_optimizer(const std::string& dir, torch::optim::Optimizer& optimizer);
// The progress stored in DIR.
Progress load_progress(const std::string& dir);

}  // namespace llamavid::world
