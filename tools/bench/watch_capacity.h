// llamavid-bench --watch-capacity: how many standing questions one live 1 fps stream sustains
// before evaluations are skipped. Each trial is a StreamAnalyzer (the element's core) holding
// --watch-hours of the simulated stream, then fed live frames at 1 fps in real time with N
// watches for --watch-seconds; N doubles until a trial skips, then bisects.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "stream/session.h"

namespace llamavid {
class Model;
}

namespace llamavid::bench {

struct WatchCapacityOptions {
  int64_t trial_s = 30;        // live seconds per trial
  double memory_hours = 1.0;   // stream held before the trial (its answers read all of it)
  int64_t max_watches = 256;
  uint64_t seed = 1;
  int64_t min_cut_s = 10, max_cut_s = 60;
  int width = 320, height = 240;
};

struct WatchTrial {
  int64_t watches = 0;
  uint64_t evaluations = 0;     // during the live seconds
  uint64_t skipped = 0;         // watch evaluations skipped
  uint64_t frames_skipped = 0;  // frames the encoder could not take
  bool sustained() const { return skipped == 0 && frames_skipped == 0; }
};

struct WatchCapacity {
  int64_t sustained = 0;  // the most watches of a trial that skipped nothing (0: not even one)
  std::vector<WatchTrial> trials;  // in the order run
};

WatchCapacity measure_watch_capacity(const std::shared_ptr<const Model>& model,
                                     const SessionOptions& options,
                                     const WatchCapacityOptions& o);

}  // namespace llamavid::bench
