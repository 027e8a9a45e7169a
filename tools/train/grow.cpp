#include "grow.h"

#include <filesystem>
#include <regex>
#include <set>

#include "core/error.h"

namespace fs = std::filesystem;

namespace llamavid::world {

namespace {

// "model.layers.N.rest" -> N and rest; the decoder's layers only (the vision tower and the
// Q-Former name theirs otherwise).
const std::regex kDecoderLayer(R"(^model\.layers\.(\d+)\.(.+)$)");

int64_t decoder_layers(const std::vector<std::string>& names) {
  std::set<int64_t> layers;
  std::smatch m;
  for (const auto& n : names)
    if (std::regex_match(n, m, kDecoderLayer)) layers.insert(std::stoll(m[1]));
  return static_cast<int64_t>(layers.size());
}

}  // namespace

Progress grow_from_checkpoint(const std::string& dir, const NamedTensors& params) {
  auto file = SafetensorsFile::open((fs::path(dir) / "params.safetensors").string());
  std::vector<std::string> new_names;
  for (const auto& [name, t] : params) new_names.push_back(name);
  const int64_t old_layers = decoder_layers(file->names());
  const int64_t new_layers = decoder_layers(new_names);
  if (old_layers == 0 || new_layers % old_layers != 0)
    throw Error(dir + ": cannot grow " + std::to_string(old_layers) + " decoder layers into " +
                std::to_string(new_layers));
  const int64_t factor = new_layers / old_layers;

  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : params) {
    std::string source = name;
    std::smatch m;
    if (std::regex_match(name, m, kDecoderLayer)) {
      const int64_t layer = std::stoll(m[1]);
      if (layer % factor != 0) {
        // A new layer: its attention and MLP add nothing until they have learnt something.
        const std::string rest = m[2];
        if (rest == "self_attn.o_proj.weight" || rest == "mlp.down_proj.weight") t.zero_();
        continue;
      }
      source = "model.layers." + std::to_string(layer / factor) + "." + std::string(m[2]);
    }
    copy_stored_tensor(*file, dir, source, t);
  }
  Progress p = load_progress(dir);
  p.step = 0;
  p.elapsed_s = 0;
  return p;
}

}  // namespace llamavid::world
