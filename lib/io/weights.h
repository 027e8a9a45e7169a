// A name -> tensor source over one or several weight files (safetensors or torch.save), and the
// walk that copies such tensors into a module's parameters and buffers by name.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace llamavid {

class SafetensorsFile;

// Immutable once built (merge and with_prefix return or fill a set being built); safe to read
// from several threads. Tensors view the files' mappings, which live as long as any tensor does.
class WeightSet {
 public:
  WeightSet() = default;

  // One file (safetensors or torch.save zip, told apart by content) or a directory holding
  // `model.safetensors.index.json` + shards, `*.safetensors`, `pytorch_model.bin.index.json` +
  // shards or `pytorch_model*.bin` (in that order of preference). Throws Error naming the file
  // for unreadable files, an index naming a missing shard or a tensor its shard lacks, and a
  // name found in two files.
  static WeightSet open(const std::string& path);

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // CPU tensor of the stored dtype and shape; Error naming the name and the sources if absent.
  torch::Tensor get(const std::string& name) const;
  // The file that holds `name`; Error if absent.
  const std::string& file_of(const std::string& name) const;
  // All names, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // The files the set reads, for messages ("a.safetensors, b.safetensors").
  std::string describe() const;

  // Adds every tensor of `other`; a name present in both is an Error naming both files.
  void merge(const WeightSet& other);
  // The same tensors, each renamed prefix + name (e.g. "model.vision_tower.vision_tower." for
  // the keys of an external eva_vit_g.pth).
  WeightSet with_prefix(const std::string& prefix) const;

  // A set over the tensors of one file / one safetensors file / one name->tensor map.
  static WeightSet from_file(const std::string& path);
  static WeightSet from_safetensors(const std::shared_ptr<const SafetensorsFile>& file);
  static WeightSet from_tensors(const std::map<std::string, torch::Tensor>& tensors,
                                const std::string& origin);

 private:
  struct Entry {
    std::shared_ptr<const SafetensorsFile> safetensors;  // read on demand when set
    std::string stored_name;                             // the name inside that file
    torch::Tensor tensor;                                // otherwise, the tensor itself
    std::shared_ptr<const std::string> file;
  };
  static WeightSet open_directory(const std::string& dir);
  static WeightSet open_index(const std::string& index_path);
  void add(const std::string& name, Entry entry);

  std::map<std::string, Entry> entries_;
  std::vector<std::string> files_;
};

// Copies into every parameter and buffer of `module` the tensor named prefix + its name,
// converting dtype and device to the parameter's (parameters on the meta device are only
// checked). A missing tensor, a shape mismatch, or a floating tensor where an integer or bool one
// is expected (or the reverse) is an Error naming the file, the tensor, the expected and the found
// shape or dtype. Module names in `allow_missing` (without prefix) keep their values when the set
// lacks them. Returns the set names it consumed.
std::set<std::string> load_into(torch::nn::Module& module, const WeightSet& weights,
                                const std::string& prefix,
                                const std::set<std::string>& allow_missing = {});

// Names of `weights` starting with `prefix` that are not in `consumed`, sorted.
std::vector<std::string> unconsumed_names(const WeightSet& weights,
                                          const std::set<std::string>& consumed,
                                          const std::string& prefix = "");
// Error listing (the first few of) the unconsumed names under `prefix`, if there are any.
void require_all_consumed(const WeightSet& weights, const std::set<std::string>& consumed,
                          const std::string& prefix = "");

}  // namespace llamavid
