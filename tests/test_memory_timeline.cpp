// MemoryTimeline: stream time is memory time until a load-memory; the stream after a load
// continues the loaded timeline, and answers are stamped back in stream time.
#include <gtest/gtest.h>

#include "stream/memory_timeline.h"

using namespace llamavid;

namespace {

constexpr int64_t kSecond = 1000000000;

std::optional<int64_t> ends_at(int64_t ns) { return ns; }

}  // namespace

TEST(MemoryTimeline, IdentityWithoutALoad) {
  MemoryTimeline t;
  int asked = 0;
  auto end = [&] { ++asked; return ends_at(100 * kSecond); };
  EXPECT_EQ(t.to_memory(5 * kSecond, end), 5 * kSecond);
  EXPECT_EQ(t.to_stream(7 * kSecond), 7 * kSecond);
  EXPECT_EQ(asked, 0);  // the memory is consulted only to resume
}

// A stream restarted at 0 after loading a memory ending at 100 s continues at 101 s, and keeps
// the offset; answers come back in the stream's own time.
TEST(MemoryTimeline, ResumeInsideTheLoadedSpan) {
  MemoryTimeline t;
  t.resume_after_load();
  EXPECT_EQ(t.to_stream(100 * kSecond), 0);  // an answer before any new frame: the past only
  EXPECT_EQ(t.to_memory(0, [] { return ends_at(100 * kSecond); }),
            100 * kSecond + MemoryTimeline::kResumeGapNs);
  EXPECT_FALSE(t.resuming());
  EXPECT_EQ(t.to_memory(10 * kSecond, [] { return ends_at(0); }),
            110 * kSecond + MemoryTimeline::kResumeGapNs);
  EXPECT_EQ(t.to_stream(110 * kSecond + MemoryTimeline::kResumeGapNs), 10 * kSecond);
}

// A stream already past the loaded span, or a load of an empty memory, needs no offset.
TEST(MemoryTimeline, ResumeAfterTheSpanOrEmpty) {
  MemoryTimeline t;
  t.resume_after_load();
  EXPECT_EQ(t.to_memory(200 * kSecond, [] { return ends_at(100 * kSecond); }), 200 * kSecond);
  t.resume_after_load();
  EXPECT_EQ(t.to_memory(3 * kSecond, [] { return std::optional<int64_t>(); }), 3 * kSecond);
  EXPECT_EQ(t.offset_ns(), 0);
}

// A new stream drops the offset; a load made before it stays pending only when kept.
TEST(MemoryTimeline, StartAndForget) {
  MemoryTimeline t;
  t.resume_after_load();
  t.to_memory(0, [] { return ends_at(50 * kSecond); });
  EXPECT_GT(t.offset_ns(), 0);
  t.resume_after_load();
  t.start(/*keep_loaded=*/true);
  EXPECT_EQ(t.offset_ns(), 0);
  EXPECT_TRUE(t.resuming());
  t.start(/*keep_loaded=*/false);
  EXPECT_FALSE(t.resuming());
  t.resume_after_load();
  t.forget_load();
  EXPECT_FALSE(t.resuming());
}
