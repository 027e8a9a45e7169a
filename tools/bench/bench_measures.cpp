#include "bench_measures.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "vision/vision_encoder.h"

namespace llamavid::bench {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double matmul_peak_gflops(torch::ScalarType dtype, int64_t n, double seconds) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  auto c = torch::mm(a, b);  // warm-up
  double best = 0.0;
  const auto start = std::chrono::steady_clock::now();
  do {
    const auto t0 = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    best = std::max(best, 2.0 * n * n * n / seconds_since(t0) / 1e9);
  } while (seconds_since(start) < seconds);
  return best;
}

double vision_flops_per_frame(const VisionConfig& v) {
  const double n = static_cast<double>(v.num_tokens()), c = static_cast<double>(v.hidden_size);
  const double i = static_cast<double>(v.intermediate_size);
  const double patch = 2.0 * v.num_patches() * (3.0 * v.patch_size * v.patch_size) * c;
  // qkv + proj, the two attention products, the MLP.
  const double block = 2.0 * n * 4.0 * c * c + 4.0 * n * n * c + 4.0 * n * c * i;
  return patch + v.num_hidden_layers * block;
}

double vision_params(const VisionConfig& v) {
  const double c = static_cast<double>(v.hidden_size), i = static_cast<double>(v.intermediate_size);
  return 3.0 * v.patch_size * v.patch_size * c + v.num_tokens() * c +
         v.num_hidden_layers * (4.0 * c * c + 2.0 * c * i);
}

double token_flops_per_frame(const ModelConfig& c, int64_t num_query, int64_t text_tokens) {
  const auto& q = c.qformer;
  const double h = static_cast<double>(q.hidden_size),
               inter = static_cast<double>(q.intermediate_size);
  const double cv = static_cast<double>(c.vision.hidden_size);
  const double m = static_cast<double>(c.vision.num_tokens());  // what the Q-Former reads
  const double n = m - 1;                                       // patches of the tokens
  const double s = static_cast<double>(num_query + text_tokens);
  const double nq = static_cast<double>(num_query);
  const double llm_c = static_cast<double>(c.llm.hidden_size);
  double flops = 0.0;
  for (int64_t l = 0; l < q.num_hidden_layers; ++l) {
    flops += 2.0 * s * 4.0 * h * h + 4.0 * s * s * h + 4.0 * s * h * inter;
    if (l % q.cross_attention_freq == 0)
      flops += 2.0 * nq * 2.0 * h * h + 2.0 * m * 2.0 * cv * h + 4.0 * nq * m * h;
  }
  flops += 2.0 * nq * h * cv;                      // vlm_att_projector
  flops += 2.0 * n * cv * cv + 4.0 * nq * n * cv;  // key projector, attention
  flops += 2.0 * cv * llm_c;                       // val projector
  flops += 2.0 * (cv * llm_c + llm_c * llm_c) * c.content_tokens_per_frame();  // mm_projector
  return flops;
}

double llm_flops_per_token(const LlamaConfig& c) {
  const double h = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim());
  const double per_layer = 2.0 * (2.0 * h * h + 2.0 * h * kv + 3.0 * h * i);
  return c.num_hidden_layers * per_layer + 2.0 * h * static_cast<double>(c.vocab_size);
}

int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

double random_vision_fps(const VisionConfig& config, torch::ScalarType dtype, int64_t batch,
                         int64_t frames) {
  torch::InferenceMode guard;
  VisionEncoder encoder(config, torch::TensorOptions().dtype(dtype));
  for (auto& p : encoder->parameters()) p.normal_(0.0, 0.02);
  auto pixels = torch::randn({batch, 3, config.image_size, config.image_size}).to(dtype);
  if (frames > batch) encoder->forward(pixels);  // warm-up, unless one batch is all we can afford
  const auto t0 = std::chrono::steady_clock::now();
  int64_t done = 0;
  while (done < frames) {
    encoder->forward(pixels);
    done += batch;
  }
  return static_cast<double>(done) / seconds_since(t0);
}

}  // namespace llamavid::bench
