// Class anchors (llamavid_class_anchors): the runs of memory entries whose captions a question
// names, brought right after the question with their spans and numbers. "How long was the red
// ball on screen?" then reads one span's duration beside it, "When did snow last appear?" the
// start of the last run, "How many times ...?" the last run's number, instead of asking the
// decoder to find every entry of a class among all markers and add their spans up, which the
// default model did not learn (its card: duration stayed near 30 %, last appearance near 60 %).
// A caption is the model's own answer to kStandingPrompt about that entry alone, so the lookup
// is an exact match of words, done where it is exact. Shared by Session and the trainer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace llamavid {

// The most runs one question's class anchors bring (more are thinned, both ends kept).
constexpr size_t kMaxClassRuns = 16;
// Captions longer than this are not matched (a caption names what is on screen in a few words).
constexpr size_t kMaxCaptionBytes = 64;
// The most tokens a caption's decode makes (a label is a few pieces).
constexpr int64_t kMaxCaptionTokens = 8;

// Consecutive entries [first, last] with the same caption; `number` counts the runs of that
// question from 1, thinning or not.
struct ClassRun {
  size_t first = 0;
  size_t last = 0;
  int64_t number = 0;
};

// The runs of the entries whose caption (captions[i] for entry i, "" when it has none) the
// question names: a caption is named where it occurs in the question as whole words (ASCII
// case ignored), except where that occurrence lies inside a longer named caption's ("the red
// ball" names "red ball", not "red"). Runs break where the caption changes; evenly thinned to
// kMaxClassRuns keeping the first and the last. Empty when no caption is named.
std::vector<ClassRun> class_anchor_runs(const std::string& question,
                                        const std::vector<std::string>& captions);

}  // namespace llamavid
