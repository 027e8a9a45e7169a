#include "model/token_generator.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace llamavid {

namespace {

// Frames per Q-Former / context-attention call, as LLaMA-VID's long-video path; it bounds the
// memory of the intermediate [frames, N, Cv] tensors and does not change the result.
constexpr int64_t kFrameChunk = 64;
// vlm_att_ln is a torch.nn.LayerNorm with its default eps.
constexpr double kAttLnEps = 1e-5;

void check_features(const torch::Tensor& t, int64_t width, const char* what) {
  if (t.dim() != 3 || t.size(2) != width)
    throw Error(std::string("token generator: ") + what + " must be [T, N, " +
                std::to_string(width) + "], got " + c10::str(t.sizes()));
}

void check_text(const torch::Tensor& ids, const torch::Tensor& mask) {
  if (ids.dim() != 2 || ids.size(0) != 1 || !mask.sizes().equals(ids.sizes()))
    throw Error("token generator: input_ids and attention_mask must both be [1, L], got " +
                c10::str(ids.sizes()) + " and " + c10::str(mask.sizes()));
}

// Applies `fn` to consecutive frame ranges [begin, end) and concatenates the results on dim 0.
template <typename Fn>
torch::Tensor over_frame_chunks(int64_t frames, Fn fn) {
  std::vector<torch::Tensor> parts;
  for (int64_t begin = 0; begin < frames; begin += kFrameChunk)
    parts.push_back(fn(begin, std::min(frames, begin + kFrameChunk)));
  return torch::cat(parts, 0);
}

}  // namespace

TokenGeneratorImpl::TokenGeneratorImpl(const ModelConfig& config, int64_t num_query,
                                       const torch::TensorOptions& options)
    : config_(config) {
  const int64_t cv = config.mm_hidden_size;
  const int64_t hq = config.qformer.hidden_size;
  const int64_t c = config.llm.hidden_size;
  if (num_query <= 0)
    throw Error("token generator: the number of learned queries must be positive, got " +
                std::to_string(num_query));
  if (config.compress == CompressType::Grid && config.compress_grid < 2)
    throw Error("compress_type grid:" + std::to_string(config.compress_grid) +
                ": LLaMA-VID requires a grid size larger than 1");
  if (config.mm_projector_depth < 1)
    throw Error("mm_projector depth must be at least 1, got " +
                std::to_string(config.mm_projector_depth));

  vlm_att_query = register_parameter("vlm_att_query", torch::empty({1, num_query, hq}, options));
  vlm_att_ln = register_module("vlm_att_ln", LayerNorm(cv, kAttLnEps, options));
  vlm_att_projector =
      register_module("vlm_att_projector", Linear(hq, cv, /*bias=*/true, options));
  vlm_att_key_projector =
      register_module("vlm_att_key_projector", Linear(cv, cv, /*bias=*/true, options));
  vlm_att_val_projector =
      register_module("vlm_att_val_projector", Linear(cv, c, /*bias=*/true, options));

  // LLaVA's mlpNx_gelu: Linear, then N-1 times (GELU, Linear); "linear" is N = 1.
  mm_projector = register_module("mm_projector", torch::nn::Sequential());
  mm_projector->push_back(Linear(cv, c, /*bias=*/true, options));
  for (int64_t i = 1; i < config.mm_projector_depth; ++i) {
    mm_projector->push_back(torch::nn::GELU());
    mm_projector->push_back(Linear(c, c, /*bias=*/true, options));
  }

  auto encoder = register_module("vlm_att_encoder", std::make_shared<torch::nn::Module>());
  qformer = encoder->register_module("bert", QFormer(config.qformer, cv, options));
}

torch::Tensor TokenGeneratorImpl::prompt_features(const torch::Tensor& features) const {
  check_features(features, config_.mm_hidden_size, "features");
  if (config_.mm_vision_select_feature == "patch" && features.size(1) % 2 == 1)
    return features.slice(1, 1);
  return features;
}

torch::Tensor TokenGeneratorImpl::content_tokens(const torch::Tensor& patch_feats) {
  check_features(patch_feats, config_.mm_hidden_size, "patch features");
  auto x = patch_feats.to(vlm_att_query.options());
  switch (config_.compress) {
    case CompressType::Mean:
      x = x.mean(1, /*keepdim=*/true);  // [T, 1, Cv]
      break;
    case CompressType::Grid: {
      const int64_t n = x.size(1);
      const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
      if (side * side != n)
        throw Error("compress_type grid:" + std::to_string(config_.compress_grid) + ": " +
                    std::to_string(n) + " patch features do not form a square grid");
      const int64_t stride = side / config_.compress_grid;
      if (stride < 1)
        throw Error("compress_type grid:" + std::to_string(config_.compress_grid) +
                    " is larger than the patch grid " + std::to_string(side));
      auto grid = x.reshape({x.size(0), side, side, x.size(2)}).permute({0, 3, 1, 2});
      x = torch::avg_pool2d(grid, {stride, stride}, {stride, stride})
              .permute({0, 2, 3, 1})
              .flatten(1, 2);  // [T, grid^2, Cv], row-major
      break;
    }
    case CompressType::None:
      break;
  }
  return mm_projector->forward(x);
}

torch::Tensor TokenGeneratorImpl::text_queries(const torch::Tensor& qformer_feats,
                                               const torch::Tensor& input_ids,
                                               const torch::Tensor& attention_mask) {
  check_features(qformer_feats, config_.mm_hidden_size, "Q-Former features");
  check_text(input_ids, attention_mask);
  const int64_t frames = qformer_feats.size(0);
  if (frames == 0)
    return torch::empty({0, num_query(), config_.mm_hidden_size}, vlm_att_query.options());
  return over_frame_chunks(frames, [&](int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    auto image = vlm_att_ln(qformer_feats.slice(0, begin, end).to(vlm_att_query.options()));
    auto out = qformer(vlm_att_query.expand({n, -1, -1}), input_ids.expand({n, -1}),
                       attention_mask.expand({n, -1}), image);  // [n, Q, Hq]
    return vlm_att_projector(out);
  });
}

torch::Tensor TokenGeneratorImpl::context_tokens(const torch::Tensor& text_q,
                                                 const torch::Tensor& patch_feats) {
  check_features(text_q, config_.mm_hidden_size, "text queries");
  check_features(patch_feats, config_.mm_hidden_size, "patch features");
  const int64_t frames = patch_feats.size(0);
  if (text_q.size(0) != frames)
    throw Error("token generator: " + std::to_string(text_q.size(0)) + " text query sets for " +
                std::to_string(frames) + " frames");
  if (frames == 0) return torch::empty({0, config_.llm.hidden_size}, vlm_att_query.options());
  // The scale is the square root of the feature width, as LLaMA-VID (not of a head size).
  const double scale = std::sqrt(static_cast<double>(patch_feats.size(2)));
  return over_frame_chunks(frames, [&](int64_t begin, int64_t end) {
    auto x = patch_feats.slice(0, begin, end).to(vlm_att_query.options());  // [n, N, Cv]
    auto q = text_q.slice(0, begin, end).to(vlm_att_query.options());       // [n, Q, Cv]
    auto scores = torch::matmul(q, vlm_att_key_projector(x).transpose(-1, -2)) / scale;
    // Values are the raw features: LLaMA-VID has no value projection before the mean.
    auto ctx = torch::matmul(torch::softmax(scores, -1), x).mean(1);  // [n, Cv]
    return vlm_att_val_projector(ctx);
  });
}

}  // namespace llamavid
