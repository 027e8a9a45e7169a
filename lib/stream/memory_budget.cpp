#include "stream/memory_budget.h"

#include <algorithm>
#include <string>

#include "core/error.h"
#include "stream/session.h"

namespace llamavid {

int64_t text_positions(const ModelFootprint& model, int64_t max_new_tokens) {
  return model.template_positions + kQuestionPositions + max_new_tokens;
}

MemoryPlan plan_memory(const ModelFootprint& model, const SessionOptions& options) {
  // The standing and hybrid modes hold a KV cache over the memory's prompt.
  const bool cached = options.context_mode != ContextMode::Exact;
  const int64_t text = text_positions(model, options.max_new_tokens);
  const int64_t per_entry = std::max<int64_t>(model.entry_positions, 1);
  int64_t limit = std::max<int64_t>(1, (model.max_token - text) / per_entry);
  if (options.max_entries > 0) limit = std::min(limit, options.max_entries);

  MemoryPlan plan;
  plan.memory.max_entries = limit;
  plan.memory.merge_threshold =
      options.merge_threshold >= 0.0 ? options.merge_threshold : model.merge_threshold;
  const int64_t cap = options.max_memory_bytes;
  if (cap > 0) {
    // The cache holds the text and every entry's positions.
    const int64_t cache_fixed = cached ? model.kv_bytes_per_position * text : 0;
    const int64_t cache_per_entry = cached ? model.kv_bytes_per_position * per_entry : 0;
    const int64_t need = cache_fixed + cache_per_entry + model.entry_bytes;
    if (cap < need)
      throw Error("max-memory-bytes " + std::to_string(cap) + " is too small for this model: " +
                  "one entry in " + context_mode_name(options.context_mode) + " mode needs " +
                  std::to_string(need) + " bytes");
    plan.memory.max_entries = std::min(limit, (cap - cache_fixed) / (cache_per_entry + model.entry_bytes));
    // What the cache does not take is left to the entries' tensors (features in exact mode).
    plan.memory.max_bytes = cap - cache_fixed - cache_per_entry * plan.memory.max_entries;
  }
  plan.cache_positions =
      std::min(model.max_token, text + plan.memory.max_entries * per_entry);
  return plan;
}

}  // namespace llamavid
