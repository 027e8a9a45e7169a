// llamavid-bench: how fast a model tokenizes a stream and answers about hours of it, in bounded
// memory, against the LLaMA-VID way (exact context tokens, no merging, full prefill per
// question), on the same model in the same run. See docs/benchmarks.md.
#include <time.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "bench_measures.h"
#include "simulated_stream.h"
#include "watch_capacity.h"
#include "cli_args.h"
#include "core/default_model.h"
#include "core/error.h"
#include "model/model.h"
#include "render.h"
#include "stream/session.h"
#include "stream/stream_analyzer.h"
#include "vision/preprocess.h"
#include "world.h"

using namespace llamavid;
using json = nlohmann::json;

namespace {

const char* kUsage =
    "usage: llamavid-bench [--model DIR] [--hours 1,2,4,8] [--cap-hours 24]\n"
    "                      [--context-mode auto|standing|exact|hybrid] [--max-memory-bytes N]\n"
    "                      [--hybrid-window S]\n"
    "                      [--question TEXT] [--max-new-tokens N] [--repeats N] [--batch N]\n"
    "                      [--width W] [--height H] [--min-cut S] [--max-cut S] [--seed N]\n"
    "                      [--ask-every S]\n"
    "                      [--no-llamavid-way] [--no-hybrid] [--released] [--json]\n"
    "       llamavid-bench --watch-capacity [--watch-seconds S] [--watch-hours H] [--model DIR]\n"
    "                      [--context-mode M] [--width W] [--height H] [--seed N] [--json]\n"
    "\n"
    "Simulates a 1 fps stream of GStreamer test patterns with a cut every --min-cut to --max-cut\n"
    "seconds (log-uniform), fed faster than real time, and prints frames/s tokenized, answer\n"
    "latency after each of --hours hours held, resident memory per hour, the same latencies in\n"
    "the hybrid mode (unless it is the mode measured) and the LLaMA-VID way, the encoder's\n"
    "GFLOP/s against this machine's fp32 matmul peak, and the memory cap check over\n"
    "--cap-hours. With --watch-capacity it measures instead how many standing questions one\n"
    "live 1 fps stream sustains before evaluations are skipped.\n"
    "\n"
    "  --model DIR            model directory (default: the shipped default model)\n"
    "  --hours LIST           hours of stream held when answers are timed (default 1,2,4,8)\n"
    "  --cap-hours H          the stream runs on to H hours to check the memory cap (default 24)\n"
    "  --context-mode M       auto (default: the model's own), standing, exact or hybrid\n"
    "  --max-memory-bytes N   the memory's byte cap (default 1073741824, as the element's)\n"
    "  --hybrid-window S      the hybrid mode's window in seconds (default 300)\n"
    "  --question TEXT        the question timed (default \"What is on screen?\")\n"
    "  --max-new-tokens N     answer length limit (default 64)\n"
    "  --repeats N            answers timed at each checkpoint, median kept (default 3)\n"
    "  --batch N              frames per encoder batch (default: the element's encoder's, 4)\n"
    "  --width W, --height H  frame size of the patterns (default 320x240)\n"
    "  --min-cut S, --max-cut S  seconds between cuts, log-uniform (default 10 and 60)\n"
    "  --seed N               seed of the simulated stream (default 1)\n"
    "  --ask-every S          one more answer every S seconds of stream over the whole run,\n"
    "                         reported as median, 99th percentile and maximum with the slowest\n"
    "                         ingest batch (default 60; 0: none)\n"
    "  --no-llamavid-way      skips the LLaMA-VID way (exact context tokens, no merging)\n"
    "  --no-hybrid            skips the hybrid mode's latencies\n"
    "  --released             adds the released-size (7B, EVA-ViT-g) figures and measures\n"
    "                         EVA-ViT-g with random weights in fp32 and bf16 (minutes)\n"
    "  --watch-capacity       measures watches per live 1 fps stream (doubling, then\n"
    "                         bisecting, one trial each): nothing else is run\n"
    "  --watch-seconds S      live seconds per trial (default 30)\n"
    "  --watch-hours H        stream held before each trial (default 1)\n"
    "  --json                 prints the figures as JSON instead of text\n"
    "  -h, --help             this help\n";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<double> parse_hours(const std::string& text) {
  std::vector<double> hours;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      hours.push_back(std::stod(item));
    } catch (const std::exception&) {
      throw UsageError("--hours: '" + item + "' is not a number");
    }
    if (hours.back() <= 0) throw UsageError("--hours: every value must be positive");
  }
  if (hours.empty()) throw UsageError("--hours: give at least one value");
  std::sort(hours.begin(), hours.end());
  return hours;
}

// CPU time of this process (every thread), in seconds.
double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

// The 1-minute load average: other work on the machine slows every wall-clock figure.
double load_average() {
  double load[1] = {0.0};
  return getloadavg(load, 1) == 1 ? load[0] : -1.0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

struct Latency {
  double first_token_s = 0.0;
  double full_s = 0.0;
  int64_t tokens = 0;
};

// Median latencies of `repeats` answers to `question`.
Latency measure_answer(Session& session, const std::string& question, int repeats) {
  std::vector<double> first, full;
  int64_t tokens = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    double first_s = -1.0;
    // The abort poll runs right after each generated token: the first poll is the first token.
    Answer a = session.answer(question, false, [&] {
      if (first_s < 0) first_s = seconds_since(t0);
      return false;
    });
    const double total = seconds_since(t0);
    first.push_back(first_s < 0 ? total : first_s);
    full.push_back(total);
    tokens = static_cast<int64_t>(a.ids.size());
  }
  return Latency{median(first), median(full), tokens};
}

struct Checkpoint {
  double hours = 0;
  Latency latency;
  int64_t entries = 0;
  int64_t memory_bytes = 0;
  int64_t rss = 0;
};

struct RunResult {
  double frames_per_s = 0;      // tokenized, over the whole run (wall clock)
  // One answer every `ask_every_s` of stream over the whole run (full answer, seconds), and the
  // slowest ingest batch: an answer in the element can wait for one batch in progress (a
  // thinning rebuild of the prefix is the slow kind), so the worst answer there is about the
  // slowest batch plus the slowest answer.
  std::vector<double> soak_answers_s;
  double slowest_batch_s = 0;
  int64_t slowest_batch_entries = 0;
  double frames_per_cpu_s = 0;  // the same per second of this process's CPU time
  std::vector<Checkpoint> checkpoints;
  int64_t max_memory_bytes_seen = 0;
  std::vector<std::pair<double, int64_t>> rss_by_hour;  // (hours, bytes) every hour
};

// Feeds the simulated stream into `session` up to the last of `hours` (and `run_to_hours`),
// answering at each of `hours`.
RunResult run_stream(Session& session, const std::vector<double>& hours, double run_to_hours,
                     const std::string& question, int repeats, int64_t batch, uint64_t seed,
                     int64_t min_cut, int64_t max_cut, int width, int height, int64_t ask_every_s,
                     const char* label) {
  const int64_t end_s = static_cast<int64_t>(std::max(hours.back(), run_to_hours) * 3600.0);
  bench::SimulatedStream stream(seed, end_s, min_cut, max_cut, width, height);
  RunResult result;
  double encode_s = 0.0, encode_cpu_s = 0.0;
  int64_t t = 0;
  size_t next = 0;
  int64_t next_hour = 1;
  int64_t next_ask = ask_every_s;
  while (t < end_s) {
    const int64_t stop = next < hours.size() ? static_cast<int64_t>(hours[next] * 3600.0) : end_s;
    std::vector<Frame> frames;
    for (int64_t i = 0; i < batch && t < stop; ++i, ++t) frames.push_back(stream.frame_at(t));
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_s();
    session.add_frames(frames);
    const double batch_s = seconds_since(t0);
    encode_s += batch_s;
    encode_cpu_s += process_cpu_s() - cpu0;
    if (batch_s > result.slowest_batch_s) {
      result.slowest_batch_s = batch_s;
      result.slowest_batch_entries = static_cast<int64_t>(session.memory_frames());
    }
    if (ask_every_s > 0 && t >= next_ask) {
      result.soak_answers_s.push_back(measure_answer(session, question, 1).full_s);
      next_ask += ask_every_s;
    }
    result.max_memory_bytes_seen = std::max(result.max_memory_bytes_seen, session.memory_bytes());
    if (t >= next_hour * 3600) {
      result.rss_by_hour.emplace_back(static_cast<double>(next_hour), bench::resident_bytes());
      ++next_hour;
    }
    if (next < hours.size() && t == stop) {
      Checkpoint c;
      c.hours = hours[next];
      c.latency = measure_answer(session, question, repeats);
      c.entries = static_cast<int64_t>(session.memory_frames());
      c.memory_bytes = session.memory_bytes();
      c.rss = bench::resident_bytes();
      std::fprintf(stderr, "%s: %.2f h held, %lld entries, answer %.1f ms (first token %.1f ms)\n",
                   label, c.hours, static_cast<long long>(c.entries), c.latency.full_s * 1e3,
                   c.latency.first_token_s * 1e3);
      result.checkpoints.push_back(c);
      ++next;
    }
  }
  result.frames_per_s = static_cast<double>(end_s) / encode_s;
  result.frames_per_cpu_s = static_cast<double>(end_s) / encode_cpu_s;
  std::fprintf(stderr, "%s: %lld cuts in %lld s of stream\n", label,
               static_cast<long long>(stream.segments_up_to(end_s)), static_cast<long long>(end_s));
  return result;
}

json checkpoints_json(const RunResult& r) {
  json list = json::array();
  for (const auto& c : r.checkpoints)
    list.push_back({{"hours", c.hours},
                    {"first_token_ms", c.latency.first_token_s * 1e3},
                    {"full_answer_ms", c.latency.full_s * 1e3},
                    {"answer_tokens", c.latency.tokens},
                    {"entries", c.entries},
                    {"memory_bytes", c.memory_bytes},
                    {"rss_bytes", c.rss}});
  return list;
}

// Encoder frames/s on preprocessed frames of the model (vision encoder only), batches of `batch`.
double model_vision_fps(const Model& m, int64_t batch) {
  torch::InferenceMode guard;
  const int64_t size = m.config().vision.image_size;
  auto pixels = torch::randn({batch, 3, size, size}).to(m.options());
  m.vision()->forward(pixels);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t done = 0;
  while (seconds_since(t0) < 2.0) {
    m.vision()->forward(pixels);
    done += batch;
  }
  return static_cast<double>(done) / seconds_since(t0);
}

// The released long-video model's sizes (llama-vid-7b-full-224-long-video, fp16), written from
// its configuration, and the EVA-ViT-g encoder measured here with random weights.
json released_figures(double peak_fp32, double peak_bf16, bool measure) {
  ModelConfig c;  // the defaults are the released sizes
  c.vision.image_size = 224;
  c.compress = CompressType::Mean;
  const double fp16 = 2.0;
  const int64_t tokens_per_frame = 1 + c.content_tokens_per_frame();
  const double kv_per_token =
      c.llm.num_hidden_layers * 2.0 * c.llm.num_key_value_heads * c.llm.head_dim() * fp16;
  const double tokens_bytes = tokens_per_frame * c.llm.hidden_size * fp16;
  const double features_bytes = c.vision.num_tokens() * c.vision.hidden_size * fp16;
  const double per_hour = 3600.0;  // frames at 1 fps
  const double vision = bench::vision_flops_per_frame(c.vision);
  const double tokens = bench::token_flops_per_frame(c, 32, 16);
  const double llm = tokens_per_frame * bench::llm_flops_per_token(c.llm);
  json j = {
      {"tokens_per_frame", tokens_per_frame},
      {"memory_tokens_bytes_per_hour", tokens_bytes * per_hour},
      {"memory_features_bytes_per_hour", features_bytes * per_hour},
      {"kv_cache_bytes_per_token", kv_per_token},
      {"kv_cache_bytes_per_hour", kv_per_token * tokens_per_frame * per_hour},
      {"vision_params", bench::vision_params(c.vision)},
      {"vision_gflop_per_frame", vision / 1e9},
      {"token_generator_gflop_per_frame", tokens / 1e9},
      {"llm_prefill_gflop_per_frame", llm / 1e9},
  };
  if (measure) {
    const double fps32 = bench::random_vision_fps(c.vision, torch::kFloat32, 1, 2);
    const double fps16 = bench::random_vision_fps(c.vision, torch::kBFloat16, 1, 1);
    j["vision_fp32_frames_per_s"] = fps32;
    j["vision_fp32_gflops"] = fps32 * vision / 1e9;
    j["vision_fp32_of_peak"] = fps32 * vision / 1e9 / peak_fp32;
    j["vision_bf16_frames_per_s"] = fps16;
    j["vision_bf16_gflops"] = fps16 * vision / 1e9;
    j["vision_bf16_of_bf16_peak"] = fps16 * vision / 1e9 / peak_bf16;
  }
  return j;
}

void print_text(const json& r) {
  const auto& m = r["machine"];
  std::printf("llamavid-bench %s\n", r["date"].get<std::string>().c_str());
  std::printf("machine: %s, %d threads; fp32 matmul peak %.1f GFLOP/s, bf16 %.1f GFLOP/s\n",
              m["cpu"].get<std::string>().c_str(), m["threads"].get<int>(),
              m["fp32_peak_gflops"].get<double>(), m["bf16_peak_gflops"].get<double>());
  const auto& c = r["config"];
  std::printf("model: %s; context mode %s; max-memory-bytes %lld; question \"%s\"\n",
              c["model"].get<std::string>().c_str(), c["context_mode"].get<std::string>().c_str(),
              static_cast<long long>(c["max_memory_bytes"].get<int64_t>()),
              c["question"].get<std::string>().c_str());
  std::printf(
      "stream: 1 fps, %dx%d test patterns, a cut every %lld-%lld s, fed faster than real "
      "time\n\n",
      c["width"].get<int>(), c["height"].get<int>(),
      static_cast<long long>(c["min_cut_s"].get<int64_t>()),
      static_cast<long long>(c["max_cut_s"].get<int64_t>()));
  const auto& e = r["encoder"];
  std::printf(
      "tokenizing: %.1f sampled frames/s (an hour of 1 fps stream in %.1f s); %.1f frames "
      "per CPU-second; load average %.1f at the start, %.1f at the end\n",
      r["frames_per_s"].get<double>(), 3600.0 / r["frames_per_s"].get<double>(),
      r["frames_per_cpu_s"].get<double>(), m["load_average_start"].get<double>(),
      m["load_average_end"].get<double>());
  std::printf("encoder: %.1f frames/s, %.4f GFLOP/frame, %.2f GFLOP/s = %.1f%% of fp32 peak\n\n",
              e["frames_per_s"].get<double>(), e["gflop_per_frame"].get<double>(),
              e["gflops"].get<double>(), 100.0 * e["of_peak"].get<double>());
  std::printf("%-7s %-9s %-14s %-14s %-10s %-12s %-10s\n", "hours", "entries", "first token ms",
              "full answer ms", "tokens", "memory MB", "RSS MB");
  for (const auto& p : r["latency"]) {
    std::printf("%-7.2f %-9lld %-14.1f %-14.1f %-10lld %-12.2f %-10.1f\n", p["hours"].get<double>(),
                static_cast<long long>(p["entries"].get<int64_t>()),
                p["first_token_ms"].get<double>(), p["full_answer_ms"].get<double>(),
                static_cast<long long>(p["answer_tokens"].get<int64_t>()),
                p["memory_bytes"].get<double>() / 1e6, p["rss_bytes"].get<double>() / 1e6);
  }
  if (r.contains("hybrid")) {
    std::printf("\nhybrid (question-guided context tokens for the last %.0f s, standing before):\n",
                r["config"]["hybrid_window_s"].get<double>());
    std::printf("%-7s %-9s %-14s %-14s %-10s\n", "hours", "entries", "first token ms",
                "full answer ms", "tokens");
    for (const auto& p : r["hybrid"])
      std::printf("%-7.2f %-9lld %-14.1f %-14.1f %-10lld\n", p["hours"].get<double>(),
                  static_cast<long long>(p["entries"].get<int64_t>()),
                  p["first_token_ms"].get<double>(), p["full_answer_ms"].get<double>(),
                  static_cast<long long>(p["answer_tokens"].get<int64_t>()));
  }
  if (r.contains("llamavid_way")) {
    std::printf("\nthe LLaMA-VID way (exact context tokens, no merging, full prefill):\n");
    std::printf("%-7s %-9s %-14s %-14s %-10s %-10s\n", "hours", "entries", "first token ms",
                "full answer ms", "tokens", "speed-up");
    const auto& ours = r["latency"];
    size_t i = 0;
    for (const auto& p : r["llamavid_way"]) {
      const double speedup =
          p["full_answer_ms"].get<double>() / ours[i++]["full_answer_ms"].get<double>();
      std::printf("%-7.2f %-9lld %-14.1f %-14.1f %-10lld %.1fx\n", p["hours"].get<double>(),
                  static_cast<long long>(p["entries"].get<int64_t>()),
                  p["first_token_ms"].get<double>(), p["full_answer_ms"].get<double>(),
                  static_cast<long long>(p["answer_tokens"].get<int64_t>()), speedup);
    }
  }
  const auto& mem = r["memory"];
  std::printf("\nresident memory: %.2f MB per hour of stream (hour 1 to %.0f)\n",
              mem["rss_growth_bytes_per_hour"].get<double>() / 1e6,
              mem["rss_last_hour"].get<double>());
  std::printf("memory cap: %lld bytes; largest held over %.0f h: %lld bytes (%s)\n",
              static_cast<long long>(mem["cap_bytes"].get<int64_t>()),
              mem["cap_hours"].get<double>(),
              static_cast<long long>(mem["max_memory_bytes_seen"].get<int64_t>()),
              mem["cap_held"].get<bool>() ? "never exceeded" : "EXCEEDED");
  if (r.contains("soak")) {
    const auto& k = r["soak"];
    std::printf("\nsoak: %lld answers (one every %lld s of stream): median %.1f ms, 99th percentile "
                "%.1f ms, max %.1f ms; slowest ingest batch %.1f ms (at %lld entries)\n",
                static_cast<long long>(k["answers"].get<int64_t>()),
                static_cast<long long>(k["ask_every_s"].get<int64_t>()),
                k["median_ms"].get<double>(), k["p99_ms"].get<double>(),
                k["max_ms"].get<double>(), k["slowest_batch_ms"].get<double>(),
                static_cast<long long>(k["slowest_batch_entries"].get<int64_t>()));
  }
  if (r.contains("released")) {
    const auto& rel = r["released"];
    std::printf("\nreleased size (7B long-video, EVA-ViT-g at 224, fp16, 1 fps):\n");
    std::printf("  memory: %.1f MB/hour of tokens, %.1f MB/hour of features (exact mode)\n",
                rel["memory_tokens_bytes_per_hour"].get<double>() / 1e6,
                rel["memory_features_bytes_per_hour"].get<double>() / 1e6);
    std::printf("  KV cache: %.0f KiB per token, %.2f GB per hour\n",
                rel["kv_cache_bytes_per_token"].get<double>() / 1024,
                rel["kv_cache_bytes_per_hour"].get<double>() / 1e9);
    std::printf(
        "  FLOPs per frame: vision %.1f G, context+content tokens %.1f G, LLM prefill %.1f G\n",
        rel["vision_gflop_per_frame"].get<double>(),
        rel["token_generator_gflop_per_frame"].get<double>(),
        rel["llm_prefill_gflop_per_frame"].get<double>());
    if (rel.contains("vision_fp32_frames_per_s"))
      std::printf(
          "  EVA-ViT-g here: fp32 %.3f frames/s (%.1f GFLOP/s, %.0f%% of peak); bf16 %.3f "
          "frames/s (%.1f GFLOP/s, %.0f%% of bf16 peak)\n",
          rel["vision_fp32_frames_per_s"].get<double>(), rel["vision_fp32_gflops"].get<double>(),
          100 * rel["vision_fp32_of_peak"].get<double>(),
          rel["vision_bf16_frames_per_s"].get<double>(), rel["vision_bf16_gflops"].get<double>(),
          100 * rel["vision_bf16_of_bf16_peak"].get<double>());
  }
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buf;
}

int run(const CliArgs& args) {
  const std::string model_dir = args.value("model", default_model_dir());
  const std::vector<double> hours = parse_hours(args.value("hours", "1,2,4,8"));
  const double cap_hours = args.number("cap-hours", 24);
  const std::string question = args.value("question", "What is on screen?");
  const int repeats = static_cast<int>(args.integer("repeats", 3));
  // The element's encoder worker batch by default, so that frames/s is what the element gets.
  const auto batch = static_cast<int64_t>(args.integer("batch", AnalyzerOptions{}.max_batch));
  const int width = static_cast<int>(args.integer("width", 320));
  const int height = static_cast<int>(args.integer("height", 240));
  const auto min_cut = static_cast<int64_t>(args.integer("min-cut", 10));
  const auto max_cut = static_cast<int64_t>(args.integer("max-cut", 60));
  const uint64_t seed = args.integer("seed", 1);
  const auto ask_every = static_cast<int64_t>(args.integer("ask-every", 60));
  if (repeats < 1 || batch < 1 || min_cut < 1 || max_cut < min_cut)
    throw UsageError("--repeats and --batch must be at least 1, 1 <= --min-cut <= --max-cut");

  SessionOptions options;
  if (args.has("context-mode") &&
      !parse_context_mode(args.value("context-mode", ""), options.context_mode))
    throw UsageError("--context-mode must be auto, standing, exact or hybrid");
  options.hybrid_window_ns = args.duration_ns("hybrid-window", options.hybrid_window_ns);
  options.max_memory_bytes = static_cast<int64_t>(
      args.integer("max-memory-bytes", static_cast<uint64_t>(options.max_memory_bytes)));
  options.max_new_tokens = static_cast<int64_t>(args.integer("max-new-tokens", 64));

  world::init_gstreamer();
  json r;
  r["date"] = utc_now();
  const double peak32 = bench::matmul_peak_gflops(torch::kFloat32, 1024, 2.0);
  const double peak16 = bench::matmul_peak_gflops(torch::kBFloat16, 1024, 2.0);
  r["machine"] = {{"cpu", bench::cpu_name()},
                  {"threads", torch::get_num_threads()},
                  {"hardware_threads", static_cast<int>(std::thread::hardware_concurrency())},
                  {"load_average_start", load_average()},
                  {"fp32_peak_gflops", peak32},
                  {"bf16_peak_gflops", peak16}};
  r["config"] = {{"model", model_dir},
                 {"context_mode", context_mode_name(options.context_mode)},
                 {"hybrid_window_s", static_cast<double>(options.hybrid_window_ns) / 1e9},
                 {"max_memory_bytes", options.max_memory_bytes},
                 {"max_new_tokens", options.max_new_tokens},
                 {"question", question},
                 {"repeats", repeats},
                 {"batch", batch},
                 {"width", width},
                 {"height", height},
                 {"min_cut_s", min_cut},
                 {"max_cut_s", max_cut},
                 {"seed", seed},
                 {"hours", hours},
                 {"cap_hours", cap_hours}};

  LoadOptions load;
  load.device = "cpu";
  auto model = Model::load(model_dir, load);
  if (args.has("watch-capacity")) {
    bench::WatchCapacityOptions wo;
    wo.trial_s = static_cast<int64_t>(args.integer("watch-seconds", static_cast<uint64_t>(wo.trial_s)));
    wo.memory_hours = args.number("watch-hours", wo.memory_hours);
    if (wo.trial_s < 1 || !(wo.memory_hours >= 0))
      throw UsageError("--watch-seconds must be at least 1, --watch-hours not negative");
    wo.seed = seed;
    wo.min_cut_s = min_cut;
    wo.max_cut_s = max_cut;
    wo.width = width;
    wo.height = height;
    const bench::WatchCapacity cap = bench::measure_watch_capacity(model, options, wo);
    json trials = json::array();
    for (const auto& t : cap.trials)
      trials.push_back({{"watches", t.watches}, {"evaluations", t.evaluations},
                        {"skipped", t.skipped}, {"frames_skipped", t.frames_skipped}});
    r["watch_capacity"] = {{"sustained", cap.sustained}, {"trial_s", wo.trial_s},
                           {"memory_hours", wo.memory_hours}, {"trials", trials}};
    r["machine"]["load_average_end"] = load_average();
    if (args.has("json")) {
      std::cout << r.dump(2) << "\n";
      return 0;
    }
    std::printf("llamavid-bench %s, %s, load average %.1f -> %.1f\n",
                r["date"].get<std::string>().c_str(), bench::cpu_name().c_str(),
                r["machine"]["load_average_start"].get<double>(), load_average());
    std::printf("watches on one live 1 fps stream (%lld s per trial, %.1f h held, %s mode):\n",
                static_cast<long long>(wo.trial_s), wo.memory_hours,
                context_mode_name(resolve_context_mode(options.context_mode, model->config())));
    std::printf("%-8s %-12s %-9s %-14s\n", "watches", "evaluations", "skipped", "frames skipped");
    for (const auto& t : cap.trials)
      std::printf("%-8lld %-12llu %-9llu %-14llu\n", static_cast<long long>(t.watches),
                  static_cast<unsigned long long>(t.evaluations),
                  static_cast<unsigned long long>(t.skipped),
                  static_cast<unsigned long long>(t.frames_skipped));
    std::printf("sustained without skipping: %lld watches\n", static_cast<long long>(cap.sustained));
    return 0;
  }
  const double vision_fps = model_vision_fps(*model, batch);
  const double vision_flops = bench::vision_flops_per_frame(model->config().vision);
  r["encoder"] = {{"frames_per_s", vision_fps},
                  {"gflop_per_frame", vision_flops / 1e9},
                  {"gflops", vision_fps * vision_flops / 1e9},
                  {"of_peak", vision_fps * vision_flops / 1e9 / peak32}};

  RunResult ours;
  {
    Session session(model, options);
    ours = run_stream(session, hours, cap_hours, question, repeats, batch, seed, min_cut, max_cut,
                      width, height, ask_every, context_mode_name(options.context_mode));
  }
  if (!ours.soak_answers_s.empty()) {
    std::vector<double> sorted = ours.soak_answers_s;
    std::sort(sorted.begin(), sorted.end());
    r["soak"] = {{"ask_every_s", ask_every},
                 {"answers", sorted.size()},
                 {"median_ms", sorted[sorted.size() / 2] * 1e3},
                 {"p99_ms", sorted[sorted.size() * 99 / 100] * 1e3},
                 {"max_ms", sorted.back() * 1e3},
                 {"slowest_batch_ms", ours.slowest_batch_s * 1e3},
                 {"slowest_batch_entries", ours.slowest_batch_entries}};
  }
  r["frames_per_s"] = ours.frames_per_s;
  r["frames_per_cpu_s"] = ours.frames_per_cpu_s;
  r["latency"] = checkpoints_json(ours);
  // RSS growth per hour from the first hour on (the first hour includes one-time allocations:
  // the rendered patterns, the KV cache, libtorch's pools).
  double growth = 0.0, last_hour = 1.0;
  if (ours.rss_by_hour.size() >= 2) {
    const auto& first = ours.rss_by_hour.front();
    const auto& last = ours.rss_by_hour.back();
    growth = static_cast<double>(last.second - first.second) / (last.first - first.first);
    last_hour = last.first;
  }
  r["memory"] = {{"rss_growth_bytes_per_hour", growth},
                 {"rss_last_hour", last_hour},
                 {"rss_by_hour", ours.rss_by_hour},
                 {"cap_bytes", options.max_memory_bytes},
                 {"cap_hours", std::max(cap_hours, hours.back())},
                 {"max_memory_bytes_seen", ours.max_memory_bytes_seen},
                 {"cap_held", options.max_memory_bytes == 0 ||
                                  ours.max_memory_bytes_seen <= options.max_memory_bytes}};

  if (!args.has("no-hybrid") &&
      resolve_context_mode(options.context_mode, model->config()) != ContextMode::Hybrid) {
    SessionOptions hybrid = options;
    hybrid.context_mode = ContextMode::Hybrid;
    Session session(model, hybrid);
    RunResult h = run_stream(session, hours, 0.0, question, repeats, batch, seed, min_cut, max_cut,
                             width, height, 0, "hybrid");
    r["hybrid"] = checkpoints_json(h);
  }
  if (!args.has("no-llamavid-way")) {
    SessionOptions way = options;
    way.context_mode = ContextMode::Exact;
    way.merge_threshold = 0.0;  // never merges
    way.max_memory_bytes = 0;   // keeps every frame's features the context can hold
    Session session(model, way);
    RunResult lv = run_stream(session, hours, 0.0, question, repeats, batch, seed, min_cut, max_cut,
                              width, height, 0, "llamavid-way");
    r["llamavid_way"] = checkpoints_json(lv);
  }
  r["released"] = released_figures(peak32, peak16, args.has("released"));
  r["machine"]["load_average_end"] = load_average();

  if (args.has("json"))
    std::cout << r.dump(2) << "\n";
  else
    print_text(r);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main(
      "llamavid-bench", kUsage, argc, argv,
      {{"model", "hours", "cap-hours", "context-mode", "max-memory-bytes", "question",
        "max-new-tokens", "repeats", "batch", "width", "height", "min-cut", "max-cut", "seed",
        "ask-every", "hybrid-window", "watch-seconds", "watch-hours"},
       {"no-llamavid-way", "no-hybrid", "released", "json", "watch-capacity"},
       {}},
      run);
}
