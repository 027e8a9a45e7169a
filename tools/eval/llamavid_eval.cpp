// llamavid-eval: measures a model on held-out streams of the synthetic broadcast world, through
// the real llamavid element.
//
//   llamavid-eval [--model DIR] [--seed S] [--streams N] [--min-length SECONDS]
//                 [--max-length SECONDS] [--questions N] [--threads N] [--json FILE]
//                 [--check CATEGORY=FRACTION,...] [--context-mode standing|exact|hybrid|auto|both]
//                 [--phrasings training|held-out] [--real-files DIR]
//
// Each stream's sampled frames are rendered by GStreamer (videotestsrc, at frame sizes and
// sampling rates that include ones never trained on) and pushed, stamped with their stream time,
// through `appsrc ! videoconvert ! llamavid ! fakesink` (eval_pipeline.h) as fast as the element
// takes them; then the questions are asked with the element's `ask` signal and graded per
// category. With --context-mode both (the default) one element per mode sees the same frames
// and answers the same questions, and the table has a column per mode and their difference.
// Streams come from stream_with_length on seeds that training never uses (training draws
// stream_with_segments from its own seed sequence). --check exits 1 when a category of the
// first mode's column (standing, the element's default, when both) scores below its fraction.
// With --real-files each stream is first encoded into a file by a GStreamer encoder and muxer
// (stream_file.h), at sizes training never used, and played back through decodebin, so the
// element sees what a user's recordings give it.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>

#include "cli_args.h"
#include "core/error.h"
#include "eval_pipeline.h"
#include "stream_file.h"
#include "questions.h"
#include "render.h"
#include "stream/session.h"  // parse_context_mode
#include "world.h"

using namespace llamavid;
using namespace llamavid::world;

namespace {

struct Options {
  std::string model;  // "": the element's default model
  uint64_t seed = 1;
  int64_t streams = 10;
  int64_t min_length_s = 600;
  int64_t max_length_s = 3 * 3600;
  int64_t questions = 50;
  int64_t threads = 1;
  // Context modes evaluated, one column each; the first is the one --check applies to.
  std::vector<std::string> modes = {"standing", "exact"};
  std::string json;
  std::map<std::string, double> check;
  PhrasingSet phrasings = PhrasingSet::Training;
  std::string real_files;  // non-empty: streams are encoded into files there and played back
};

const char* kUsage =
    "usage: llamavid-eval [--model DIR] [--seed S] [--streams N] [--min-length S]\n"
    "                     [--max-length S] [--questions N] [--threads N]\n"
    "                     [--context-mode standing|exact|hybrid|auto|both]\n"
    "                     [--phrasings training|held-out] [--real-files DIR]\n"
    "                     [--json FILE] [--check CATEGORY=FRACTION,...]\n"
    "\n"
    "Measures a model on held-out streams of the synthetic broadcast world, played through the\n"
    "llamavid element, and prints the share of right answers per question category, then\n"
    "the same for the streams grouped by how the first mode's memory holds them (by entry\n"
    "count, or split: more entries than segments).\n"
    "\n"
    "  --model DIR        model directory (default: the element's default model)\n"
    "  --seed S           seed of the streams and questions (default 1; training never uses\n"
    "                     these streams)\n"
    "  --streams N        streams evaluated (default 10)\n"
    "  --min-length S     shortest stream, seconds (default 600)\n"
    "  --max-length S     longest stream, seconds (default 10800); lengths spread\n"
    "                     log-uniformly between the two\n"
    "  --questions N      questions per stream, the categories in turn (default 50)\n"
    "  --threads N        libtorch threads (default 1)\n"
    "  --context-mode M   standing, exact, hybrid, auto, or both (standing and exact side by\n"
    "                     side, the default)\n"
    "  --phrasings P      training (default): the wordings trained on; held-out: the\n"
    "                     wordings training never saw\n"
    "  --real-files DIR   encodes each stream into a file in DIR (x264enc/mp4mux,\n"
    "                     vp8enc/webmmux, jpegenc/avimux, x264enc/matroskamux in turn, at\n"
    "                     sizes never trained: 400x300, 848x480, portrait 270x480, 352x288,\n"
    "                     500x500) and plays it through filesrc ! decodebin ! videoconvert\n"
    "                     (default: rendered frames pushed through appsrc)\n"
    "  --json FILE        writes every question, answer and grade as JSON lines\n"
    "  --check LIST       CATEGORY=FRACTION,...: exits 1 when a category of the first mode\n"
    "                     scores below its fraction (default: no check)\n"
    "  -h, --help         this help\n";

const CliSpec kSpec = {{"model", "seed", "streams", "min-length", "max-length", "questions",
                        "threads", "json", "context-mode", "check", "phrasings", "real-files"},
                       {},
                       {}};

Options parse(const CliArgs& args) {
  if (!args.positional().empty()) throw UsageError("unexpected '" + args.positional()[0] + "'");
  Options o;
  o.model = args.value("model", o.model);
  o.seed = args.integer("seed", o.seed);
  o.streams = static_cast<int64_t>(args.integer("streams", static_cast<uint64_t>(o.streams)));
  o.min_length_s =
      static_cast<int64_t>(args.integer("min-length", static_cast<uint64_t>(o.min_length_s)));
  o.max_length_s =
      static_cast<int64_t>(args.integer("max-length", static_cast<uint64_t>(o.max_length_s)));
  o.questions = static_cast<int64_t>(args.integer("questions", static_cast<uint64_t>(o.questions)));
  o.threads = static_cast<int64_t>(args.integer("threads", static_cast<uint64_t>(o.threads)));
  o.json = args.value("json", o.json);
  if (args.has("context-mode")) {
    const std::string v = args.value("context-mode");
    ContextMode mode;
    if (v == "both")
      o.modes = {"standing", "exact"};
    else if (parse_context_mode(v, mode))
      o.modes = {v};
    else
      throw UsageError("--context-mode must be standing, exact, hybrid, auto or both, not '" +
                       v + "'");
  }
  o.real_files = args.value("real-files", "");
  const std::string p = args.value("phrasings", "training");
  if (p == "held-out")
    o.phrasings = PhrasingSet::HeldOut;
  else if (p != "training")
    throw UsageError("--phrasings must be training or held-out, not '" + p + "'");
  const std::string v = args.value("check");
  size_t start = 0;
  while (start < v.size()) {
    size_t end = v.find(',', start);
    if (end == std::string::npos) end = v.size();
    const std::string item = v.substr(start, end - start);
    const size_t eq = item.find('=');
    Category c;
    if (eq == std::string::npos || !category_from_name(item.substr(0, eq), c))
      throw UsageError("bad --check item '" + item + "'");
    try {
      o.check[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
    } catch (const std::logic_error&) {
      throw UsageError("bad --check item '" + item + "'");
    }
    start = end + 1;
  }
  if (o.min_length_s < 10 || o.max_length_s < o.min_length_s)
    throw UsageError("bad stream lengths");
  if (o.threads < 1) throw UsageError("--threads must be at least 1");
  return o;
}

// Frame sizes and sampling intervals cycled over the streams: the first of each is a training
// one, the others are not (other aspect ratios, larger and smaller frames, other rates).
const std::vector<std::pair<int, int>> kSizes = {{320, 240}, {1280, 720}, {176, 144},
                                                 {720, 576}, {360, 640}};
const std::vector<std::pair<int, int>> kRates = {{1, 1}, {1, 1}, {2, 1}, {1, 2}};  // fps num/den

// Frame sizes of the real files: none is a training size (4:3, 16:9, portrait 9:16, CIF,
// square), cycled with the file formats.
const std::vector<std::pair<int, int>> kFileSizes = {{400, 300}, {848, 480}, {270, 480},
                                                     {352, 288}, {500, 500}};

// Renders the stream's sampled frames and pushes each at its stream time into `sink` (the
// element pipeline, or a file writer), then finishes it.
template <typename Sink>
void feed(Sink& sink, const Stream& stream, int width, int height, int fps_num, int fps_den) {
  const double interval = static_cast<double>(fps_den) / fps_num;
  for (const auto& span : sampled_spans(stream, interval)) {
    const Segment& seg = stream.segments[span.segment];
    RenderRequest r;
    r.pattern = pattern_classes()[seg.cls].variants[seg.variant];
    r.width = width;
    r.height = height;
    r.fps_num = fps_num;
    r.fps_den = fps_den;
    r.frames = span.samples;
    render_frames(r, [&](const cv::Mat& rgb, int64_t k) {
      sink.push(rgb, span.first_ns + std::llround(k * interval * 1e9));
    });
  }
  sink.finish();
}

struct Tally {
  int64_t right = 0, total = 0;
  double accuracy() const { return total ? static_cast<double>(right) / total : 0.0; }
};

// A mode's cells in a row: "correct | accuracy |", or "correct | questions | accuracy |" when
// the table has one mode (its layout before there were modes).
std::string cells(const Tally& t, bool with_questions) {
  char buf[96];
  if (with_questions)
    std::snprintf(buf, sizeof buf, " %lld | %lld | %.1f %% |", static_cast<long long>(t.right),
                  static_cast<long long>(t.total), 100 * t.accuracy());
  else
    std::snprintf(buf, sizeof buf, " %lld | %.1f %% |", static_cast<long long>(t.right),
                  100 * t.accuracy());
  return buf;
}

// Streams grouped by how the first mode's memory holds them: more entries than segments means
// the element split segments (alike frames that did not merge); otherwise by entry count, since
// the longer a memory, the farther an answer's entry lies from the question.
constexpr const char* kMemoryGroups[] = {"1-5 entries", "6-20 entries", "21-60 entries",
                                         "61+ entries", "segments split"};
constexpr size_t kNumMemoryGroups = sizeof kMemoryGroups / sizeof kMemoryGroups[0];

// The index into kMemoryGroups of a stream's group.
size_t memory_group(uint64_t entries, size_t segments) {
  if (entries > segments) return kNumMemoryGroups - 1;  // segments split
  if (entries <= 5) return 0;
  if (entries <= 20) return 1;
  return entries <= 60 ? 2 : 3;
}

struct GroupTally {
  int64_t streams = 0;
  std::map<Category, Tally> categories;
};

// Accuracy per category for each memory group, in the first mode: where the errors are.
void print_groups(const std::string& mode, const std::vector<GroupTally>& groups) {
  std::printf("\nby memory (%s mode), accuracy %% (questions):\n| memory | streams |",
              mode.c_str());
  for (int c = 0; c < kNumCategories; ++c)
    std::printf(" %s |", category_name(static_cast<Category>(c)));
  std::printf(" all |\n|---|---|");
  for (int c = 0; c <= kNumCategories; ++c) std::printf("---|");
  std::printf("\n");
  const auto cell = [](const Tally& t) {
    std::printf(" %.1f (%lld) |", 100 * t.accuracy(), static_cast<long long>(t.total));
  };
  for (size_t g = 0; g < kNumMemoryGroups; ++g) {
    if (groups[g].streams == 0) continue;
    std::printf("| %s | %lld |", kMemoryGroups[g], static_cast<long long>(groups[g].streams));
    Tally all;
    for (int c = 0; c < kNumCategories; ++c) {
      const auto t = groups[g].categories.find(static_cast<Category>(c));
      if (t == groups[g].categories.end()) {
        std::printf(" |");
        continue;
      }
      all.right += t->second.right;
      all.total += t->second.total;
      cell(t->second);
    }
    cell(all);
    std::printf("\n");
  }
}

// The markdown table, a row per category and one for all: one mode's correct answers,
// questions and accuracy; or, for two modes, the questions, each mode's correct answers and
// accuracy, and the first's accuracy minus the second's, in points.
void print_table(const std::vector<std::string>& modes,
                 const std::vector<std::map<Category, Tally>>& tallies) {
  const bool one = modes.size() == 1;
  std::string head = "| category |", rule = "|---|";
  if (one) {
    head += " correct | questions | accuracy |";
    rule += "---|---|---|";
  } else {
    head += " questions |";
    rule += "---|";
    for (const auto& m : modes) {
      head += " " + m + " correct | " + m + " accuracy |";
      rule += "---|---|";
    }
    head += " " + modes[0] + " - " + modes[1] + " |";
    rule += "---|";
  }
  std::printf("\n%s\n%s\n", head.c_str(), rule.c_str());
  std::vector<std::pair<std::string, std::vector<Tally>>> rows;
  std::vector<Tally> all(modes.size());
  for (const auto& [cat, unused] : tallies[0]) {
    std::vector<Tally> row;
    for (size_t m = 0; m < modes.size(); ++m) {
      row.push_back(tallies[m].at(cat));
      all[m].right += row.back().right;
      all[m].total += row.back().total;
    }
    rows.emplace_back(category_name(cat), row);
  }
  rows.emplace_back("all", all);
  for (const auto& [name, row] : rows) {
    std::string line = "| " + name + " |";
    if (one) {
      line += cells(row[0], true);
    } else {
      line += " " + std::to_string(row[0].total) + " |";
      for (const Tally& t : row) line += cells(t, false);
      char diff[32];
      std::snprintf(diff, sizeof diff, " %+.1f |",
                    100 * (row[0].accuracy() - row[1].accuracy()));
      line += diff;
    }
    std::printf("%s\n", line.c_str());
  }
}

int run(const CliArgs& args) {
  const Options o = parse(args);
  // libtorch's intra-op thread count is process-wide: the element's workers use it too.
  at::set_num_threads(static_cast<int>(o.threads));
  std::vector<std::map<Category, Tally>> tallies(o.modes.size());
  std::vector<GroupTally> groups(kNumMemoryGroups);  // the first mode's, by memory_group
  std::ofstream json;
  if (!o.json.empty()) {
    json.open(o.json);
    if (!json) throw Error(o.json + ": cannot be written");
  }
  double stream_seconds = 0, ingest_seconds = 0, answer_seconds = 0;
  int64_t shown_failures = 0;
  for (int64_t i = 0; i < o.streams; ++i) {
    std::mt19937_64 rng(0x5eed0000ULL + o.seed * 1000003ULL + static_cast<uint64_t>(i));
    const double lo = std::log(static_cast<double>(o.min_length_s));
    const double hi = std::log(static_cast<double>(o.max_length_s));
    const auto length = static_cast<int64_t>(
        std::exp(lo + (hi - lo) * (o.streams > 1 ? static_cast<double>(i) / (o.streams - 1) : 0)));
    const Stream stream = stream_with_length(rng, length);
    const auto& sizes = o.real_files.empty() ? kSizes : kFileSizes;
    const auto [w, h] = sizes[static_cast<size_t>(i) % sizes.size()];
    const auto [fn, fd] = kRates[static_cast<size_t>(i) % kRates.size()];
    const double interval = static_cast<double>(fd) / fn;
    std::vector<Question> questions;
    std::vector<std::string> texts;
    for (int64_t q = 0; q < o.questions; ++q) {
      Question question;
      if (!make_question(rng, static_cast<Category>(q % kNumCategories), stream, interval,
                         question, o.phrasings))
        continue;
      questions.push_back(question);
      texts.push_back(question.text);
    }

    eval::EvalPipelineOptions po;
    po.model = o.model;
    po.modes = o.modes;
    po.width = w;
    po.height = h;
    po.fps_num = fn;
    po.fps_den = fd;
    std::string written;  // the real file's format, for the stream's line
    if (!o.real_files.empty()) {
      const auto format = static_cast<eval::FileFormat>(i % eval::kFileFormats);
      po.file = o.real_files + "/stream-" + std::to_string(i) + "." + eval::file_extension(format);
      const auto w0 = std::chrono::steady_clock::now();
      eval::StreamFileWriter writer(po.file, format, w, h, fn, fd);
      feed(writer, stream, w, h, fn, fd);
      char text[128];
      std::snprintf(text, sizeof text, ", %s written in %.1f s", eval::file_format_name(format),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
      written = text;
    }
    eval::EvalPipeline pipeline(po);
    const auto t0 = std::chrono::steady_clock::now();
    if (o.real_files.empty())
      feed(pipeline, stream, w, h, fn, fd);
    else
      pipeline.finish();  // the file plays to its end
    const auto t1 = std::chrono::steady_clock::now();
    const auto answers = pipeline.ask(texts);
    const auto t2 = std::chrono::steady_clock::now();
    const double fed_s = std::chrono::duration<double>(t1 - t0).count();
    const double asked_s = std::chrono::duration<double>(t2 - t1).count();
    stream_seconds += static_cast<double>(stream.length_s());
    ingest_seconds += fed_s;
    answer_seconds += asked_s;
    std::string entries;
    for (size_t m = 0; m < o.modes.size(); ++m)
      entries += (m ? ", " : "") + std::to_string(pipeline.memory_frames(m)) + " entries (" +
                 o.modes[m] + ")";
    std::printf("stream %lld: %s, %zu segments, %dx%d at %.2g fps%s, %s, fed in %.1f s, "
                "%zu questions answered in %.1f s\n",
                static_cast<long long>(i), format_clock(stream.length_s() * 1000000000).c_str(),
                stream.segments.size(), w, h, 1.0 / interval, written.c_str(), entries.c_str(),
                fed_s, questions.size(), asked_s);

    GroupTally& group = groups[memory_group(pipeline.memory_frames(0), stream.segments.size())];
    ++group.streams;
    for (size_t m = 0; m < o.modes.size(); ++m)
      for (size_t q = 0; q < questions.size(); ++q) {
        const Question& question = questions[q];
        const std::string& answer = answers[m][q];
        const bool ok = is_correct(question, answer, interval);
        auto& t = tallies[m][question.category];
        t.total++;
        t.right += ok;
        if (m == 0) {
          auto& g = group.categories[question.category];
          g.total++;
          g.right += ok;
        }
        if (!ok && shown_failures < 20) {
          ++shown_failures;
          std::printf("  wrong [%s, %s] %s -> '%s' (expected '%s')\n", o.modes[m].c_str(),
                      category_name(question.category), question.text.c_str(), answer.c_str(),
                      question.answer.c_str());
        }
        if (json.is_open())
          json << nlohmann::json{{"stream", i}, {"mode", o.modes[m]},
                                 {"category", category_name(question.category)},
                                 {"question", question.text}, {"expected", question.answer},
                                 {"answer", answer}, {"correct", ok},
                                 {"segments", stream.segments.size()},
                                 {"entries", pipeline.memory_frames(m)}}.dump()
               << "\n";
      }
    std::fflush(stdout);
  }
  print_table(o.modes, tallies);
  print_groups(o.modes[0], groups);
  std::printf("\n%.0f s of stream ingested in %.0f s (%.0fx real time) by %zu llamavid "
              "element(s) in one pipeline; questions answered in %.0f s\n",
              stream_seconds, ingest_seconds,
              ingest_seconds > 0 ? stream_seconds / ingest_seconds : 0.0, o.modes.size(),
              answer_seconds);
  bool failed = false;
  for (const auto& [name, fraction] : o.check) {
    Category cat = Category::Now;
    category_from_name(name, cat);
    const auto it = tallies[0].find(cat);
    if (it != tallies[0].end() && it->second.accuracy() < fraction) {
      std::printf("FAILED: %s (%s mode) scores %.1f %%, below --check %.1f %%\n", name.c_str(),
                  o.modes[0].c_str(), 100 * it->second.accuracy(), 100 * fraction);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main("llamavid-eval", kUsage, argc, argv, kSpec, run);
}
