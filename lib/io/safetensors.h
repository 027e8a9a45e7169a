// The safetensors format: an 8-byte little-endian header length, a JSON header mapping each name
// to {dtype, shape, data_offsets} (plus an optional "__metadata__" object of strings), then the
// raw little-endian bytes. Reading maps the file and checks every header entry before any tensor
// is handed out, so a malformed file is an Error, never a crash.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace llamavid {

class MappedFile;

// A read-only safetensors file, memory-mapped. Safe to share between threads.
class SafetensorsFile {
 public:
  // Throws Error naming the file (and the tensor) when the file is not valid safetensors.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const;
  // Names in file order (by data offset).
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // CPU tensor of the stored dtype and shape, viewing the mapping (and keeping it alive).
  // Throws Error naming the file when `name` is absent.
  torch::Tensor tensor(const std::string& name) const;
  // Stored shape and dtype, without making a tensor.
  std::vector<int64_t> shape(const std::string& name) const;
  at::ScalarType dtype(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    at::ScalarType dtype;
    std::vector<int64_t> shape;
    size_t begin;  // absolute offset in the file
    size_t end;
  };
  const Entry& entry(const std::string& name) const;

  std::shared_ptr<MappedFile> file_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

// Writes `tensors` (any device, layout or contiguity; stored as CPU little-endian bytes in the
// given order) atomically: an unnamed temporary file in the same directory (a named one where
// the filesystem has no O_TMPFILE), fsync, then a name and a rename over `path`.
// Throws Error for duplicate names, unsupported dtypes or I/O failures.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// The safetensors name of a dtype ("F32", "BF16", ...); Error when it has none.
std::string safetensors_dtype_name(at::ScalarType dtype);

}  // namespace llamavid
