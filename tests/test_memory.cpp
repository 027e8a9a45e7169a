// The token memory: order, thinning of the oldest half, spans and frame-weighted merging.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "core/error.h"
#include "core/utf8.h"
#include "stream/memory.h"

using namespace llamavid;

namespace {

MemoryEntry entry(int64_t t_ns, float value) {
  MemoryEntry e;
  e.start_ns = e.end_ns = t_ns;
  e.features = torch::full({3, 2}, value);
  e.content = torch::full({1, 4}, value);
  e.signature = torch::tensor({1.0f, value});
  return e;
}

constexpr int64_t kSecond = 1000000000;

}  // namespace

// Entries accumulate in order and report the span they cover.
TEST(Memory, AppendsInOrder) {
  TokenMemory m;
  for (int i = 0; i < 5; ++i) m.append(entry(i * kSecond, i));
  EXPECT_EQ(m.size(), 5);
  EXPECT_EQ(m.start_ns(), 0);
  EXPECT_EQ(m.end_ns(), 4 * kSecond);
  EXPECT_EQ(m.bytes(), 5 * (6 + 4 + 2) * 4);
  EXPECT_THROW(m.append(entry(kSecond, 0)), Error);
}

// Over budget, the oldest half is merged pairwise; the newest entries stay untouched and the
// memory still reaches back to the first frame.
TEST(Memory, ThinsOldestHalf) {
  TokenMemory m(MemoryBudget{8});
  for (int i = 0; i < 9; ++i) m.append(entry(i * kSecond, i));
  ASSERT_EQ(m.size(), 7);  // 4 oldest -> 2, 5 newest kept
  EXPECT_EQ(m.entries()[0].start_ns, 0);
  EXPECT_EQ(m.entries()[0].end_ns, kSecond);
  EXPECT_EQ(m.entries()[0].frames, 2);
  EXPECT_FLOAT_EQ(m.entries()[0].content[0][0].item<float>(), 0.5f);
  EXPECT_EQ(m.entries()[2].start_ns, 4 * kSecond);
  EXPECT_EQ(m.entries()[2].frames, 1);
  EXPECT_EQ(m.start_ns(), 0);
  EXPECT_EQ(m.end_ns(), 8 * kSecond);
}

// However long the stream, the size stays within budget and the start is kept.
TEST(Memory, StaysBoundedOverLongStreams) {
  TokenMemory m(MemoryBudget{16});
  int64_t frames = 0;
  for (int i = 0; i < 10000; ++i) {
    m.append(entry(i * kSecond, 1.0f));
    EXPECT_LE(m.size(), 16);
  }
  for (const auto& e : m.entries()) frames += e.frames;
  EXPECT_EQ(frames, 10000);
  EXPECT_EQ(m.start_ns(), 0);
  EXPECT_EQ(m.end_ns(), 9999 * kSecond);
}

// Merging weighs each side by the frames it holds.
TEST(Memory, MergeIsFrameWeighted) {
  MemoryEntry a = entry(0, 0.0f), b = entry(5 * kSecond, 3.0f);
  a.frames = 2;
  b.frames = 1;
  MemoryEntry m = merge_entries(a, b);
  EXPECT_EQ(m.frames, 3);
  EXPECT_EQ(m.end_ns, 5 * kSecond);
  EXPECT_FLOAT_EQ(m.features[0][0].item<float>(), 1.0f);
}

// Lowering the budget thins at once.
TEST(Memory, BudgetChangeThins) {
  TokenMemory m;
  for (int i = 0; i < 20; ++i) m.append(entry(i * kSecond, i));
  m.set_budget(MemoryBudget{4});
  EXPECT_LE(m.size(), 4);
  EXPECT_EQ(m.start_ns(), 0);
}

// The memory keeps storage of its own: an entry made of views into a batch is copied when it
// is added, and a frame that merges updates the newest entry in place (the frame-weighted mean)
// unless someone else holds that entry, whose tensors then stay as they were.
TEST(Memory, MergesInPlaceOnlyWhatItAloneHolds) {
  TokenMemory m(MemoryBudget{0, 0.99});
  torch::Tensor batch = torch::zeros({2, 1, 4});
  MemoryEntry first = entry(0, 1.0f);
  first.content = batch[0];
  m.append(std::move(first));
  const void* storage = m.entries()[0].content.data_ptr();
  EXPECT_NE(storage, batch.data_ptr());  // copied out of the batch
  m.append(entry(kSecond, 4.0f));      // signature (1, 4) against (1, 1): not alike
  m.append(entry(2 * kSecond, 4.0f));  // merged into the newest, in place
  ASSERT_EQ(m.size(), 2);
  const void* newest = m.entries()[1].content.data_ptr();
  m.append(entry(3 * kSecond, 7.0f));  // cosine 0.994 with (1, 4): merged, in place
  EXPECT_EQ(m.entries()[1].content.data_ptr(), newest);
  EXPECT_EQ(m.entries()[1].frames, 3);
  EXPECT_FLOAT_EQ(m.entries()[1].content[0][0].item<float>(), 5.0f);  // (4 + 4 + 7) / 3

  const std::vector<MemoryEntry> held = m.entries();  // an answer's snapshot
  m.append(entry(4 * kSecond, 7.0f));
  EXPECT_FLOAT_EQ(held[1].content[0][0].item<float>(), 5.0f);  // untouched
  EXPECT_NE(m.entries()[1].content.data_ptr(), newest);          // replaced
  EXPECT_FLOAT_EQ(m.entries()[1].content[0][0].item<float>(), 5.5f);
  EXPECT_EQ(m.entries()[1].frames, 4);
  EXPECT_FLOAT_EQ(m.entries()[0].content[0][0].item<float>(), 0.0f);
}

// With a threshold, a frame alike to the newest entry extends it instead of adding one.
TEST(Memory, MergesAlikeFrames) {
  TokenMemory m(MemoryBudget{0, 0.99});
  m.append(entry(0, 0.0f));
  m.append(entry(kSecond, 0.0f));       // same signature: merged
  m.append(entry(2 * kSecond, 5.0f));   // different: new entry
  ASSERT_EQ(m.size(), 2);
  EXPECT_EQ(m.entries()[0].frames, 2);
  EXPECT_EQ(m.entries()[0].end_ns, kSecond);
  EXPECT_EQ(m.entries()[1].start_ns, 2 * kSecond);
  TokenMemory never(MemoryBudget{0, 0.0});
  never.append(entry(0, 0.0f));
  never.append(entry(kSecond, 0.0f));
  EXPECT_EQ(never.size(), 2);
}

// Over the byte cap, the features of the oldest entries go first and their other tokens stay.
TEST(Memory, ByteCapDropsOldestFeaturesFirst) {
  const int64_t per_entry = (6 + 4 + 2) * 4, features = 6 * 4;
  TokenMemory m(MemoryBudget{0, 0.0, 5 * per_entry - 2 * features});
  for (int i = 0; i < 5; ++i) m.append(entry(i * kSecond, i));
  ASSERT_EQ(m.size(), 5);
  EXPECT_FALSE(m.entries()[0].features.defined());
  EXPECT_FALSE(m.entries()[1].features.defined());
  EXPECT_TRUE(m.entries()[2].features.defined());
  EXPECT_TRUE(m.entries()[0].content.defined());
  EXPECT_EQ(m.bytes(), 5 * per_entry - 2 * features);
}

// When dropping features is not enough, entries are thinned until the cap holds.
TEST(Memory, ByteCapThinsWhenFeaturesAreGone) {
  const int64_t tokens_only = (4 + 2) * 4;
  TokenMemory m(MemoryBudget{0, 0.0, 10 * tokens_only});
  for (int i = 0; i < 100; ++i) {
    m.append(entry(i * kSecond, i));
    EXPECT_LE(m.bytes(), 10 * tokens_only);
  }
  EXPECT_EQ(m.start_ns(), 0);
  EXPECT_EQ(m.end_ns(), 99 * kSecond);
}

// An entry's version changes whenever the entry does (merge, thinning, dropped features) and
// stays otherwise, so caches built from entries can tell what changed.
TEST(Memory, VersionsFollowChanges) {
  TokenMemory m(MemoryBudget{4, 0.99});
  m.append(entry(0, 0.0f));
  m.append(entry(kSecond, 5.0f));
  const uint64_t first = m.entries()[0].version, second = m.entries()[1].version;
  EXPECT_NE(first, second);
  m.append(entry(2 * kSecond, 5.0f));  // merged into the newest
  EXPECT_EQ(m.entries()[0].version, first);
  EXPECT_NE(m.entries()[1].version, second);
  const uint64_t merged = m.entries()[1].version;
  // Alternating signs keep these apart; the fifth entry thins the oldest half.
  for (int i = 3; i < 6; ++i) m.append(entry(i * kSecond, (i % 2 ? -10.0f : 10.0f) * i));
  ASSERT_EQ(m.size(), 4);
  EXPECT_NE(m.entries()[0].version, first);
  EXPECT_NE(m.entries()[0].version, merged);
}

// A caption is set on the entry of its version and leaves the version as it is; a frame merged
// in as alike keeps it, and a merge of two differently captioned entries drops it.
TEST(Memory, CaptionsFollowTheirEntry) {
  TokenMemory m(MemoryBudget{0, 0.99});
  m.append(entry(0, 0.0f));
  m.append(entry(kSecond, 5.0f));
  const uint64_t v = m.entries()[0].version;
  const int64_t bytes = m.bytes();
  EXPECT_TRUE(m.set_caption(v, "snow"));
  EXPECT_EQ(m.entries()[0].caption, "snow");
  EXPECT_EQ(m.entries()[0].version, v);
  EXPECT_EQ(m.bytes(), bytes + 4);
  EXPECT_FALSE(m.set_caption(12345, "black"));
  EXPECT_TRUE(m.set_caption(m.entries()[1].version, "red"));
  m.append(entry(2 * kSecond, 5.0f));  // alike: merged into the newest
  EXPECT_EQ(m.entries()[1].caption, "red");
  EXPECT_EQ(merge_entries(m.entries()[0], m.entries()[1]).caption, "");
  EXPECT_EQ(merge_entries(m.entries()[1], m.entries()[1]).caption, "red");
}

// Merging keeps features only when both sides have them, and averages the context tokens.
TEST(Memory, MergeDropsOneSidedFeatures) {
  MemoryEntry a = entry(0, 1.0f), b = entry(kSecond, 3.0f);
  a.context = torch::full({4}, 1.0f);
  b.context = torch::full({4}, 3.0f);
  b.features = torch::Tensor();
  MemoryEntry m = merge_entries(a, b);
  EXPECT_FALSE(m.features.defined());
  EXPECT_FLOAT_EQ(m.context[0].item<float>(), 2.0f);
}

// A subtitle joins the last entry that starts before it ends (the first when none does), texts
// on one entry are joined by a space, merging keeps them in order, and an entry's text stays
// within kMaxSubtitleBytes, cut at a character boundary, however much is said.
TEST(Memory, SubtitlesAttachInOrderAndStayBounded) {
  TokenMemory m(MemoryBudget{4});
  EXPECT_FALSE(m.attach_subtitle(kSecond, "before any frame"));
  for (int i = 0; i < 4; ++i) m.append(entry(i * kSecond, i));
  const uint64_t v = m.entries()[2].version;
  EXPECT_TRUE(m.attach_subtitle(2 * kSecond + 1, "two"));
  EXPECT_TRUE(m.attach_subtitle(3 * kSecond, "still two"));  // the entry at 3 s starts then
  EXPECT_TRUE(m.attach_subtitle(0, "zero"));                 // none starts before: the first
  EXPECT_EQ(m.entries()[2].subtitle, "two still two");
  EXPECT_EQ(m.entries()[0].subtitle, "zero");
  EXPECT_NE(m.entries()[2].version, v);
  EXPECT_EQ(m.bytes(), 4 * (6 + 4 + 2) * 4 + 13 + 4);

  m.append(entry(4 * kSecond, 4));  // over 4 entries: the oldest half merges pairwise
  ASSERT_EQ(m.size(), 4);
  EXPECT_EQ(m.entries()[0].subtitle, "zero");
  EXPECT_EQ(m.entries()[1].subtitle, "two still two");

  std::string long_text = "a";
  for (int i = 0; i < 100; ++i) long_text += "é";  // 2 bytes each: 128 falls inside one
  m.attach_subtitle(5 * kSecond, long_text);
  EXPECT_EQ(m.entries().back().subtitle.size(), kMaxSubtitleBytes - 1) << "cut inside a character";
  for (int i = 0; i < 3; ++i) m.attach_subtitle(5 * kSecond, long_text);
  const std::string& kept = m.entries().back().subtitle;
  EXPECT_LE(kept.size(), kMaxSubtitleBytes);
  EXPECT_TRUE(is_valid_utf8(kept));
  EXPECT_EQ(kept.substr(0, 5), "aéé");
}
