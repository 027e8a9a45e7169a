#include "io/zip_archive.h"

#include <algorithm>

#include "core/error.h"
#include "io/mapped_file.h"

namespace llamavid {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDir = 0x06054b50;
constexpr uint32_t kZip64EndOfCentralDir = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint16_t kZip64Extra = 0x0001;

// Little-endian reads that fail with a message instead of leaving the mapping.
class Reader {
 public:
  Reader(const MappedFile& file) : file_(file) {}

  void need(uint64_t pos, uint64_t n, const char* what) const {
    if (pos > file_.size() || n > file_.size() - pos) {
      throw Error("invalid zip " + file_.path() + ": the " + what + " at offset " +
                  std::to_string(pos) + " runs past the end of the " +
                  std::to_string(file_.size()) + "-byte file (truncated?)");
    }
  }
  uint64_t le(uint64_t pos, int bytes) const {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | file_.data()[pos + i];
    return v;
  }
  uint16_t u16(uint64_t pos) const { return static_cast<uint16_t>(le(pos, 2)); }
  uint32_t u32(uint64_t pos) const { return static_cast<uint32_t>(le(pos, 4)); }
  uint64_t u64(uint64_t pos) const { return le(pos, 8); }

 private:
  const MappedFile& file_;
};

}  // namespace

ZipArchive::ZipArchive(std::shared_ptr<MappedFile> file) : file_(std::move(file)) {
  const MappedFile& f = *file_;
  Reader r(f);
  auto fail = [&](const std::string& what) {
    return Error("invalid zip " + f.path() + ": " + what);
  };

  // The end-of-central-directory record is the last thing in the file, before a comment of at
  // most 65535 bytes.
  const uint64_t eocd_size = 22;
  if (f.size() < eocd_size) throw fail("the file is too short to be a zip (truncated?)");
  uint64_t eocd = f.size() - eocd_size;
  const uint64_t lowest = f.size() >= eocd_size + 65535 ? f.size() - eocd_size - 65535 : 0;
  while (r.u32(eocd) != kEndOfCentralDir) {
    if (eocd == lowest) throw fail("no end-of-central-directory record (truncated?)");
    --eocd;
  }
  uint64_t count = r.u16(eocd + 10);
  uint64_t dir_size = r.u32(eocd + 12);
  uint64_t dir_offset = r.u32(eocd + 16);
  if (eocd >= 20 && r.u32(eocd - 20) == kZip64Locator) {
    uint64_t z64 = r.u64(eocd - 20 + 8);
    r.need(z64, 56, "zip64 end-of-central-directory record");
    if (r.u32(z64) != kZip64EndOfCentralDir) {
      throw fail("the zip64 locator points to offset " + std::to_string(z64) +
                 ", which holds no zip64 end-of-central-directory record");
    }
    count = r.u64(z64 + 32);
    dir_size = r.u64(z64 + 40);
    dir_offset = r.u64(z64 + 48);
  }
  r.need(dir_offset, dir_size, "central directory");

  const uint64_t dir_end = dir_offset + dir_size;
  uint64_t pos = dir_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (pos > dir_end || dir_end - pos < 46 || r.u32(pos) != kCentralHeader) {
      throw fail("central directory entry " + std::to_string(i) + " at offset " +
                 std::to_string(pos) + " is malformed");
    }
    Entry e;
    e.flags = r.u16(pos + 8);
    e.method = r.u16(pos + 10);
    uint64_t compressed = r.u32(pos + 20);
    e.size = r.u32(pos + 24);
    uint64_t name_len = r.u16(pos + 28);
    uint64_t extra_len = r.u16(pos + 30);
    uint64_t comment_len = r.u16(pos + 32);
    uint64_t local = r.u32(pos + 42);
    if (dir_end - pos - 46 < name_len + extra_len + comment_len) {
      throw fail("central directory entry " + std::to_string(i) + " runs past the directory");
    }
    e.name.assign(reinterpret_cast<const char*>(f.data() + pos + 46), name_len);
    // Zip64: the fields saturated at 0xFFFFFFFF are given, in this order, in extra field 1.
    for (uint64_t x = pos + 46 + name_len; x + 4 <= pos + 46 + name_len + extra_len;) {
      uint16_t id = r.u16(x);
      uint64_t len = r.u16(x + 2);
      uint64_t field = x + 4, field_end = field + len;
      if (field_end > pos + 46 + name_len + extra_len)
        throw fail("entry " + e.name + ": bad extra field");
      if (id == kZip64Extra) {
        for (uint64_t* v : {&e.size, &compressed, &local}) {
          if (*v != 0xFFFFFFFFu) continue;
          if (field + 8 > field_end) throw fail("entry " + e.name + ": short zip64 extra field");
          *v = r.u64(field);
          field += 8;
        }
      }
      x = field_end;
    }
    r.need(local, 30, ("local header of " + e.name).c_str());
    if (r.u32(local) != kLocalHeader) {
      throw fail("entry " + e.name + ": no local header at offset " + std::to_string(local));
    }
    e.data = local + 30 + r.u16(local + 26) + r.u16(local + 28);
    if (e.method == 0 && compressed != e.size) {
      throw fail("stored entry " + e.name + " has compressed size " + std::to_string(compressed) +
                 " but size " + std::to_string(e.size));
    }
    r.need(e.data, compressed, ("data of " + e.name).c_str());
    entries_.push_back(std::move(e));
    pos += 46 + name_len + extra_len + comment_len;
  }
}

const std::string& ZipArchive::path() const { return file_->path(); }

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

const ZipArchive::Entry& ZipArchive::stored(const std::string& name) const {
  const Entry* e = find(name);
  if (!e) throw Error("invalid zip " + path() + ": it has no entry " + name);
  if (e->flags & 1) throw Error("cannot read " + path() + ": entry " + name + " is encrypted");
  if (e->method != 0) {
    throw Error("cannot read " + path() + ": entry " + name + " is compressed (method " +
                std::to_string(e->method) +
                "); torch.save writes uncompressed entries, so "
                "re-save the file with torch.save instead of re-zipping it");
  }
  return *e;
}

}  // namespace llamavid
