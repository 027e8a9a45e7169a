// What llamavid-bench measures besides the session: the machine's matmul peak, the model's
// FLOPs per frame from its configuration, resident memory, and the released-size encoder.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "core/config.h"

namespace llamavid::bench {

// Best GFLOP/s of an n x n matmul in `dtype` over about `seconds` of repeats.
double matmul_peak_gflops(torch::ScalarType dtype, int64_t n, double seconds);

// FLOPs (2 per multiply-add) of one frame through the vision encoder.
double vision_flops_per_frame(const VisionConfig& v);
// FLOPs of one frame's context and content tokens (Q-Former with `text_tokens` question tokens,
// attention over the patches, projectors).
double token_flops_per_frame(const ModelConfig& c, int64_t num_query, int64_t text_tokens);
// FLOPs of `tokens` positions through the LLM (weights only, attention excluded).
double llm_flops_per_token(const LlamaConfig& c);
// Parameters of the vision encoder.
double vision_params(const VisionConfig& v);

// Resident set size of this process in bytes (from /proc/self/statm).
int64_t resident_bytes();
// The CPU model name (from /proc/cpuinfo), or "unknown".
std::string cpu_name();

// Frames/s of the vision encoder of `config` with random weights in `dtype`, over `frames`
// frames in batches of `batch` (one warm-up batch first when `frames` exceeds `batch`).
double random_vision_fps(const VisionConfig& config, torch::ScalarType dtype, int64_t batch,
                         int64_t frames);

}  // namespace llamavid::bench
