// LLaMA-VID's text-guided token generation: each frame becomes one context token (attention of
// question-conditioned Q-Former queries over the frame's patch features) followed by its content
// token(s) (compressed patch features through mm_projector). Split into the query-independent
// part (content_tokens) and the query-dependent part (text_queries, context_tokens) so that a
// caller can cache the former. Submodules carry the checkpoint key names below `model.`.
#pragma once

#include <torch/torch.h>

#include "core/config.h"
#include "model/qformer.h"
#include "nn/layers.h"

namespace llamavid {

class TokenGeneratorImpl : public torch::nn::Module {
 public:
  // `num_query` is the number of learned queries (the checkpoint's vlm_att_query.shape[1]).
  TokenGeneratorImpl(const ModelConfig& config, int64_t num_query,
                     const torch::TensorOptions& options);

  // The features that context and content tokens are made from: the input without its first
  // token exactly when mm_vision_select_feature is "patch" and the token count is odd (as
  // LLaMA-VID: this drops EVA's CLS for the released grids, and nothing for even counts).
  // features [T, M, Cv] -> [T, N, Cv], N = M - 1 or M
  torch::Tensor prompt_features(const torch::Tensor& features) const;

  // Query-independent content tokens: compress (none / mean / grid:N) then mm_projector.
  // patch_feats [T, N, Cv] -> [T, K, C]
  torch::Tensor content_tokens(const torch::Tensor& patch_feats);

  // Question-conditioned queries: vlm_att_ln on the image features, the Q-Former with the
  // question ids shared by every frame, then vlm_att_projector. Runs in chunks of 64 frames.
  // qformer_feats [T, N', Cv], input_ids [1, L] int64, attention_mask [1, L] -> [T, Q, Cv]
  torch::Tensor text_queries(const torch::Tensor& qformer_feats, const torch::Tensor& input_ids,
                             const torch::Tensor& attention_mask);

  // Context tokens: softmax(text_q (X W_k^T + b_k)^T / sqrt(Cv)) over N, applied to the raw X,
  // averaged over the queries, then vlm_att_val_projector.
  // text_q [T, Q, Cv], patch_feats [T, N, Cv] -> [T, C]
  torch::Tensor context_tokens(const torch::Tensor& text_q, const torch::Tensor& patch_feats);

  int64_t num_query() const { return vlm_att_query.size(1); }

  torch::Tensor vlm_att_query;  // [1, Q, Hq]
  LayerNorm vlm_att_ln{nullptr};
  Linear vlm_att_projector{nullptr};
  Linear vlm_att_key_projector{nullptr};
  Linear vlm_att_val_projector{nullptr};
  torch::nn::Sequential mm_projector{nullptr};  // Linear, (GELU, Linear)*: indices 0, 2, ...
  QFormer qformer{nullptr};                     // vlm_att_encoder.bert

 private:
  ModelConfig config_;
};
TORCH_MODULE(TokenGenerator);

}  // namespace llamavid
