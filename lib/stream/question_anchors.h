// The entries a question reads again right after itself, as the model's config asks: time
// anchors (stream/time_anchors.h) then class anchors (stream/class_anchors.h). One function for
// Session and the trainer, so that a model is served the anchors it was trained on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace llamavid {

struct QuestionAnchors {
  std::vector<size_t> entries;     // whose visual tokens follow the question, in order
  std::vector<std::string> texts;  // the text after each one's slots (text_after_anchor)
  bool empty() const { return entries.empty(); }
};

// For entries spanning spans_ns[i] with captions[i] ("" when none; ignored without class
// anchors): the time anchors' entries, each followed by no text, then one entry per class
// anchor run (its first), followed by the run's span as a `markers` marker and its number:
// "[00:01:05-00:02:10, 00:01:05] 2".
QuestionAnchors question_anchors(const ModelConfig& config, TimeMarkers markers,
                                 const std::string& question,
                                 const std::vector<std::pair<int64_t, int64_t>>& spans_ns,
                                 const std::vector<std::string>& captions);

// The most prompt slots and texts a question's anchors can bring: time anchors' entries and
// class anchors' runs.
size_t max_anchor_entries(const ModelConfig& config);
size_t max_class_runs(const ModelConfig& config);

}  // namespace llamavid
