// The LLaMA decoder (Vicuna as used by LLaMA-VID; HF transformers 4.31 semantics): RMSNorm,
// rotary position embedding with optional linear scaling, grouped-query attention, SiLU MLP.
// Modules are registered under the checkpoint's key names (model.embed_tokens.weight,
// model.layers.{i}.self_attn.q_proj.weight, ..., lm_head.weight), so load_into fills them by
// name. With tie_word_embeddings there is no lm_head parameter: the embedding is reused.
// The forward pass only reads the weights, so one Llama can serve several streams, each with
// its own KVCache.
#pragma once

#include <torch/torch.h>

#include "core/config.h"
#include "model/kv_cache.h"
#include "nn/layers.h"

namespace llamavid {

// cos and sin of the rotary angles of positions [start, start + length), each [length, head_dim]
// in `options` (computed in fp32, as transformers does, then converted).
struct RotaryTables {
  torch::Tensor cos;
  torch::Tensor sin;
};
RotaryTables rotary_tables(const LlamaConfig& config, int64_t start, int64_t length,
                           const torch::TensorOptions& options);
// The same for given positions [B, L] int64: cos and sin [B, 1, L, head_dim], one table per
// sequence, broadcast over the heads.
RotaryTables rotary_tables(const LlamaConfig& config, const torch::Tensor& positions,
                           const torch::TensorOptions& options);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  // Attends causally inside the block and to every position already in `cache` (if given),
  // storing the block's keys and values into `cache` at `layer`; or, without a cache, where
  // `allowed` [B, L, L] bool (if defined) says so. Query blocks are processed in chunks whose
  // fp32 score matrix stays under `score_bytes`.
  // x [B, L, C], rotary tables [L, head_dim] or [B, 1, L, head_dim] -> [B, L, C]
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary, KVCache* cache,
                        int64_t layer, int64_t score_bytes,
                        const torch::Tensor& allowed = {});

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_;
  int64_t kv_heads_;
  int64_t head_dim_;
};
TORCH_MODULE(LlamaAttention);

// down(silu(gate(x)) * up(x))
class LlamaMLPImpl : public torch::nn::Module {
 public:
  LlamaMLPImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  // x [B, L, C] -> [B, L, C]
  torch::Tensor forward(const torch::Tensor& x);

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& config, const torch::TensorOptions& options);
  // x [B, L, C], rotary tables as LlamaAttention's -> [B, L, C]
  torch::Tensor forward(const torch::Tensor& x, const RotaryTables& rotary, KVCache* cache,
                        int64_t layer, int64_t score_bytes, const torch::Tensor& allowed = {});

  LlamaAttention self_attn{nullptr};
  LlamaMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

class LlamaImpl : public torch::nn::Module {
 public:
  // Parameters are created uninitialised with `options` (torch::kMeta allocates nothing).
  LlamaImpl(const LlamaConfig& config, const torch::TensorOptions& options);

  const LlamaConfig& config() const { return config_; }

  // Token embeddings. Ids must lie in [0, vocab_size).
  // ids [B, L] int64 -> [B, L, C]
  torch::Tensor embed(const torch::Tensor& ids);

  // Runs the block `embeds` at positions [cache.length(), cache.length() + L): causal inside
  // the block, attending to every cached position; appends the block's keys and values to
  // `cache`. Runs without autograd (the cache is for inference). Logits are fp32, for every
  // position of the block or only for the last one.
  // embeds [B, L, C] -> all_logits ? [B, L, V] : [B, 1, V]
  torch::Tensor forward(const torch::Tensor& embeds, KVCache& cache, bool all_logits);
  // The whole sequence at positions [0, L) without a cache (autograd follows the caller's mode).
  // embeds [B, L, C] -> [B, L, V] fp32
  torch::Tensor forward(const torch::Tensor& embeds);
  // A packed sequence without a cache, for training several questions about one memory at once
  // (the memory's prefix once, each question block after it): row b's query i sees key j where
  // allowed[b][i][j], and sits at RoPE position positions[b][i]. `allowed` must be causal (no
  // key after its query) and let every query see at least one key, else Error.
  // embeds [B, L, C], positions [B, L] int64, allowed [B, L, L] bool -> [B, L, V] fp32
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& positions,
                        const torch::Tensor& allowed);

  // An empty cache for `batch` sequences in the dtype and device of the weights.
  KVCache new_cache(int64_t batch) const;

  // Largest fp32 attention score matrix of one query chunk, in bytes: bounds the memory of long
  // prefills (tens of thousands of tokens) at no cost to short ones.
  int64_t attention_score_bytes = int64_t{256} << 20;

  Embedding embed_tokens{nullptr};  // model.embed_tokens
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  Linear lm_head{nullptr};  // absent (nullptr) with tie_word_embeddings

 private:
  // embeds [B, L, C] -> [B, L or 1, V]; rotary and allowed as in the packed forward, or
  // undefined for positions from the cache's length on and causal attention.
  torch::Tensor run(const torch::Tensor& embeds, KVCache* cache, bool all_logits,
                    const RotaryTables* rotary = nullptr, const torch::Tensor& allowed = {});

  LlamaConfig config_;
};
TORCH_MODULE(Llama);

}  // namespace llamavid
