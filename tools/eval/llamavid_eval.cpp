// llamavid-eval: measures a model on held-out streams of the synthetic broadcast world.
//
//   llamavid-eval [--model DIR] [--seed S] [--streams N] [--min-length SECONDS]
//                 [--max-length SECONDS] [--questions N] [--threads N] [--json FILE]
//                 [--check CATEGORY=FRACTION,...]
//
// Each stream is rendered by GStreamer (videotestsrc, frames at the sampling rate only, so far
// faster than real time), at frame sizes and sampling rates that include ones never trained
// on, and fed to a lib Session as the element feeds it; then the questions are asked about
// everything seen and graded per category. Streams come from stream_with_length on seeds that
// training never uses (training draws stream_with_segments from its own seed sequence).
// --check exits 1 when a category scores below its fraction.
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
#include <torch/torch.h>

#include "default_model.h"
#include "error.h"
#include "frame.h"
#include "model.h"
#include "preprocess.h"
#include "questions.h"
#include "render.h"
#include "session.h"
#include "world.h"

using namespace llamavid;
using namespace llamavid::world;

namespace {

struct Options {
  std::string model;
  uint64_t seed = 1;
  int64_t streams = 10;
  int64_t min_length_s = 600;
  int64_t max_length_s = 3 * 3600;
  int64_t questions = 50;
  int64_t threads = 1;
  std::string json;
  std::map<std::string, double> check;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "llamavid-eval: " << why << "\n"
            << "usage: llamavid-eval [--model DIR] [--seed S] [--streams N] [--min-length S]\n"
            << "                     [--max-length S] [--questions N] [--threads N]\n"
            << "                     [--json FILE] [--check CATEGORY=FRACTION,...]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value after " + a);
    const std::string v = argv[++i];
    try {
      if (a == "--model") o.model = v;
      else if (a == "--seed") o.seed = std::stoull(v);
      else if (a == "--streams") o.streams = std::stoll(v);
      else if (a == "--min-length") o.min_length_s = std::stoll(v);
      else if (a == "--max-length") o.max_length_s = std::stoll(v);
      else if (a == "--questions") o.questions = std::stoll(v);
      else if (a == "--threads") o.threads = std::stoll(v);
      else if (a == "--json") o.json = v;
      else if (a == "--check") {
        size_t start = 0;
        while (start < v.size()) {
          size_t end = v.find(',', start);
          if (end == std::string::npos) end = v.size();
          const std::string item = v.substr(start, end - start);
          const size_t eq = item.find('=');
          Category c;
          if (eq == std::string::npos || !category_from_name(item.substr(0, eq), c))
            usage("bad --check item '" + item + "'");
          o.check[item.substr(0, eq)] = std::stod(item.substr(eq + 1));
          start = end + 1;
        }
      } else usage("unknown option " + a);
    } catch (const std::logic_error&) {
      usage("bad value '" + v + "' for " + a);
    }
  }
  if (o.min_length_s < 10 || o.max_length_s < o.min_length_s) usage("bad stream lengths");
  return o;
}

// Frame sizes and sampling intervals cycled over the streams: the first of each is a training
// one, the others are not (other aspect ratios, larger and smaller frames, other rates).
const std::vector<std::pair<int, int>> kSizes = {{320, 240}, {1280, 720}, {176, 144},
                                                 {720, 576}, {360, 640}};
const std::vector<std::pair<int, int>> kRates = {{1, 1}, {1, 1}, {2, 1}, {1, 2}};  // fps num/den

// Renders the stream's sampled frames and adds them to the session in batches.
void feed(Session& session, const Stream& stream, int width, int height, int fps_num,
          int fps_den) {
  const double interval = static_cast<double>(fps_den) / fps_num;
  std::vector<cv::Mat> held;
  std::vector<int64_t> pts;
  auto flush = [&] {
    std::vector<Frame> frames;
    for (size_t i = 0; i < held.size(); ++i) frames.push_back(frame_from_rgb(held[i], pts[i]));
    session.add_frames(frames);
    held.clear();
    pts.clear();
  };
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
      held.push_back(rgb.clone());
      pts.push_back(span.first_ns + std::llround(k * interval * 1e9));
      if (held.size() == 64) flush();
    });
  }
  if (!held.empty()) flush();
}

struct Tally {
  int64_t right = 0, total = 0;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    torch::set_num_threads(static_cast<int>(o.threads));
    const std::string dir = o.model.empty() ? default_model_dir() : o.model;
    auto model = Model::load(dir);
    std::map<Category, Tally> tallies;
    std::ofstream json;
    if (!o.json.empty()) json.open(o.json);
    double stream_seconds = 0, wall_seconds = 0;
    int64_t shown_failures = 0;
    for (int64_t i = 0; i < o.streams; ++i) {
      std::mt19937_64 rng(0x5eed0000ULL + o.seed * 1000003ULL + static_cast<uint64_t>(i));
      const double lo = std::log(static_cast<double>(o.min_length_s));
      const double hi = std::log(static_cast<double>(o.max_length_s));
      const auto length = static_cast<int64_t>(
          std::exp(lo + (hi - lo) * (o.streams > 1 ? static_cast<double>(i) / (o.streams - 1) : 0)));
      const Stream stream = stream_with_length(rng, length);
      const auto [w, h] = kSizes[static_cast<size_t>(i) % kSizes.size()];
      const auto [fn, fd] = kRates[static_cast<size_t>(i) % kRates.size()];
      const double interval = static_cast<double>(fd) / fn;

      SessionOptions so;
      so.max_new_tokens = 24;
      Session session(model, so);
      const auto t0 = std::chrono::steady_clock::now();
      feed(session, stream, w, h, fn, fd);
      const double fed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      stream_seconds += static_cast<double>(stream.length_s());
      wall_seconds += fed_s;
      std::printf("stream %lld: %s, %zu segments, %dx%d at %.2g fps, %llu entries, fed in %.1f s\n",
                  static_cast<long long>(i), clock_text(stream.length_s()).c_str(),
                  stream.segments.size(), w, h, 1.0 / interval,
                  static_cast<unsigned long long>(session.memory_frames()), fed_s);
      std::fflush(stdout);
      for (int64_t q = 0; q < o.questions; ++q) {
        Question question;
        const auto cat = static_cast<Category>(q % kNumCategories);
        if (!make_question(rng, cat, stream, interval, question)) continue;
        const std::string answer = session.answer(question.text).text;
        const bool ok = is_correct(question, answer, interval);
        auto& t = tallies[cat];
        t.total++;
        t.right += ok;
        if (!ok && shown_failures < 20) {
          ++shown_failures;
          std::printf("  wrong [%s] %s -> '%s' (expected '%s')\n", category_name(cat),
                      question.text.c_str(), answer.c_str(), question.answer.c_str());
        }
        if (json.is_open())
          json << nlohmann::json{{"stream", i}, {"category", category_name(cat)},
                                 {"question", question.text}, {"expected", question.answer},
                                 {"answer", answer}, {"correct", ok}}.dump()
               << "\n";
      }
    }
    std::printf("\n| category | correct | questions | accuracy |\n|---|---|---|---|\n");
    int64_t right = 0, total = 0;
    bool failed = false;
    for (const auto& [cat, t] : tallies) {
      const double acc = t.total ? static_cast<double>(t.right) / t.total : 0.0;
      std::printf("| %s | %lld | %lld | %.1f %% |\n", category_name(cat),
                  static_cast<long long>(t.right), static_cast<long long>(t.total), 100 * acc);
      right += t.right;
      total += t.total;
      auto it = o.check.find(category_name(cat));
      if (it != o.check.end() && acc < it->second) failed = true;
    }
    std::printf("| all | %lld | %lld | %.1f %% |\n", static_cast<long long>(right),
                static_cast<long long>(total), total ? 100.0 * right / total : 0.0);
    std::printf("\n%.0f s of stream ingested in %.0f s (%.0fx real time)\n", stream_seconds,
                wall_seconds, wall_seconds > 0 ? stream_seconds / wall_seconds : 0.0);
    if (failed) {
      std::printf("FAILED: a category is below its --check threshold\n");
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "llamavid-eval: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
