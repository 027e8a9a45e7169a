#include "stream/standing_prefix.h"

#include "core/error.h"
#include "model/model.h"
#include "model/prompt_embeddings.h"
#include "stream/entry_text.h"
#include "text/prompt.h"
#include "text/time_marker.h"

namespace llamavid {

namespace {

// The layout of one entry with `marker` after it, for taking the text around its slots.
FrameLayout one_entry_layout(const std::string& marker, int64_t tokens_per_entry,
                             const std::vector<std::string>& anchor_texts) {
  FrameLayout layout;
  layout.text_after_frame = {marker};
  layout.slots_per_frame = tokens_per_entry;
  layout.text_after_anchor = anchor_texts;
  return layout;
}

}  // namespace

StandingPrefix::StandingPrefix(const Model& model, int64_t tokens_per_entry)
    : model_(model), tokens_per_entry_(tokens_per_entry), cache_(model.llm()->new_cache(1)) {
  const std::vector<int64_t> ids = build_prompt_ids(
      model.tokenizer(), "", model.config().prompt_style, one_entry_layout("", tokens_per_entry, {}));
  for (int64_t id : ids) {
    if (id == kImageTokenIndex) break;
    head_ids_.push_back(id);
  }
}

void StandingPrefix::reset() {
  cache_.clear();
  head_length_ = 0;
  segments_.clear();
}

std::vector<int64_t> StandingPrefix::tail_ids(const std::string& question,
                                              const std::string& last_text,
                                              const std::vector<std::string>& anchor_texts) const {
  const FrameLayout layout = one_entry_layout(last_text, tokens_per_entry_, anchor_texts);
  const std::vector<int64_t> ids =
      build_prompt_ids(model_.tokenizer(), question, model_.config().prompt_style, layout);
  return std::vector<int64_t>(
      ids.begin() + static_cast<std::ptrdiff_t>(standing_prefix_end(ids, layout.anchor_slots())),
      ids.end());
}

std::vector<int64_t> StandingPrefix::cached_ids() const {
  std::vector<int64_t> ids;
  if (head_length_ == 0) return ids;
  ids = head_ids_;
  for (const Segment& s : segments_) {
    ids.insert(ids.end(), static_cast<size_t>(s.visual_end - s.start), kImageTokenIndex);
    if (s.has_marker) ids.insert(ids.end(), s.marker_ids.begin(), s.marker_ids.end());
  }
  return ids;
}

torch::Tensor StandingPrefix::visual_rows(const MemoryEntry& entry) const {
  if (!entry.context.defined() || !entry.content.defined())
    throw Error("standing context: a memory entry has no standing context token");
  return entry_rows(entry.context.unsqueeze(0), entry.content.unsqueeze(0));
}

void StandingPrefix::sync(const std::vector<MemoryEntry>& entries, TimeMarkers marker_kind,
                          int64_t capacity) {
  torch::InferenceMode guard;
  Llama& llm = model_.llm();
  auto embed = [&](const std::vector<int64_t>& ids) {  // -> [L, C]
    auto t = torch::tensor(ids, torch::kInt64).unsqueeze(0).to(model_.device());
    return llm->embed(t).squeeze(0);
  };
  auto marker_ids = [&](const MemoryEntry& e) {
    return model_.tokenizer().encode(entry_text(e, model_.config().prompt_style, marker_kind));
  };
  if (marker_kind != marker_kind_) {
    marker_kind_ = marker_kind;
    segments_.clear();
    if (head_length_ > 0) cache_.truncate(head_length_);
  }
  if (cache_.capacity() < capacity) cache_.reserve(capacity);

  std::vector<torch::Tensor> pieces;  // embeddings to prefill, in prompt order
  size_t keep = 0;
  int64_t pos = 0;
  if (head_length_ == 0) {
    cache_.truncate(0);
    segments_.clear();
    pieces.push_back(embed(head_ids_));
    pos = static_cast<int64_t>(head_ids_.size());
  } else {
    const size_t n = entries.size();
    while (keep < segments_.size() && keep < n &&
           segments_[keep].version == entries[keep].version &&
           segments_[keep].has_marker == (keep + 1 < n))
      ++keep;
    if (keep < segments_.size() && keep < n && segments_[keep].version == entries[keep].version &&
        !segments_[keep].has_marker) {
      // The newest entry got a successor: only its marker is missing.
      Segment& s = segments_[keep];
      cache_.truncate(s.visual_end);
      s.marker_ids = marker_ids(entries[keep]);
      s.has_marker = true;
      if (!s.marker_ids.empty()) pieces.push_back(embed(s.marker_ids));
      s.end = s.visual_end + static_cast<int64_t>(s.marker_ids.size());
      pos = s.end;
      ++keep;
    } else {
      pos = keep < segments_.size() ? segments_[keep].start
                                    : (keep == 0 ? head_length_ : segments_[keep - 1].end);
      cache_.truncate(pos);
    }
    segments_.resize(keep);
  }
  for (size_t i = keep; i < entries.size(); ++i) {
    Segment s;
    s.version = entries[i].version;
    s.start = pos;
    pieces.push_back(visual_rows(entries[i]));
    pos += tokens_per_entry_;
    s.visual_end = pos;
    if (i + 1 < entries.size()) {
      s.marker_ids = marker_ids(entries[i]);
      s.has_marker = true;
      if (!s.marker_ids.empty()) pieces.push_back(embed(s.marker_ids));
      pos += static_cast<int64_t>(s.marker_ids.size());
    }
    s.end = pos;
    segments_.push_back(std::move(s));
  }
  if (pieces.empty()) return;
  try {
    llm->forward(torch::cat(pieces, 0).unsqueeze(0), cache_, /*all_logits=*/false);
  } catch (...) {
    reset();  // the segments no longer describe the cache
    throw;
  }
  head_length_ = static_cast<int64_t>(head_ids_.size());
  if (cache_.length() != pos)
    throw Error("standing context: the cache holds " + std::to_string(cache_.length()) +
                " positions, expected " + std::to_string(pos));
}

}  // namespace llamavid
