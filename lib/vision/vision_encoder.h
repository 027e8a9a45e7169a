// EVA-ViT as used by LLaMA-VID (LAVIS create_eva_vit_g): patch embedding, CLS token, absolute
// position embedding, pre-LN blocks, and no final norm. Submodules and parameters carry the
// checkpoint key names below `model.vision_tower.vision_tower.`.
#pragma once

#include <torch/torch.h>

#include "core/config.h"
#include "nn/layers.h"

namespace llamavid {

// Self-attention with a bias-free qkv projection plus separate q and v biases (k has none).
class EvaAttentionImpl : public torch::nn::Module {
 public:
  EvaAttentionImpl(const VisionConfig& config, const torch::TensorOptions& options);
  // x [B, N, C] -> [B, N, C]
  torch::Tensor forward(const torch::Tensor& x);

  Linear qkv{nullptr};
  torch::Tensor q_bias;  // [C]
  torch::Tensor v_bias;  // [C]
  Linear proj{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(EvaAttention);

// fc1 -> exact GELU -> fc2.
class EvaMlpImpl : public torch::nn::Module {
 public:
  EvaMlpImpl(const VisionConfig& config, const torch::TensorOptions& options);
  // x [B, N, C] -> [B, N, C]
  torch::Tensor forward(const torch::Tensor& x);

  Linear fc1{nullptr};
  Linear fc2{nullptr};
};
TORCH_MODULE(EvaMlp);

// x += attn(norm1(x)); x += mlp(norm2(x)). No layer scale (init_values is None in LLaMA-VID).
class EvaBlockImpl : public torch::nn::Module {
 public:
  EvaBlockImpl(const VisionConfig& config, const torch::TensorOptions& options);
  // x [B, N, C] -> [B, N, C]
  torch::Tensor forward(torch::Tensor x);

  LayerNorm norm1{nullptr};
  EvaAttention attn{nullptr};
  LayerNorm norm2{nullptr};
  EvaMlp mlp{nullptr};
};
TORCH_MODULE(EvaBlock);

class VisionEncoderImpl : public torch::nn::Module {
 public:
  VisionEncoderImpl(const VisionConfig& config, const torch::TensorOptions& options);
  // pixels [B, 3, S, S] (CLIP-normalised, S = image_size; cast to the weights' dtype and
  // device) -> [B, 1 + P, C], index 0 is CLS; the raw residual stream after the last block.
  torch::Tensor forward(const torch::Tensor& pixels);

  const VisionConfig& config() const { return config_; }

  torch::Tensor cls_token;  // [1, 1, C]
  torch::Tensor pos_embed;  // [1, 1 + P, C]
  PatchConv2d patch_proj{nullptr};  // registered as patch_embed.proj
  torch::nn::ModuleList blocks;

 private:
  VisionConfig config_;
};
TORCH_MODULE(VisionEncoder);

// Resizes a position embedding to another square patch grid as LAVIS interpolate_pos_embed:
// the CLS row is kept, the grid rows are resized bicubically (align_corners=false) in fp32.
// Returned unchanged when the grid already matches.
// pos_embed [1, 1 + G*G, C] -> [1, 1 + new_grid^2, C] (same dtype)
torch::Tensor interpolate_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid);

}  // namespace llamavid
