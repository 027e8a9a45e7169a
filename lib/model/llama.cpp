#include "model/llama.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"

namespace llamavid {

namespace {

// rotate_half convention of transformers: (x1, x2) -> (-x2, x1) on the two halves.
// x [B, H, L, D], cos/sin [L, D] -> [B, H, L, D]
torch::Tensor apply_rotary(const torch::Tensor& x, const RotaryTables& rotary) {
  const int64_t half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * rotary.cos + rotated * rotary.sin;
}

bool is_half(at::ScalarType t) { return t == torch::kHalf || t == torch::kBFloat16; }

}  // namespace

namespace {

// cos and sin of the rotary angles of `positions` [...] -> [..., head_dim], computed in fp32.
RotaryTables tables_at(const LlamaConfig& config, const torch::Tensor& positions,
                       const torch::TensorOptions& options) {
  const int64_t dim = config.head_dim();
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(options.device());
  auto inv_freq =
      torch::pow(config.rope_theta, torch::arange(0, dim, 2, f32) / static_cast<double>(dim))
          .reciprocal();
  // Linear scaling stretches the trained position range by dividing the positions.
  auto freqs = (positions.to(f32) / config.rope_scaling_factor).unsqueeze(-1) * inv_freq;
  auto angles = torch::cat({freqs, freqs}, -1);
  return {angles.cos().to(options.dtype()), angles.sin().to(options.dtype())};
}

}  // namespace

RotaryTables rotary_tables(const LlamaConfig& config, int64_t start, int64_t length,
                           const torch::TensorOptions& options) {
  auto positions = torch::arange(start, start + length,
                                 torch::TensorOptions().dtype(torch::kLong).device(options.device()));
  return tables_at(config, positions, options);
}

RotaryTables rotary_tables(const LlamaConfig& config, const torch::Tensor& positions,
                           const torch::TensorOptions& options) {
  auto t = tables_at(config, positions, options);  // [B, L, D] -> [B, 1, L, D]
  return {t.cos.unsqueeze(1), t.sin.unsqueeze(1)};
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& c, const torch::TensorOptions& options)
    : heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim()) {
  const int64_t kv_dim = kv_heads_ * head_dim_;
  q_proj = register_module("q_proj", Linear(c.hidden_size, heads_ * head_dim_, false, options));
  k_proj = register_module("k_proj", Linear(c.hidden_size, kv_dim, false, options));
  v_proj = register_module("v_proj", Linear(c.hidden_size, kv_dim, false, options));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, c.hidden_size, false, options));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                          KVCache* cache, int64_t layer, int64_t score_bytes,
                                          const torch::Tensor& allowed) {
  const int64_t B = x.size(0);
  const int64_t L = x.size(1);
  auto q = apply_rotary(q_proj(x).view({B, L, heads_, head_dim_}).transpose(1, 2), rotary);
  auto k = apply_rotary(k_proj(x).view({B, L, kv_heads_, head_dim_}).transpose(1, 2), rotary);
  auto v = v_proj(x).view({B, L, kv_heads_, head_dim_}).transpose(1, 2);

  int64_t past = 0;
  torch::Tensor keys, values;  // [B, kv_heads, past + L, head_dim]
  if (cache) {
    past = cache->length();
    std::tie(keys, values) = cache->store(layer, k, v);
  } else {
    keys = k.contiguous();
    values = v.contiguous();
  }

  // Grouped-query attention without repeating K/V: the `group` query heads that share a kv
  // head are stacked along the query axis, [B, H, n, D] -> [B, kv_heads, group * n, D].
  const int64_t group = heads_ / kv_heads_;
  const int64_t total = past + L;
  const int64_t chunk =
      std::min(L, std::max<int64_t>(1, score_bytes / (B * heads_ * total * 4)));
  const double scale = std::sqrt(static_cast<double>(head_dim_));
  const auto long_options = torch::TensorOptions().dtype(torch::kLong).device(x.device());

  std::vector<torch::Tensor> outputs;
  for (int64_t q0 = 0; q0 < L; q0 += chunk) {
    const int64_t n = std::min(chunk, L - q0);
    const int64_t seen = past + q0 + n;  // keys after the chunk's last query are never seen
    auto qc = q.narrow(2, q0, n).reshape({B, kv_heads_, group * n, head_dim_});
    auto scores = torch::matmul(qc, keys.narrow(2, 0, seen).transpose(-1, -2)).div_(scale);
    if (allowed.defined()) {
      // [B, n, seen] -> [B, 1, 1, n, seen]: the same for every head
      auto hidden = allowed.narrow(1, q0, n).narrow(2, 0, seen).logical_not();
      scores.view({B, kv_heads_, group, n, seen})
          .masked_fill_(hidden.unsqueeze(1).unsqueeze(1),
                        -std::numeric_limits<double>::infinity());
    } else if (n > 1) {
      auto query_pos = torch::arange(past + q0, seen, long_options).unsqueeze(1);
      auto future = torch::arange(seen, long_options).unsqueeze(0) > query_pos;  // [n, seen]
      scores.view({B, kv_heads_, group, n, seen})
          .masked_fill_(future, -std::numeric_limits<double>::infinity());
    }
    auto probs = is_half(scores.scalar_type())
                     ? torch::softmax(scores, -1, torch::kFloat32).to(scores.scalar_type())
                     : torch::softmax(scores, -1);
    outputs.push_back(
        torch::matmul(probs, values.narrow(2, 0, seen)).view({B, heads_, n, head_dim_}));
  }
  auto out = outputs.size() == 1 ? outputs[0] : torch::cat(outputs, 2);
  return o_proj(out.transpose(1, 2).reshape({B, L, heads_ * head_dim_}));
}

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& c, const torch::TensorOptions& options) {
  gate_proj =
      register_module("gate_proj", Linear(c.hidden_size, c.intermediate_size, false, options));
  up_proj = register_module("up_proj", Linear(c.hidden_size, c.intermediate_size, false, options));
  down_proj =
      register_module("down_proj", Linear(c.intermediate_size, c.hidden_size, false, options));
}

torch::Tensor LlamaMLPImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& c,
                                             const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", LlamaAttention(c, options));
  mlp = register_module("mlp", LlamaMLP(c, options));
  input_layernorm =
      register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  post_attention_layernorm = register_module(
      "post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const RotaryTables& rotary,
                                             KVCache* cache, int64_t layer,
                                             int64_t score_bytes, const torch::Tensor& allowed) {
  auto h = x + self_attn(input_layernorm(x), rotary, cache, layer, score_bytes, allowed);
  return h + mlp(post_attention_layernorm(h));
}

LlamaImpl::LlamaImpl(const LlamaConfig& c, const torch::TensorOptions& options) : config_(c) {
  // "model" only holds children: a plain module gives them the checkpoint's names.
  auto body = register_module("model", std::make_shared<torch::nn::Module>());
  embed_tokens =
      body->register_module("embed_tokens", Embedding(c.vocab_size, c.hidden_size, options));
  layers = body->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i)
    layers->push_back(LlamaDecoderLayer(c, options));
  norm = body->register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, options));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false, options));
}

torch::Tensor LlamaImpl::embed(const torch::Tensor& ids) {
  if (ids.dim() != 2 || ids.scalar_type() != torch::kLong)
    throw Error("Llama::embed: token ids must be an int64 tensor [B, L], got " +
                std::string(c10::toString(ids.scalar_type())) + " with " +
                std::to_string(ids.dim()) + " dimensions");
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>();
    const int64_t hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw Error("Llama::embed: token id " + std::to_string(lo < 0 ? lo : hi) +
                  " is outside the vocabulary [0, " + std::to_string(config_.vocab_size) +
                  ")");
  }
  return embed_tokens(ids);
}

torch::Tensor LlamaImpl::run(const torch::Tensor& embeds, KVCache* cache, bool all_logits,
                             const RotaryTables* rotary, const torch::Tensor& allowed) {
  if (embeds.dim() != 3 || embeds.size(1) < 1 || embeds.size(2) != config_.hidden_size)
    throw Error("Llama::forward: embeds must be [B, L >= 1, " +
                std::to_string(config_.hidden_size) + "], got " +
                std::to_string(embeds.dim()) + " dimensions" +
                (embeds.dim() == 3 ? " of width " + std::to_string(embeds.size(2)) : ""));
  if (embeds.scalar_type() != embed_tokens->weight.scalar_type() ||
      embeds.device() != embed_tokens->weight.device())
    throw Error("Llama::forward: embeds are " + std::string(c10::toString(embeds.scalar_type())) +
                " on " + embeds.device().str() + " but the weights are " +
                c10::toString(embed_tokens->weight.scalar_type()) + " on " +
                embed_tokens->weight.device().str());
  const int64_t L = embeds.size(1);
  if (cache && (cache->num_layers() != config_.num_hidden_layers ||
                cache->batch() != embeds.size(0)))
    throw Error("Llama::forward: the cache holds " + std::to_string(cache->num_layers()) +
                " layers of batch " + std::to_string(cache->batch()) + ", expected " +
                std::to_string(config_.num_hidden_layers) + " layers of batch " +
                std::to_string(embeds.size(0)) + " (make it with Llama::new_cache)");

  const int64_t past = cache ? cache->length() : 0;
  const auto tables = rotary ? *rotary : rotary_tables(config_, past, L, embeds.options());
  auto h = embeds;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i)
    h = layers->at<LlamaDecoderLayerImpl>(i).forward(h, tables, cache, i,
                                                     attention_score_bytes, allowed);
  if (cache) cache->advance(L);

  if (!all_logits) h = h.narrow(1, L - 1, 1);
  h = norm(h);
  auto logits =
      lm_head ? lm_head(h) : torch::nn::functional::linear(h, embed_tokens->weight);
  return logits.to(torch::kFloat32);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& embeds, KVCache& cache, bool all_logits) {
  torch::NoGradGuard no_grad;
  return run(embeds, &cache, all_logits);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& embeds) {
  return run(embeds, nullptr, true);
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& embeds, const torch::Tensor& positions,
                                 const torch::Tensor& allowed) {
  const int64_t B = embeds.dim() == 3 ? embeds.size(0) : -1;
  const int64_t L = embeds.dim() == 3 ? embeds.size(1) : -1;
  if (positions.sizes() != torch::IntArrayRef{B, L} || positions.scalar_type() != torch::kLong)
    throw Error("Llama::forward: positions must be int64 [B, L] like the embeds");
  if (allowed.sizes() != torch::IntArrayRef{B, L, L} || allowed.scalar_type() != torch::kBool)
    throw Error("Llama::forward: allowed must be bool [B, L, L] like the embeds");
  // A key after its query would break the chunked attention's bound on the keys it reads; a
  // query that sees nothing would give NaN.
  if (allowed.triu(1).any().item<bool>())
    throw Error("Llama::forward: allowed lets a query see a later key");
  if (!allowed.any(-1).all().item<bool>())
    throw Error("Llama::forward: allowed leaves a query with no key to see");
  const auto tables = rotary_tables(config_, positions.to(embeds.device()), embeds.options());
  return run(embeds, nullptr, true, &tables, allowed.to(embeds.device()));
}

KVCache LlamaImpl::new_cache(int64_t batch) const {
  return KVCache(config_.num_hidden_layers, batch, config_.num_key_value_heads,
                 config_.head_dim(), embed_tokens->weight.options());
}

}  // namespace llamavid
