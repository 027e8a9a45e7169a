#include "stream/memory_file.h"

#include <cstdio>
#include <map>
#include <utility>

#include "core/error.h"
#include "core/utf8.h"
#include "io/checksum.h"
#include "text/prompt.h"
#include "io/safetensors.h"

namespace llamavid {

namespace {

// The tensor fields of an entry, by their names in the file. Each is stored stacked over the
// entries that hold it, with the indices of those entries beside it ("<name>_entries").
struct TensorField {
  const char* name;
  torch::Tensor MemoryEntry::*member;
  bool required;  // every entry must hold it
  std::vector<int64_t> (*row_shape)(const EntryShapes& s);  // one entry's
};
const TensorField kFields[] = {
    {"features", &MemoryEntry::features, false,
     [](const EntryShapes& s) { return std::vector<int64_t>{s.feature_tokens, s.vision_width}; }},
    {"context", &MemoryEntry::context, false,
     [](const EntryShapes& s) { return std::vector<int64_t>{s.width}; }},
    {"content", &MemoryEntry::content, true,
     [](const EntryShapes& s) { return std::vector<int64_t>{s.content_tokens, s.width}; }},
    {"signature", &MemoryEntry::signature, true,
     [](const EntryShapes& s) { return std::vector<int64_t>{s.vision_width}; }},
};

// values: [N] -> int64 [N] on the CPU
torch::Tensor int64_column(const std::vector<int64_t>& values) {
  return torch::tensor(values, torch::kInt64).reshape({static_cast<int64_t>(values.size())});
}

Error file_error(const std::string& path, const std::string& what) {
  return Error("memory file '" + path + "' " + what);
}

const std::string& meta(const std::map<std::string, std::string>& m, const std::string& key,
                        const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) throw file_error(path, "has no '" + key + "' in its metadata");
  return it->second;
}

int64_t parse_int(const std::string& text, const std::string& key, const std::string& path) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw file_error(path, "has '" + key + "' = '" + text + "', expected an integer");
  return v;
}

// A stored tensor that must be int64 [n].
torch::Tensor int64_vector(const SafetensorsFile& f, const std::string& name, int64_t n) {
  if (!f.contains(name)) throw file_error(f.path(), "lacks the tensor '" + name + "'");
  if (f.dtype(name) != torch::kInt64 || f.shape(name) != std::vector<int64_t>{n})
    throw file_error(f.path(), "has tensor '" + name + "' of the wrong type or shape, expected "
                               "int64 [" + std::to_string(n) + "]");
  return f.tensor(name);
}

}  // namespace

void save_memory_file(const std::string& path, const std::vector<MemoryEntry>& entries,
                      const std::string& model_id, const std::string& model_dir) {
  const auto n = static_cast<int64_t>(entries.size());
  std::vector<int64_t> starts, ends, frames;
  for (const MemoryEntry& e : entries) {
    starts.push_back(e.start_ns);
    ends.push_back(e.end_ns);
    frames.push_back(e.frames);
  }
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {
      {"start_ns", int64_column(starts)},
      {"end_ns", int64_column(ends)},
      {"frames", int64_column(frames)}};
  std::string text;
  std::vector<int64_t> text_bytes;
  for (const MemoryEntry& e : entries) {
    text += e.subtitle;
    text_bytes.push_back(static_cast<int64_t>(e.subtitle.size()));
  }
  if (!text.empty()) {
    tensors.emplace_back("subtitle_text",
                         torch::from_blob(text.data(), {static_cast<int64_t>(text.size())},
                                          torch::kUInt8).clone());
    tensors.emplace_back("subtitle_bytes", int64_column(text_bytes));
  }
  try {
    for (const TensorField& field : kFields) {
      std::vector<int64_t> holders;
      std::vector<torch::Tensor> values;
      for (int64_t i = 0; i < n; ++i) {
        const torch::Tensor& t = entries[static_cast<size_t>(i)].*field.member;
        if (!t.defined()) continue;
        holders.push_back(i);
        values.push_back(t.detach().to(torch::kCPU));
      }
      if (values.empty()) continue;
      tensors.emplace_back(field.name, torch::stack(values).contiguous());  // [F, ...]
      tensors.emplace_back(std::string(field.name) + "_entries", int64_column(holders));
    }
  } catch (const c10::Error& e) {
    throw Error("cannot save memory file '" + path + "': the entries' tensors differ in shape (" +
                e.what_without_backtrace() + ")");
  }
  uint64_t checksum = kFnvOffset;
  for (const auto& named : tensors) checksum = fnv1a(checksum, named.second);

  const std::map<std::string, std::string> metadata = {
      {"format", kMemoryFileFormat},
      {"version", std::to_string(kMemoryFileVersion)},
      {"model_id", model_id},
      {"model_dir", model_dir},
      {"entries", std::to_string(n)},
      {"checksum", hex64(checksum)},
  };
  save_safetensors(path, tensors, metadata);
}

std::vector<MemoryEntry> load_memory_file(const std::string& path, const std::string& model_id,
                                          const EntryShapes& shapes) {
  const std::shared_ptr<SafetensorsFile> f = SafetensorsFile::open(path);
  const auto& m = f->metadata();
  auto format = m.find("format");
  if (format == m.end() || format->second != kMemoryFileFormat)
    throw file_error(path, "is not a llamavid memory file (its metadata has no format '" +
                               std::string(kMemoryFileFormat) + "')");
  const int64_t version = parse_int(meta(m, "version", path), "version", path);
  if (version < 1 || version > kMemoryFileVersion)
    throw file_error(path, "has format version " + std::to_string(version) +
                               "; this build reads versions 1 to " +
                               std::to_string(kMemoryFileVersion));
  const std::string& saved_id = meta(m, "model_id", path);
  if (saved_id != model_id) {
    auto dir = m.find("model_dir");
    throw file_error(path, "was saved with another model (id " + saved_id + ", from '" +
                               (dir == m.end() ? std::string("?") : dir->second) +
                               "') than the one loaded (id " + model_id +
                               "): a memory loads only into the model that made it");
  }

  uint64_t checksum = kFnvOffset;
  for (const std::string& name : f->names()) checksum = fnv1a(checksum, f->tensor(name));
  if (hex64(checksum) != meta(m, "checksum", path))
    throw file_error(path, "is corrupt: its tensor data does not match its checksum");

  const int64_t n = parse_int(meta(m, "entries", path), "entries", path);
  if (n < 0) throw file_error(path, "has a negative entry count");
  const torch::Tensor starts = int64_vector(*f, "start_ns", n);
  const torch::Tensor ends = int64_vector(*f, "end_ns", n);
  const torch::Tensor frames = int64_vector(*f, "frames", n);
  std::vector<MemoryEntry> entries(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    MemoryEntry& e = entries[static_cast<size_t>(i)];
    e.start_ns = starts[i].item<int64_t>();
    e.end_ns = ends[i].item<int64_t>();
    e.frames = frames[i].item<int64_t>();
    if (e.start_ns < 0 || e.end_ns < e.start_ns || e.end_ns > kMaxMemoryTimeNs ||
        e.frames < 1 || (i > 0 && e.start_ns < entries[static_cast<size_t>(i - 1)].start_ns))
      throw file_error(path, "has entry " + std::to_string(i) +
                                 " with an invalid time span or frame count (" +
                                 std::to_string(e.start_ns) + " to " + std::to_string(e.end_ns) +
                                 " ns, " + std::to_string(e.frames) + " frames)");
  }

  size_t known = 3;  // start_ns, end_ns, frames
  if (f->contains("subtitle_text")) {
    known += 2;
    const std::vector<int64_t> shape = f->shape("subtitle_text");
    if (f->dtype("subtitle_text") != torch::kUInt8 || shape.size() != 1)
      throw file_error(path, "has 'subtitle_text' of the wrong type or shape, expected uint8 [n]");
    const torch::Tensor lengths = int64_vector(*f, "subtitle_bytes", n);
    const torch::Tensor bytes = f->tensor("subtitle_text").contiguous();
    const char* data = reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>());
    int64_t at = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t len = lengths[i].item<int64_t>();
      if (len < 0 || len > static_cast<int64_t>(kMaxSubtitleBytes) || at + len > shape[0])
        throw file_error(path, "has entry " + std::to_string(i) + " with a subtitle of " +
                                   std::to_string(len) + " bytes, out of range");
      std::string s(data + at, static_cast<size_t>(len));
      if (!is_valid_utf8(s) || s.find(kImagePlaceholder) != std::string::npos)
        throw file_error(path, "has entry " + std::to_string(i) +
                                   " with a subtitle that is not valid UTF-8 or holds \"" +
                                   kImagePlaceholder + "\"");
      entries[static_cast<size_t>(i)].subtitle = std::move(s);
      at += len;
    }
    if (at != shape[0]) throw file_error(path, "has subtitle bytes that no entry holds");
  }
  for (const TensorField& field : kFields) {
    const std::string index_name = std::string(field.name) + "_entries";
    if (!f->contains(field.name)) {
      if (field.required && n > 0)
        throw file_error(path, "lacks the tensor '" + std::string(field.name) + "'");
      continue;
    }
    known += 2;
    const std::vector<int64_t> shape = f->shape(field.name);
    if (shape.empty()) throw file_error(path, "has a scalar '" + std::string(field.name) + "'");
    const torch::Tensor holders = int64_vector(*f, index_name, shape[0]);
    if (field.required && shape[0] != n)
      throw file_error(path, "has " + std::to_string(shape[0]) + " '" + field.name +
                                 "' rows for " + std::to_string(n) + " entries");
    if (!at::isFloatingType(f->dtype(field.name)))
      throw file_error(path, "has a non-float tensor '" + std::string(field.name) + "'");
    std::vector<int64_t> row = field.row_shape(shapes);
    row.insert(row.begin(), shape[0]);
    if (shape != row)
      throw file_error(path, "has '" + std::string(field.name) + "' of shape " +
                                 c10::str(at::IntArrayRef(shape)) + ", this model's is " +
                                 c10::str(at::IntArrayRef(row)));
    const torch::Tensor values = f->tensor(field.name);
    if (!torch::isfinite(values).all().item<bool>())
      throw file_error(path, "has NaN or infinite values in '" + std::string(field.name) + "'");
    int64_t previous = -1;
    for (int64_t r = 0; r < shape[0]; ++r) {
      const int64_t i = holders[r].item<int64_t>();
      if (i <= previous || i >= n)
        throw file_error(path, "has '" + index_name + "' out of order or out of range");
      previous = i;
      entries[static_cast<size_t>(i)].*field.member = values[r].clone();  // off the mapping
    }
  }
  if (f->names().size() != known)
    throw file_error(path, "holds tensors this version does not know");
  return entries;
}

}  // namespace llamavid
