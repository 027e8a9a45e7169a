// The time markers the movie prompt puts after each memory entry, and the clock text inside
// them. The session, the standing prefix, the trainer and its question generator all write
// markers and clock times through these, so the text a model is trained on is the text it is
// served.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"

namespace llamavid {

// "hh:mm:ss" of a stream time, whole seconds rounded down (hours grow past two digits when
// needed; negative times read as 0).
std::string format_clock(int64_t ns);
// The marker text of an entry spanning [start_ns, end_ns]: "[hh:mm:ss]" (Start) or
// "[hh:mm:ss-hh:mm:ss, hh:mm:ss]" (Span: start, end, duration); "" for None.
std::string format_time_marker(TimeMarkers kind, int64_t start_ns, int64_t end_ns);

// The first `most` clock times written "h:mm:ss" in `text` (1 to 6 hour digits, minutes and
// seconds two digits under 60, no digit right before or after), in ns, in the order written.
std::vector<int64_t> clock_times(const std::string& text, size_t most);

}  // namespace llamavid
