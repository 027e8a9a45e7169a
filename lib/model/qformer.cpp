#include "model/qformer.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace llamavid {

namespace {

// BERT's additive mask value for padded keys (not -inf: a fully padded row stays finite).
constexpr double kMaskedScore = -10000.0;

// Registers an empty module under `name` so that children get the nested checkpoint names.
std::shared_ptr<torch::nn::Module> holder(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

BertFeedForward make_feed_forward(torch::nn::Module& layer, const std::string& intermediate_name,
                                  const std::string& output_name, const QFormerConfig& config,
                                  const torch::TensorOptions& options) {
  auto intermediate = holder(layer, intermediate_name);
  Linear dense = intermediate->register_module(
      "dense", Linear(config.hidden_size, config.intermediate_size, /*bias=*/true, options));
  BertDenseNorm output = layer.register_module(
      output_name, BertDenseNorm(config.intermediate_size, config.hidden_size,
                                 config.layer_norm_eps, options));
  return BertFeedForward{dense, output};
}

void check_rank(const torch::Tensor& t, int64_t rank, const char* what, const char* shape) {
  if (t.dim() != rank)
    throw Error(std::string("Q-Former: ") + what + " must be " + shape + ", got " +
                c10::str(t.sizes()));
}

}  // namespace

BertAttentionCoreImpl::BertAttentionCoreImpl(int64_t hidden, int64_t kv_width, int64_t heads,
                                             const torch::TensorOptions& options)
    : num_heads(heads) {
  query = register_module("query", Linear(hidden, hidden, /*bias=*/true, options));
  key = register_module("key", Linear(kv_width, hidden, /*bias=*/true, options));
  value = register_module("value", Linear(kv_width, hidden, /*bias=*/true, options));
}

torch::Tensor BertAttentionCoreImpl::forward(const torch::Tensor& x, const torch::Tensor& kv,
                                             const torch::Tensor& additive_mask) {
  const int64_t b = x.size(0), nq = x.size(1), nk = kv.size(1);
  const int64_t hidden = query->weight.size(0);
  const int64_t head_dim = hidden / num_heads;
  auto split = [&](const torch::Tensor& t, int64_t n) {
    return t.view({b, n, num_heads, head_dim}).transpose(1, 2);  // [B, heads, n, D]
  };
  auto q = split(query(x), nq);
  auto k = split(key(kv), nk);
  auto v = split(value(kv), nk);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim));
  if (additive_mask.defined()) scores = scores + additive_mask;
  auto probs = torch::softmax(scores, -1);
  return torch::matmul(probs, v).transpose(1, 2).reshape({b, nq, hidden});
}

BertDenseNormImpl::BertDenseNormImpl(int64_t in, int64_t out, double eps,
                                     const torch::TensorOptions& options) {
  dense = register_module("dense", Linear(in, out, /*bias=*/true, options));
  norm = register_module("LayerNorm", LayerNorm(out, eps, options));
}

torch::Tensor BertDenseNormImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return norm(dense(x) + residual);
}

BertAttentionImpl::BertAttentionImpl(const QFormerConfig& config, int64_t kv_width,
                                     const torch::TensorOptions& options) {
  self_attn = register_module(
      "self", BertAttentionCore(config.hidden_size, kv_width, config.num_attention_heads, options));
  output = register_module("output", BertDenseNorm(config.hidden_size, config.hidden_size,
                                                   config.layer_norm_eps, options));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& kv,
                                         const torch::Tensor& additive_mask) {
  return output(self_attn(x, kv, additive_mask), x);
}

torch::Tensor BertFeedForward::forward(const torch::Tensor& x) {
  return output->forward(llamavid::gelu(intermediate->forward(x)), x);
}

QFormerLayerImpl::QFormerLayerImpl(const QFormerConfig& config, int64_t encoder_width,
                                   bool cross_attention, const torch::TensorOptions& options) {
  attention = register_module("attention", BertAttention(config, config.hidden_size, options));
  if (cross_attention)
    crossattention =
        register_module("crossattention", BertAttention(config, encoder_width, options));
  text_ffn = make_feed_forward(*this, "intermediate", "output", config, options);
  query_ffn = make_feed_forward(*this, "intermediate_query", "output_query", config, options);
}

torch::Tensor QFormerLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& self_mask,
                                        const torch::Tensor& image_feats, int64_t num_query,
                                        bool with_text) {
  auto h = attention(x, x, self_mask);
  // Only the query positions look at the image; the image mask is all ones, so no mask.
  auto q = h.slice(1, 0, num_query);
  if (crossattention) q = crossattention(q, image_feats, torch::Tensor());
  q = query_ffn.forward(q);
  if (!with_text || h.size(1) == num_query) return q;
  return torch::cat({q, text_ffn.forward(h.slice(1, num_query))}, 1);
}

QFormerImpl::QFormerImpl(const QFormerConfig& config, int64_t encoder_width,
                         const torch::TensorOptions& options)
    : config_(config), encoder_width_(encoder_width) {
  const int64_t h = config.hidden_size;
  auto embeddings = holder(*this, "embeddings");
  word_embeddings = embeddings->register_module(
      "word_embeddings", Embedding(config.vocab_size, h, options));
  position_embeddings = embeddings->register_module(
      "position_embeddings", Embedding(config.max_position_embeddings, h, options));
  embeddings_norm =
      embeddings->register_module("LayerNorm", LayerNorm(h, config.layer_norm_eps, options));

  auto encoder = holder(*this, "encoder");
  layers = encoder->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    layers->push_back(QFormerLayer(config, encoder_width,
                                   /*cross_attention=*/i % config.cross_attention_freq == 0,
                                   options));
}

torch::Tensor QFormerImpl::forward(const torch::Tensor& query, const torch::Tensor& input_ids,
                                   const torch::Tensor& attention_mask,
                                   const torch::Tensor& image_feats) {
  check_rank(query, 3, "query", "[B, Q, hidden]");
  check_rank(input_ids, 2, "input_ids", "[B, L]");
  check_rank(attention_mask, 2, "attention_mask", "[B, L]");
  check_rank(image_feats, 3, "image_feats", "[B, N, encoder_width]");
  const int64_t b = query.size(0), num_query = query.size(1), len = input_ids.size(1);
  if (query.size(2) != config_.hidden_size)
    throw Error("Q-Former: query width " + std::to_string(query.size(2)) + ", expected " +
                std::to_string(config_.hidden_size));
  if (image_feats.size(2) != encoder_width_)
    throw Error("Q-Former: image feature width " + std::to_string(image_feats.size(2)) +
                ", expected " + std::to_string(encoder_width_));
  if (input_ids.size(0) != b || attention_mask.size(0) != b || image_feats.size(0) != b ||
      attention_mask.size(1) != len)
    throw Error("Q-Former: batch or length mismatch between query " + c10::str(query.sizes()) +
                ", input_ids " + c10::str(input_ids.sizes()) + ", attention_mask " +
                c10::str(attention_mask.sizes()) + " and image_feats " +
                c10::str(image_feats.sizes()));
  if (len > config_.max_position_embeddings)
    throw Error("Q-Former: text of " + std::to_string(len) + " tokens exceeds the " +
                std::to_string(config_.max_position_embeddings) + " position embeddings");
  if (len > 0) {
    auto ids_cpu = input_ids.to(torch::kCPU);
    const int64_t lo = ids_cpu.min().item<int64_t>(), hi = ids_cpu.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw Error("Q-Former: token id out of range [0, " + std::to_string(config_.vocab_size) +
                  "): " + std::to_string(lo < 0 ? lo : hi));
  }

  const auto opts = word_embeddings->weight.options();
  auto positions = torch::arange(len, opts.dtype(torch::kLong));
  auto text = word_embeddings(input_ids.to(opts.device(), torch::kLong)) +
              position_embeddings(positions);  // [B, L, H]
  // The learned queries come first and get no position embedding; LayerNorm covers both.
  auto x = embeddings_norm(torch::cat({query.to(opts), text}, 1));  // [B, Q + L, H]

  auto keep = torch::cat({torch::ones({b, num_query}, opts), attention_mask.to(opts)}, 1);
  auto self_mask = ((1.0 - keep) * kMaskedScore).view({b, 1, 1, num_query + len});
  auto image = image_feats.to(opts);
  const size_t n = layers->size();
  for (size_t i = 0; i < n; ++i)
    x = layers[i]->as<QFormerLayer>()->forward(x, self_mask, image, num_query,
                                                /*with_text=*/i + 1 < n);
  return x.slice(1, 0, num_query);
}

}  // namespace llamavid
