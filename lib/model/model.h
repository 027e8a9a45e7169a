// A loaded LLaMA-VID model: configuration, the three module groups with their weights, and the
// two tokenizers. Immutable after loading, so several sessions (and several elements naming the
// same directory and device) share one instance.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "core/config.h"
#include "model/llama.h"
#include "model/token_generator.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/wordpiece_tokenizer.h"
#include "vision/vision_encoder.h"

namespace llamavid {

// Checkpoint key prefixes of the module groups.
inline constexpr const char* kVisionPrefix = "model.vision_tower.vision_tower.";
inline constexpr const char* kTokenGeneratorPrefix = "model.";
inline constexpr const char* kLlamaPrefix = "";

// The modules of one configuration, uninitialised (weights are loaded afterwards). Built on the
// meta device they allocate nothing, which the converter and the released-size check rely on.
struct ModelModules {
  ModelModules(const ModelConfig& config, int64_t num_query, const torch::TensorOptions& options);

  // Every parameter with its full checkpoint name.
  std::vector<std::pair<std::string, torch::Tensor>> named_tensors() const;

  VisionEncoder vision{nullptr};
  TokenGenerator tokens{nullptr};
  Llama llm{nullptr};
};

// Checkpoint tensors that carry no weights of ours (recomputed buffers): skipped on load.
bool is_ignorable_tensor(const std::string& name);

struct LoadOptions {
  std::string device = "auto";  // auto, cpu, cuda, cuda:N
  // auto: float32 on CPU, float16 on CUDA; or float32, float16, bfloat16.
  std::string dtype = "auto";
};

// Resolves a device string; Error for a malformed one or CUDA that this libtorch lacks.
torch::Device resolve_device(const std::string& device);

class Model {
 public:
  // Loads a model directory (docs/model-format.md). Throws Error naming the directory and what
  // is wrong: missing or invalid config.json, tokenizer.model, vocab.txt or weights.
  static std::shared_ptr<const Model> load(const std::string& dir, const LoadOptions& options = {});
  // One instance per (directory, device, dtype) while someone holds it.
  static std::shared_ptr<const Model> shared(const std::string& dir, const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const std::string& directory() const { return dir_; }
  // What identifies the model for its memories (computed once, at load): a 64-bit hash (16 hex
  // digits) of its config.json as parsed and of every parameter's name, shape and evenly spaced
  // elements rounded to float16, so the device and dtype the model runs in do not change it. Needs no file: a model whose
  // directory is gone still has it.
  const std::string& identity() const { return identity_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }
  torch::TensorOptions options() const { return torch::TensorOptions().device(device_).dtype(dtype_); }
  int64_t num_query() const { return num_query_; }

  // libtorch modules have non-const forward(); they keep no state between calls.
  VisionEncoder& vision() const { return modules_->vision; }
  TokenGenerator& tokens() const { return modules_->tokens; }
  Llama& llm() const { return modules_->llm; }
  const SentencePieceTokenizer& tokenizer() const { return *tokenizer_; }
  const WordPieceTokenizer& bert_tokenizer() const { return *bert_tokenizer_; }

 private:
  Model() = default;

  std::string dir_;
  std::string identity_;
  ModelConfig config_;
  torch::Device device_{torch::kCPU};
  torch::ScalarType dtype_ = torch::kFloat32;
  int64_t num_query_ = 0;
  std::unique_ptr<ModelModules> modules_;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
  std::unique_ptr<WordPieceTokenizer> bert_tokenizer_;
};

}  // namespace llamavid
