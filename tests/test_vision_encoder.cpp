// EVA-ViT: parity with tests/reference/eva_ref.py on tiny random weights (odd and even patch
// grids, a checkpoint pos_embed on another grid), input checks, and the released-size names.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "test_util.h"
#include "vision/vision_encoder.h"

using namespace llamavid;

namespace {

const char* kPrefix = "model.vision_tower.vision_tower.";

// A config.json with a tiny vision tower: image_size / patch_size sets the grid.
std::string tiny_config(int64_t image_size, int64_t patch_size) {
  return R"({"vision_config": {"image_size": )" + std::to_string(image_size) +
         R"(, "patch_size": )" + std::to_string(patch_size) +
         R"(, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
             "intermediate_size": 72}})";
}

struct Fixture {
  std::string dir;
  VisionConfig config;
  WeightSet weights;
  std::shared_ptr<SafetensorsFile> io;
};

// Writes config.json, runs the reference, and opens what it wrote.
Fixture make_fixture(const std::string& name, const std::string& config_json,
                     const std::string& extra_args = "") {
  Fixture f;
  f.dir = test::scratch_dir(name);
  test::write_file(f.dir + "/config.json", config_json);
  test::run_python("eva_ref.py", f.dir + " " + f.dir + "/config.json " + extra_args);
  f.config = parse_config(config_json, "config.json").vision;
  f.weights = WeightSet::open(f.dir + "/weights.safetensors");
  f.io = SafetensorsFile::open(f.dir + "/io.safetensors");
  return f;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kFloat32) - b.to(torch::kFloat32)).abs().max().item<double>();
}

// Loads the fixture weights (all of them must be used), runs the pixels, compares the output.
void expect_parity(const VisionConfig& config, const WeightSet& weights,
                   const SafetensorsFile& io) {
  torch::NoGradGuard no_grad;
  VisionEncoder model(config, torch::TensorOptions().dtype(torch::kFloat32));
  require_all_consumed(weights, load_into(*model, weights, kPrefix));
  auto out = model(io.tensor("pixels"));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{io.tensor("pixels").size(0),
                                                config.num_tokens(), config.hidden_size}));
  EXPECT_LE(max_diff(out, io.tensor("output")), 1e-4);
}

}  // namespace

// A 3x3 patch grid (10 tokens) matches the reference.
TEST(VisionEncoder, OddGridMatchesReference) {
  Fixture f = make_fixture("vision_odd", tiny_config(12, 4));
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(f.config.grid(), 3);
  expect_parity(f.config, f.weights, *f.io);
}

// A 4x4 patch grid (17 tokens) matches the reference.
TEST(VisionEncoder, EvenGridMatchesReference) {
  Fixture f = make_fixture("vision_even", tiny_config(16, 4), "--batch 3 --seed 1");
  ASSERT_FALSE(HasFailure());
  ASSERT_EQ(f.config.grid(), 4);
  expect_parity(f.config, f.weights, *f.io);
}

// A checkpoint pos_embed on a 6x6 grid, interpolated to the model's 4x4, matches LAVIS's
// interpolation and gives the reference output.
TEST(VisionEncoder, InterpolatedPosEmbedMatchesReference) {
  Fixture f = make_fixture("vision_interp", tiny_config(16, 4), "--checkpoint-grid 6");
  ASSERT_FALSE(HasFailure());
  const std::string key = std::string(kPrefix) + "pos_embed";
  ASSERT_EQ(f.weights.get(key).size(1), 37);
  auto resized = interpolate_pos_embed(f.weights.get(key), f.config.grid());
  EXPECT_LE(max_diff(resized, f.io->tensor("pos_embed_interpolated")), 1e-5);

  std::map<std::string, torch::Tensor> tensors;
  for (const auto& name : f.weights.names()) tensors[name] = f.weights.get(name);
  tensors[key] = resized;
  expect_parity(f.config, WeightSet::from_tensors(tensors, "interpolated"), *f.io);
}

// Interpolation keeps CLS, returns a matching grid unchanged, and rejects non-square grids.
TEST(VisionEncoder, InterpolatePosEmbedEdgeCases) {
  auto pos = torch::randn({1, 1 + 9, 8});
  EXPECT_TRUE(interpolate_pos_embed(pos, 3).equal(pos));
  auto grown = interpolate_pos_embed(pos, 5);
  EXPECT_EQ(grown.sizes(), (std::vector<int64_t>{1, 26, 8}));
  EXPECT_TRUE(grown.slice(1, 0, 1).equal(pos.slice(1, 0, 1)));
  EXPECT_THROW(interpolate_pos_embed(torch::randn({1, 1 + 8, 8}), 3), Error);
}

// Pixels of another size than the configured image_size are an Error, not a shape crash.
TEST(VisionEncoder, RejectsWrongImageSize) {
  VisionConfig config = parse_config(tiny_config(12, 4), "config.json").vision;
  VisionEncoder model(config, torch::TensorOptions().device(torch::kMeta));
  EXPECT_THROW(model(torch::zeros({1, 3, 16, 16}, torch::kMeta)), Error);
  EXPECT_THROW(model(torch::zeros({1, 12, 12}, torch::kMeta)), Error);
}

// Built on the meta device at released size: the checkpoint names and shapes of the embedding
// and of one block, 39 blocks, and nothing allocated.
TEST(VisionEncoder, ReleasedSizeNamesOnMeta) {
  VisionEncoder model(VisionConfig{}, torch::TensorOptions().device(torch::kMeta));
  const int64_t c = 1408;
  std::map<std::string, std::vector<int64_t>> want = {
      {"cls_token", {1, 1, c}},
      {"pos_embed", {1, 257, c}},
      {"patch_embed.proj.weight", {c, 3, 14, 14}},
      {"patch_embed.proj.bias", {c}},
      {"blocks.0.norm1.weight", {c}},
      {"blocks.0.norm1.bias", {c}},
      {"blocks.0.norm2.weight", {c}},
      {"blocks.0.norm2.bias", {c}},
      {"blocks.0.attn.qkv.weight", {3 * c, c}},
      {"blocks.0.attn.q_bias", {c}},
      {"blocks.0.attn.v_bias", {c}},
      {"blocks.0.attn.proj.weight", {c, c}},
      {"blocks.0.attn.proj.bias", {c}},
      {"blocks.0.mlp.fc1.weight", {6144, c}},
      {"blocks.0.mlp.fc1.bias", {6144}},
      {"blocks.0.mlp.fc2.weight", {c, 6144}},
      {"blocks.0.mlp.fc2.bias", {c}},
  };
  std::map<std::string, std::vector<int64_t>> got;
  int64_t in_block_38 = 0;
  size_t total = 0;
  for (const auto& p : model->named_parameters()) {
    EXPECT_TRUE(p.value().is_meta()) << p.key();
    ++total;
    if (p.key().rfind("blocks.38.", 0) == 0) ++in_block_38;
    if (p.key().rfind("blocks.", 0) != 0 || p.key().rfind("blocks.0.", 0) == 0)
      got[p.key()] = p.value().sizes().vec();
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(in_block_38, 13);
  EXPECT_EQ(total, 4u + 39u * 13u);
}
