#include "train_state.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace llamavid::world {

void save_checkpoint(const std::string& dir, const NamedTensors& params,
                     torch::optim::Optimizer* optimizer, const Progress& p) {
  const fs::path tmp = dir + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  NamedTensors copies;
  for (const auto& [name, t] : params) copies.emplace_back(name, t.detach());
  save_safetensors((tmp / "params.safetensors").string(), copies);
  if (optimizer) torch::save(*optimizer, (tmp / "optimizer.pt").string());
  nlohmann::json j = {{"vision_step", p.vision_step}, {"step", p.step},
                      {"merge_threshold", p.merge_threshold}, {"elapsed_s", p.elapsed_s}};
  std::ofstream((tmp / "progress.json").string()) << j.dump(2) << "\n";
  const fs::path old = dir + ".old";
  fs::remove_all(old);
  if (fs::exists(dir)) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fs::remove_all(old);
}

bool has_checkpoint(const std::string& dir) {
  return fs::exists(fs::path(dir) / "progress.json") &&
         fs::exists(fs::path(dir) / "params.safetensors");
}

void copy_stored_tensor(const SafetensorsFile& file, const std::string& dir,
                        const std::string& name, const torch::Tensor& t) {
  if (!file.contains(name)) throw Error(dir + ": the checkpoint lacks tensor '" + name + "'");
  auto stored = file.tensor(name);
  if (stored.sizes() != t.sizes())
    throw Error(dir + ": tensor '" + name + "' has another shape than the model's");
  torch::NoGradGuard no_grad;
  t.copy_(stored);
}

Progress load_checkpoint(const std::string& dir, const NamedTensors& params,
                         torch::optim::Optimizer* optimizer) {
  auto file = SafetensorsFile::open((fs::path(dir) / "params.safetensors").string());
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : params) copy_stored_tensor(*file, dir, name, t);
  if (optimizer) load_optimizer(dir, *optimizer);
  return load_progress(dir);
}

void load_optimizer(const std::string& dir, torch::optim::Optimizer& optimizer) {
  const fs::path opt = fs::path(dir) / "optimizer.pt";
  if (fs::exists(opt)) torch::load(optimizer, opt.string());
}

Progress load_progress(const std::string& dir) {
  std::ifstream in((fs::path(dir) / "progress.json").string());
  nlohmann::json j = nlohmann::json::parse(in);
  Progress p;
  p.vision_step = j.value("vision_step", int64_t{0});
  p.step = j.value("step", int64_t{0});
  p.merge_threshold = j.value("merge_threshold", 0.0);
  p.elapsed_s = j.value("elapsed_s", 0.0);
  return p;
}

}  // namespace llamavid::world
