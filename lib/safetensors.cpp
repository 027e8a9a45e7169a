#include "safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "error.h"
#include "mapped_file.h"

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
      throw bad("unsupported dtype " + jdtype.dump() +
                " (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)");
    }
    if (!jshape.is_array()) throw bad("shape is not an array");
    // The product of the non-zero dimensions must fit too: torch computes it for empty tensors.
    uint64_t numel = 1, nonzero = 1;
    for (const json& d : jshape) {
      if (!d.is_number_unsigned())
        throw bad("shape " + jshape.dump() + " has a negative or non-integer dimension");
      uint64_t dim = d.get<uint64_t>();
      if (dim > 0 && (__builtin_mul_overflow(nonzero, dim, &nonzero) ||
                      nonzero > static_cast<uint64_t>(INT64_MAX))) {
        throw bad("shape " + jshape.dump() + " is too large");
      }
      numel *= dim;
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    if (!joffsets.is_array() || joffsets.size() != 2 || !joffsets[0].is_number_unsigned() ||
        !joffsets[1].is_number_unsigned()) {
      throw bad("data_offsets " + joffsets.dump() + " is not a pair of non-negative integers");
    }
    uint64_t begin = joffsets[0].get<uint64_t>();
    uint64_t end = joffsets[1].get<uint64_t>();
    if (begin > end) throw bad("data_offsets " + joffsets.dump() + " begin after they end");
    if (end > data_size) {
      throw bad("data_offsets " + joffsets.dump() + " run past the " + std::to_string(data_size) +
                " data bytes (truncated file?)");
    }
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, c10::elementSize(e.dtype), &nbytes) ||
        nbytes != end - begin) {
      throw bad("shape " + jshape.dump() + " of " + jdtype.get<std::string>() + " needs " +
                std::to_string(numel) + " x " + std::to_string(c10::elementSize(e.dtype)) +
                " bytes but data_offsets " + joffsets.dump() + " hold " +
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

  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(tmp.data());
  if (fd < 0)
    throw Error("cannot create a temporary file in " + dir.string() + ": " + std::strerror(errno));
  try {
    // mkstemp creates the file private to its owner; weights are ordinary readable files.
    if (::fchmod(fd, 0644) != 0) throw Error("cannot chmod " + tmp + ": " + std::strerror(errno));
    uint8_t len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
    write_all(fd, len, 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const torch::Tensor& b : blobs) write_all(fd, b.data_ptr(), b.nbytes(), tmp);
    if (::fsync(fd) != 0) throw Error("cannot sync " + tmp + ": " + std::strerror(errno));
    if (::close(fd) != 0) {
      fd = -1;
      throw Error("cannot close " + tmp + ": " + std::strerror(errno));
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      throw Error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace llamavid
