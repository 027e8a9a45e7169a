// The LLM input of an answer: prompt ids (with kImageTokenIndex slots) embedded, and the visual
// tokens of the memory entries spliced into the slots in order. Shared by Session::answer and
// the trainer of the default model, so that what the model learns from is what it is served.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "core/config.h"
#include "model/llama.h"
#include "text/prompt.h"

namespace llamavid {

// Texts after the entries (time markers of `marker_kind` from each entry's [start_ns, end_ns])
// with `slots_per_entry` slots each.
FrameLayout entry_layout(const std::vector<std::pair<int64_t, int64_t>>& spans_ns,
                         TimeMarkers marker_kind, int64_t slots_per_entry);

// The visual rows of entries in prompt order: each entry's context token, then its content
// tokens. Every prompt (answers in both context modes, the standing prefix, the trainer) is
// built from this order. context [T, C], content [T, K, C] -> [T * (1 + K), C]
torch::Tensor entry_rows(const torch::Tensor& context, const torch::Tensor& content);
// The same for the entries `indexes` only (the time anchors' rows); undefined when there are
// none. context [T, C], content [T, K, C] -> [n * (1 + K), C]
torch::Tensor entry_rows(const torch::Tensor& context, const torch::Tensor& content,
                         const std::vector<size_t>& indexes);

// Embeds the text runs of `prompt` and puts `rows_per_slot` visual rows at each
// kImageTokenIndex, in order; every visual row must be used. Autograd follows the caller.
// visual [V, C] -> [L, C]
torch::Tensor splice_visual(Llama& llm, const std::vector<int64_t>& prompt,
                            const torch::Tensor& visual, int64_t rows_per_slot);

}  // namespace llamavid
