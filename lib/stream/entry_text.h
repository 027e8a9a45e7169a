// The text after a memory entry's visual slots in the movie prompt: its subtitle, then its time
// marker. One function for the session's prompts and the standing prefix's cache, so that both
// tokenize exactly the same text.
//
// The subtitle comes first because the released long-video checkpoint was trained with
// subtitle text directly after a frame's two slots ("<image><image>{subs}"); our marker, which
// it never saw, follows, so that without markers the prompt is LLaMA-VID's exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "stream/memory.h"
#include "text/prompt.h"

namespace llamavid {

// "" in the short-video layout, which has no text between frames.
std::string entry_text(const MemoryEntry& entry, PromptStyle style, TimeMarkers markers);

// The layout of `entries`: entry_text after each, `slots_per_entry` slots.
FrameLayout entries_layout(const std::vector<MemoryEntry>& entries, PromptStyle style,
                           TimeMarkers markers, int64_t slots_per_entry);

}  // namespace llamavid
