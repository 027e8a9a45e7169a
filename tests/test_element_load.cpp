// Load on the llamavid element (tiny model): a 24-hour stream, accelerated, with a question every
// simulated minute, and 1,000 questions asked at once from 8 threads. Each prints its figures
// (questions, answers, memory entries, peak resident memory).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "element_test_util.h"

using namespace llamavid::test;

namespace {

// A line of /proc/self/status in KiB ("VmHWM": peak resident, "VmRSS": resident now).
long status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

// Takes every result message off the bus: id -> how many results it had; each answer's
// `latency` (ns) into `latencies` when given.
void collect(GstBus* bus, std::map<guint64, int>& results, int& answers, int& errors,
             std::vector<guint64>* latencies = nullptr) {
  for (GstMessage* m : pending_results(bus)) {
    ++results[result_id(m)];
    const bool answer = result_name(m) == "llamavid-answer";
    (answer ? answers : errors)++;
    guint64 ns = 0;
    if (answer && latencies &&
        gst_structure_get_uint64(gst_message_get_structure(m), "latency", &ns))
      latencies->push_back(ns);
    gst_message_unref(m);
  }
}

}  // namespace

// 24 hours of stream time, one frame per sampling interval (30 s), a question every simulated
// minute: every question answered exactly once, the memory under its cap, the heap flat.
TEST(ElementLoad, Soak24HoursOfStreamTime) {
  constexpr int kMaxEntries = 64;
  constexpr int kIntervalS = 30;
  constexpr int kFrames = 24 * 3600 / kIntervalS;
  ElementHarness e({{"sample-fps", "0.0333333333333"},
                    {"skip-frames", "never"},
                    {"max-memory-entries", std::to_string(kMaxEntries).c_str()},
                    {"merge-threshold", "0"}},
                   "video/x-raw,format=RGB,width=16,height=16,framerate=1/30");
  std::map<guint64, int> results;
  std::vector<guint64> ids;
  int answers = 0, errors = 0;
  std::vector<guint64> latencies;  // ns, from the question to its answer (waiting included)
  guint64 peak_entries = 0;
  long rss_after_first_hour = 0;
  size_t heap_after_first_hour = 0;
  for (int i = 0; i < kFrames; ++i) {
    // Scenes change every few minutes, as a broadcast's would.
    e.push_frame(static_cast<double>(i) * kIntervalS, static_cast<guint8>((i / 7) * 29));
    if (i % 2 == 1) ids.push_back(e.ask("What is on screen?"));
    if (i % 120 == 0) {
      peak_entries = std::max(peak_entries, e.uint64_property("memory-frames"));
      collect(e.bus, results, answers, errors, &latencies);
    }
    if (i == 3600 / kIntervalS) {
      rss_after_first_hour = status_kib("VmRSS");
      heap_after_first_hour = heap_in_use();
    }
  }
  ASSERT_TRUE(gst_harness_push_event(e.video, gst_event_new_eos()));  // drains every question
  collect(e.bus, results, answers, errors, &latencies);
  peak_entries = std::max(peak_entries, e.uint64_property("memory-frames"));
  const long rss_end = status_kib("VmRSS");
  const long heap_growth =
      static_cast<long>(heap_in_use()) - static_cast<long>(heap_after_first_hour);

  std::printf("soak: %d frames over 24 h of stream time, %zu questions, %d answers, %d errors, "
              "peak memory entries %llu (cap %d), RSS after 1 h %ld KiB, at the end %ld KiB, "
              "peak %ld KiB; heap in use grew by %ld KiB after 1 h\n",
              kFrames, ids.size(), answers, errors, static_cast<unsigned long long>(peak_entries),
              kMaxEntries, rss_after_first_hour, rss_end, status_kib("VmHWM"), heap_growth / 1024);
  // Figures, not assertions (speed belongs to llamavid-bench): questions come faster than the
  // frames here, so the latency includes waiting for the frames and questions before it.
  if (!latencies.empty()) {
    std::sort(latencies.begin(), latencies.end());
    std::printf("soak: answer latency median %.1f ms, 99th percentile %.1f ms, max %.1f ms\n",
                latencies[latencies.size() / 2] / 1e6, latencies[latencies.size() * 99 / 100] / 1e6,
                latencies.back() / 1e6);
  }
  EXPECT_EQ(answers, static_cast<int>(ids.size()));
  EXPECT_EQ(errors, 0);
  for (guint64 id : ids) EXPECT_EQ(results[id], 1) << "question " << id;
  EXPECT_LE(peak_entries, static_cast<guint64>(kMaxEntries));
  EXPECT_GE(e.uint64_property("memory-span"), 23 * 3600 * kSecond);  // reaches back to the start
  // The memory is full after the first hour: 23 more hours must not add to the heap.
  EXPECT_LT(heap_growth, 8 << 20) << "heap in use grew by " << heap_growth << " bytes";
}

// 8 threads ask 1,000 questions at once: ids are unique and every question is answered exactly
// once.
TEST(ElementLoad, ThousandQuestionsFromEightThreads) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 125;
  ElementHarness e({{"sample-fps", "1000"}, {"skip-frames", "never"}, {"max-new-tokens", "2"}});
  for (int i = 0; i < 4; ++i) e.push_frame(i, static_cast<guint8>(60 * i));
  std::mutex mutex;
  std::vector<guint64> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int q = 0; q < kPerThread; ++q) {
        const guint64 id = e.ask("Question " + std::to_string(q) + " from thread " +
                                 std::to_string(t) + "?");
        std::lock_guard<std::mutex> lock(mutex);
        ids.push_back(id);
      }
    });
  for (auto& t : threads) t.join();

  std::map<guint64, int> results;
  int answers = 0, errors = 0;
  while (answers + errors < kThreads * kPerThread) {
    GstMessage* m = wait_result(e.bus, std::chrono::seconds(120));
    ASSERT_NE(m, nullptr) << "results stopped after " << answers + errors;
    ++results[result_id(m)];
    (result_name(m) == "llamavid-answer" ? answers : errors)++;
    gst_message_unref(m);
  }
  std::printf("concurrency: %d threads, %zu questions, %d answers, %d errors, %llu memory "
              "entries, peak RSS %ld KiB\n",
              kThreads, ids.size(), answers, errors,
              static_cast<unsigned long long>(e.uint64_property("memory-frames")),
              status_kib("VmHWM"));
  EXPECT_TRUE(pending_results(e.bus).empty());
  EXPECT_EQ(std::set<guint64>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_EQ(answers, kThreads * kPerThread);
  for (guint64 id : ids) EXPECT_EQ(results[id], 1) << "question " << id;
}
