#include "stream/class_anchors.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

namespace llamavid {

namespace {

std::string lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool word_char(const std::string& s, size_t i) {
  return i < s.size() && std::isalnum(static_cast<unsigned char>(s[i]));
}

// [begin, end) of every whole-word occurrence of `phrase` in `text`.
std::vector<std::pair<size_t, size_t>> occurrences(const std::string& text,
                                                   const std::string& phrase) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t at = text.find(phrase); at != std::string::npos; at = text.find(phrase, at + 1)) {
    const size_t end = at + phrase.size();
    if ((at > 0 && word_char(text, at - 1)) || word_char(text, end)) continue;
    out.emplace_back(at, end);
  }
  return out;
}

}  // namespace

std::vector<ClassRun> class_anchor_runs(const std::string& question,
                                        const std::vector<std::string>& captions) {
  const std::string q = lower(question);
  // What is matched: captions in lower case, "" for none and for those too long to match.
  std::vector<std::string> matched;
  for (const std::string& c : captions)
    matched.push_back(c.size() <= kMaxCaptionBytes ? lower(c) : "");
  std::set<std::string> distinct(matched.begin(), matched.end());
  distinct.erase("");
  std::vector<std::pair<std::string, std::vector<std::pair<size_t, size_t>>>> found;
  for (const std::string& c : distinct) {
    auto at = occurrences(q, c);
    if (!at.empty()) found.emplace_back(c, std::move(at));
  }
  // A caption is named where one of its occurrences is not inside a longer one's.
  std::set<std::string> named;
  for (const auto& [caption, at] : found) {
    for (const auto& [b, e] : at) {
      bool inside = false;
      for (const auto& [other, other_at] : found)
        for (const auto& [ob, oe] : other_at)
          inside = inside || (other.size() > caption.size() && ob <= b && e <= oe);
      if (!inside) named.insert(caption);
    }
  }
  std::vector<ClassRun> runs;
  for (size_t i = 0; i < matched.size(); ++i) {
    if (!named.count(matched[i])) continue;
    if (!runs.empty() && runs.back().last + 1 == i && matched[i - 1] == matched[i]) {
      runs.back().last = i;
      continue;
    }
    runs.push_back({i, i, static_cast<int64_t>(runs.size()) + 1});
  }
  if (runs.size() <= kMaxClassRuns) return runs;
  // Evenly spaced, both ends kept: run round(k (n - 1) / (kMax - 1)).
  std::vector<ClassRun> thinned;
  const size_t n = runs.size();
  for (size_t k = 0; k < kMaxClassRuns; ++k)
    thinned.push_back(runs[(k * (n - 1) + (kMaxClassRuns - 1) / 2) / (kMaxClassRuns - 1)]);
  return thinned;
}

}  // namespace llamavid
