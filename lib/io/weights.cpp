#include "io/weights.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "core/small_file.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"

namespace llamavid {

namespace fs = std::filesystem;

namespace {

std::string shape_str(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

enum class Format { Safetensors, TorchZip };

// Tells the formats apart by their first bytes: a zip local header, a pickle (the legacy
// torch.save format), or a safetensors length followed by a JSON object.
Format detect_format(const std::string& path) {
  // Mapped, not streamed: MappedFile refuses a FIFO or a device at once instead of waiting on it.
  const auto file = MappedFile::open(path);
  const size_t n = std::min<size_t>(file->size(), 9);
  char head[9] = {};
  if (n > 0) std::memcpy(head, file->data(), n);
  if (n >= 4 && std::string(head, 4) == "PK\x03\x04") return Format::TorchZip;
  if (n >= 1 && static_cast<unsigned char>(head[0]) == 0x80) {
    throw Error(path +
                " is in the legacy torch.save format (PyTorch < 1.6), which is not "
                "supported: re-save it with a newer PyTorch (torch.save(torch.load(f), f2)) or "
                "convert it to safetensors");
  }
  if (n == 9 && head[8] == '{') return Format::Safetensors;
  throw Error(path + " is neither a safetensors file nor a torch.save zip");
}

nlohmann::json read_index(const fs::path& path) {
  const std::string text = read_small_file(path.string(), kMaxIndexBytes, "the shard index");
  check_json_depth(text, path.string());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw Error(path.string() + " is not a JSON object");
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
    throw Error(path.string() + " has no \"weight_map\" object");
  }
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) {
      throw Error(path.string() + ": the weight_map entry of '" + name + "' is not a file name");
    }
  }
  return j["weight_map"];
}

}  // namespace

void WeightSet::add(const std::string& name, Entry entry) {
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    if (*it->second.file == *entry.file) {
      throw Error("tensor '" + name + "' appears twice in " + *entry.file);
    }
    throw Error("tensor '" + name + "' is in both " + *it->second.file + " and " + *entry.file);
  }
  entries_.emplace(name, std::move(entry));
}

WeightSet WeightSet::from_safetensors(const std::shared_ptr<const SafetensorsFile>& file) {
  WeightSet out;
  auto path = std::make_shared<const std::string>(file->path());
  for (const std::string& name : file->names()) out.add(name, Entry{file, name, {}, path});
  out.files_.push_back(*path);
  return out;
}

WeightSet WeightSet::from_tensors(const std::map<std::string, torch::Tensor>& tensors,
                                  const std::string& origin) {
  WeightSet out;
  auto path = std::make_shared<const std::string>(origin);
  for (const auto& [name, t] : tensors) out.add(name, Entry{nullptr, name, t, path});
  out.files_.push_back(origin);
  return out;
}

WeightSet WeightSet::from_file(const std::string& path) {
  if (detect_format(path) == Format::TorchZip) {
    return from_tensors(read_torch_checkpoint(path), path);
  }
  return from_safetensors(SafetensorsFile::open(path));
}

WeightSet WeightSet::open(const std::string& path) {
  if (fs::is_directory(path)) return open_directory(path);
  if (!fs::exists(path)) throw Error("weight file " + path + " does not exist");
  return from_file(path);
}

WeightSet WeightSet::open_directory(const std::string& dir) {
  for (const char* index : {"model.safetensors.index.json", "pytorch_model.bin.index.json"}) {
    fs::path p = fs::path(dir) / index;
    if (fs::exists(p)) return open_index(p.string());
  }
  std::vector<std::string> safetensors, bins;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (!f.is_regular_file()) continue;
    std::string name = f.path().filename().string();
    if (f.path().extension() == ".safetensors") safetensors.push_back(f.path().string());
    if (name.rfind("pytorch_model", 0) == 0 && f.path().extension() == ".bin") {
      bins.push_back(f.path().string());
    }
  }
  // Like transformers, prefer safetensors when a directory holds both.
  std::vector<std::string>& files = safetensors.empty() ? bins : safetensors;
  if (files.empty()) {
    throw Error("no weights in directory " + dir +
                ": expected *.safetensors or pytorch_model*.bin files");
  }
  std::sort(files.begin(), files.end());
  WeightSet out;
  for (const std::string& f : files) out.merge(from_file(f));
  return out;
}

// The set an index describes: each name taken from the shard the index puts it in.
WeightSet WeightSet::open_index(const std::string& index_path) {
  nlohmann::json weight_map = read_index(index_path);
  fs::path dir = fs::path(index_path).parent_path();
  std::map<std::string, WeightSet> shards;
  WeightSet out;
  for (const auto& [name, jshard] : weight_map.items()) {
    std::string shard = jshard.get<std::string>();
    auto it = shards.find(shard);
    if (it == shards.end()) {
      // A shard is a file name beside the index: no folder, so an index cannot reach outside
      // the checkpoint folder ("../../etc/x", "/abs/path").
      const fs::path name_only(shard);
      if (shard.empty() || name_only.has_parent_path() || name_only.is_absolute() ||
          shard == "." || shard == "..")
        throw Error(index_path + " names shard '" + excerpt(shard) + "' (for tensor '" +
                    excerpt(name) + "'), which is not a file name in the checkpoint folder");
      fs::path shard_path = dir / shard;
      if (!fs::is_regular_file(shard_path)) {
        throw Error(index_path + " names shard " + shard + " (for tensor '" + name +
                    "'), which is missing from " + dir.string());
      }
      it = shards.emplace(shard, from_file(shard_path.string())).first;
      out.files_.push_back(shard_path.string());
    }
    auto entry = it->second.entries_.find(name);
    if (entry == it->second.entries_.end()) {
      throw Error(index_path + " puts tensor '" + name + "' in " + it->second.files_.front() +
                  ", which lacks it");
    }
    out.add(name, entry->second);
  }
  return out;
}

torch::Tensor WeightSet::get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("tensor '" + name + "' is not in " + describe());
  const Entry& e = it->second;
  return e.safetensors ? e.safetensors->tensor(e.stored_name) : e.tensor;
}

const std::string& WeightSet::file_of(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("tensor '" + name + "' is not in " + describe());
  return *it->second.file;
}

std::vector<std::string> WeightSet::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

std::string WeightSet::describe() const {
  if (files_.empty()) return "an empty weight set";
  std::string out;
  for (const std::string& f : files_) out += (out.empty() ? "" : ", ") + f;
  return out;
}

void WeightSet::merge(const WeightSet& other) {
  for (const auto& [name, e] : other.entries_) add(name, e);
  for (const std::string& f : other.files_) {
    if (std::find(files_.begin(), files_.end(), f) == files_.end()) files_.push_back(f);
  }
}

WeightSet WeightSet::with_prefix(const std::string& prefix) const {
  WeightSet out;
  for (const auto& [name, e] : entries_) out.entries_.emplace(prefix + name, e);
  out.files_ = files_;
  return out;
}

namespace {

// Float, integer, bool and complex values do not convert into each other without loss of
// meaning: a checkpoint holding the wrong kind is a wrong checkpoint.
const char* dtype_kind(at::ScalarType t) {
  if (t == at::kBool) return "bool";
  if (at::isComplexType(t)) return "complex";
  if (at::isFloatingType(t)) return "floating";
  return "integer";
}

}  // namespace

std::set<std::string> load_into(torch::nn::Module& module, const WeightSet& weights,
                                const std::string& prefix,
                                const std::set<std::string>& allow_missing) {
  torch::NoGradGuard no_grad;
  std::set<std::string> consumed;
  auto load = [&](const std::string& name, torch::Tensor& target, const char* what) {
    if (!target.defined()) return;
    std::string full = prefix + name;
    if (!weights.contains(full)) {
      if (allow_missing.count(name)) return;
      throw Error("tensor '" + full + "' (" + what + " of shape " + shape_str(target.sizes()) +
                  ") is missing from " + weights.describe());
    }
    torch::Tensor source = weights.get(full);
    if (source.sizes() != target.sizes()) {
      throw Error(weights.file_of(full) + ": tensor '" + full + "' has shape " +
                  shape_str(source.sizes()) + ", expected " + shape_str(target.sizes()));
    }
    if (std::string(dtype_kind(source.scalar_type())) != dtype_kind(target.scalar_type())) {
      throw Error(weights.file_of(full) + ": tensor '" + full + "' has dtype " +
                  c10::toString(source.scalar_type()) + ", expected a " +
                  dtype_kind(target.scalar_type()) + " dtype (" +
                  c10::toString(target.scalar_type()) + ")");
    }
    if (!target.is_meta()) target.copy_(source);
    consumed.insert(full);
  };
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    load(item.key(), item.value(), "parameter");
  }
  for (auto& item : module.named_buffers(/*recurse=*/true))
    load(item.key(), item.value(), "buffer");
  return consumed;
}

std::vector<std::string> unconsumed_names(const WeightSet& weights,
                                          const std::set<std::string>& consumed,
                                          const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& name : weights.names()) {
    if (name.compare(0, prefix.size(), prefix) == 0 && !consumed.count(name)) out.push_back(name);
  }
  return out;
}

void require_all_consumed(const WeightSet& weights, const std::set<std::string>& consumed,
                          const std::string& prefix) {
  std::vector<std::string> left = unconsumed_names(weights, consumed, prefix);
  if (left.empty()) return;
  std::string list;
  const size_t shown = 10;
  for (size_t i = 0; i < left.size() && i < shown; ++i) list += (i ? ", " : "") + left[i];
  if (left.size() > shown) list += ", ...";
  throw Error(std::to_string(left.size()) + " tensor(s) of " + weights.describe() +
              (prefix.empty() ? "" : " under '" + prefix + "'") +
              " are not used by the model: " + list);
}

}  // namespace llamavid
