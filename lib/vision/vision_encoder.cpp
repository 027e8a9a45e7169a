#include "vision/vision_encoder.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace llamavid {

EvaAttentionImpl::EvaAttentionImpl(const VisionConfig& config, const torch::TensorOptions& options)
    : num_heads(config.num_attention_heads) {
  const int64_t c = config.hidden_size;
  qkv = register_module("qkv", Linear(c, 3 * c, /*bias=*/false, options));
  q_bias = register_parameter("q_bias", torch::empty({c}, options));
  v_bias = register_parameter("v_bias", torch::empty({c}, options));
  proj = register_module("proj", Linear(c, c, /*bias=*/true, options));
}

torch::Tensor EvaAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  const int64_t head_dim = c / num_heads;
  // The key bias is fixed at zero: only q_bias and v_bias exist in EVA.
  auto bias = torch::cat({q_bias, torch::zeros_like(v_bias), v_bias});
  auto qkv_out = torch::nn::functional::linear(x, qkv->weight, bias)
                     .reshape({b, n, 3, num_heads, head_dim})
                     .permute({2, 0, 3, 1, 4});  // [3, B, H, N, D]
  auto q = qkv_out[0] * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  auto k = qkv_out[1];
  auto v = qkv_out[2];
  auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)), -1);
  auto out = torch::matmul(attn, v).transpose(1, 2).reshape({b, n, c});
  return proj(out);
}

EvaMlpImpl::EvaMlpImpl(const VisionConfig& config, const torch::TensorOptions& options) {
  fc1 = register_module(
      "fc1", Linear(config.hidden_size, config.intermediate_size, /*bias=*/true, options));
  fc2 = register_module(
      "fc2", Linear(config.intermediate_size, config.hidden_size, /*bias=*/true, options));
}

torch::Tensor EvaMlpImpl::forward(const torch::Tensor& x) {
  return fc2(llamavid::gelu(fc1(x)));
}

EvaBlockImpl::EvaBlockImpl(const VisionConfig& config, const torch::TensorOptions& options) {
  norm1 = register_module("norm1", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  attn = register_module("attn", EvaAttention(config, options));
  norm2 = register_module("norm2", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  mlp = register_module("mlp", EvaMlp(config, options));
}

torch::Tensor EvaBlockImpl::forward(torch::Tensor x) {
  x = x + attn(norm1(x));
  return x + mlp(norm2(x));
}

VisionEncoderImpl::VisionEncoderImpl(const VisionConfig& config,
                                     const torch::TensorOptions& options)
    : config_(config) {
  const int64_t c = config.hidden_size;
  cls_token = register_parameter("cls_token", torch::empty({1, 1, c}, options));
  pos_embed = register_parameter("pos_embed", torch::empty({1, config.num_tokens(), c}, options));
  // The checkpoint nests the convolution one level down: patch_embed.proj.{weight,bias}.
  auto patch_embed = register_module("patch_embed", std::make_shared<torch::nn::Module>());
  patch_proj = patch_embed->register_module("proj", PatchConv2d(3, c, config.patch_size, options));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    blocks->push_back(EvaBlock(config, options));
}

torch::Tensor VisionEncoderImpl::forward(const torch::Tensor& pixels) {
  const int64_t s = config_.image_size;
  if (pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != s || pixels.size(3) != s)
    throw Error("vision encoder: pixels must be [B, 3, " + std::to_string(s) + ", " +
                std::to_string(s) + "], got " + c10::str(pixels.sizes()));
  auto x = patch_proj(pixels.to(cls_token.options()))
               .flatten(2)
               .transpose(1, 2);  // [B, P, C]
  x = torch::cat({cls_token.expand({x.size(0), 1, x.size(2)}), x}, 1) + pos_embed;
  for (const auto& block : *blocks) x = block->as<EvaBlock>()->forward(x);
  return x;
}

torch::Tensor interpolate_pos_embed(const torch::Tensor& pos_embed, int64_t new_grid) {
  if (pos_embed.dim() != 3 || pos_embed.size(0) != 1 || pos_embed.size(1) < 2)
    throw Error("pos_embed: expected [1, 1 + G*G, C], got " + c10::str(pos_embed.sizes()));
  const int64_t patches = pos_embed.size(1) - 1;
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(patches))));
  if (grid * grid != patches)
    throw Error("pos_embed: " + std::to_string(patches) +
                " position rows after CLS do not form a square grid");
  if (new_grid <= 0) throw Error("pos_embed: the new grid size must be positive");
  if (grid == new_grid) return pos_embed;

  const int64_t c = pos_embed.size(2);
  auto cls = pos_embed.slice(1, 0, 1);
  auto grid_rows = pos_embed.slice(1, 1)
                       .to(torch::kFloat32)
                       .reshape({1, grid, grid, c})
                       .permute({0, 3, 1, 2});  // [1, C, G, G]
  namespace F = torch::nn::functional;
  auto resized = F::interpolate(grid_rows, F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{new_grid, new_grid})
                                               .mode(torch::kBicubic)
                                               .align_corners(false));
  auto rows = resized.permute({0, 2, 3, 1}).reshape({1, new_grid * new_grid, c});
  return torch::cat({cls, rows.to(pos_embed.scalar_type())}, 1);
}

}  // namespace llamavid
