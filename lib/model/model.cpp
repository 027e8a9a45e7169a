#include "model/model.h"

#include <filesystem>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/small_file.h"
#include "io/checksum.h"
#include "io/weights.h"

namespace fs = std::filesystem;

namespace llamavid {

namespace {

void append_named(std::vector<std::pair<std::string, torch::Tensor>>& out,
                  const torch::nn::Module& module, const std::string& prefix) {
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    out.emplace_back(prefix + item.key(), item.value());
}

torch::ScalarType resolve_dtype(const std::string& dtype, const torch::Device& device) {
  if (dtype == "auto") return device.is_cuda() ? torch::kFloat16 : torch::kFloat32;
  if (dtype == "float32") return torch::kFloat32;
  if (dtype == "float16") return torch::kFloat16;
  if (dtype == "bfloat16") return torch::kBFloat16;
  throw Error("unknown dtype '" + dtype + "' (use auto, float32, float16 or bfloat16)");
}

std::string require_file(const fs::path& dir, const std::string& name, const std::string& what) {
  fs::path p = dir / name;
  if (!fs::is_regular_file(p))
    throw Error(dir.string() + ": " + what + " '" + name + "' is missing");
  return p.string();
}

// The identity: see Model::identity(). `config_text` is config.json as read.
std::string identity_of(const Model& model, const std::string& config_text) {
  torch::NoGradGuard no_grad;
  // The configuration as parsed (keys sorted, spacing and number forms normalised), so that
  // another compress_type or prompt layout over the same weights is another model.
  uint64_t h = fnv1a(kFnvOffset, nlohmann::json::parse(config_text).dump());
  const std::pair<const char*, const torch::nn::Module*> groups[] = {
      {"vision", model.vision().get()},
      {"tokens", model.tokens().get()},
      {"llm", model.llm().get()}};
  for (const auto& [group, module] : groups) {
    h = fnv1a(h, group);
    for (const auto& item : module->named_parameters(/*recurse=*/true)) {
      const torch::Tensor& t = item.value();
      h = fnv1a(h, item.key());
      for (int64_t d : t.sizes()) h = fnv1a(h, &d, sizeof d);
      // Evenly spaced elements, rounded to float16: the same for every device and dtype.
      const torch::Tensor flat = t.detach().reshape({-1});
      const int64_t n = std::min<int64_t>(flat.numel(), 256);
      if (n == 0) continue;
      const torch::Tensor idx =
          torch::linspace(0, static_cast<double>(flat.numel() - 1), n, torch::kFloat64)
              .to(torch::kInt64)
              .to(flat.device());
      h = fnv1a(h, flat.index_select(0, idx).to(torch::kCPU, torch::kFloat16));
    }
  }
  return hex64(h);
}

}  // namespace

ModelModules::ModelModules(const ModelConfig& config, int64_t num_query,
                           const torch::TensorOptions& options)
    : vision(config.vision, options),
      tokens(config, num_query, options),
      llm(config.llm, options) {
  vision->eval();
  tokens->eval();
  llm->eval();
}

std::vector<std::pair<std::string, torch::Tensor>> ModelModules::named_tensors() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  append_named(out, *vision, kVisionPrefix);
  append_named(out, *tokens, kTokenGeneratorPrefix);
  append_named(out, *llm, kLlamaPrefix);
  return out;
}

bool is_ignorable_tensor(const std::string& name) {
  auto ends_with = [&](const std::string& tail) {
    return name.size() >= tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
  };
  return ends_with("rotary_emb.inv_freq") || ends_with("embeddings.position_ids");
}

torch::Device resolve_device(const std::string& device) {
  if (device == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0)
                                                           : torch::Device(torch::kCPU);
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw Error("device '" + device + "': this build of libtorch has no usable CUDA device");
    int index = 0;
    if (device.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(device.substr(5), &used);
        if (used != device.size() - 5) throw std::invalid_argument("tail");
      } catch (const std::exception&) {
        throw Error("device '" + device + "': expected cuda:N");
      }
    }
    if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
      throw Error("device '" + device + "': there are " +
                  std::to_string(torch::cuda::device_count()) + " CUDA devices");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw Error("unknown device '" + device + "' (use auto, cpu, cuda or cuda:N)");
}

std::shared_ptr<const Model> Model::load(const std::string& dir, const LoadOptions& options) {
  const fs::path root(dir);
  if (!fs::is_directory(root)) throw Error("model directory '" + dir + "' does not exist");

  std::shared_ptr<Model> m(new Model());
  m->dir_ = dir;
  const std::string config_path = require_file(root, "config.json", "the configuration");
  const std::string config_text =
      read_small_file(config_path, kMaxConfigBytes, "the model configuration");
  m->config_ = parse_config(config_text, config_path);
  m->device_ = resolve_device(options.device);
  m->dtype_ = resolve_dtype(options.dtype, m->device_);

  m->tokenizer_ = std::make_unique<SentencePieceTokenizer>(
      require_file(root, "tokenizer.model", "the LLaMA tokenizer"));
  m->bert_tokenizer_ = std::make_unique<WordPieceTokenizer>(
      require_file(root, "vocab.txt", "the Q-Former vocabulary"));
  const ModelConfig& c = m->config_;
  if (m->tokenizer_->vocab_size() > c.llm.vocab_size)
    throw Error(dir + ": tokenizer.model has " + std::to_string(m->tokenizer_->vocab_size()) +
                " pieces but the model only " + std::to_string(c.llm.vocab_size));
  // vocab.txt plus the appended [DEC] must fill the Q-Former's embedding.
  if (m->bert_tokenizer_->vocab_size() != c.qformer.vocab_size)
    throw Error(dir + ": vocab.txt gives " + std::to_string(m->bert_tokenizer_->vocab_size()) +
                " ids with [DEC] but the Q-Former has " + std::to_string(c.qformer.vocab_size));

  WeightSet weights = WeightSet::open(dir);
  const std::string query_name = std::string(kTokenGeneratorPrefix) + "vlm_att_query";
  if (!weights.contains(query_name))
    throw Error(dir + ": tensor '" + query_name + "' is missing from the weights");
  // The query count is the tensor's, as in LLaMA-VID (num_qformer is never read).
  m->num_query_ = weights.get(query_name).size(1);

  // Every tensor the config implies, in its shape, and no other: checked first on modules built
  // on the meta device, which allocate nothing, so that a config that does not fit its weights
  // (num_hidden_layers 1e6, a width off by one) is refused before memory is taken for it.
  auto load_all = [&](ModelModules& modules) {
    std::set<std::string> consumed;
    for (const auto& n : load_into(*modules.vision, weights, kVisionPrefix)) consumed.insert(n);
    for (const auto& n : load_into(*modules.tokens, weights, kTokenGeneratorPrefix))
      consumed.insert(n);
    for (const auto& n : load_into(*modules.llm, weights, kLlamaPrefix)) consumed.insert(n);
    for (const auto& name : weights.names())
      if (is_ignorable_tensor(name)) consumed.insert(name);
    require_all_consumed(weights, consumed);
  };
  try {
    ModelModules shapes(c, m->num_query_, torch::TensorOptions().device(torch::kMeta).dtype(m->dtype_));
    load_all(shapes);
  } catch (const Error& e) {
    throw Error(dir + ": config.json does not fit the weights (its layer counts and sizes imply "
                      "other tensors): " + e.what());
  }
  m->modules_ = std::make_unique<ModelModules>(c, m->num_query_, m->options());
  load_all(*m->modules_);
  m->identity_ = identity_of(*m, config_text);
  return m;
}

std::shared_ptr<const Model> Model::shared(const std::string& dir, const LoadOptions& options) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<const Model>> loaded;
  const std::string key = fs::weakly_canonical(dir).string() + "|" + options.device + "|" +
                          options.dtype;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = loaded[key].lock()) return existing;
  auto model = load(dir, options);
  loaded[key] = model;
  return model;
}

}  // namespace llamavid
