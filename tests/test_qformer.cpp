// Q-Former: parity with tests/reference/qformer_ref.py on tiny random weights (padded text, several
// layers with two cross-attention frequencies), masking, input checks, released-size names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/qformer.h"
#include "test_util.h"

using namespace llamavid;

namespace {

const char* kPrefix = "model.vlm_att_encoder.bert.";

// Tiny Q-Former reading image features of width 20 (the vision hidden size).
std::string tiny_config(int64_t layers, int64_t cross_freq) {
  return R"({"vision_config": {"image_size": 8, "patch_size": 4, "hidden_size": 20,
             "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 24},
           "qformer_config": {"hidden_size": 16, "num_hidden_layers": )" +
         std::to_string(layers) + R"(, "num_attention_heads": 2, "intermediate_size": 40,
             "cross_attention_freq": )" + std::to_string(cross_freq) + R"(,
             "vocab_size": 60, "max_position_embeddings": 12, "max_text_length": 12}})";
}

struct Fixture {
  ModelConfig config;
  QFormer model{nullptr};
  std::shared_ptr<SafetensorsFile> io;
};

// Runs the reference for `config_json` and loads its weights (every one must be used).
Fixture make_fixture(const std::string& name, const std::string& config_json) {
  Fixture f;
  const std::string dir = test::scratch_dir(name);
  test::write_file(dir + "/config.json", config_json);
  test::run_python("qformer_ref.py", dir + " " + dir + "/config.json");
  f.config = parse_config(config_json, "config.json");
  f.model = QFormer(f.config.qformer, f.config.vision.hidden_size,
                    torch::TensorOptions().dtype(torch::kFloat32));
  auto weights = WeightSet::open(dir + "/weights.safetensors");
  require_all_consumed(weights, load_into(*f.model, weights, kPrefix));
  f.io = SafetensorsFile::open(dir + "/io.safetensors");
  return f;
}

torch::Tensor run(Fixture& f, const torch::Tensor& input_ids, const torch::Tensor& mask) {
  torch::NoGradGuard no_grad;
  return f.model(f.io->tensor("query"), input_ids, mask, f.io->tensor("image_feats"));
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

void expect_parity(const std::string& name, int64_t layers, int64_t cross_freq) {
  Fixture f = make_fixture(name, tiny_config(layers, cross_freq));
  ASSERT_FALSE(testing::Test::HasFailure());
  auto out = run(f, f.io->tensor("input_ids"), f.io->tensor("attention_mask"));
  EXPECT_LE(max_diff(out, f.io->tensor("output")), 1e-4);
}

}  // namespace

// Four layers with cross-attention on layers 0 and 2, right-padded text rows.
TEST(QFormer, CrossEveryOtherLayerMatchesReference) { expect_parity("qformer_freq2", 4, 2); }

// Four layers with cross-attention on layers 0 and 3 only.
TEST(QFormer, CrossEveryThirdLayerMatchesReference) { expect_parity("qformer_freq3", 4, 3); }

// Ids at padded positions do not change the query outputs; ids at kept positions do.
TEST(QFormer, PaddedPositionsAreMasked) {
  Fixture f = make_fixture("qformer_mask", tiny_config(2, 2));
  ASSERT_FALSE(HasFailure());
  auto ids = f.io->tensor("input_ids").clone();
  auto mask = f.io->tensor("attention_mask");
  ASSERT_EQ(mask[2][1].item<int64_t>(), 0);  // row 2 keeps only its first token
  auto before = run(f, ids, mask);
  ids[2][3] = 7;
  EXPECT_TRUE(run(f, ids, mask).equal(before));
  ids[2][0] = 7;
  EXPECT_GT(max_diff(run(f, ids, mask)[2], before[2]), 1e-3);
}

// Token ids outside the vocabulary and text longer than the position table are Errors.
TEST(QFormer, RejectsBadText) {
  ModelConfig c = parse_config(tiny_config(1, 1), "config.json");
  QFormer model(c.qformer, 20, torch::TensorOptions().dtype(torch::kFloat32));
  for (auto& p : model->parameters()) p.data().normal_();
  torch::NoGradGuard no_grad;
  auto query = torch::zeros({1, 2, 16});
  auto image = torch::zeros({1, 3, 20});
  auto ok_mask = torch::ones({1, 4}, torch::kLong);
  EXPECT_NO_THROW(model(query, torch::full({1, 4}, 59, torch::kLong), ok_mask, image));
  EXPECT_THROW(model(query, torch::full({1, 4}, 60, torch::kLong), ok_mask, image), Error);
  EXPECT_THROW(model(query, torch::zeros({1, 13}, torch::kLong),
                     torch::ones({1, 13}, torch::kLong), image), Error);
  EXPECT_THROW(model(query, torch::zeros({1, 4}, torch::kLong), ok_mask,
                     torch::zeros({1, 3, 16})), Error);
}

// Built on the meta device at released size (BERT-base, encoder width 1408): the names and
// shapes of the embeddings, of a layer with cross-attention (0) and of one without (1).
TEST(QFormer, ReleasedSizeNamesOnMeta) {
  QFormer model(QFormerConfig{}, 1408, torch::TensorOptions().device(torch::kMeta));
  using Shapes = std::map<std::string, std::vector<int64_t>>;
  Shapes want = {
      {"embeddings.word_embeddings.weight", {30523, 768}},
      {"embeddings.position_embeddings.weight", {512, 768}},
      {"embeddings.LayerNorm.weight", {768}},
      {"embeddings.LayerNorm.bias", {768}},
  };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    want[name + ".weight"] = {out, in};
    want[name + ".bias"] = {out};
  };
  auto norm = [&](const std::string& name) {
    want[name + ".weight"] = {768};
    want[name + ".bias"] = {768};
  };
  for (int layer : {0, 1}) {
    const std::string p = "encoder.layer." + std::to_string(layer) + ".";
    for (const char* n : {"query", "key", "value"}) linear(p + "attention.self." + n, 768, 768);
    linear(p + "attention.output.dense", 768, 768);
    norm(p + "attention.output.LayerNorm");
    if (layer == 0) {
      linear(p + "crossattention.self.query", 768, 768);
      linear(p + "crossattention.self.key", 768, 1408);
      linear(p + "crossattention.self.value", 768, 1408);
      linear(p + "crossattention.output.dense", 768, 768);
      norm(p + "crossattention.output.LayerNorm");
    }
    for (const std::string suffix : {"", "_query"}) {
      linear(p + "intermediate" + suffix + ".dense", 3072, 768);
      linear(p + "output" + suffix + ".dense", 768, 3072);
      norm(p + "output" + suffix + ".LayerNorm");
    }
  }
  Shapes got;
  size_t total = 0;
  for (const auto& p : model->named_parameters()) {
    EXPECT_TRUE(p.value().is_meta()) << p.key();
    ++total;
    const std::string& k = p.key();
    if (k.rfind("encoder.", 0) != 0 || k.rfind("encoder.layer.0.", 0) == 0 ||
        k.rfind("encoder.layer.1.", 0) == 0)
      got[k] = p.value().sizes().vec();
  }
  EXPECT_EQ(got, want);
  // 4 embedding tensors; 22 per layer, plus 10 on the 6 layers with cross-attention.
  EXPECT_EQ(total, 4u + 6u * 32u + 6u * 22u);
}
