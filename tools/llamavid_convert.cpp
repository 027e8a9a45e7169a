// llamavid-convert: turns a released LLaMA-VID checkpoint folder into a llamavid model directory
// (docs/model-format.md). Every tensor the model needs is checked for presence and shape before
// anything is written; each output file is written atomically (model.safetensors first, then
// the config and tokenizers), so an interrupted run leaves no half-written file.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "cli_args.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/model.h"

namespace fs = std::filesystem;
using namespace llamavid;

namespace {

const char* kUsage =
    "usage: llamavid-convert --checkpoint DIR --out DIR [--vision-tower FILE] [--bert-vocab FILE]\n"
    "\n"
    "Turns a released LLaMA-VID checkpoint folder into a llamavid model directory\n"
    "(docs/model-format.md). Every tensor the model needs is checked for presence and shape\n"
    "before anything is written; a pos_embed of another grid size is interpolated.\n"
    "\n"
    "  --checkpoint DIR     the checkpoint folder: config.json, tokenizer.model and the weights\n"
    "                       (safetensors or pytorch_model*.bin, sharded with an index or not)\n"
    "                       (required)\n"
    "  --out DIR            the model directory written (created when missing): config.json,\n"
    "                       model.safetensors (stored dtypes kept), tokenizer.model, vocab.txt\n"
    "                       (required; not the --checkpoint folder)\n"
    "  --vision-tower FILE  vision tower weights with keys without prefix (safetensors or\n"
    "                       torch.save, e.g. LAVIS eva_vit_g.pth), replacing the checkpoint's\n"
    "                       tower; tensors this configuration does not use are dropped\n"
    "                       (default: the tower in the checkpoint)\n"
    "  --bert-vocab FILE    the Q-Former's vocabulary, e.g. bert-base-uncased/vocab.txt\n"
    "                       (default: vocab.txt of the --checkpoint folder)\n"
    "  -h, --help           this help\n";

std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool has_prefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Collects, checks and orders the tensors of the output model.
std::vector<std::pair<std::string, torch::Tensor>> gather(const ModelConfig& config,
                                                          const WeightSet& main,
                                                          const WeightSet* tower) {
  const std::string query_name = std::string(kTokenGeneratorPrefix) + "vlm_att_query";
  if (!main.contains(query_name))
    throw Error(main.describe() + ": tensor '" + query_name + "' is missing");
  const int64_t num_query = main.get(query_name).size(1);
  ModelModules meta(config, num_query, torch::TensorOptions().device(torch::kMeta));

  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, expected] : meta.named_tensors()) {
    const WeightSet& src = (tower && has_prefix(name, kVisionPrefix)) ? *tower : main;
    if (!src.contains(name))
      throw Error(src.describe() + ": tensor '" + name + "' is missing (expected shape " +
                  shape_str(expected.sizes()) + ")");
    torch::Tensor t = src.get(name);
    if (!t.is_floating_point())
      throw Error(src.file_of(name) + ": tensor '" + name + "' has dtype " +
                  std::string(c10::toString(t.scalar_type())) + ", expected a float type");
    // A tower trained at another resolution: resize its position grid as LAVIS does.
    if (name == std::string(kVisionPrefix) + "pos_embed" && t.dim() == 3 &&
        t.size(1) != expected.size(1))
      t = interpolate_pos_embed(t, config.vision.grid());
    if (t.sizes() != expected.sizes())
      throw Error(src.file_of(name) + ": tensor '" + name + "' has shape " +
                  shape_str(t.sizes()) + ", expected " + shape_str(expected.sizes()));
    out.emplace_back(name, t);
  }

  std::set<std::string> used;
  for (const auto& item : out) used.insert(item.first);
  for (const std::string& name : main.names()) {
    if (used.count(name) || is_ignorable_tensor(name)) continue;
    // The external tower replaces the checkpoint's own copy.
    if (tower && has_prefix(name, kVisionPrefix)) continue;
    throw Error(main.file_of(name) + ": unexpected tensor '" + name +
                "' (not part of a model with this config.json)");
  }
  if (tower) {
    // LAVIS loads eva_vit_g.pth with strict=False: tensors beyond the used depth are dropped.
    size_t dropped = 0;
    for (const std::string& name : tower->names()) dropped += used.count(name) ? 0 : 1;
    if (dropped)
      std::cerr << "llamavid-convert: " << dropped
                << " vision tower tensors are not used by this configuration (as in LAVIS)\n";
  }
  return out;
}

// Through a temporary file renamed over `to`, so `to` is the old file or the new one, whole.
void copy_into(const fs::path& from, const fs::path& to) {
  if (!fs::is_regular_file(from)) throw Error(from.string() + ": file is missing");
  fs::path tmp = to;
  tmp += ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

int run(const CliArgs& args) {
  const std::string ckpt = args.value("checkpoint");
  const std::string out = args.value("out");
  if (ckpt.empty() || out.empty()) throw UsageError("--checkpoint and --out are required");
  const fs::path ckpt_dir(ckpt), out_dir(out);
  if (!fs::is_directory(ckpt_dir)) throw Error(ckpt + ": checkpoint folder does not exist");
  // Writing model.safetensors and copying config.json into the checkpoint itself would replace
  // the files being read: refused before anything is written.
  if (fs::weakly_canonical(ckpt_dir) == fs::weakly_canonical(out_dir))
    throw UsageError("--out must not be the --checkpoint folder");

  const ModelConfig config = load_config((ckpt_dir / "config.json").string());
  if (!fs::is_regular_file(ckpt_dir / "tokenizer.model"))
    throw Error(ckpt + ": tokenizer.model is missing");
  fs::path vocab = args.has("bert-vocab") ? fs::path(args.value("bert-vocab"))
                                          : ckpt_dir / "vocab.txt";
  if (!fs::is_regular_file(vocab))
    throw Error(vocab.string() + ": the Q-Former vocabulary is missing (give --bert-vocab)");

  WeightSet main = WeightSet::open(ckpt);
  WeightSet tower;
  if (args.has("vision-tower"))
    tower = WeightSet::from_file(args.value("vision-tower")).with_prefix(kVisionPrefix);
  auto tensors = gather(config, main, args.has("vision-tower") ? &tower : nullptr);

  fs::create_directories(out_dir);
  save_safetensors((out_dir / "model.safetensors").string(), tensors,
                   {{"format", "pt"}, {"producer", "llamavid-convert"}});
  copy_into(ckpt_dir / "config.json", out_dir / "config.json");
  copy_into(ckpt_dir / "tokenizer.model", out_dir / "tokenizer.model");
  copy_into(vocab, out_dir / "vocab.txt");
  std::cout << "wrote " << tensors.size() << " tensors to " << out_dir.string() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main("llamavid-convert", kUsage, argc, argv,
                   {{"checkpoint", "out", "vision-tower", "bert-vocab"}, {}, {}}, run);
}
