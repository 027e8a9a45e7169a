// A minimal reader of zip archives of stored (uncompressed) entries over a memory-mapped file,
// as torch.save writes them: central directory, zip64 sizes and offsets (released shards are
// larger than 4 GB). Every offset is checked against the file, so a truncated or malformed
// archive is an Error, never a read outside the mapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace llamavid {

class MappedFile;

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint16_t method = 0;  // 0 = stored; anything else is compressed
    uint16_t flags = 0;
    uint64_t size = 0;  // uncompressed size
    uint64_t data = 0;  // absolute offset of the entry's bytes in the file
  };

  // Reads the central directory of `file`; Error naming the file when it is not a valid zip.
  explicit ZipArchive(std::shared_ptr<MappedFile> file);

  const std::shared_ptr<MappedFile>& file() const { return file_; }
  const std::string& path() const;
  const std::vector<Entry>& entries() const { return entries_; }
  // The entry called `name`, or nullptr.
  const Entry* find(const std::string& name) const;
  // The stored entry called `name`; Error when it is absent, compressed or encrypted.
  const Entry& stored(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  std::vector<Entry> entries_;
};

}  // namespace llamavid
