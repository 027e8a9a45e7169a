// The token memory of one stream: timestamped entries, one per sampled frame until entries are
// thinned. Thinning merges the oldest half pairwise, so the memory always reaches back to the
// start of the stream at a coarser resolution for the distant past, and its size stays bounded.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

namespace llamavid {

struct MemoryEntry {
  int64_t start_ns = 0;  // stream time of the first frame merged into this entry
  int64_t end_ns = 0;    // stream time of the last one
  int64_t frames = 1;    // sampled frames merged into this entry
  // Vision encoder output [M, Cv] the context token is recomputed from for each question.
  torch::Tensor features;
  // Content token(s) [K, C]: they depend on the frame only, so they are made once.
  torch::Tensor content;
  // What "alike" is measured on: the mean vision feature [Cv] (float32), a frame-weighted mean
  // over merged frames.
  torch::Tensor signature;
};

struct MemoryBudget {
  // Entries kept before the oldest half is thinned; 0 means no limit.
  int64_t max_entries = 0;
  // A new frame whose signature has at least this cosine similarity with the newest entry's is
  // merged into it (static scenes collapse into one timed entry); 0 never merges.
  double merge_threshold = 0.0;
};

class TokenMemory {
 public:
  explicit TokenMemory(MemoryBudget budget = {}) : budget_(budget) {}

  // Adds the newest entry (its start must not precede the newest entry's), or merges it into
  // the newest one when they are alike; then thins when the budget is exceeded.
  void append(MemoryEntry entry);
  void clear() { entries_.clear(); }
  void set_budget(MemoryBudget budget);

  const std::vector<MemoryEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }
  int64_t start_ns() const { return entries_.empty() ? 0 : entries_.front().start_ns; }
  int64_t end_ns() const { return entries_.empty() ? 0 : entries_.back().end_ns; }
  // Bytes held by the tensors of all entries.
  int64_t bytes() const;

 private:
  bool alike(const MemoryEntry& entry) const;
  void thin();

  MemoryBudget budget_;
  std::vector<MemoryEntry> entries_;
};

// Two entries as one: the span of both, frame-weighted means of their tensors.
MemoryEntry merge_entries(const MemoryEntry& a, const MemoryEntry& b);

}  // namespace llamavid
