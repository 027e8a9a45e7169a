// The memory file: one stream's token memory saved to disk so that a restarted host loses
// nothing (docs/model-format.md, "Memory files"). A safetensors file: the entries' times and
// frame counts as int64 columns, their subtitles as one uint8 run of UTF-8 with each entry's byte
// count, each tensor field stacked over the entries that hold it, and
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
// Version 2 added the entries' subtitles; version 1 files (none) still load.
inline constexpr int kMemoryFileVersion = 2;

// Writes `entries` to `path` atomically. `model_id` is Model::identity() of the model that made
// them; `model_dir` is recorded for messages only. Throws Error naming the file on any failure;
// a failed write leaves an existing file at `path` untouched.
// entry tensors: features [M, Cv], context [C], content [K, C], signature [Cv] (any device;
// features and context may be undefined)
void save_memory_file(const std::string& path, const std::vector<MemoryEntry>& entries,
                      const std::string& model_id, const std::string& model_dir);

// The shapes a model's memory entries have: features [feature_tokens, vision_width], context
// [width], content [content_tokens, width], signature [vision_width].
struct EntryShapes {
  int64_t feature_tokens = 0;
  int64_t vision_width = 0;
  int64_t content_tokens = 0;
  int64_t width = 0;
};

// The latest stream time a memory file may hold: ten years, far past any stream, far below
// where nanosecond arithmetic overflows.
constexpr int64_t kMaxMemoryTimeNs = int64_t{10} * 365 * 24 * 3600 * 1000000000;

// Reads the entries of a memory file as CPU tensors, after checking the format, the version,
// the model (`model_id`), the checksum, that the entries are consistent (times ordered, within
// [0, kMaxMemoryTimeNs]), that every tensor has the model's shape (`shapes`) and holds finite
// values only. Throws Error naming the file and what is wrong.
std::vector<MemoryEntry> load_memory_file(const std::string& path, const std::string& model_id,
                                          const EntryShapes& shapes);

}  // namespace llamavid
