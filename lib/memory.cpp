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

int64_t entry_bytes(const MemoryEntry& e) {
  return tensor_bytes(e.features) + tensor_bytes(e.content) + tensor_bytes(e.context) +
         tensor_bytes(e.signature);
}

}  // namespace

MemoryEntry merge_entries(const MemoryEntry& a, const MemoryEntry& b) {
  MemoryEntry m;
  m.start_ns = std::min(a.start_ns, b.start_ns);
  m.end_ns = std::max(a.end_ns, b.end_ns);
  m.frames = a.frames + b.frames;
  // Features of only one side would stand for the other's frames too: drop them instead.
  if (a.features.defined() && b.features.defined())
    m.features = weighted_mean(a.features, a.frames, b.features, b.frames);
  m.context = weighted_mean(a.context, a.frames, b.context, b.frames);
  m.content = weighted_mean(a.content, a.frames, b.content, b.frames);
  m.signature = weighted_mean(a.signature, a.frames, b.signature, b.frames);
  return m;
}

void TokenMemory::append(MemoryEntry entry) {
  if (!entries_.empty() && entry.start_ns < entries_.back().start_ns)
    throw Error("memory: entries must arrive in stream order");
  if (alike(entry)) {
    MemoryEntry& last = entries_.back();
    bytes_ -= entry_bytes(last);
    last = merge_entries(last, entry);
    last.version = next_version_++;
    bytes_ += entry_bytes(last);
  } else {
    entry.version = next_version_++;
    bytes_ += entry_bytes(entry);
    entries_.push_back(std::move(entry));
  }
  enforce_budget();
}

void TokenMemory::clear() {
  entries_.clear();
  bytes_ = 0;
}

void TokenMemory::set_budget(MemoryBudget budget) {
  budget_ = budget;
  enforce_budget();
}

void TokenMemory::enforce_budget() {
  while (budget_.max_entries > 0 && size() > budget_.max_entries) thin();
  if (budget_.max_bytes <= 0 || bytes_ <= budget_.max_bytes) return;
  drop_oldest_features();
  while (bytes_ > budget_.max_bytes && size() > 1) thin();
}

// Features are the bulk of an entry and only refine its context token, so they go first,
// oldest first (the distant past is also what thinning coarsens).
void TokenMemory::drop_oldest_features() {
  for (MemoryEntry& e : entries_) {
    if (bytes_ <= budget_.max_bytes) return;
    if (!e.features.defined()) continue;
    bytes_ -= tensor_bytes(e.features);
    e.features = torch::Tensor();
    e.version = next_version_++;
  }
}

bool TokenMemory::alike(const MemoryEntry& entry) const {
  if (budget_.merge_threshold <= 0.0 || entries_.empty()) return false;
  const torch::Tensor& a = entries_.back().signature;
  const torch::Tensor& b = entry.signature;
  if (!a.defined() || !b.defined()) return false;
  const double cos = torch::cosine_similarity(a.flatten(), b.flatten(), 0).item<double>();
  return cos >= budget_.merge_threshold;
}

// Merges the oldest half pairwise: one large step that frees a quarter of the budget, so the
// cost per appended frame stays constant however long the stream runs.
void TokenMemory::thin() {
  const size_t half = entries_.size() / 2;
  std::vector<MemoryEntry> out;
  out.reserve(entries_.size());
  size_t i = 0;
  for (; i + 1 < half + (half % 2); i += 2) {
    out.push_back(merge_entries(entries_[i], entries_[i + 1]));
    out.back().version = next_version_++;
  }
  for (; i < entries_.size(); ++i) out.push_back(std::move(entries_[i]));
  entries_ = std::move(out);
  bytes_ = 0;
  for (const auto& e : entries_) bytes_ += entry_bytes(e);
}

}  // namespace llamavid
