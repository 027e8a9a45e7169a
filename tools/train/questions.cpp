#include "questions.h"

#include <algorithm>
#include <set>
#include <cctype>
#include <cmath>
#include <map>

#include "phrasings.h"

namespace llamavid::world {

namespace {

constexpr int64_t kNs = 1000000000;  // per second

const char* const kCategoryNames[kNumCategories] = {
    "now", "on-screen", "at", "order", "presence", "first", "last", "duration", "count", "describe",
    "off-topic"};

int64_t pick(std::mt19937_64& rng, int64_t n) {
  return std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
}

// One of the phrasings of `category` in `set` for `form`, filled in.
std::string worded(std::mt19937_64& rng, Category category, PhrasingSet set, Form form,
                   const std::string& x, const std::string& t = "", const std::string& u = "") {
  const auto& options = phrasings(category, set, form);
  return fill(options[pick(rng, static_cast<int64_t>(options.size()))], x, t, u);
}


const std::string& label(int64_t cls) { return pattern_classes()[cls].label; }

// Classes that fill the whole screen with one colour: "Is the screen black?" asks about them.
bool is_colour_class(int64_t cls) {
  static const std::set<std::string> colours = {"black", "white", "red", "green", "blue"};
  return colours.count(label(cls)) > 0;
}

// Segment indices of each class, in time order.
std::map<int64_t, std::vector<int64_t>> occurrences(const Stream& stream) {
  std::map<int64_t, std::vector<int64_t>> out;
  for (size_t i = 0; i < stream.segments.size(); ++i)
    out[stream.segments[i].cls].push_back(static_cast<int64_t>(i));
  return out;
}

int64_t random_present_class(std::mt19937_64& rng, const Stream& stream) {
  return stream.segments[pick(rng, static_cast<int64_t>(stream.segments.size()))].cls;
}

bool random_absent_class(std::mt19937_64& rng, const Stream& stream, int64_t& cls) {
  const auto occ = occurrences(stream);
  std::vector<int64_t> absent;
  for (int64_t c = 0; c < num_classes(); ++c)
    if (!occ.count(c)) absent.push_back(c);
  if (absent.empty()) return false;
  cls = absent[pick(rng, static_cast<int64_t>(absent.size()))];
  return true;
}

// Segments whose class appears exactly once.
std::vector<int64_t> unique_segments(const Stream& stream) {
  std::vector<int64_t> out;
  for (const auto& [cls, segs] : occurrences(stream))
    if (segs.size() == 1) out.push_back(segs[0]);
  std::sort(out.begin(), out.end());
  return out;
}

std::string normalise(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  s = s.substr(b);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const char* category_name(Category category) { return kCategoryNames[static_cast<int>(category)]; }

bool category_from_name(const std::string& name, Category& out) {
  for (int i = 0; i < kNumCategories; ++i)
    if (name == kCategoryNames[i]) {
      out = static_cast<Category>(i);
      return true;
    }
  return false;
}

bool make_question(std::mt19937_64& rng, Category category, const Stream& stream,
                   double interval_s, Question& out, PhrasingSet set) {
  if (stream.segments.empty()) return false;
  const std::vector<SampledSpan> spans = sampled_spans(stream, interval_s);
  if (spans.empty()) return false;
  // Span of each sampled segment (segments too short to be sampled are invisible).
  std::map<int64_t, SampledSpan> span_of;
  for (const auto& s : spans) span_of[s.segment] = s;
  out = Question{};
  out.category = category;
  switch (category) {
    case Category::Now:
      out.text = worded(rng, category, set, Form::Plain, "");
      out.answer = label(stream.segments[spans.back().segment].cls);
      return true;
    case Category::OnScreen: {
      // Half yes; of the noes, half name a class the stream showed earlier, so the answer is
      // about the newest frame, not about the whole memory.
      const int64_t now = stream.segments[spans.back().segment].cls;
      int64_t cls = now;
      if (pick(rng, 2)) {
        std::vector<int64_t> earlier;
        for (const auto& s : spans)
          if (stream.segments[s.segment].cls != now) earlier.push_back(stream.segments[s.segment].cls);
        if (!earlier.empty() && pick(rng, 2))
          cls = earlier[pick(rng, static_cast<int64_t>(earlier.size()))];
        else
          while (cls == now) cls = pick(rng, num_classes());
      }
      const Form form = is_colour_class(cls) && pick(rng, 2) ? Form::Colour : Form::Plain;
      out.text = worded(rng, category, set, form, label(cls));
      out.answer = cls == now ? kYes : kNo;
      out.value = cls == now ? 1 : 0;
      return true;
    }
    case Category::At: {
      const int64_t seg = spans[pick(rng, static_cast<int64_t>(spans.size()))].segment;
      const Segment& s = stream.segments[seg];
      const int64_t t = s.start_s + pick(rng, s.length_s());
      out.text = worded(rng, category, set, Form::Plain, "", format_clock(t * kNs));
      out.answer = label(s.cls);
      return true;
    }
    case Category::Order: {
      std::vector<std::pair<int64_t, bool>> choices;  // (segment, asks for the one before)
      for (int64_t seg : unique_segments(stream)) {
        if (!span_of.count(seg)) continue;
        if (seg > 0 && span_of.count(seg - 1)) choices.push_back({seg, true});
        if (seg + 1 < static_cast<int64_t>(stream.segments.size()) && span_of.count(seg + 1))
          choices.push_back({seg, false});
      }
      if (choices.empty()) return false;
      const auto [seg, before] = choices[pick(rng, static_cast<int64_t>(choices.size()))];
      out.text = worded(rng, category, set, before ? Form::Before : Form::After,
                        label(stream.segments[seg].cls));
      out.answer = label(stream.segments[before ? seg - 1 : seg + 1].cls);
      return true;
    }
    case Category::Presence: {
      int64_t cls = random_present_class(rng, stream);
      bool present = true;
      if (pick(rng, 2) && random_absent_class(rng, stream, cls)) present = false;
      out.text = worded(rng, category, set, Form::Plain, label(cls));
      out.answer = present ? kYes : kNo;
      out.value = present ? 1 : 0;
      return true;
    }
    case Category::First:
    case Category::Last: {
      const int64_t cls = stream.segments[spans[pick(rng, static_cast<int64_t>(spans.size()))]
                                              .segment].cls;
      const SampledSpan* chosen = nullptr;
      for (const auto& s : spans) {
        if (stream.segments[s.segment].cls != cls) continue;
        if (!chosen || category == Category::Last) chosen = &s;
        if (category == Category::First) break;
      }
      out.text = worded(rng, category, set, Form::Plain, label(cls));
      out.answer = format_clock(chosen->first_ns);
      out.value = stream.segments[chosen->segment].start_s;
      return true;
    }
    case Category::Duration: {
      std::vector<int64_t> choices;
      for (int64_t seg : unique_segments(stream))
        if (span_of.count(seg)) choices.push_back(seg);
      if (choices.empty()) return false;
      const int64_t seg = choices[pick(rng, static_cast<int64_t>(choices.size()))];
      const SampledSpan& s = span_of[seg];
      out.text = worded(rng, category, set, Form::Plain, label(stream.segments[seg].cls));
      out.answer = format_clock(s.last_ns - s.first_ns);
      out.value = stream.segments[seg].length_s();
      return true;
    }
    case Category::Count: {
      int64_t cls = random_present_class(rng, stream);
      if (pick(rng, 5) == 0) random_absent_class(rng, stream, cls);
      int64_t n = 0;
      for (const auto& s : spans) n += stream.segments[s.segment].cls == cls;
      out.text = worded(rng, category, set, Form::Plain, label(cls));
      out.answer = std::to_string(n);
      out.value = n;
      return true;
    }
    case Category::Describe: {
      const int64_t first = pick(rng, static_cast<int64_t>(spans.size()));
      const int64_t last =
          std::min<int64_t>(first + pick(rng, 3), static_cast<int64_t>(spans.size()) - 1);
      // From a sampled instant of the first segment to a sampled instant of the last one, so
      // both ends fall inside what the memory shows.
      const int64_t from = spans[first].first_ns / 1000000000 +
                           pick(rng, std::max<int64_t>(1, (spans[first].last_ns -
                                                           spans[first].first_ns) / 1000000000 + 1));
      int64_t to = spans[last].first_ns / 1000000000 +
                   pick(rng, std::max<int64_t>(1, (spans[last].last_ns - spans[last].first_ns) /
                                                      1000000000 + 1));
      if (to <= from) to = from + 1;
      out.text = worded(rng, category, set, Form::Plain, "", format_clock(from * kNs),
                        format_clock(to * kNs));
      for (int64_t i = first; i <= last; ++i) {
        if (i > first) out.answer += ", ";
        out.answer += label(stream.segments[spans[i].segment].cls);
      }
      return true;
    }
    case Category::OffTopic:
      out.text = worded(rng, category, set, Form::Plain, "");
      out.answer = kOffTopicAnswer;
      return true;
  }
  return false;
}

bool is_correct(const Question& q, const std::string& answer, double interval_s) {
  const std::string a = normalise(answer);
  int64_t v = 0;
  switch (q.category) {
    case Category::First:
    case Category::Last:
      return parse_clock(a, v) && std::llabs(v - q.value) <= 5;
    case Category::Duration:
      return parse_clock(a, v) &&
             std::fabs(static_cast<double>(v - q.value)) <=
                 std::max(0.1 * static_cast<double>(q.value), interval_s + 0.5);
    case Category::Count:
      return parse_clock(a, v) && a.find(':') == std::string::npos && v == q.value;
    default:
      return a == normalise(q.answer);
  }
}

std::vector<std::string> corpus_lines(std::mt19937_64& rng, int64_t streams) {
  std::vector<std::string> lines;
  for (int64_t i = 0; i < streams; ++i) {
    const Stream s = stream_with_segments(rng, 2 + pick(rng, 40));
    for (int c = 0; c < kNumCategories; ++c) {
      Question q;
      if (!make_question(rng, static_cast<Category>(c), s, 1.0, q)) continue;
      lines.push_back(q.text);
      lines.push_back(q.answer);
    }
    for (const auto& span : sampled_spans(s, 1.0))
      lines.push_back(format_time_marker(TimeMarkers::Span, span.first_ns, span.last_ns));
  }
  for (const auto& q : phrasings(Category::OffTopic, PhrasingSet::Training)) lines.push_back(q);
  return lines;
}

}  // namespace llamavid::world
