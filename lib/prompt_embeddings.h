// The LLM input of an answer: prompt ids (with kImageTokenIndex slots) embedded, and the visual
// tokens of the memory entries spliced into the slots in order. Shared by Session::answer and
// the trainer of the default model, so that what the model learns from is what it is served.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "llama.h"
#include "prompt.h"

namespace llamavid {

// Texts after the entries (time markers of kind "none", "start" or "span" from each entry's
// [start_ns, end_ns]) with `slots_per_entry` slots each.
FrameLayout entry_layout(const std::vector<std::pair<int64_t, int64_t>>& spans_ns,
                         const std::string& marker_kind, int64_t slots_per_entry);

// Embeds the text runs of `prompt` and puts `rows_per_slot` visual rows at each
// kImageTokenIndex, in order; every visual row must be used. Autograd follows the caller.
// visual [V, C] -> [L, C]
torch::Tensor splice_visual(Llama& llm, const std::vector<int64_t>& prompt,
                            const torch::Tensor& visual, int64_t rows_per_slot);

}  // namespace llamavid
