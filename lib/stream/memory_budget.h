// How many entries a session's memory holds, and how big the standing mode's KV cache is: a
// pure function of the model's footprint and the session's limits, so every rule of the
// budget is here and tested on its own (tests/test_memory_budget.cpp).
#pragma once

#include <cstdint>

#include "stream/memory.h"

namespace llamavid {

struct SessionOptions;

// Prompt positions beside the entries kept for the question (its own tokens), and the most
// tokens a question may have: a question accepted is one that fits beside a full memory.
constexpr int64_t kQuestionPositions = 192;

// What one entry and the fixed text of a prompt cost for a model.
struct ModelFootprint {
  int64_t max_token = 0;              // the LLM's context
  int64_t template_positions = 0;     // prompt text around the entries and the question
  int64_t entry_positions = 0;        // visual tokens of an entry plus its time marker
  int64_t kv_bytes_per_position = 0;  // keys and values of every layer
  int64_t entry_bytes = 0;            // an entry's tensors without its vision features
  double merge_threshold = 0.0;       // the model's own (llamavid_merge_threshold)
};

struct MemoryPlan {
  MemoryBudget memory;
  // KV cache positions of the standing prefix: every prompt the budget allows fits in it.
  int64_t cache_positions = 0;
};

// Positions of a prompt that are not entries: template, question and answer.
int64_t text_positions(const ModelFootprint& model, int64_t max_new_tokens);

// The plan for `options` (max_entries, merge_threshold, max_memory_bytes, max_new_tokens and
// the context mode, resolved: not Auto). Throws Error naming the need when max_memory_bytes cannot hold one entry
// (and, in standing mode, the cache for it and a question).
MemoryPlan plan_memory(const ModelFootprint& model, const SessionOptions& options);

}  // namespace llamavid
