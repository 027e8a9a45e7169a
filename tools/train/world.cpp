#include "world.h"

#include <cmath>
#include <cstdio>

namespace llamavid::world {

namespace {

std::vector<std::string> ball_variants(const std::string& argb) {
  std::vector<std::string> out;
  for (const char* motion : {"wavy", "sweep", "hsweep"})
    out.push_back("pattern=ball foreground-color=" + argb + " motion=" + motion);
  return out;
}

int64_t uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

int64_t log_uniform_length(std::mt19937_64& rng, const StreamShape& shape) {
  std::uniform_real_distribution<double> u(std::log(static_cast<double>(shape.min_segment_s)),
                                           std::log(static_cast<double>(shape.max_segment_s) + 1));
  return std::max<int64_t>(shape.min_segment_s, static_cast<int64_t>(std::exp(u(rng))));
}

Segment next_segment(std::mt19937_64& rng, const Stream& stream, int64_t length) {
  Segment s;
  const int64_t previous = stream.segments.empty() ? -1 : stream.segments.back().cls;
  do {
    s.cls = uniform(rng, 0, num_classes() - 1);
  } while (s.cls == previous);
  s.variant = uniform(rng, 0, static_cast<int64_t>(pattern_classes()[s.cls].variants.size()) - 1);
  s.start_s = stream.length_s();
  s.end_s = s.start_s + length;
  return s;
}

}  // namespace

const std::vector<PatternClass>& pattern_classes() {
  static const std::vector<PatternClass> classes = {
      {"smpte", {"pattern=smpte"}},
      {"smpte75", {"pattern=smpte75"}},
      {"snow", {"pattern=snow"}},
      {"black", {"pattern=black"}},
      {"white", {"pattern=white"}},
      {"red", {"pattern=red"}},
      {"green", {"pattern=green"}},
      {"blue", {"pattern=blue"}},
      {"checkers", {"pattern=checkers-1", "pattern=checkers-2", "pattern=checkers-4",
                    "pattern=checkers-8"}},
      {"circular", {"pattern=circular"}},
      {"white ball", ball_variants("0xffffffff"), true},
      {"red ball", ball_variants("0xffff0000"), true},
      {"green ball", ball_variants("0xff00ff00"), true},
      {"blue ball", ball_variants("0xff0000ff"), true},
      {"yellow ball", ball_variants("0xffffff00"), true},
      {"pinwheel", {"pattern=pinwheel"}},
      {"spokes", {"pattern=spokes"}},
      {"gradient", {"pattern=gradient"}},
      {"zone-plate", {"pattern=zone-plate"}},
      {"colors", {"pattern=colors"}},
  };
  return classes;
}

int64_t num_classes() { return static_cast<int64_t>(pattern_classes().size()); }

int64_t class_of_label(const std::string& label) {
  for (int64_t i = 0; i < num_classes(); ++i)
    if (pattern_classes()[i].label == label) return i;
  return -1;
}

Stream stream_with_segments(std::mt19937_64& rng, int64_t segments, const StreamShape& shape) {
  Stream stream;
  for (int64_t i = 0; i < segments; ++i)
    stream.segments.push_back(next_segment(rng, stream, log_uniform_length(rng, shape)));
  return stream;
}

Stream stream_with_length(std::mt19937_64& rng, int64_t length_s, const StreamShape& shape) {
  Stream stream;
  while (stream.length_s() < length_s) {
    const int64_t left = length_s - stream.length_s();
    int64_t length = std::min(log_uniform_length(rng, shape), left);
    if (left - length < shape.min_segment_s) length = left;  // no sliver at the end
    stream.segments.push_back(next_segment(rng, stream, length));
  }
  return stream;
}

std::vector<SampledSpan> sampled_spans(const Stream& stream, double interval_s) {
  std::vector<SampledSpan> out;
  const double step_ns = interval_s * 1e9;
  for (size_t i = 0; i < stream.segments.size(); ++i) {
    const Segment& s = stream.segments[i];
    // Samples are taken at k * interval: the first at or after the start, the last before the
    // end.
    const auto first = static_cast<int64_t>(std::ceil(s.start_s * 1e9 / step_ns - 1e-9));
    const auto last = static_cast<int64_t>(std::ceil(s.end_s * 1e9 / step_ns - 1e-9)) - 1;
    if (last < first) continue;
    out.push_back({static_cast<int64_t>(i), std::llround(first * step_ns),
                   std::llround(last * step_ns), last - first + 1});
  }
  return out;
}

int64_t shown_class(const Stream& stream, const SampledSpan& span) {
  static const int64_t black = class_of_label("black");
  return span.off_crop ? black : stream.segments[static_cast<size_t>(span.segment)].cls;
}

bool parse_clock(const std::string& text, int64_t& seconds) {
  long long a = 0, b = 0, c = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%lld:%lld:%lld%c", &a, &b, &c, &tail) == 3) {
    seconds = a * 3600 + b * 60 + c;
    return b < 60 && c < 60;
  }
  if (std::sscanf(text.c_str(), "%lld:%lld%c", &a, &b, &tail) == 2) {
    seconds = a * 60 + b;
    return b < 60;
  }
  if (std::sscanf(text.c_str(), "%lld%c", &a, &tail) == 1) {
    seconds = a;
    return true;
  }
  return false;
}

}  // namespace llamavid::world
