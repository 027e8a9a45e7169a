// The decode loop: feeds each chosen token back through the decoder, one position at a time,
// reusing the KV cache of everything before it. How a token is chosen (greedy, temperature,
// top-p) is the caller's picker; streaming and aborting go through the token callback.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "model/llama.h"

namespace llamavid {

// Chooses the next token id from the fp32 logits of the last position. logits [V] -> id
using TokenPicker = std::function<int64_t(const torch::Tensor& logits)>;
// Told each generated id as soon as it is chosen (EOS excluded); returning false stops.
using TokenCallback = std::function<bool(int64_t id)>;

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  int64_t eos_token_id = 2;  // a negative id never stops the loop
};

// Generates after a prompt already prefilled into `cache` (batch 1), starting from the logits
// of its last position, until EOS, `max_new_tokens` ids, or `on_token` returning false.
// Returns the generated ids without EOS. On return the cache holds the prompt and every
// returned id but the last (which was never fed back). Runs without autograd.
// last_logits [V] or [1, 1, V] -> ids
std::vector<int64_t> generate(Llama& llama, KVCache& cache, const torch::Tensor& last_logits,
                              const TokenPicker& pick, const GenerateOptions& options,
                              const TokenCallback& on_token = nullptr);

}  // namespace llamavid
