#include "stream/memory.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <c10/core/InferenceMode.h>

#include "core/error.h"

namespace llamavid {

namespace {

int64_t tensor_bytes(const torch::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

int64_t entry_bytes(const MemoryEntry& e) {
  return tensor_bytes(e.features) + tensor_bytes(e.content) + tensor_bytes(e.context) +
         tensor_bytes(e.signature) + static_cast<int64_t>(e.subtitle.size() + e.caption.size());
}

// Whether `t` is held by its one handle alone: no other handle, no view of its storage.
// Under the owner's lock nobody can take a new handle, so it may be changed in place.
bool sole_owner(const torch::Tensor& t) {
  return !t.defined() || (t.use_count() == 1 && t.storage().use_count() == 1);
}

// `t` with storage of its own: a view of a batch would keep the whole batch alive.
torch::Tensor own(const torch::Tensor& t) { return sole_owner(t) ? t : t.clone(); }

// Cosine similarity of two float32 CPU vectors, as torch::cosine_similarity computes it.
double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  const float* x = a.data_ptr<float>();
  const float* y = b.data_ptr<float>();
  double xy = 0.0, xx = 0.0, yy = 0.0;
  for (int64_t i = 0, n = a.numel(); i < n; ++i) {
    xy += static_cast<double>(x[i]) * y[i];
    xx += static_cast<double>(x[i]) * x[i];
    yy += static_cast<double>(y[i]) * y[i];
  }
  constexpr double kEps = 1e-8;
  return xy / std::sqrt(std::max(xx * yy, kEps * kEps));
}

// Merges `b` into `into`: the span of both and frame-weighted means of their tensors, which
// `mean(t, other, w)` makes (t + w * (other - t)). A tensor on one side alone stands for both,
// except features: one side's would stand for the other's frames too, so they are dropped.
template <typename Mean>
void merge_into(MemoryEntry& into, const MemoryEntry& b, Mean mean) {
  const double w = static_cast<double>(b.frames) / static_cast<double>(into.frames + b.frames);
  if (into.features.defined() && b.features.defined())
    mean(into.features, b.features, w);
  else
    into.features = torch::Tensor();
  for (auto [t, other] : {std::pair{&into.context, &b.context},
                          std::pair{&into.content, &b.content},
                          std::pair{&into.signature, &b.signature}}) {
    if (!other->defined()) continue;
    if (t->defined())
      mean(*t, *other, w);
    else
      *t = own(*other);
  }
  into.start_ns = std::min(into.start_ns, b.start_ns);
  into.end_ns = std::max(into.end_ns, b.end_ns);
  into.frames += b.frames;
  into.subtitle = join_subtitles(into.subtitle, b.subtitle);  // `b` is the later one
  // An uncaptioned `b` is a frame merged as alike, which shows what the entry shows.
  if (!b.caption.empty() && b.caption != into.caption) into.caption.clear();
}

}  // namespace

std::string join_subtitles(const std::string& a, const std::string& b) {
  std::string joined = a.empty() || b.empty() ? a + b : a + " " + b;
  if (joined.size() <= kMaxSubtitleBytes) return joined;
  size_t cut = kMaxSubtitleBytes;
  // Back to the start of a character: continuation bytes are 10xxxxxx.
  while (cut > 0 && (static_cast<unsigned char>(joined[cut]) & 0xC0) == 0x80) --cut;
  joined.resize(cut);
  return joined;
}

bool TokenMemory::attach_subtitle(int64_t end_ns, const std::string& text) {
  if (entries_.empty()) return false;
  size_t i = entries_.size();
  while (i > 1 && entries_[i - 1].start_ns >= end_ns) --i;
  MemoryEntry& e = entries_[i - 1];
  bytes_ -= entry_bytes(e);
  e.subtitle = join_subtitles(e.subtitle, text);
  e.version = next_version_++;
  bytes_ += entry_bytes(e);
  MemoryChange change;  // not logged: a host learns of thinning from the frames
  enforce_budget(change);
  return true;
}

bool TokenMemory::set_caption(uint64_t version, const std::string& caption) {
  for (MemoryEntry& e : entries_) {
    if (e.version != version) continue;
    bytes_ -= entry_bytes(e);
    e.caption = caption;
    bytes_ += entry_bytes(e);
    return true;
  }
  return false;
}

MemoryEntry merge_entries(const MemoryEntry& a, const MemoryEntry& b) {
  MemoryEntry m = a;  // tensor handles: the means below are new tensors
  m.version = 0;
  merge_into(m, b, [](torch::Tensor& t, const torch::Tensor& other, double w) {
    t = torch::lerp(t, other, w);
  });
  return m;
}

MemoryChange TokenMemory::append(MemoryEntry entry) {
  if (!entries_.empty() && entry.start_ns < entries_.back().start_ns)
    throw Error("memory: entries must arrive in stream order");
  if (entry.signature.defined())
    entry.signature = entry.signature.to(torch::kCPU, torch::kFloat32).contiguous();
  MemoryChange change;
  change.similarity = similarity(entry);
  change.merged = budget_.merge_threshold > 0.0 && change.similarity >= budget_.merge_threshold;
  if (!change.merged) {
    for (torch::Tensor* t : {&entry.features, &entry.context, &entry.content, &entry.signature})
      *t = own(*t);
    entry.version = next_version_++;
    bytes_ += entry_bytes(entry);
    entries_.push_back(std::move(entry));
  } else {
    MemoryEntry& last = entries_.back();
    bytes_ -= entry_bytes(last);
    if (sole_owner(last.features) && sole_owner(last.context) && sole_owner(last.content) &&
        sole_owner(last.signature)) {
      c10::InferenceMode guard;  // entries made in inference mode may only be changed in it
      merge_into(last, entry, [](torch::Tensor& t, const torch::Tensor& other, double w) {
        t.lerp_(other, w);
      });
    } else {
      last = merge_entries(last, entry);
    }
    last.version = next_version_++;
    bytes_ += entry_bytes(last);
  }
  enforce_budget(change);
  return change;
}

void TokenMemory::clear() {
  entries_.clear();
  bytes_ = 0;
}

MemoryChange TokenMemory::set_budget(MemoryBudget budget) {
  budget_ = budget;
  MemoryChange change;
  enforce_budget(change);
  return change;
}

void TokenMemory::enforce_budget(MemoryChange& change) {
  while (budget_.max_entries > 0 && size() > budget_.max_entries) {
    thin();
    ++change.thinnings;
  }
  if (budget_.max_bytes <= 0 || bytes_ <= budget_.max_bytes) return;
  change.features_dropped += drop_oldest_features();
  while (bytes_ > budget_.max_bytes && size() > 1) {
    thin();
    ++change.thinnings;
  }
}

// Features are the bulk of an entry and only refine its context token, so they go first,
// oldest first (the distant past is also what thinning coarsens).
int64_t TokenMemory::drop_oldest_features() {
  int64_t dropped = 0;
  for (MemoryEntry& e : entries_) {
    if (bytes_ <= budget_.max_bytes) break;
    if (!e.features.defined()) continue;
    bytes_ -= tensor_bytes(e.features);
    e.features = torch::Tensor();
    e.version = next_version_++;
    ++dropped;
  }
  return dropped;
}

double TokenMemory::similarity(const MemoryEntry& entry) const {
  if (budget_.merge_threshold <= 0.0 || entries_.empty()) return -1.0;
  const torch::Tensor& a = entries_.back().signature;
  const torch::Tensor& b = entry.signature;
  if (!a.defined() || !b.defined() || a.numel() != b.numel()) return -1.0;
  return cosine(a, b);
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
