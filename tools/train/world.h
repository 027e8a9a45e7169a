// The synthetic broadcast world the default model is trained and evaluated on: streams made of
// segments of GStreamer videotestsrc patterns separated by hard cuts, each with its
// ground-truth timeline. Free of libtorch and GStreamer.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "text/time_marker.h"  // format_clock, format_time_marker: the clock text of markers

namespace llamavid::world {

// One class of picture the model names: its answer text and the videotestsrc properties of
// each variant that shows it (ball motions, checker sizes), all answered with the same label.
struct PatternClass {
  std::string label;
  std::vector<std::string> variants;
  // Drawn moving over the whole frame (a ball): a centre crop loses it part of the time, and
  // the element then sees a black frame while the truth is still this class.
  bool moves = false;
};

// Every class, in a fixed order (the class index is the position).
const std::vector<PatternClass>& pattern_classes();
int64_t num_classes();
// Index of a label; -1 when no class has it.
int64_t class_of_label(const std::string& label);

// [start_s, end_s) of stream time, whole seconds, showing one variant of one class.
struct Segment {
  int64_t cls = 0;
  int64_t variant = 0;
  int64_t start_s = 0;
  int64_t end_s = 0;
  int64_t length_s() const { return end_s - start_s; }
};

struct Stream {
  std::vector<Segment> segments;  // in time order, contiguous from 0, neighbours differ in class
  int64_t length_s() const { return segments.empty() ? 0 : segments.back().end_s; }
};

// Segment lengths are log-uniform in [min_segment_s, max_segment_s]: mostly short segments,
// some of tens of minutes.
struct StreamShape {
  int64_t min_segment_s = 3;
  int64_t max_segment_s = 1800;
};

// A stream of exactly `segments` segments.
Stream stream_with_segments(std::mt19937_64& rng, int64_t segments, const StreamShape& shape = {});
// A stream of exactly `length_s` seconds (the last segment is cut to fit; one shorter than the
// minimum is absorbed by its predecessor).
Stream stream_with_length(std::mt19937_64& rng, int64_t length_s, const StreamShape& shape = {});

// What the memory of a stream sampled every `interval_s` seconds from time 0 holds when alike
// frames merge: per segment, the first and last sampled instants inside it (ns). Segments that
// no sample falls in are absent.
struct SampledSpan {
  int64_t segment = 0;  // index into Stream::segments
  int64_t first_ns = 0;
  int64_t last_ns = 0;
  int64_t samples = 0;
  // The samples show black: a moving pattern outside the centre crop (examples' flicker_spans).
  bool off_crop = false;
};
std::vector<SampledSpan> sampled_spans(const Stream& stream, double interval_s);

// The class a span's frames show: its segment's, or black where the span is off the crop.
int64_t shown_class(const Stream& stream, const SampledSpan& span);

// Parses "hh:mm:ss" (or "mm:ss", or plain seconds); false when the text is none of these.
bool parse_clock(const std::string& text, int64_t& seconds);

}  // namespace llamavid::world
