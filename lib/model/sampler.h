// Picks the next token from the LLM's logits: greedy, or temperature + top-p (nucleus)
// sampling. Probabilities are computed in double on the CPU and drawn from a std::mt19937_64
// whose output the C++ standard fixes, so a seed gives the same tokens on every machine and
// device for the same logits. Thread-safety: one Sampler per answer stream.
#pragma once

#include <cstdint>
#include <random>

#include <ATen/core/Tensor.h>

namespace llamavid {

struct SamplingParams {
  double temperature = 0.0;  // 0 = greedy (argmax); > 0 divides the logits before softmax
  double top_p = 1.0;        // in (0, 1]: the probability mass sampling draws from
  uint64_t seed = 0;
};

class Sampler {
 public:
  // Throws Error for a negative or NaN temperature or a top_p outside (0, 1].
  explicit Sampler(const SamplingParams& params = SamplingParams());

  // logits [V] (any dtype, any device) -> token id in [0, V). Greedy breaks ties towards the
  // lowest id. Sampling keeps the most probable tokens (ties: lower id first) up to the
  // smallest set whose probability reaches top_p, renormalises and draws one. -inf logits are
  // never chosen; NaN, +inf, or all -inf throw Error.
  int64_t sample(const at::Tensor& logits);
  // Restarts the random sequence (and records `seed` in params()).
  void reset(uint64_t seed);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace llamavid
