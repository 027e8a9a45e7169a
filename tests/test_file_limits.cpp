// Untrusted small files and JSON: size limits checked before reading, FIFOs refused without
// waiting, nesting bounded before parsing, error excerpts bounded and valid UTF-8.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "core/config.h"
#include "core/error.h"
#include "core/json_text.h"
#include "core/small_file.h"
#include "core/utf8.h"
#include "error_of.h"
#include "test_util.h"

using namespace llamavid;

namespace {

using test::error_of;

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST(SmallFile, ReadsAndRefusesWhatIsTooLarge) {
  const std::string dir = test::scratch_dir("small_file");
  test::write_file(dir + "/a.json", "{\"x\": 1}");
  EXPECT_EQ(read_small_file(dir + "/a.json", 100, "a test file"), "{\"x\": 1}");
  // A sparse 8 GB file: refused from its size, nothing read (this takes no disk space).
  const std::string big = dir + "/config.json";
  test::write_file(big, "");
  ASSERT_EQ(truncate(big.c_str(), int64_t{8} << 30), 0);
  const std::string msg =
      error_of([&] { read_small_file(big, kMaxConfigBytes, "the model configuration"); });
  EXPECT_TRUE(has(msg, big) && has(msg, "8589934592 bytes") && has(msg, "1048576")) << msg;
  EXPECT_TRUE(has(error_of([&] { load_config(big); }), "more than the 1048576")) << msg;
  EXPECT_TRUE(has(error_of([&] { read_small_file(dir + "/none", 10, "x"); }), "cannot open"));
  EXPECT_TRUE(has(error_of([&] { read_small_file(dir, 10, "x"); }), "not a regular file"));
}

// A FIFO in place of a file is refused at once (opening it would wait for a writer forever).
TEST(SmallFile, RefusesAFifoWithoutWaiting) {
  const std::string fifo = test::scratch_dir("small_file_fifo") + "/vocab.txt";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(has(error_of([&] { read_small_file(fifo, kMaxVocabBytes, "the vocabulary"); }),
                  "not a regular file"));
}

TEST(JsonText, DepthIsBounded) {
  EXPECT_NO_THROW(check_json_depth(std::string(64, '[') + std::string(64, ']'), "t"));
  EXPECT_TRUE(has(error_of([] { check_json_depth(std::string(65, '{'), "t.json"); }),
                  "t.json: JSON nested deeper than 64 levels (at byte 64)"));
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_NO_THROW(check_json_depth("{\"k\": \"" + std::string(100, '[') + "\\\"" +
                                       std::string(100, '{') + "\"}",
                                   "t"));
  const std::string deep = "{\"a\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_TRUE(has(error_of([&] { parse_config(deep, "config.json"); }), "nested deeper"));
}

TEST(JsonText, ExcerptIsShortAndValidUtf8) {
  EXPECT_EQ(excerpt("short"), "short");
  const std::string cut = excerpt(std::string(79, 'a') + "é" + std::string(50, 'b'));
  EXPECT_EQ(cut, std::string(79, 'a') + "...");  // é would end past byte 80
  EXPECT_EQ(excerpt("bad \xff byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_TRUE(is_valid_utf8(excerpt(std::string(200, '\xC3'))));
}
