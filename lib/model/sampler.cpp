#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/error.h"

namespace llamavid {

namespace {

// A double in [0, 1) from the top 53 bits of one draw: unlike std::uniform_real_distribution,
// whose algorithm the standard leaves open, this is the same on every standard library.
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  if (!(params.temperature >= 0.0) || std::isinf(params.temperature)) {
    throw Error("sampling temperature must be a finite number >= 0, got " +
                std::to_string(params.temperature));
  }
  if (!(params.top_p > 0.0 && params.top_p <= 1.0)) {
    throw Error("sampling top_p must be in (0, 1], got " + std::to_string(params.top_p));
  }
}

void Sampler::reset(uint64_t seed) {
  params_.seed = seed;
  rng_.seed(seed);
}

int64_t Sampler::sample(const at::Tensor& logits) {
  if (!logits.defined() || logits.dim() != 1 || logits.size(0) == 0) {
    throw Error("sampler expects logits of shape [vocab], got " +
                (logits.defined() ? std::to_string(logits.dim()) + "-d tensor of shape " +
                                        c10::str(logits.sizes())
                                  : std::string("an undefined tensor")));
  }
  const torch::Tensor values = logits.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const double* l = values.data_ptr<double>();
  const int64_t vocab = values.size(0);

  // Greedy pick and validity in one pass; strict > keeps the lowest id among equal maxima.
  int64_t best = 0;
  for (int64_t i = 0; i < vocab; ++i) {
    if (std::isnan(l[i]) || l[i] == INFINITY) {
      throw Error("sampler got a non-finite logit (" + std::to_string(l[i]) + ") at id " +
                  std::to_string(i));
    }
    if (l[i] > l[best]) best = i;
  }
  if (l[best] == -INFINITY) throw Error("sampler got logits that are all -inf");
  if (params_.temperature == 0.0) return best;

  // exp((l - max) / T): the softmax numerators, exact up to a common factor.
  std::vector<double> weight(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) {
    weight[i] = std::exp((l[i] - l[best]) / params_.temperature);
  }
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return weight[a] > weight[b]; });

  // Summed in sorted order so that the nucleus mass below is exactly the same sum.
  double total = 0.0;
  for (int64_t id : order) total += weight[id];
  double kept_mass = 0.0;
  size_t kept = 0;
  while (kept < order.size() && kept_mass < params_.top_p * total) {
    kept_mass += weight[order[kept++]];
  }

  const double target = uniform01(rng_) * kept_mass;
  double cumulative = 0.0;
  for (size_t k = 0; k < kept; ++k) {
    cumulative += weight[order[k]];
    if (cumulative > target) return order[k];
  }
  return order[0];  // unreachable: target < kept_mass, the last cumulative value
}

}  // namespace llamavid
