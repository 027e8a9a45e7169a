// plan_memory: how many entries fit the LLM context, the byte cap and max_entries, and how big
// the standing mode's cache is.
#include <gtest/gtest.h>

#include "core/error.h"
#include "stream/memory_budget.h"
#include "stream/session.h"

using namespace llamavid;

namespace {

// A model of 2048 positions whose entries take 3 positions and 1,000 bytes of tokens, whose
// KV cache takes 100 bytes a position, with 60 positions of template text.
ModelFootprint footprint() {
  ModelFootprint f;
  f.max_token = 2048;
  f.template_positions = 60;
  f.entry_positions = 3;
  f.kv_bytes_per_position = 100;
  f.entry_bytes = 1000;
  f.merge_threshold = 0.9;
  return f;
}

SessionOptions uncapped() {
  SessionOptions o;
  o.context_mode = ContextMode::Standing;
  o.max_new_tokens = 40;
  o.max_memory_bytes = 0;
  return o;
}

}  // namespace

// Text positions are the template, a question of kQuestionPositions and the answer.
TEST(MemoryBudget, TextPositions) {
  EXPECT_EQ(text_positions(footprint(), 40), 60 + kQuestionPositions + 40);
}

// Uncapped, the context bounds the entries: every prompt of a full memory fits max_token.
TEST(MemoryBudget, ContextBoundsEntries) {
  const MemoryPlan plan = plan_memory(footprint(), uncapped());
  const int64_t text = 60 + kQuestionPositions + 40;
  EXPECT_EQ(plan.memory.max_entries, (2048 - text) / 3);
  EXPECT_LE(text + plan.memory.max_entries * 3, 2048);
  EXPECT_GT(text + (plan.memory.max_entries + 1) * 3, 2048);
  EXPECT_EQ(plan.memory.max_bytes, 0);
  EXPECT_EQ(plan.cache_positions, text + plan.memory.max_entries * 3);
}

// max_entries lowers the limit, never raises it; the model's merge threshold applies unless the
// options set one.
TEST(MemoryBudget, MaxEntriesAndMergeThreshold) {
  SessionOptions o = uncapped();
  o.max_entries = 10;
  MemoryPlan plan = plan_memory(footprint(), o);
  EXPECT_EQ(plan.memory.max_entries, 10);
  EXPECT_DOUBLE_EQ(plan.memory.merge_threshold, 0.9);
  o.max_entries = 1000000;
  o.merge_threshold = 0.0;
  plan = plan_memory(footprint(), o);
  EXPECT_EQ(plan.memory.max_entries, plan_memory(footprint(), uncapped()).memory.max_entries);
  EXPECT_DOUBLE_EQ(plan.memory.merge_threshold, 0.0);
}

// Standing mode: the cap holds the cache for the text and every entry, plus the entries' tokens;
// what is left goes to the entries' tensors.
TEST(MemoryBudget, StandingCapCountsTheCache) {
  SessionOptions o = uncapped();
  o.context_mode = ContextMode::Standing;
  const int64_t text = 60 + kQuestionPositions + 40;
  o.max_memory_bytes = 100 * text + 20 * (300 + 1000) + 50;
  const MemoryPlan plan = plan_memory(footprint(), o);
  EXPECT_EQ(plan.memory.max_entries, 20);
  EXPECT_EQ(plan.memory.max_bytes, o.max_memory_bytes - 100 * text - 20 * 300);
  EXPECT_EQ(plan.cache_positions, text + 20 * 3);
  EXPECT_LE(100 * plan.cache_positions + plan.memory.max_bytes, o.max_memory_bytes);
}

// Exact mode keeps no cache: the whole cap is the entries'.
TEST(MemoryBudget, ExactCapIsTheEntries) {
  SessionOptions o = uncapped();
  o.context_mode = ContextMode::Exact;
  o.max_memory_bytes = 20 * 1000 + 999;
  const MemoryPlan plan = plan_memory(footprint(), o);
  EXPECT_EQ(plan.memory.max_entries, 20);
  EXPECT_EQ(plan.memory.max_bytes, o.max_memory_bytes);
}

// A cap below one entry (with, in standing mode, the cache for the text) is refused with the
// need, in bytes.
TEST(MemoryBudget, CapTooSmall) {
  SessionOptions o = uncapped();
  const int64_t text = 60 + kQuestionPositions + 40;
  o.max_memory_bytes = 100 * text + 300 + 1000 - 1;
  try {
    plan_memory(footprint(), o);
    FAIL() << "a cap one byte short was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(100 * text + 1300) + " bytes"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("standing mode"), std::string::npos);
  }
  o.max_memory_bytes += 1;
  EXPECT_EQ(plan_memory(footprint(), o).memory.max_entries, 1);
  o.context_mode = ContextMode::Exact;
  o.max_memory_bytes = 999;
  EXPECT_THROW(plan_memory(footprint(), o), Error);
}

// A model whose context holds less than the text still gets one entry (a question then reports
// what does not fit).
TEST(MemoryBudget, TinyContextKeepsOneEntry) {
  ModelFootprint f = footprint();
  f.max_token = 100;
  const MemoryPlan plan = plan_memory(f, uncapped());
  EXPECT_EQ(plan.memory.max_entries, 1);
  EXPECT_EQ(plan.cache_positions, 100);
}
