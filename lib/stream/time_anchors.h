// Time anchors (llamavid_time_anchors): the memory entries a question's clock times name, whose
// visual tokens a model trained with them reads again right after the question. "What was on
// screen at 00:12:05?" then asks about the tokens beside it, as "What is on screen?" asks about
// the newest entry's, instead of asking the decoder to compare clock texts with every entry's
// marker, which the default model did not learn (its card: "at" stayed at 30 %).
// Shared by Session and the trainer, so that a model reads the entries it was trained to read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace llamavid {

// The most entries one question's anchors bring (a range is thinned to them).
constexpr size_t kMaxAnchorEntries = 16;
// How long after the newest entry's last frame a time still counts as shown by it: about the
// longest sampling interval, since a question may name the second the stream is at.
constexpr int64_t kAnchorSlackNs = 5000000000;

// For entries spanning spans_ns[i] = [first frame, last frame] (ns, in stream order), the
// indexes of the entries `question` names, in order: for one clock time the entry that holds it
// (the last one starting at or before it), none if the time is before the first entry or more
// than kAnchorSlackNs after the newest one's end; for two or more (the first two count, "between
// A and B") every entry from the one holding the earlier to the one holding the later, the range
// clipped to the memory, evenly thinned to kMaxAnchorEntries keeping both ends; none without a
// clock time.
std::vector<size_t> time_anchor_entries(const std::string& question,
                                        const std::vector<std::pair<int64_t, int64_t>>& spans_ns);

}  // namespace llamavid
