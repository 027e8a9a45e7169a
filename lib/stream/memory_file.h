// The memory file: one stream's token memory saved to disk so that a restarted host loses
// nothing (docs/model-format.md, "Memory files"). A safetensors file: the entries' times and
// frame counts as int64 columns, each tensor field stacked over the entries that hold it, and
// metadata naming the format, its version, the model the entries were made with and a checksum
// of every byte of tensor data. Writes are atomic (temporary file in the same directory, fsync,
// rename, fsync of the directory): a reader sees the old file or the new one, never a mix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "stream/memory.h"

namespace llamavid {


inline constexpr const char* kMemoryFileFormat = "llamavid-memory";
inline constexpr int kMemoryFileVersion = 1;

// Writes `entries` to `path` atomically. `model_id` is Model::identity() of the model that made
// them; `model_dir` is recorded for messages only. Throws Error naming the file on any failure;
// a failed write leaves an existing file at `path` untouched.
// entry tensors: features [M, Cv], context [C], content [K, C], signature [Cv] (any device;
// features and context may be undefined)
void save_memory_file(const std::string& path, const std::vector<MemoryEntry>& entries,
                      const std::string& model_id, const std::string& model_dir);

// Reads the entries of a memory file as CPU tensors, after checking the format, the version,
// the model (`model_id`), the checksum and that the entries are consistent. Throws Error naming
// the file and what is wrong.
std::vector<MemoryEntry> load_memory_file(const std::string& path, const std::string& model_id);

}  // namespace llamavid
