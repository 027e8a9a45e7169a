#include "watch_capacity.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include "simulated_stream.h"
#include "stream/stream_analyzer.h"
#include "world.h"

namespace llamavid::bench {

namespace {

// Standing questions of a monitoring user: "Is the screen black?", then one per class.
std::string watch_question(int64_t i) {
  if (i == 0) return "Is the screen black?";
  const auto& classes = world::pattern_classes();
  const std::string& label = classes[static_cast<size_t>(i) % classes.size()].label;
  return "Is " + label + " on screen?";
}

WatchTrial run_trial(const std::shared_ptr<const Model>& model, const SessionOptions& options,
                     const WatchCapacityOptions& o, int64_t watches) {
  const auto memory_s = static_cast<int64_t>(std::llround(o.memory_hours * 3600));
  SimulatedStream stream(o.seed, memory_s + o.trial_s + 60, o.min_cut_s, o.max_cut_s, o.width,
                         o.height);
  std::atomic<uint64_t> evaluations{0};
  AnalyzerCallbacks callbacks;
  callbacks.on_watch_answer = [&](uint64_t, const std::string&, const Answer&) { ++evaluations; };
  StreamAnalyzer analyzer(model, options, AnalyzerOptions{}, callbacks);
  analyzer.start();
  // The memory first, as fast as the encoder takes it (not live: nothing skipped).
  for (int64_t t = 0; t < memory_s; ++t)
    analyzer.submit_frame(analyzer.copy_frame(stream.frame_at(t)), /*live=*/false);
  analyzer.drain();
  for (int64_t i = 0; i < watches; ++i) analyzer.add_watch(watch_question(i));
  // Their baselines (one round on the memory held) are not part of the live seconds.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (evaluations.load() < static_cast<uint64_t>(watches) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));

  WatchTrial trial;
  trial.watches = watches;
  const uint64_t before = evaluations.load();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < o.trial_s; ++k) {
    std::this_thread::sleep_until(start + std::chrono::seconds(k));
    analyzer.submit_frame(analyzer.copy_frame(stream.frame_at(memory_s + k)), /*live=*/true);
  }
  // One more second for the last frame's round, at the pace of the stream.
  std::this_thread::sleep_until(start + std::chrono::seconds(o.trial_s + 1));
  trial.evaluations = evaluations.load() - before;
  trial.skipped = analyzer.watch_skipped();
  trial.frames_skipped = analyzer.frames_skipped();
  analyzer.stop();
  return trial;
}

}  // namespace

WatchCapacity measure_watch_capacity(const std::shared_ptr<const Model>& model,
                                     const SessionOptions& options,
                                     const WatchCapacityOptions& o) {
  WatchCapacity result;
  auto trial = [&](int64_t n) {
    result.trials.push_back(run_trial(model, options, o, n));
    return result.trials.back().sustained();
  };
  int64_t good = 0, bad = 0;  // bad = 0: none failed yet
  for (int64_t n = 1; n <= o.max_watches; n *= 2) {
    if (!trial(n)) {
      bad = n;
      break;
    }
    good = n;
  }
  while (bad > 0 && bad - good > 1) {
    const int64_t mid = (good + bad) / 2;
    (trial(mid) ? good : bad) = mid;
  }
  result.sustained = good;
  return result;
}

}  // namespace llamavid::bench
