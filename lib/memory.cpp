#include "memory.h"

#include "error.h"

namespace llamavid {

namespace {

torch::Tensor weighted_mean(const torch::Tensor& a, int64_t wa, const torch::Tensor& b,
                            int64_t wb) {
  if (!a.defined() || !b.defined()) return a.defined() ? a : b;
  const double total = static_cast<double>(wa + wb);
  return a * (wa / total) + b * (wb / total);
}

int64_t tensor_bytes(const torch::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

MemoryEntry merge_entries(const MemoryEntry& a, const MemoryEntry& b) {
  MemoryEntry m;
  m.start_ns = std::min(a.start_ns, b.start_ns);
  m.end_ns = std::max(a.end_ns, b.end_ns);
  m.frames = a.frames + b.frames;
  m.features = weighted_mean(a.features, a.frames, b.features, b.frames);
  m.content = weighted_mean(a.content, a.frames, b.content, b.frames);
  m.signature = weighted_mean(a.signature, a.frames, b.signature, b.frames);
  return m;
}

void TokenMemory::append(MemoryEntry entry) {
  if (!entries_.empty() && entry.start_ns < entries_.back().start_ns)
    throw Error("memory: entries must arrive in stream order");
  if (alike(entry)) {
    entries_.back() = merge_entries(entries_.back(), entry);
    return;
  }
  entries_.push_back(std::move(entry));
  if (budget_.max_entries > 0 && size() > budget_.max_entries) thin();
}

void TokenMemory::set_budget(MemoryBudget budget) {
  budget_ = budget;
  while (budget_.max_entries > 0 && size() > budget_.max_entries) thin();
}

bool TokenMemory::alike(const MemoryEntry& entry) const {
  if (budget_.merge_threshold <= 0.0 || entries_.empty()) return false;
  const torch::Tensor& a = entries_.back().signature;
  const torch::Tensor& b = entry.signature;
  if (!a.defined() || !b.defined()) return false;
  const double cos = torch::cosine_similarity(a.flatten(), b.flatten(), 0).item<double>();
  return cos >= budget_.merge_threshold;
}

int64_t TokenMemory::bytes() const {
  int64_t total = 0;
  for (const auto& e : entries_)
    total += tensor_bytes(e.features) + tensor_bytes(e.content) + tensor_bytes(e.signature);
  return total;
}

// Merges the oldest half pairwise: one large step that frees a quarter of the budget, so the
// cost per appended frame stays constant however long the stream runs.
void TokenMemory::thin() {
  const size_t half = entries_.size() / 2;
  std::vector<MemoryEntry> out;
  out.reserve(entries_.size());
  size_t i = 0;
  for (; i + 1 < half + (half % 2); i += 2) out.push_back(merge_entries(entries_[i], entries_[i + 1]));
  for (; i < entries_.size(); ++i) out.push_back(std::move(entries_[i]));
  entries_ = std::move(out);
}

}  // namespace llamavid
