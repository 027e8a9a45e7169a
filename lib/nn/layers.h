// Basic layers whose parameters are created with given TensorOptions and left uninitialised:
// weights always come from a file, and a model built on the meta device allocates nothing
// (the released-size shape check relies on that). Parameter names follow PyTorch's
// (weight, bias) so checkpoint keys map one to one.
#pragma once

#include <torch/torch.h>

namespace llamavid {

// y = x W^T + b.  weight [out, in], bias [out].
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias,
             const torch::TensorOptions& options);
  // x [..., in] -> [..., out]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;  // undefined when built without bias
};
TORCH_MODULE(Linear);

// LayerNorm over the last dimension with affine weight [dim] and bias [dim].
class LayerNormImpl : public torch::nn::Module {
 public:
  LayerNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;
  double eps;
};
TORCH_MODULE(LayerNorm);

// LLaMA RMSNorm: x / sqrt(mean(x^2) + eps) * weight, computed in fp32 as the reference does.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// Lookup table: row i of weight [num_embeddings, dim] is the vector of id i.
class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t dim, const torch::TensorOptions& options);
  // ids [...] int64 -> [..., dim]
  torch::Tensor forward(const torch::Tensor& ids);

  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

// 2-D convolution with a square kernel, stride = kernel and no padding (a patch embedding).
// weight [out, in, k, k], bias [out].
class PatchConv2dImpl : public torch::nn::Module {
 public:
  PatchConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel,
                  const torch::TensorOptions& options);
  // x [B, in, H, W] -> [B, out, H / k, W / k]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;
  torch::Tensor bias;
  int64_t kernel;
};
TORCH_MODULE(PatchConv2d);

// Exact (erf) GELU, as nn.GELU() and BERT's "gelu".
torch::Tensor gelu(const torch::Tensor& x);

}  // namespace llamavid
