// A whole file mapped into memory, shared by the tensors that view it: weight files are read
// without copying, and the mapping lives as long as any tensor made from it.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace llamavid {

class MappedFile {
 public:
  // Maps `path` privately (copy-on-write: a tensor written in place never changes the file).
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile(std::string path, uint8_t* data, size_t size);

  std::string path_;
  uint8_t* data_;
  size_t size_;
};

// A CPU tensor of `sizes` and `dtype` over the contiguous bytes at `offset` of `file`, which the
// caller has checked to lie inside it. Views the mapping and keeps it alive; bytes that are not
// aligned to the element size are copied instead.
// -> [sizes...]
torch::Tensor tensor_from_mapping(const std::shared_ptr<MappedFile>& file, size_t offset,
                                  at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace llamavid
