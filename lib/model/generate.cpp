#include "model/generate.h"

#include <string>

#include "core/error.h"

namespace llamavid {

std::vector<int64_t> generate(Llama& llama, KVCache& cache, const torch::Tensor& last_logits,
                              const TokenPicker& pick, const GenerateOptions& options,
                              const TokenCallback& on_token) {
  const int64_t vocab = llama->config().vocab_size;
  if (last_logits.numel() != vocab || last_logits.size(-1) != vocab)
    throw Error("generate: the last logits must hold one position of " + std::to_string(vocab) +
                " values ([V] or [1, 1, V]), got " + std::to_string(last_logits.numel()) +
                " values");
  if (cache.batch() != 1)
    throw Error("generate: the cache must hold one sequence, it holds " +
                std::to_string(cache.batch()));

  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids;
  if (options.max_new_tokens <= 0) return ids;
  // Room for every token that may be fed back, so decoding never reallocates the cache.
  cache.reserve(cache.length() + options.max_new_tokens - 1);

  auto logits = last_logits.reshape({vocab});
  const auto device = llama->embed_tokens->weight.device();
  const auto id_options = torch::TensorOptions().dtype(torch::kLong).device(device);
  while (true) {
    const int64_t id = pick(logits);
    if (id == options.eos_token_id) break;
    ids.push_back(id);
    if (on_token && !on_token(id)) break;
    if (static_cast<int64_t>(ids.size()) >= options.max_new_tokens) break;
    auto embeds = llama->embed(torch::full({1, 1}, id, id_options));
    logits = llama->forward(embeds, cache, /*all_logits=*/false).reshape({vocab});
  }
  return ids;
}

}  // namespace llamavid
