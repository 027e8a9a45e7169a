#include "io/safetensors.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "core/json_text.h"
#include "core/utf8.h"
#include "io/mapped_file.h"

namespace llamavid {

namespace {

using nlohmann::json;

const std::vector<std::pair<const char*, at::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<const char*, at::ScalarType>> names = {
      {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
      {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
      {"U8", at::kByte},    {"BOOL", at::kBool},
  };
  return names;
}

bool parse_dtype(const std::string& name, at::ScalarType& out) {
  for (const auto& [n, t] : dtype_names()) {
    if (name == n) {
      out = t;
      return true;
    }
  }
  return false;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Writes all of `data` to `fd`, retrying short writes.
void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

std::string safetensors_dtype_name(at::ScalarType dtype) {
  for (const auto& [n, t] : dtype_names()) {
    if (t == dtype) return n;
  }
  throw Error(std::string("safetensors cannot store dtype ") + c10::toString(dtype));
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto out = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  out->file_ = MappedFile::open(path);
  const MappedFile& f = *out->file_;
  auto fail = [&](const std::string& what) {
    return Error("invalid safetensors file " + path + ": " + what);
  };
  if (f.size() < 8) {
    throw fail("the file has " + std::to_string(f.size()) +
               " bytes, fewer than the 8-byte header length");
  }
  uint64_t header_len = read_le64(f.data());
  if (header_len > f.size() - 8) {
    throw fail("the header length " + std::to_string(header_len) + " runs past the end of the " +
               std::to_string(f.size()) + "-byte file (truncated, or not safetensors)");
  }
  const char* text = reinterpret_cast<const char*>(f.data() + 8);
  check_json_depth(std::string_view(text, header_len), "invalid safetensors file " + path);
  json header = json::parse(text, text + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) throw fail("the header is not valid JSON");
  if (!header.is_object()) throw fail("the header is not a JSON object");

  const size_t data_begin = 8 + header_len;
  const size_t data_size = f.size() - data_begin;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) throw fail("__metadata__ value of '" + key + "' is not a string");
        out->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    // C++17 lambdas cannot capture structured bindings (clang refuses): capture a reference.
    auto bad = [&, &tensor = name](const std::string& what) {
      return fail("tensor '" + tensor + "': " + what);
    };
    if (!info.is_object()) throw bad("entry is not an object");
    if (!info.contains("dtype") || !info.contains("shape") || !info.contains("data_offsets")) {
      throw bad("entry needs dtype, shape and data_offsets");
    }
    const json& jdtype = info["dtype"];
    const json& jshape = info["shape"];
    const json& joffsets = info["data_offsets"];
    Entry e;
    if (!jdtype.is_string() || !parse_dtype(jdtype.get<std::string>(), e.dtype)) {
      throw bad("unsupported dtype " + excerpt(jdtype.dump()) +
                " (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");
    }
    if (!jshape.is_array()) throw bad("shape is not an array");
    // The product of the non-zero dimensions must fit too: torch computes it for empty tensors.
    uint64_t numel = 1, nonzero = 1;
    for (const json& d : jshape) {
      if (!d.is_number_unsigned())
        throw bad("shape " + excerpt(jshape.dump()) + " has a negative or non-integer dimension");
      uint64_t dim = d.get<uint64_t>();
      if (dim > 0 && (__builtin_mul_overflow(nonzero, dim, &nonzero) ||
                      nonzero > static_cast<uint64_t>(INT64_MAX))) {
        throw bad("shape " + excerpt(jshape.dump()) + " is too large");
      }
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!joffsets.is_array() || joffsets.size() != 2 || !joffsets[0].is_number_unsigned() ||
        !joffsets[1].is_number_unsigned()) {
      throw bad("data_offsets " + excerpt(joffsets.dump()) + " is not a pair of non-negative integers");
    }
    uint64_t begin = joffsets[0].get<uint64_t>();
    uint64_t end = joffsets[1].get<uint64_t>();
    if (begin > end) throw bad("data_offsets " + excerpt(joffsets.dump()) + " begin after they end");
    if (end > data_size) {
      throw bad("data_offsets " + excerpt(joffsets.dump()) + " run past the " + std::to_string(data_size) +
                " data bytes (truncated file?)");
    }
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, c10::elementSize(e.dtype), &nbytes) ||
        nbytes != end - begin) {
      throw bad("shape " + excerpt(jshape.dump()) + " of " + jdtype.get<std::string>() + " needs " +
                std::to_string(numel) + " x " + std::to_string(c10::elementSize(e.dtype)) +
                " bytes but data_offsets " + excerpt(joffsets.dump()) + " hold " +
                std::to_string(end - begin));
    }
    e.begin = data_begin + begin;
    e.end = data_begin + end;
    out->entries_.emplace(name, std::move(e));
  }

  for (const auto& [name, e] : out->entries_) out->names_.push_back(name);
  std::stable_sort(out->names_.begin(), out->names_.end(),
                   [&](const std::string& a, const std::string& b) {
                     return out->entries_.at(a).begin < out->entries_.at(b).begin;
                   });
  // Two tensors sharing bytes would alias each other; the format forbids it.
  for (size_t i = 1; i < out->names_.size(); ++i) {
    const Entry& prev = out->entries_.at(out->names_[i - 1]);
    const Entry& cur = out->entries_.at(out->names_[i]);
    if (cur.begin < prev.end) {
      throw fail("the data of tensors '" + out->names_[i - 1] + "' and '" + out->names_[i] +
                 "' overlap");
    }
  }
  return out;
}

const std::string& SafetensorsFile::path() const { return file_->path(); }

const SafetensorsFile::Entry& SafetensorsFile::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw Error("tensor '" + name + "' is not in " + path());
  return it->second;
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const Entry& e = entry(name);
  return tensor_from_mapping(file_, e.begin, e.shape, e.dtype);
}

std::vector<int64_t> SafetensorsFile::shape(const std::string& name) const {
  return entry(name).shape;
}

at::ScalarType SafetensorsFile::dtype(const std::string& name) const { return entry(name).dtype; }

namespace {

namespace fs = std::filesystem;

// The file a save writes before it takes the target's name. Where the filesystem allows, it
// has no name while it is written (O_TMPFILE), so a process killed mid-save leaves nothing
// behind; it gets a name only for the instant between linking it and renaming it over the
// target. Elsewhere it is a named ".NAME.tmp-XXXXXX" beside the target, removed on any error.
class PendingFile {
 public:
  explicit PendingFile(const std::string& path)
      : path_(path), dir_(fs::path(path).has_parent_path() ? fs::path(path).parent_path() : ".") {
    remove_stale_temporaries();
    fd_ = ::open(dir_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd_ >= 0) return;
    temp_ = temp_name(std::to_string(::getpid()) + "-XXXXXX");
    fd_ = ::mkstemp(temp_.data());
    if (fd_ < 0)
      throw Error("cannot create a temporary file in " + dir_.string() + ": " + std::strerror(errno));
    // mkstemp creates the file private to its owner; weights are ordinary readable files.
    if (::fchmod(fd_, 0644) != 0) {
      const int error = errno;  // the destructor does not run when a constructor throws
      ::close(fd_);
      ::unlink(temp_.c_str());
      errno = error;
      fail("cannot chmod");
    }
  }

  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;

  ~PendingFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!temp_.empty()) ::unlink(temp_.c_str());
  }

  void write(const void* data, size_t size) { write_all(fd_, data, size, name()); }

  // Makes the written bytes durable, then the target's name, then the directory entry.
  void commit() {
    if (::fsync(fd_) != 0) fail("cannot sync");
    if (temp_.empty()) link_unnamed();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot close");
    if (::rename(temp_.c_str(), path_.c_str()) != 0)
      throw Error("cannot rename " + temp_ + " to " + path_ + ": " + std::strerror(errno));
    temp_.clear();
    const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  // Temporaries are named .NAME.tmp-PID-SUFFIX after the target and the writing process.
  std::string temp_prefix() const { return "." + fs::path(path_).filename().string() + ".tmp-"; }
  std::string temp_name(const std::string& suffix) const {
    return (dir_ / (temp_prefix() + suffix)).string();
  }

  // A process killed between naming its file and renaming it leaves the name behind (the
  // whole window of the unnamed file's way, or the whole save without O_TMPFILE): saves of the
  // same target remove those of processes that no longer run. Other live writers' are theirs.
  void remove_stale_temporaries() const {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.compare(0, temp_prefix().size(), temp_prefix()) != 0) continue;
      const long pid = std::strtol(name.c_str() + temp_prefix().size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
        fs::remove(entry.path(), ec);
    }
  }

  // Gives the unnamed file a fresh temporary name (linkat cannot replace the target itself).
  void link_unnamed() {
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    static std::atomic<uint64_t> counter{0};
    for (int attempt = 0; attempt < 100; ++attempt) {
      const std::string name =
          temp_name(std::to_string(::getpid()) + "-" + std::to_string(counter++));
      if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        temp_ = name;
        return;
      }
      if (errno != EEXIST) fail("cannot link");
    }
    fail("cannot find a free temporary name for");
  }

  // What messages call the file.
  std::string name() const { return temp_.empty() ? "an unnamed file in " + dir_.string() : temp_; }

  [[noreturn]] void fail(const std::string& what) const {
    const int error = errno;  // before any allocation can change it
    throw Error(what + " " + name() + ": " + std::strerror(error));
  }

  std::string path_;
  fs::path dir_;
  int fd_ = -1;
  std::string temp_;  // the temporary's name, while it has one
};

}  // namespace

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> blobs;
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw Error("cannot save " + path + ": '__metadata__' is reserved");
    if (!seen.insert(name).second) {
      throw Error("cannot save " + path + ": tensor name '" + name + "' appears twice");
    }
    if (!t.defined()) throw Error("cannot save " + path + ": tensor '" + name + "' is undefined");
    torch::Tensor cpu = t.detach().to(torch::kCPU).contiguous();
    uint64_t nbytes = cpu.nbytes();
    header[name] = {{"dtype", safetensors_dtype_name(cpu.scalar_type())},
                    {"shape", cpu.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    blobs.push_back(cpu);
  }
  std::string text = header.dump();
  // Padding to 8 bytes keeps every tensor of an 8-byte-multiple layout aligned in the mapping.
  text.append((8 - text.size() % 8) % 8, ' ');

  PendingFile file(path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  file.write(len, 8);
  file.write(text.data(), text.size());
  for (const torch::Tensor& b : blobs) file.write(b.data_ptr(), b.nbytes());
  file.commit();
}

}  // namespace llamavid
