// Token generation: parity with tests/reference/token_generator_ref.py on tiny random weights for
// every compress type, both projector kinds, normal and long-video features, the CLS rule, and
// the released-size names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/prompt_embeddings.h"
#include "model/token_generator.h"
#include "test_util.h"

using namespace llamavid;

namespace {

const char* kPrefix = "model.";

struct Case {
  std::string compress;   // compress_type, "" for none
  std::string projector = "mlp2x_gelu";
  std::string select = "patch";
  int64_t image_size = 16;  // patch 4: a 4x4 grid, 12 gives 3x3
  int64_t frames = 3;
  int64_t tokens = 17;      // feature tokens per frame (1 + 16: EVA output with CLS)
  int64_t pad = 0;          // padded positions at the end of the question
};

// A tiny config.json: vision width 32, Q-Former width 24 (3 layers), LLM width 48.
std::string config_json(const Case& c) {
  std::string compress =
      c.compress.empty() ? "" : R"("compress_type": ")" + c.compress + R"(", )";
  return R"({"hidden_size": 48, "num_attention_heads": 4, "intermediate_size": 64,
    "num_hidden_layers": 1, "vocab_size": 100, )" + compress +
         R"("mm_projector_type": ")" + c.projector + R"(",
    "mm_vision_select_feature": ")" + c.select + R"(",
    "vision_config": {"image_size": )" + std::to_string(c.image_size) + R"(, "patch_size": 4,
      "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
      "intermediate_size": 64},
    "qformer_config": {"hidden_size": 24, "num_hidden_layers": 3, "num_attention_heads": 2,
      "intermediate_size": 40, "cross_attention_freq": 2, "vocab_size": 50,
      "max_position_embeddings": 16, "max_text_length": 16}})";
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e9;
  return (a - b).abs().max().item<double>();
}

struct Fixture {
  ModelConfig config;
  TokenGenerator model{nullptr};
  std::shared_ptr<SafetensorsFile> io;
  torch::Tensor operator[](const std::string& name) const { return io->tensor(name); }
};

// Runs the reference for the case and loads its weights (every one must be used).
Fixture make_fixture(const std::string& name, const Case& c) {
  Fixture f;
  const std::string dir = test::scratch_dir(name);
  const std::string json = config_json(c);
  test::write_file(dir + "/config.json", json);
  test::run_python("token_generator_ref.py",
                   dir + " " + dir + "/config.json --frames " + std::to_string(c.frames) +
                       " --tokens " + std::to_string(c.tokens) + " --pad " +
                       std::to_string(c.pad));
  f.config = parse_config(json, "config.json");
  auto weights = WeightSet::open(dir + "/weights.safetensors");
  const int64_t num_query = weights.get("model.vlm_att_query").size(1);
  f.model = TokenGenerator(f.config, num_query, torch::TensorOptions().dtype(torch::kFloat32));
  require_all_consumed(weights, load_into(*f.model, weights, kPrefix));
  f.io = SafetensorsFile::open(dir + "/io.safetensors");
  return f;
}

// Every stage and the whole per-frame token list match the reference within 1e-4.
void expect_parity(const std::string& name, const Case& c, int64_t content_per_frame) {
  Fixture f = make_fixture(name, c);
  ASSERT_FALSE(testing::Test::HasFailure());
  torch::NoGradGuard no_grad;
  auto& m = f.model;
  auto features = f["features"];
  auto patches = m->prompt_features(features);
  EXPECT_TRUE(patches.equal(f["prompt_features"]));
  EXPECT_LE(max_diff(m->content_tokens(patches), f["content"]), 1e-4);
  auto text_q = m->text_queries(features, f["input_ids"], f["attention_mask"]);
  EXPECT_LE(max_diff(text_q, f["text_queries"]), 1e-4);
  EXPECT_LE(max_diff(m->context_tokens(f["text_queries"], patches), f["context"]), 1e-4);
  // Every token of every frame in prompt order (context, content...), from the EVA output with
  // CLS or from long-video features without it, by the same rule.
  auto context = m->context_tokens(m->text_queries(features, f["input_ids"], f["attention_mask"]),
                                   patches);
  auto tokens = entry_rows(context, m->content_tokens(patches))
                    .reshape({c.frames, 1 + content_per_frame, -1});
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{c.frames, 1 + content_per_frame, 48}));
  EXPECT_LE(max_diff(tokens, f["tokens"]), 1e-4);
}

}  // namespace

// compress "mean", mlp2x_gelu, EVA output with CLS (17 tokens: CLS dropped): 1 + 1 tokens.
TEST(TokenGenerator, MeanMatchesReference) {
  Case c;
  c.compress = "mean";
  expect_parity("tokgen_mean", c, 1);
}

// "mean_concat" (the long-video release) is handled as mean; the question has padding.
TEST(TokenGenerator, MeanConcatWithPaddingMatchesReference) {
  Case c;
  c.compress = "mean_concat";
  c.pad = 2;
  expect_parity("tokgen_mean_concat", c, 1);
}

// "grid:2" pools the 4x4 patch grid to 2x2 row-major: 1 + 4 tokens.
TEST(TokenGenerator, GridMatchesReference) {
  Case c;
  c.compress = "grid:2";
  expect_parity("tokgen_grid", c, 4);
}

// No compress_type: every patch through a linear mm_projector: 1 + 16 tokens.
TEST(TokenGenerator, NoneWithLinearProjectorMatchesReference) {
  Case c;
  c.projector = "linear";
  expect_parity("tokgen_none_linear", c, 16);
}

// Long-video features (16 patches, no CLS) over 67 frames, crossing the 64-frame chunks.
TEST(TokenGenerator, LongVideoFeaturesMatchReference) {
  Case c;
  c.compress = "mean_concat";
  c.frames = 67;
  c.tokens = 16;
  expect_parity("tokgen_long_video", c, 1);
}

// A 3x3 grid gives 10 tokens with CLS: the count is even, so CLS stays in the context/content
// features (as the original code does) and joins the mean.
TEST(TokenGenerator, OddGridKeepsClsAsReference) {
  Case c;
  c.compress = "mean";
  c.image_size = 12;
  c.tokens = 10;
  expect_parity("tokgen_odd_grid", c, 1);
}

// mm_vision_select_feature "cls_patch" keeps CLS even for an odd count: 1 + 17 tokens.
TEST(TokenGenerator, ClsPatchKeepsClsAsReference) {
  Case c;
  c.select = "cls_patch";
  expect_parity("tokgen_cls_patch", c, 17);
}

// The CLS rule alone: "patch" drops the first of an odd count and nothing of an even count.
TEST(TokenGenerator, PromptFeaturesDropFirstOnlyForOddCounts) {
  Case c;
  c.compress = "mean";
  TokenGenerator m(parse_config(config_json(c), "config.json"), 2,
                   torch::TensorOptions().device(torch::kMeta));
  auto odd = torch::arange(3 * 17 * 32, torch::kFloat32).view({3, 17, 32});
  EXPECT_TRUE(m->prompt_features(odd).equal(odd.slice(1, 1)));
  auto even = odd.slice(1, 1);
  EXPECT_TRUE(m->prompt_features(even).equal(even));
}

// grid:N where the CLS would be kept (3x3 patches + CLS, not a square grid) is refused when the
// config is read, and features that are not a square grid are refused by the module.
TEST(TokenGenerator, GridOnNonSquareFeaturesIsError) {
  Case c;
  c.compress = "grid:3";
  c.image_size = 12;
  EXPECT_THROW(parse_config(config_json(c), "config.json"), Error);
  c.compress = "grid:2";
  c.image_size = 16;
  TokenGenerator m(parse_config(config_json(c), "config.json"), 2,
                   torch::TensorOptions().device(torch::kMeta));
  auto features = torch::zeros({1, 10, 32}, torch::kMeta);
  EXPECT_THROW(m->content_tokens(features), Error);
}

// Question ids must be one row shared by all frames.
TEST(TokenGenerator, RejectsBatchedQuestion) {
  Case c;
  c.compress = "mean";
  TokenGenerator m(parse_config(config_json(c), "config.json"), 2,
                   torch::TensorOptions().device(torch::kMeta));
  auto ids = torch::zeros({2, 4}, torch::kLong);
  EXPECT_THROW(m->text_queries(torch::zeros({2, 17, 32}, torch::kMeta), ids, ids), Error);
}

// Built on the meta device at released size: the names and shapes outside the Q-Former, the
// Q-Former under vlm_att_encoder.bert, and nothing allocated.
TEST(TokenGenerator, ReleasedSizeNamesOnMeta) {
  ModelConfig config;  // released defaults: mlp2x_gelu, mean, 1408 -> 4096
  TokenGenerator m(config, 32, torch::TensorOptions().device(torch::kMeta));
  std::map<std::string, std::vector<int64_t>> want = {
      {"vlm_att_query", {1, 32, 768}},
      {"vlm_att_ln.weight", {1408}},
      {"vlm_att_ln.bias", {1408}},
      {"vlm_att_projector.weight", {1408, 768}},
      {"vlm_att_projector.bias", {1408}},
      {"vlm_att_key_projector.weight", {1408, 1408}},
      {"vlm_att_key_projector.bias", {1408}},
      {"vlm_att_val_projector.weight", {4096, 1408}},
      {"vlm_att_val_projector.bias", {4096}},
      {"mm_projector.0.weight", {4096, 1408}},
      {"mm_projector.0.bias", {4096}},
      {"mm_projector.2.weight", {4096, 4096}},
      {"mm_projector.2.bias", {4096}},
  };
  std::map<std::string, std::vector<int64_t>> got;
  size_t bert = 0;
  for (const auto& p : m->named_parameters()) {
    EXPECT_TRUE(p.value().is_meta()) << p.key();
    if (p.key().rfind("vlm_att_encoder.bert.", 0) == 0)
      ++bert;
    else
      got[p.key()] = p.value().sizes().vec();
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(bert, 4u + 6u * 32u + 6u * 22u);
}
