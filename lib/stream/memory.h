// The token memory of one stream: timestamped entries, one per sampled frame until entries are
// thinned. Thinning merges the oldest half pairwise, so the memory always reaches back to the
// start of the stream at a coarser resolution for the distant past, and its size stays bounded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace llamavid {

struct MemoryEntry {
  int64_t start_ns = 0;  // stream time of the first frame merged into this entry
  int64_t end_ns = 0;    // stream time of the last one
  int64_t frames = 1;    // sampled frames merged into this entry
  // Vision encoder output [M, Cv] the context token is recomputed from for each question (exact
  // context mode); undefined when not kept or dropped by the byte budget.
  torch::Tensor features;
  // Context token [C] made at ingest from the standing prompt: the standing context mode uses
  // it, and the exact mode once the features are dropped.
  torch::Tensor context;
  // Content token(s) [K, C]: they depend on the frame only, so they are made once.
  torch::Tensor content;
  // What "alike" is measured on: the mean vision feature [Cv] (float32, CPU), a frame-weighted
  // mean over merged frames.
  torch::Tensor signature;
  // Subtitle or caption text of this entry's time (valid UTF-8, no "<image>", at most
  // kMaxSubtitleBytes): the movie prompt places it right after the entry's slots, as LLaMA-VID's
  // long-video checkpoint was trained. Texts that join one entry are separated by a space.
  std::string subtitle;
  // What the model answers to kStandingPrompt about this entry alone, which class anchors match
  // questions against (llamavid_class_anchors); "" until the session captions it. Not part of
  // the prompt, so setting it leaves `version` as it is. A frame merged in as alike keeps it;
  // entries merged by thinning keep it only where they agree.
  std::string caption;
  // Changes whenever the entry does (set by TokenMemory, unique within one memory), so a cache
  // built from the entries can tell which of them it still holds.
  uint64_t version = 0;
};

// The most subtitle bytes one entry keeps: merged entries (thinning, alike frames) join their
// texts and keep the first this many bytes, so the distant past holds a bounded sample of what
// was said, and no memory grows without bound however long its stream's subtitles run.
constexpr size_t kMaxSubtitleBytes = 128;

// `a` then `b`, separated by a space when both have text, cut to kMaxSubtitleBytes at a UTF-8
// character boundary.
std::string join_subtitles(const std::string& a, const std::string& b);

struct MemoryBudget {
  // Entries kept before the oldest half is thinned; 0 means no limit.
  int64_t max_entries = 0;
  // A new frame whose signature has at least this cosine similarity with the newest entry's is
  // merged into it (static scenes collapse into one timed entry); 0 never merges.
  double merge_threshold = 0.0;
  // Bytes the entries' tensors may hold; 0 means no limit. Over it, the features of the oldest
  // entries are dropped first (their context tokens stay), then entries are thinned.
  int64_t max_bytes = 0;
};

// What one append() or set_budget() did, for a host's log.
struct MemoryChange {
  bool merged = false;            // the frame merged into the newest entry
  double similarity = -1.0;       // its cosine to the newest entry's (-1: not compared)
  int thinnings = 0;              // times the oldest half was merged pairwise
  int64_t features_dropped = 0;   // entries whose features the byte cap took
};

class TokenMemory {
 public:
  explicit TokenMemory(MemoryBudget budget = {}) : budget_(budget) {}

  // Adds the newest entry (its start must not precede the newest entry's), or merges it into
  // the newest one when they are alike; then enforces the budget (features, then thinning).
  // The entry's tensors may be views (one row of a batch): the memory keeps storage of its own,
  // copied only when the entry is added. A merge updates the newest entry in place while the
  // memory is its only holder, so a frame that merges allocates no tensor storage; an entry
  // someone else holds (an answer's snapshot) is replaced instead, never changed under them.
  MemoryChange append(MemoryEntry entry);
  // Adds subtitle text ending at `end_ns` to the last entry that starts before then (LLaMA-VID
  // attaches a subtitle to the last frame before its end), or to the first entry when none
  // does. false, changing nothing, when the memory is empty.
  bool attach_subtitle(int64_t end_ns, const std::string& text);
  // Sets the caption of the entry at `version`; false, changing nothing, when no entry has it
  // any more (merged or thinned since it was captioned).
  bool set_caption(uint64_t version, const std::string& caption);
  void clear();
  MemoryChange set_budget(MemoryBudget budget);

  const std::vector<MemoryEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  int64_t size() const { return static_cast<int64_t>(entries_.size()); }
  int64_t start_ns() const { return entries_.empty() ? 0 : entries_.front().start_ns; }
  int64_t end_ns() const { return entries_.empty() ? 0 : entries_.back().end_ns; }
  // Bytes held by the tensors of all entries.
  int64_t bytes() const { return bytes_; }

 private:
  // The cosine of `entry`'s signature to the newest entry's, or -1 when not compared (merging
  // off, empty memory, no signatures).
  double similarity(const MemoryEntry& entry) const;
  void enforce_budget(MemoryChange& change);
  void thin();
  int64_t drop_oldest_features();

  MemoryBudget budget_;
  std::vector<MemoryEntry> entries_;
  uint64_t next_version_ = 1;
  int64_t bytes_ = 0;  // bytes(), kept up to date
};

// Two entries as one: the span of both, frame-weighted means of their tensors.
MemoryEntry merge_entries(const MemoryEntry& a, const MemoryEntry& b);

}  // namespace llamavid
