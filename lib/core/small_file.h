// Files that are small by nature (config.json, tokenizer.model, vocab.txt, a shard index) are
// read whole; each kind has a size limit far above any real one, checked before anything is
// read, so that an 8 GB file given in their place is refused at once with the file's name.
#pragma once

#include <cstdint>
#include <string>

namespace llamavid {

constexpr uint64_t kMaxConfigBytes = uint64_t{1} << 20;      // config.json: 1 MiB (real: 2 KB)
constexpr uint64_t kMaxTokenizerBytes = uint64_t{64} << 20;  // tokenizer.model: 64 MiB (0.5 MB)
constexpr uint64_t kMaxVocabBytes = uint64_t{16} << 20;      // vocab.txt: 16 MiB (0.2 MB)
constexpr uint64_t kMaxIndexBytes = uint64_t{64} << 20;      // *.index.json: 64 MiB (30 KB)

// The whole content of `path`. Error naming the file and `what` it is when it cannot be opened,
// is not a regular file, or is larger than `limit` bytes.
std::string read_small_file(const std::string& path, uint64_t limit, const std::string& what);

}  // namespace llamavid
