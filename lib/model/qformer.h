// The Q-Former of LLaMA-VID (LAVIS Qformer): BERT whose layers also cross-attend from the learned
// query positions to image features on every `cross_attention_freq`-th layer, with separate
// feed-forward weights for query and text positions. Submodules carry the checkpoint key names
// below `model.vlm_att_encoder.bert.`.
#pragma once

#include <torch/torch.h>

#include "core/config.h"
#include "nn/layers.h"

namespace llamavid {

// attention.self / crossattention.self: query, key, value projections and scaled dot product.
class BertAttentionCoreImpl : public torch::nn::Module {
 public:
  BertAttentionCoreImpl(int64_t hidden, int64_t kv_width, int64_t num_heads,
                        const torch::TensorOptions& options);
  // x [B, Nq, H], kv [B, Nk, kv_width], additive_mask [B, 1, 1, Nk] or undefined
  // -> [B, Nq, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& kv,
                        const torch::Tensor& additive_mask);

  Linear query{nullptr};
  Linear key{nullptr};
  Linear value{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(BertAttentionCore);

// Post-LN residual: LayerNorm(dense(x) + residual).
class BertDenseNormImpl : public torch::nn::Module {
 public:
  BertDenseNormImpl(int64_t in, int64_t out, double eps, const torch::TensorOptions& options);
  // x [B, N, in], residual [B, N, out] -> [B, N, out]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

  Linear dense{nullptr};
  LayerNorm norm{nullptr};  // registered as LayerNorm
};
TORCH_MODULE(BertDenseNorm);

// attention / crossattention: {self, output}.
class BertAttentionImpl : public torch::nn::Module {
 public:
  BertAttentionImpl(const QFormerConfig& config, int64_t kv_width,
                    const torch::TensorOptions& options);
  // x [B, Nq, H], kv [B, Nk, kv_width], additive_mask [B, 1, 1, Nk] or undefined -> [B, Nq, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& kv,
                        const torch::Tensor& additive_mask);

  BertAttentionCore self_attn{nullptr};  // registered as self
  BertDenseNorm output{nullptr};
};
TORCH_MODULE(BertAttention);

// One feed-forward branch: {prefix}intermediate.dense -> GELU -> {prefix}output.{dense,LayerNorm}.
struct BertFeedForward {
  Linear intermediate;
  BertDenseNorm output;
  // x [B, N, H] -> [B, N, H]
  torch::Tensor forward(const torch::Tensor& x);
};

class QFormerLayerImpl : public torch::nn::Module {
 public:
  QFormerLayerImpl(const QFormerConfig& config, int64_t encoder_width, bool cross_attention,
                   const torch::TensorOptions& options);
  // x [B, Q + L, H] (queries first), self_mask [B, 1, 1, Q + L] additive,
  // image_feats [B, N, encoder_width] -> [B, Q + L, H], or [B, Q, H] when `with_text` is false
  // (the last layer: only the query positions are read after it).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& self_mask,
                        const torch::Tensor& image_feats, int64_t num_query, bool with_text);

  BertAttention attention{nullptr};
  BertAttention crossattention{nullptr};  // null on layers without cross-attention
  BertFeedForward text_ffn{nullptr, nullptr};   // intermediate / output
  BertFeedForward query_ffn{nullptr, nullptr};  // intermediate_query / output_query
};
TORCH_MODULE(QFormerLayer);

class QFormerImpl : public torch::nn::Module {
 public:
  QFormerImpl(const QFormerConfig& config, int64_t encoder_width,
              const torch::TensorOptions& options);
  // query [B, Q, H] (learned queries, no position embedding), input_ids [B, L] int64,
  // attention_mask [B, L] (1 = token, 0 = padding), image_feats [B, N, encoder_width]
  // -> [B, Q, H]: the query positions of the last hidden state.
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& input_ids,
                        const torch::Tensor& attention_mask, const torch::Tensor& image_feats);

  const QFormerConfig& config() const { return config_; }

  Embedding word_embeddings{nullptr};      // embeddings.word_embeddings
  Embedding position_embeddings{nullptr};  // embeddings.position_embeddings
  LayerNorm embeddings_norm{nullptr};      // embeddings.LayerNorm
  torch::nn::ModuleList layers;            // encoder.layer

 private:
  QFormerConfig config_;
  int64_t encoder_width_;
};
TORCH_MODULE(QFormer);

}  // namespace llamavid
