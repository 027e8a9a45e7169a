// Helpers shared by the fuzz targets: the readers under test take file paths, so fuzz inputs are
// handed to them as in-memory files (no disk traffic per input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace llamavid::fuzz {

// An anonymous in-memory file (memfd) holding `size` bytes, reachable by path() while alive.
class MemoryFile {
 public:
  MemoryFile(const uint8_t* data, size_t size);
  ~MemoryFile();
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // "/proc/self/fd/N": opening it reads the bytes from the start.
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// The model the text and question targets use: $LLAMAVID_FUZZ_MODEL when set, else the shipped
// default model (lib/default_model.h).
std::string model_dir();

// A file the text targets read instead of the model's own: the value of `env` when set, else
// `model_dir()/name` (the run script points these at the real LLaMA / BERT vocabularies).
std::string model_file(const char* env, const std::string& name);

// Aborts with `what` on stderr: a broken invariant is a crash libFuzzer records.
[[noreturn]] void fail(const std::string& what);

}  // namespace llamavid::fuzz
