// The LLaMA decoder against the plain PyTorch reference (tests/reference/llama_ref.py): logits
// without and with the KV cache (one block, several blocks, token by token, truncated and
// re-extended, forked), GQA, linear RoPE scaling, tied embeddings, chunked attention, packed
// sequences (the trainer's several questions on one prefix); and the released Vicuna-7B layout
// built on the meta device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/llama.h"
#include "error_of.h"
#include "test_util.h"

using namespace llamavid;

namespace {

constexpr double kTol = 1e-4;

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

// One reference case: the model loaded from its weights, and the reference inputs / outputs.
struct Case {
  Llama model{nullptr};
  torch::Tensor ids;     // [2, 24] int64
  torch::Tensor logits;  // [2, 24, V]
};

class LlamaParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::scratch_dir("llama");
    test::run_python("llama_ref.py", dir_);
  }

  static Case load(const std::string& name, double rope_factor = 0) {
    const std::string d = dir_ + "/" + name;
    LlamaConfig config = load_config(d + "/config.json").llm;
    if (rope_factor > 0) config.rope_scaling_factor = rope_factor;
    Case c;
    c.model = Llama(config, torch::TensorOptions().dtype(torch::kFloat32));
    WeightSet weights = WeightSet::open(d + "/weights.safetensors");
    require_all_consumed(weights, load_into(*c.model, weights, ""));
    auto io = SafetensorsFile::open(d + "/io.safetensors");
    c.ids = io->tensor("ids");
    c.logits = io->tensor("logits");
    return c;
  }

  static std::string dir_;
  torch::NoGradGuard no_grad_;
};
std::string LlamaParity::dir_;

// Logits of every position of `ids` fed to `cache` in blocks of the given sizes.
// ids [B, L] -> [B, L, V]
torch::Tensor prefill_in_blocks(Case& c, KVCache& cache, const std::vector<int64_t>& sizes,
                                int64_t start = 0) {
  std::vector<torch::Tensor> parts;
  for (int64_t n : sizes) {
    parts.push_back(c.model->forward(c.model->embed(c.ids.narrow(1, start, n)), cache, true));
    start += n;
  }
  return torch::cat(parts, 1);
}

}  // namespace

// The full sequence without a cache gives the reference logits.
TEST_F(LlamaParity, LogitsWithoutCache) {
  Case c = load("base");
  EXPECT_LE(max_diff(c.model->forward(c.model->embed(c.ids)), c.logits), kTol);
}

// Prefilling the whole sequence into an empty cache gives the reference logits.
TEST_F(LlamaParity, PrefillOneBlock) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {24}), c.logits), kTol);
  EXPECT_EQ(cache.length(), 24);
}

// Prefilling in blocks of 7, 10 and 7 positions gives the reference logits.
TEST_F(LlamaParity, PrefillSeveralBlocks) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {7, 10, 7}), c.logits), kTol);
}

// Feeding one token at a time gives the reference logits at every position.
TEST_F(LlamaParity, TokenByToken) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, std::vector<int64_t>(24, 1)), c.logits), kTol);
}

// all_logits = false returns the logits of the last position only.
TEST_F(LlamaParity, LastLogitsOnly) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  c.model->forward(c.model->embed(c.ids.narrow(1, 0, 20)), cache, true);
  auto last = c.model->forward(c.model->embed(c.ids.narrow(1, 20, 4)), cache, false);
  EXPECT_LE(max_diff(last, c.logits.narrow(1, 23, 1)), kTol);
}

// Positions appended after a prefix and then truncated away leave no trace: re-extending
// with the true tokens gives the reference logits.
TEST_F(LlamaParity, TruncateThenReextend) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  prefill_in_blocks(c, cache, {10});
  auto other = torch::randint(3, c.model->config().vocab_size, {2, 6}, torch::kLong);
  c.model->forward(c.model->embed(other), cache, true);
  cache.truncate(10);
  auto rest = prefill_in_blocks(c, cache, {14}, 10);
  EXPECT_LE(max_diff(rest, c.logits.narrow(1, 10, 14)), kTol);
}

// A prefilled prefix truncated back after other tokens continues as if they never came (as
// the standing prefix is used by each answer).
TEST_F(LlamaParity, TruncatedPrefixContinues) {
  Case c = load("base");
  auto cache = c.model->new_cache(2);
  prefill_in_blocks(c, cache, {12});
  auto other = torch::randint(3, c.model->config().vocab_size, {2, 5}, torch::kLong);
  c.model->forward(c.model->embed(other), cache, true);
  cache.truncate(12);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {12}, 12), c.logits.narrow(1, 12, 12)), kTol);
}

// Grouped-query attention (8 query heads over 2 kv heads, rope_theta 500) matches, with and
// without the cache.
TEST_F(LlamaParity, GroupedQueryAttention) {
  Case c = load("gqa");
  EXPECT_EQ(c.model->config().num_key_value_heads, 2);
  EXPECT_LE(max_diff(c.model->forward(c.model->embed(c.ids)), c.logits), kTol);
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {5, 1, 1, 17}), c.logits), kTol);
}

// Linear RoPE scaling (factor 4) matches the reference, in blocks too.
TEST_F(LlamaParity, LinearRopeScaling) {
  Case c = load("rope_scaling");
  EXPECT_DOUBLE_EQ(c.model->config().rope_scaling_factor, 4.0);
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {9, 1, 14}), c.logits), kTol);
}

// The same weights without the scaling give clearly different logits (the factor matters).
TEST_F(LlamaParity, RopeScalingChangesLogits) {
  Case c = load("rope_scaling", /*rope_factor=*/1.0);
  EXPECT_GT(max_diff(c.model->forward(c.model->embed(c.ids)), c.logits), 1e-2);
}

// With tied embeddings there is no lm_head parameter and the logits use the embedding.
TEST_F(LlamaParity, TiedEmbeddings) {
  Case c = load("tied");
  EXPECT_FALSE(c.model->lm_head);
  for (const auto& p : c.model->named_parameters()) EXPECT_NE(p.key(), "lm_head.weight");
  auto cache = c.model->new_cache(2);
  EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {20, 4}), c.logits), kTol);
}

// Attention split into query chunks (one query, then a few) gives the same logits as one chunk.
TEST_F(LlamaParity, ChunkedAttention) {
  Case c = load("gqa");
  for (int64_t bytes : {int64_t{1}, int64_t{2 * 8 * 24 * 4 * 5}}) {
    c.model->attention_score_bytes = bytes;
    auto cache = c.model->new_cache(2);
    EXPECT_LE(max_diff(prefill_in_blocks(c, cache, {16, 8}), c.logits), kTol) << bytes;
  }
}

// A packed sequence (a prefix of 10 positions, then blocks of 5, 4 and 5 that each see the
// prefix and themselves, positions restarting after the prefix) gives the reference's logits,
// also in query chunks and with grouped-query attention.
TEST_F(LlamaParity, PackedMatchesReference) {
  for (const char* name : {"base", "gqa"}) {
    Case c = load(name);
    auto io = SafetensorsFile::open(dir_ + "/" + name + "/io.safetensors");
    auto positions = io->tensor("packed_positions");
    auto allowed = io->tensor("packed_allowed").to(torch::kBool);
    auto expected = io->tensor("packed_logits");
    EXPECT_LE(max_diff(c.model->forward(c.model->embed(c.ids), positions, allowed), expected),
              kTol) << name;
    c.model->attention_score_bytes = 1;
    EXPECT_LE(max_diff(c.model->forward(c.model->embed(c.ids), positions, allowed), expected),
              kTol) << name << " in chunks";
    // Not the causal logits: the blocks do not see each other.
    EXPECT_GT(max_diff(expected.narrow(1, 15, 9), c.logits.narrow(1, 15, 9)), 1e-2) << name;
  }
}

// Each packed block reads as that block after the prefix in the cache: what the trainer learns
// from a packed sequence is what the session serves with its prefilled prefix.
TEST_F(LlamaParity, PackedBlocksEqualCachedPrefix) {
  Case c = load("base");
  auto io = SafetensorsFile::open(dir_ + "/base/io.safetensors");
  auto packed = c.model->forward(c.model->embed(c.ids), io->tensor("packed_positions"),
                                 io->tensor("packed_allowed").to(torch::kBool));
  int64_t start = 10;
  for (int64_t size : {5, 4, 5}) {
    auto cache = c.model->new_cache(2);
    c.model->forward(c.model->embed(c.ids.narrow(1, 0, 10)), cache, true);
    auto block = c.model->forward(c.model->embed(c.ids.narrow(1, start, size)), cache, true);
    EXPECT_LE(max_diff(block, packed.narrow(1, start, size)), kTol) << start;
    start += size;
  }
}

// Masks that are not causal or leave a query blind are refused with a reason.
TEST_F(LlamaParity, PackedMaskChecked) {
  Case c = load("base");
  auto embeds = c.model->embed(c.ids);
  auto positions = torch::arange(24, torch::kLong).expand({2, 24}).contiguous();
  auto causal = torch::ones({2, 24, 24}, torch::kBool).tril();
  EXPECT_LE(max_diff(c.model->forward(embeds, positions, causal), c.logits), kTol);
  EXPECT_NE(test::error_of([&] { c.model->forward(embeds, positions, causal.logical_not()); })
                .find("later key"),
            std::string::npos);
  auto blind = causal.clone();
  blind[1][7].fill_(false);
  EXPECT_NE(test::error_of([&] { c.model->forward(embeds, positions, blind); }).find("no key"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { c.model->forward(embeds, positions.narrow(1, 0, 20), causal); })
                .find("positions"),
            std::string::npos);
}

// bfloat16 weights run (fp32 softmax and norms) and stay close to the fp32 reference.
TEST_F(LlamaParity, BFloat16FollowsReference) {
  Case c = load("base");
  c.model->to(torch::kBFloat16);
  auto cache = c.model->new_cache(2);
  auto logits = prefill_in_blocks(c, cache, {20, 4});
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_LE(max_diff(logits, c.logits), 0.05 * c.logits.abs().max().item<double>());
}

// The cached forward never records autograd history, even with trainable parameters.
TEST_F(LlamaParity, CachedForwardHasNoGraph) {
  Case c = load("base");
  torch::AutoGradMode enable(true);
  auto cache = c.model->new_cache(2);
  EXPECT_FALSE(c.model->forward(c.model->embed(c.ids), cache, true).requires_grad());
  EXPECT_FALSE(cache.keys(0).requires_grad());
}

// Built on the meta device with the Vicuna-7B config, the released names and shapes are there
// and the parameters number 6.74e9, without allocating.
TEST(LlamaMeta, Vicuna7BLayout) {
  LlamaConfig config;
  Llama model(config, torch::TensorOptions().dtype(torch::kFloat16).device(torch::kMeta));
  auto params = model->named_parameters();
  const std::vector<std::pair<std::string, std::vector<int64_t>>> expected = {
      {"model.embed_tokens.weight", {32000, 4096}},
      {"model.layers.0.self_attn.q_proj.weight", {4096, 4096}},
      {"model.layers.0.self_attn.k_proj.weight", {4096, 4096}},
      {"model.layers.0.self_attn.v_proj.weight", {4096, 4096}},
      {"model.layers.0.self_attn.o_proj.weight", {4096, 4096}},
      {"model.layers.0.mlp.gate_proj.weight", {11008, 4096}},
      {"model.layers.0.mlp.up_proj.weight", {11008, 4096}},
      {"model.layers.0.mlp.down_proj.weight", {4096, 11008}},
      {"model.layers.0.input_layernorm.weight", {4096}},
      {"model.layers.0.post_attention_layernorm.weight", {4096}},
      {"model.layers.31.mlp.down_proj.weight", {4096, 11008}},
      {"model.norm.weight", {4096}},
      {"lm_head.weight", {32000, 4096}},
  };
  for (const auto& [name, shape] : expected) {
    const torch::Tensor* p = params.find(name);
    ASSERT_NE(p, nullptr) << name;
    EXPECT_EQ(p->sizes().vec(), shape) << name;
    EXPECT_TRUE(p->is_meta()) << name;
  }
  EXPECT_EQ(params.size(), 2u + 32u * 9u + 1u);
  int64_t total = 0;
  for (const auto& p : params) total += p.value().numel();
  EXPECT_EQ(total, 6738415616);
}

// With GQA the k/v projections shrink to kv_heads * head_dim rows.
TEST(LlamaMeta, GroupedQueryShapes) {
  LlamaConfig config;
  config.num_key_value_heads = 8;
  Llama model(config, torch::TensorOptions().device(torch::kMeta));
  auto params = model->named_parameters();
  EXPECT_EQ(params["model.layers.0.self_attn.k_proj.weight"].sizes().vec(),
            (std::vector<int64_t>{1024, 4096}));
  EXPECT_EQ(params["model.layers.0.self_attn.q_proj.weight"].sizes().vec(),
            (std::vector<int64_t>{4096, 4096}));
}

// Bad inputs are Errors that say what was expected.
TEST(LlamaErrors, BadInputsThrow) {
  LlamaConfig config;
  config.vocab_size = 16;
  config.hidden_size = 8;
  config.intermediate_size = 16;
  config.num_hidden_layers = 1;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 2;
  Llama model(config, torch::TensorOptions().dtype(torch::kFloat32));
  for (auto& p : model->parameters()) p.data().normal_();

  try {
    model->embed(torch::tensor({{1, 16}}, torch::kLong));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->embed(torch::tensor({{1, -200}}, torch::kLong)), Error);
  EXPECT_THROW(model->embed(torch::tensor({{1, 2}}, torch::kInt)), Error);
  auto cache = model->new_cache(1);
  EXPECT_THROW(model->forward(torch::zeros({1, 3, 6}), cache, true), Error);
  EXPECT_THROW(model->forward(torch::zeros({1, 3, 8}, torch::kFloat64), cache, true), Error);
  auto batch2 = model->new_cache(2);
  EXPECT_THROW(model->forward(torch::zeros({1, 3, 8}), batch2, true), Error);
  EXPECT_EQ(cache.length(), 0);
}
