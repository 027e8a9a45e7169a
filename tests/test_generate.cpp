// The decode loop: greedy ids equal to the reference's, stopping at EOS, at max_new_tokens and
// on the callback's request, no cache reallocation while decoding, and a cache that stays usable.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/generate.h"
#include "model/llama.h"
#include "test_util.h"

using namespace llamavid;

namespace {

int64_t greedy(const torch::Tensor& logits) { return logits.argmax().item<int64_t>(); }

// A tiny model with random weights, for the behaviours that do not depend on the values.
Llama tiny_model() {
  LlamaConfig config;
  config.vocab_size = 32;
  config.hidden_size = 16;
  config.intermediate_size = 32;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  Llama model(config, torch::TensorOptions().dtype(torch::kFloat32));
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  for (auto& p : model->parameters()) p.normal_(0.0, 0.3);
  return model;
}

// Prefills `ids` [1, L] into a new cache and returns the last logits [1, 1, V].
torch::Tensor prefill(Llama& model, KVCache& cache, const torch::Tensor& ids) {
  return model->forward(model->embed(ids), cache, /*all_logits=*/false);
}

torch::Tensor prompt() { return torch::tensor({{5, 9, 3, 12, 7}}, torch::kLong); }

// A picker that returns the scripted ids in order.
TokenPicker scripted(std::vector<int64_t> ids, int* calls) {
  return [ids, calls](const torch::Tensor&) { return ids.at((*calls)++); };
}

}  // namespace

// Greedy generation gives exactly the reference's ids in every reference case (two of them end
// at EOS before max_new_tokens).
TEST(Generate, GreedyMatchesReference) {
  const std::string dir = test::scratch_dir("generate");
  test::run_python("llama_ref.py", dir);
  for (const std::string name : {"base", "gqa", "rope_scaling", "tied"}) {
    const std::string d = dir + "/" + name;
    LlamaConfig config = load_config(d + "/config.json").llm;
    Llama model(config, torch::TensorOptions().dtype(torch::kFloat32));
    WeightSet weights = WeightSet::open(d + "/weights.safetensors");
    require_all_consumed(weights, load_into(*model, weights, ""));
    auto io = SafetensorsFile::open(d + "/io.safetensors");
    torch::Tensor expected = io->tensor("gen_ids");

    auto cache = model->new_cache(1);
    auto logits = prefill(model, cache, io->tensor("gen_prompt"));
    GenerateOptions options;
    options.max_new_tokens = 12;
    options.eos_token_id = config.eos_token_id;
    auto ids = generate(model, cache, logits, greedy, options);
    EXPECT_EQ(ids, std::vector<int64_t>(expected.data_ptr<int64_t>(),
                                        expected.data_ptr<int64_t>() + expected.numel()))
        << name;
  }
}

// The loop stops at EOS, which is neither returned nor passed to the callback.
TEST(Generate, StopsAtEos) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  int calls = 0;
  std::vector<int64_t> streamed;
  GenerateOptions options;
  options.eos_token_id = 2;
  auto ids = generate(model, cache, logits, scripted({11, 4, 2, 9}, &calls), options,
                      [&](int64_t id) { streamed.push_back(id); return true; });
  EXPECT_EQ(ids, (std::vector<int64_t>{11, 4}));
  EXPECT_EQ(streamed, ids);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(cache.length(), 5 + 2);
}

// The loop stops after max_new_tokens ids; the last id is not fed back into the cache.
TEST(Generate, StopsAtMaxNewTokens) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  GenerateOptions options;
  options.max_new_tokens = 4;
  options.eos_token_id = -1;
  auto ids = generate(model, cache, logits, [](const torch::Tensor&) { return int64_t{6}; },
                      options);
  EXPECT_EQ(ids, (std::vector<int64_t>(4, 6)));
  EXPECT_EQ(cache.length(), 5 + 3);
}

// A callback returning false stops right after the id it was given.
TEST(Generate, CallbackAborts) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  int seen = 0;
  GenerateOptions options;
  options.eos_token_id = -1;
  auto ids = generate(model, cache, logits, greedy, options, [&](int64_t) { return ++seen < 2; });
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(seen, 2);
}

// max_new_tokens = 0 returns nothing without asking the picker.
TEST(Generate, ZeroMaxNewTokens) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  int calls = 0;
  GenerateOptions options;
  options.max_new_tokens = 0;
  EXPECT_TRUE(generate(model, cache, logits, scripted({1}, &calls), options).empty());
  EXPECT_EQ(calls, 0);
}

// The picker always sees the logits [V] of the newest position: those of the whole sequence
// recomputed without a cache.
TEST(Generate, PickerSeesLastLogits) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  std::vector<int64_t> fed = {5, 9, 3, 12, 7};
  double worst = 0;
  auto pick = [&](const torch::Tensor& l) {
    EXPECT_EQ(l.sizes().vec(), std::vector<int64_t>{32});
    auto ids = torch::tensor(fed, torch::kLong).unsqueeze(0);
    auto full = model->forward(model->embed(ids)).select(1, ids.size(1) - 1)[0];
    worst = std::max(worst, (full - l).abs().max().item<double>());
    int64_t next = greedy(l);
    fed.push_back(next);
    return next;
  };
  GenerateOptions options;
  options.max_new_tokens = 6;
  options.eos_token_id = -1;
  torch::NoGradGuard no_grad;
  generate(model, cache, logits, pick, options);
  EXPECT_LE(worst, 1e-4);
}

// Decoding never moves the cache's storage: room for every fed-back token is made up front.
TEST(Generate, NoCacheReallocationWhileDecoding) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto logits = prefill(model, cache, prompt());
  std::vector<const void*> storage;
  auto pick = [&](const torch::Tensor&) {
    storage.push_back(cache.keys(1).data_ptr());
    return int64_t{8};
  };
  GenerateOptions options;
  options.max_new_tokens = 40;
  options.eos_token_id = -1;
  generate(model, cache, logits, pick, options);
  ASSERT_EQ(storage.size(), 40u);
  for (const void* p : storage) EXPECT_EQ(p, storage[1]);
  EXPECT_EQ(cache.length(), 5 + 39);
}

// After generating, the cache can be truncated to the prompt and extended again outside the
// loop (its storage is an ordinary tensor, not an inference-mode one), with the same logits.
TEST(Generate, CacheReusableAfterGenerate) {
  Llama model = tiny_model();
  auto cache = model->new_cache(1);
  auto first = prefill(model, cache, prompt().narrow(1, 0, 3));
  GenerateOptions options;
  options.max_new_tokens = 30;
  options.eos_token_id = -1;
  generate(model, cache, first, greedy, options);
  cache.truncate(3);
  auto again = prefill(model, cache, prompt().narrow(1, 3, 2));
  auto fresh = model->new_cache(1);
  auto expected = prefill(model, fresh, prompt());
  EXPECT_LE((again - expected).abs().max().item<double>(), 1e-5);
}

// A cache of two sequences or logits of the wrong size are Errors.
TEST(Generate, RejectsBadArguments) {
  Llama model = tiny_model();
  auto batch2 = model->new_cache(2);
  EXPECT_THROW(generate(model, batch2, torch::zeros({32}), greedy, GenerateOptions{}), Error);
  auto cache = model->new_cache(1);
  EXPECT_THROW(generate(model, cache, torch::zeros({31}), greedy, GenerateOptions{}), Error);
  EXPECT_THROW(generate(model, cache, torch::zeros({2, 1, 32}), greedy, GenerateOptions{}),
               Error);
}
