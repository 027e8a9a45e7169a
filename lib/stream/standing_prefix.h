// The standing context mode's LLM state: a KV cache over the prompt prefix that every question
// shares (system text, movie start, every memory entry's visual tokens and the text after it:
// its subtitle and time marker, stream/entry_text), extended as entries arrive, so that a question only prefills its own tail. The prompt a
// question sees is exactly build_prompt_ids for the same entries and question.
//
// Where the cache stops: tokenize_with_images encodes the text after the last slot as one chunk,
// so the newest entry's marker and "Now the movie end.\n<question> ASSISTANT:" are tokenized
// together; the cache therefore ends after the newest entry's visual tokens, and its marker goes
// with the question (tail_ids). It is added to the cache when the next entry arrives.
//
// Not thread-safe: the owner serialises every call (Session holds a mutex around it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "model/kv_cache.h"
#include "stream/memory.h"

namespace llamavid {

class Model;

class StandingPrefix {
 public:
  // `tokens_per_entry`: visual tokens per entry (context + content), one slot row each in the
  // movie layout, all in the one slot of the short-video layout.
  StandingPrefix(const Model& model, int64_t tokens_per_entry);

  // Makes the cache hold the prefix of `entries` with markers of `marker_kind`: segments whose entry is unchanged (same version, same position) are kept, the rest
  // is truncated and prefilled in one block. Merging into the newest entry re-prefills only that
  // entry; thinning changes the oldest entries, so everything after the head is rebuilt once.
  // The cache is allocated once for `capacity` positions (the caller's byte budget).
  void sync(const std::vector<MemoryEntry>& entries, TimeMarkers marker_kind, int64_t capacity);
  // Forgets everything (the next sync rebuilds) and releases the cache storage.
  void reset();

  // The prompt ids after the cached prefix for `question`: the newest entry's text
  // (`last_text`: entry_text, its subtitle and marker), the template's end and the question,
  // followed by one anchor per element of `anchor_texts`: its slots, then that text
  // (stream/question_anchors.h).
  std::vector<int64_t> tail_ids(const std::string& question, const std::string& last_text,
                                const std::vector<std::string>& anchor_texts = {}) const;
  // The ids the cache holds, kImageTokenIndex for a visual row (for checks against
  // build_prompt_ids).
  std::vector<int64_t> cached_ids() const;

  KVCache& cache() { return cache_; }
  int64_t length() const { return cache_.length(); }
  int64_t bytes() const { return cache_.bytes(); }

 private:
  // One entry's part of the cache: positions [start, visual_end) hold its visual rows, then
  // [visual_end, end) its marker when it is not the newest entry.
  struct Segment {
    uint64_t version = 0;
    int64_t start = 0;
    int64_t visual_end = 0;
    int64_t end = 0;
    bool has_marker = false;
    std::vector<int64_t> marker_ids;
  };

  // The entry's visual rows in prompt order (context, content...). -> [tokens_per_entry, C]
  torch::Tensor visual_rows(const MemoryEntry& entry) const;

  const Model& model_;
  int64_t tokens_per_entry_;
  std::vector<int64_t> head_ids_;  // BOS and the text before the first slot
  KVCache cache_;
  int64_t head_length_ = 0;  // 0 until the head is prefilled
  std::optional<TimeMarkers> marker_kind_;  // unset until the first sync
  std::vector<Segment> segments_;
};

}  // namespace llamavid
