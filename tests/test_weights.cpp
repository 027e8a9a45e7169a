// WeightSet over files and sharded directories, prefixes and merges, and load_into with each of
// its errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "io/weights.h"
#include "error_of.h"
#include "test_util.h"

using namespace llamavid;
namespace fs = std::filesystem;

namespace {

// The sharded fixtures, written once per test binary.
const std::string& sharded() {
  static const std::string dir = [] {
    std::string d = test::scratch_dir("weights_sharded");
    test::run_python("make_sharded_checkpoints.py", d);
    return d;
  }();
  return dir;
}

// A copy of one sharded layout that a test may change.
std::string copy_of(const std::string& layout, const std::string& name) {
  std::string dir = test::scratch_dir("weights_" + name);
  fs::copy(sharded() + "/" + layout, dir, fs::copy_options::recursive);
  return dir;
}

void expect_full(const WeightSet& set) {
  auto full = read_torch_checkpoint(sharded() + "/full.pt");
  ASSERT_EQ(set.size(), full.size());
  for (const auto& [name, t] : full) {
    ASSERT_TRUE(set.contains(name)) << name;
    EXPECT_EQ(set.get(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(set.get(name), t)) << name;
  }
}

using test::error_of;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// weight [3, 2], bias [3], and a buffer `steps` of int64 [2].
struct TinyImpl : torch::nn::Module {
  explicit TinyImpl(torch::Device device = torch::kCPU) {
    weight = register_parameter("weight", torch::zeros({3, 2}, device));
    bias = register_parameter("bias", torch::zeros({3}, device));
    steps = register_buffer("steps",
                            torch::zeros({2}, torch::TensorOptions(device).dtype(torch::kLong)));
  }
  torch::Tensor weight, bias, steps;
};
TORCH_MODULE(Tiny);

struct OuterImpl : torch::nn::Module {
  OuterImpl() { inner = register_module("inner", Tiny()); }
  Tiny inner{nullptr};
};
TORCH_MODULE(Outer);

WeightSet tiny_weights(torch::ScalarType dtype = torch::kBFloat16) {
  return WeightSet::from_tensors(
      {{"m.inner.weight", torch::arange(6, torch::kFloat).reshape({3, 2}).to(dtype)},
       {"m.inner.bias", torch::full({3}, 0.5).to(dtype)},
       {"m.inner.steps", torch::tensor({4, 5}, torch::kInt)},
       {"other.x", torch::zeros({1})}},
      "tiny.safetensors");
}

// Tensors for a bare Tiny: weight of `weight_shape` (float), bias [3], steps [2] (int64).
WeightSet tiny_set(std::vector<int64_t> weight_shape, const std::string& origin,
                   torch::ScalarType weight_dtype = torch::kFloat,
                   torch::ScalarType steps_dtype = torch::kLong) {
  return WeightSet::from_tensors({{"weight", torch::ones(weight_shape, weight_dtype)},
                                  {"bias", torch::ones({3})},
                                  {"steps", torch::ones({2}, steps_dtype)}},
                                 origin);
}

}  // namespace

// A sharded safetensors checkpoint with its index reads as the whole state dict.
TEST(WeightSet, ShardedSafetensorsWithIndex) {
  WeightSet set = WeightSet::open(sharded() + "/st");
  expect_full(set);
  EXPECT_TRUE(has(set.file_of("lm_head.weight"), "model-00002-of-00002.safetensors"));
  EXPECT_TRUE(has(set.file_of("model.layers.0.weight"), "model-00001-of-00002.safetensors"));
}

// A sharded torch.save checkpoint with pytorch_model.bin.index.json reads the same.
TEST(WeightSet, ShardedBinWithIndex) {
  WeightSet set = WeightSet::open(sharded() + "/bin");
  expect_full(set);
  EXPECT_TRUE(has(set.file_of("lm_head.weight"), "pytorch_model-00002-of-00002.bin"));
}

// Without an index every *.safetensors file of the directory is read.
TEST(WeightSet, ShardsWithoutIndex) { expect_full(WeightSet::open(sharded() + "/plain")); }

// Single files are told apart by content, not by name.
TEST(WeightSet, DetectsFormatByContent) {
  std::string dir = test::scratch_dir("weights_detect");
  fs::copy(sharded() + "/full.pt", dir + "/weights.dat");
  fs::copy(sharded() + "/st/model-00001-of-00002.safetensors", dir + "/weights.bin");
  expect_full(WeightSet::open(dir + "/weights.dat"));
  EXPECT_TRUE(WeightSet::open(dir + "/weights.bin").contains("model.layers.0.weight"));
}

// An index naming a shard that is not there names the index and the shard.
TEST(WeightSet, IndexNamesMissingShard) {
  std::string dir = copy_of("bin", "missing_shard");
  fs::remove(dir + "/pytorch_model-00002-of-00002.bin");
  std::string msg = error_of([&] { WeightSet::open(dir); });
  EXPECT_TRUE(has(msg, "pytorch_model.bin.index.json")) << msg;
  EXPECT_TRUE(has(msg, "pytorch_model-00002-of-00002.bin")) << msg;
}

// An index putting a tensor in a shard that lacks it names the tensor and the shard.
TEST(WeightSet, IndexPutsTensorInWrongShard) {
  std::string dir = copy_of("st", "wrong_shard");
  test::write_file(dir + "/model.safetensors.index.json",
                   R"({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}})");
  std::string msg = error_of([&] { WeightSet::open(dir); });
  EXPECT_TRUE(has(msg, "'lm_head.weight'")) << msg;
  EXPECT_TRUE(has(msg, "model-00001-of-00002.safetensors, which lacks it")) << msg;
}

// Shards are file names beside the index: an index cannot make the loader read outside the
// checkpoint folder.
TEST(WeightSet, IndexShardOutsideTheFolder) {
  int n = 0;
  for (const std::string shard : {"../st/model-00001-of-00002.safetensors", "/etc/passwd", ".."}) {
    std::string dir = copy_of("st", "escape" + std::to_string(n++));
    test::write_file(dir + "/model.safetensors.index.json",
                     R"({"weight_map": {"lm_head.weight": ")" + shard + R"("}})");
    std::string msg = error_of([&] { WeightSet::open(dir); });
    EXPECT_TRUE(has(msg, "not a file name in the checkpoint folder")) << shard << ": " << msg;
  }
}

// An index without a weight_map is refused.
TEST(WeightSet, IndexWithoutWeightMap) {
  std::string dir = copy_of("st", "no_weight_map");
  test::write_file(dir + "/model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_TRUE(has(error_of([&] { WeightSet::open(dir); }), "weight_map"));
}

// A tensor found in two files names both.
TEST(WeightSet, DuplicateAcrossFiles) {
  std::string dir = test::scratch_dir("weights_duplicate");
  save_safetensors(dir + "/a.safetensors", {{"w", torch::zeros({1})}});
  save_safetensors(dir + "/b.safetensors", {{"w", torch::ones({1})}});
  std::string msg = error_of([&] { WeightSet::open(dir); });
  EXPECT_TRUE(has(msg, dir + "/a.safetensors") && has(msg, dir + "/b.safetensors")) << msg;
}

// A directory without weight files, and a path that does not exist.
TEST(WeightSet, NothingToRead) {
  std::string dir = test::scratch_dir("weights_empty");
  EXPECT_TRUE(has(error_of([&] { WeightSet::open(dir); }), "no weights"));
  EXPECT_TRUE(has(error_of([&] { WeightSet::open(dir + "/none.pt"); }), "does not exist"));
}

// with_prefix renames every tensor; merge joins sets and refuses duplicate names.
TEST(WeightSet, PrefixAndMerge) {
  WeightSet eva = WeightSet::from_tensors({{"cls_token", torch::ones({1, 1, 4})}}, "eva_vit_g.pth")
                      .with_prefix("model.vision_tower.vision_tower.");
  WeightSet set = WeightSet::open(sharded() + "/st");
  size_t before = set.size();
  set.merge(eva);
  EXPECT_EQ(set.size(), before + 1);
  EXPECT_TRUE(
      torch::equal(set.get("model.vision_tower.vision_tower.cls_token"), torch::ones({1, 1, 4})));
  EXPECT_EQ(set.file_of("model.vision_tower.vision_tower.cls_token"), "eva_vit_g.pth");
  EXPECT_TRUE(has(error_of([&] { set.merge(eva); }), "eva_vit_g.pth"));
}

// load_into fills parameters and buffers by prefixed name, converting dtype, and reports what
// it consumed; the unconsumed remainder is listed.
TEST(LoadInto, CopiesConvertsAndReports) {
  Outer outer;
  WeightSet weights = tiny_weights();
  std::set<std::string> used = load_into(*outer, weights, "m.");
  EXPECT_EQ(used, (std::set<std::string>{"m.inner.weight", "m.inner.bias", "m.inner.steps"}));
  EXPECT_EQ(outer->inner->weight.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(outer->inner->weight, torch::arange(6, torch::kFloat).reshape({3, 2})));
  EXPECT_TRUE(torch::equal(outer->inner->steps, torch::tensor({4, 5}, torch::kLong)));
  EXPECT_EQ(unconsumed_names(weights, used), std::vector<std::string>{"other.x"});
  EXPECT_TRUE(unconsumed_names(weights, used, "m.").empty());
  EXPECT_NO_THROW(require_all_consumed(weights, used, "m."));
  std::string msg = error_of([&] { require_all_consumed(weights, used); });
  EXPECT_TRUE(has(msg, "other.x") && has(msg, "tiny.safetensors")) << msg;
}

// A module written by torch.save loads and computes what PyTorch computed.
TEST(LoadInto, TorchSaveModuleParity) {
  std::string dir = test::scratch_dir("weights_module");
  test::run_python("make_torch_checkpoints.py", "module " + dir);
  torch::nn::Sequential net(torch::nn::Linear(6, 4),
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({4})));
  WeightSet weights = WeightSet::open(dir + "/module.pt");
  require_all_consumed(weights, load_into(*net, weights, ""));
  auto io = SafetensorsFile::open(dir + "/module_io.safetensors");
  torch::Tensor y = net->forward(io->tensor("x"));
  EXPECT_LE((y - io->tensor("y")).abs().max().item<float>(), 1e-4);
}

// A missing tensor names the tensor, the files and the expected shape.
TEST(LoadInto, MissingTensor) {
  Outer outer;
  std::string msg = error_of([&] { load_into(*outer, tiny_weights(), "x."); });
  EXPECT_TRUE(has(msg, "'x.inner.weight'") && has(msg, "tiny.safetensors") && has(msg, "[3, 2]"))
      << msg;
}

// allow_missing keeps a module tensor's value when the set lacks it.
TEST(LoadInto, AllowMissing) {
  Outer outer;
  WeightSet weights = WeightSet::from_tensors(
      {{"inner.weight", torch::ones({3, 2})}, {"inner.bias", torch::ones({3})}}, "w.safetensors");
  auto used = load_into(*outer, weights, "", {"inner.steps"});
  EXPECT_EQ(used.size(), 2u);
  EXPECT_TRUE(torch::equal(outer->inner->steps, torch::zeros({2}, torch::kLong)));
}

// A shape mismatch names the file, the tensor and both shapes.
TEST(LoadInto, ShapeMismatch) {
  Tiny tiny;
  std::string msg = error_of([&] { load_into(*tiny, tiny_set({2, 3}, "shapes.safetensors"), ""); });
  EXPECT_TRUE(has(msg, "shapes.safetensors") && has(msg, "'weight'") && has(msg, "[2, 3]") &&
              has(msg, "expected [3, 2]"))
      << msg;
}

// An integer tensor where a float parameter is expected is an error, not a silent cast.
TEST(LoadInto, WrongDtypeKind) {
  Tiny tiny;
  std::string msg = error_of([&] {
    load_into(*tiny, tiny_set({3, 2}, "ints.safetensors", torch::kInt), "");
  });
  EXPECT_TRUE(has(msg, "ints.safetensors") && has(msg, "'weight'") && has(msg, "Int")) << msg;
}

// A float tensor where an integer buffer is expected is an error too.
TEST(LoadInto, FloatIntoIntegerBuffer) {
  Tiny tiny;
  WeightSet weights = tiny_set({3, 2}, "floats.safetensors", torch::kFloat, torch::kFloat);
  EXPECT_TRUE(has(error_of([&] { load_into(*tiny, weights, ""); }), "'steps'"));
}

// Parameters on the meta device are checked for shape but not copied.
TEST(LoadInto, MetaParametersAreOnlyChecked) {
  Tiny tiny(torch::kMeta);
  EXPECT_EQ(load_into(*tiny, tiny_set({3, 2}, "meta.safetensors"), "").size(), 3u);
  EXPECT_TRUE(tiny->weight.is_meta());
  EXPECT_THROW(load_into(*tiny, tiny_set({2, 2}, "meta.safetensors"), ""), Error);
}
