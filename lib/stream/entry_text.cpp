#include "stream/entry_text.h"

#include "text/time_marker.h"

namespace llamavid {

std::string entry_text(const MemoryEntry& entry, PromptStyle style, TimeMarkers markers) {
  if (style != PromptStyle::Movie) return "";
  return entry.subtitle + format_time_marker(markers, entry.start_ns, entry.end_ns);
}

FrameLayout entries_layout(const std::vector<MemoryEntry>& entries, PromptStyle style,
                           TimeMarkers markers, int64_t slots_per_entry) {
  FrameLayout layout;
  layout.slots_per_frame = slots_per_entry;
  for (const MemoryEntry& e : entries)
    layout.text_after_frame.push_back(entry_text(e, style, markers));
  return layout;
}

}  // namespace llamavid
