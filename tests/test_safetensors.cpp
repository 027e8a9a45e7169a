// safetensors reading and writing: every dtype both ways (also against Python), views of the
// mapping, atomic writes, and one test per kind of malformed file.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "test_util.h"

using namespace llamavid;
namespace fs = std::filesystem;

namespace {

// One tensor of every supported dtype, with values that exercise the full byte patterns.
std::vector<std::pair<std::string, torch::Tensor>> every_dtype() {
  torch::manual_seed(0);
  torch::Tensor f = torch::randn({3, 5}) * 100;
  return {
      {"f64", f.to(torch::kDouble)},
      {"f32", f},
      {"f16", f.to(torch::kHalf)},
      {"bf16", f.to(torch::kBFloat16)},
      {"i64", torch::randint(-(int64_t(1) << 40), int64_t(1) << 40, {4}, torch::kLong)},
      {"i32", torch::randint(-100000, 100000, {2, 2}, torch::kInt)},
      {"i16", torch::randint(-30000, 30000, {6}, torch::kShort)},
      {"i8", torch::randint(-128, 128, {6}, torch::kChar)},
      {"u8", torch::randint(0, 256, {2, 3}, torch::kByte)},
      {"bool", torch::randint(0, 2, {7}).to(torch::kBool)},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 4})},
  };
}

// Writes a file of the given header text followed by `data_bytes` zero bytes.
std::string write_raw(const std::string& name, const std::string& header, size_t data_bytes) {
  std::string path = test::scratch_dir("safetensors_" + name) + "/bad.safetensors";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  test::write_file(path, bytes + header + std::string(data_bytes, '\0'));
  return path;
}

// The message of the Error that opening `path` throws ("" and a failure if none).
std::string open_error(const std::string& path) {
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error opening " << path;
  return "";
}

}  // namespace

// Every dtype written by save_safetensors reads back bit for bit, with metadata and file order.
TEST(Safetensors, RoundTripEveryDtype) {
  std::string path = test::scratch_dir("safetensors_roundtrip") + "/all.safetensors";
  auto tensors = every_dtype();
  save_safetensors(path, tensors, {{"format", "pt"}, {"note", "x"}});
  auto file = SafetensorsFile::open(path);
  ASSERT_EQ(file->names().size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, expected] = tensors[i];
    EXPECT_EQ(file->names()[i], name);
    torch::Tensor t = file->tensor(name);
    EXPECT_EQ(t.scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(t.sizes(), expected.sizes()) << name;
    EXPECT_TRUE(torch::equal(t, expected)) << name;
  }
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("note"), "x");
}

// A file written by the Python reference reads like the torch.save file of the same tensors, and
// what the C++ writer makes of it reads back in Python unchanged.
TEST(Safetensors, PythonRoundTrip) {
  std::string dir = test::scratch_dir("safetensors_python");
  test::run_python("make_torch_checkpoints.py", "dtypes " + dir);
  auto file = SafetensorsFile::open(dir + "/dtypes.safetensors");
  auto expected = read_torch_checkpoint(dir + "/dtypes.pt");
  ASSERT_EQ(file->names().size(), expected.size());
  std::vector<std::pair<std::string, torch::Tensor>> again;
  for (const auto& [name, t] : expected) {
    ASSERT_TRUE(file->contains(name)) << name;
    EXPECT_EQ(file->tensor(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(file->tensor(name), t)) << name;
    again.emplace_back(name, file->tensor(name));
  }
  save_safetensors(dir + "/cpp.safetensors", again);
  test::run_python("check_safetensors.py", dir + "/cpp.safetensors " + dir + "/dtypes.pt");
}

// Tensors view the mapping (no copy per call) and stay valid after the file object is gone.
TEST(Safetensors, TensorsViewAndKeepTheMapping) {
  std::string path = test::scratch_dir("safetensors_view") + "/v.safetensors";
  torch::Tensor w = torch::arange(12, torch::kFloat).reshape({3, 4});
  save_safetensors(path, {{"w", w}});
  auto file = SafetensorsFile::open(path);
  torch::Tensor a = file->tensor("w");
  EXPECT_EQ(a.data_ptr(), file->tensor("w").data_ptr());
  file.reset();
  EXPECT_TRUE(torch::equal(a, w));
}

// Writing in place to a returned tensor never changes the file (the mapping is private).
TEST(Safetensors, WritesToTensorsDoNotReachTheFile) {
  std::string path = test::scratch_dir("safetensors_cow") + "/c.safetensors";
  save_safetensors(path, {{"w", torch::ones({4})}});
  SafetensorsFile::open(path)->tensor("w").fill_(5);
  EXPECT_TRUE(torch::equal(SafetensorsFile::open(path)->tensor("w"), torch::ones({4})));
}

// Non-contiguous input is stored as its logical values.
TEST(Safetensors, SavesNonContiguousTensors) {
  std::string path = test::scratch_dir("safetensors_noncontig") + "/n.safetensors";
  torch::Tensor base = torch::arange(12, torch::kFloat).reshape({3, 4});
  save_safetensors(path, {{"t", base.t()}, {"s", base.index({torch::indexing::Slice(), 1})}});
  auto file = SafetensorsFile::open(path);
  EXPECT_TRUE(torch::equal(file->tensor("t"), base.t()));
  EXPECT_TRUE(torch::equal(file->tensor("s"), base.index({torch::indexing::Slice(), 1})));
}

// Replacing a file leaves no temporary behind, and a refused save keeps the old file intact.
TEST(Safetensors, AtomicReplace) {
  std::string dir = test::scratch_dir("safetensors_atomic");
  std::string path = dir + "/a.safetensors";
  save_safetensors(path, {{"w", torch::zeros({2})}});
  save_safetensors(path, {{"w", torch::ones({2})}});
  EXPECT_THROW(save_safetensors(path, {{"w", torch::zeros({1})}, {"w", torch::zeros({1})}}), Error);
  EXPECT_THROW(save_safetensors(path, {{"c", torch::zeros({1}, torch::kComplexFloat)}}), Error);
  EXPECT_TRUE(torch::equal(SafetensorsFile::open(path)->tensor("w"), torch::ones({2})));
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1u);
}

// A save removes the temporaries of the same target left by processes that no longer run (a
// kill between naming the file and renaming it), and leaves live writers' and other files'.
TEST(Safetensors, SaveRemovesDeadWritersTemporaries) {
  std::string dir = test::scratch_dir("safetensors_stale");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  ASSERT_GT(dead, 0);
  waitpid(dead, nullptr, 0);
  const std::string stale = dir + "/.a.safetensors.tmp-" + std::to_string(dead) + "-3";
  const std::string live = dir + "/.a.safetensors.tmp-" + std::to_string(getpid()) + "-900";
  const std::string other = dir + "/.b.safetensors.tmp-" + std::to_string(dead) + "-3";
  for (const std::string& f : {stale, live, other}) std::ofstream(f) << "partial";
  save_safetensors(dir + "/a.safetensors", {{"w", torch::ones({2})}});
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
}

// Asking for an absent tensor names the tensor and the file.
TEST(Safetensors, MissingTensor) {
  std::string path = test::scratch_dir("safetensors_missing") + "/m.safetensors";
  save_safetensors(path, {{"w", torch::zeros({2})}});
  try {
    SafetensorsFile::open(path)->tensor("nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// A file cut short inside the tensor data.
TEST(SafetensorsCorrupt, TruncatedData) {
  std::string dir = test::scratch_dir("safetensors_truncated");
  save_safetensors(dir + "/full.safetensors", {{"w", torch::ones({16})}});
  const std::string bytes = test::read_file(dir + "/full.safetensors");
  test::write_file(dir + "/cut.safetensors", bytes.substr(0, bytes.size() - 10));
  std::string msg = open_error(dir + "/cut.safetensors");
  EXPECT_NE(msg.find(dir + "/cut.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
}

// A file shorter than the 8-byte length.
TEST(SafetensorsCorrupt, ShorterThanLength) {
  std::string path = test::scratch_dir("safetensors_short") + "/s.safetensors";
  test::write_file(path, "abc");
  EXPECT_NE(open_error(path).find(path), std::string::npos);
}

// A header length that runs past the end of the file.
TEST(SafetensorsCorrupt, HeaderLengthBeyondFile) {
  std::string path = write_raw("hdrlen", "{}", 0);
  std::string bytes(8, '\0');
  bytes[5] = 1;  // 2^40
  test::write_file(path, bytes + "{}");
  std::string msg = open_error(path);
  EXPECT_NE(msg.find("header length"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

// A header that is not JSON.
TEST(SafetensorsCorrupt, InvalidHeaderJson) {
  std::string msg = open_error(write_raw("json", R"({"w": {"dtype": "F32",)", 0));
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
}

// A shape nested 100,000 deep (it overflowed the stack when the error printed it) is refused
// before parsing; one nested 60 deep is parsed and its error shows a bounded excerpt.
TEST(SafetensorsCorrupt, DeeplyNestedHeader) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string msg =
      open_error(write_raw("deep", R"({"w": {"dtype": "F32", "shape": )" + deep +
                                       R"(, "data_offsets": [0, 4]}})", 4));
  EXPECT_NE(msg.find("nested deeper than 64"), std::string::npos) << msg.substr(0, 200);
  const std::string nested = std::string(60, '[') + "1" + std::string(60, ']');
  msg = open_error(write_raw("nested", R"({"w": {"dtype": "F32", "shape": )" + nested +
                                           R"(, "data_offsets": [0, 4]}})", 4));
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("..."), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 400u) << msg;
}

// A header that is JSON but not an object.
TEST(SafetensorsCorrupt, HeaderNotObject) {
  std::string msg = open_error(write_raw("array", "[1, 2]", 0));
  EXPECT_NE(msg.find("not a JSON object"), std::string::npos) << msg;
}

// An entry without data_offsets.
TEST(SafetensorsCorrupt, MissingField) {
  std::string msg = open_error(write_raw("field", R"({"w": {"dtype": "F32", "shape": [1]}})", 4));
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("data_offsets"), std::string::npos) << msg;
}

// Offsets past the end of the data.
TEST(SafetensorsCorrupt, OffsetsOutOfRange) {
  std::string msg = open_error(
      write_raw("range", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8));
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("run past"), std::string::npos) << msg;
}

// Offsets whose begin lies after their end.
TEST(SafetensorsCorrupt, BeginAfterEnd) {
  std::string msg = open_error(
      write_raw("order", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 8));
  EXPECT_NE(msg.find("begin after"), std::string::npos) << msg;
}

// A byte range that does not match shape x dtype size.
TEST(SafetensorsCorrupt, SizeNotMatchingShape) {
  std::string msg = open_error(write_raw(
      "size", R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24));
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
}

// A negative dimension.
TEST(SafetensorsCorrupt, NegativeDimension) {
  std::string msg = open_error(
      write_raw("neg", R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4));
  EXPECT_NE(msg.find("negative"), std::string::npos) << msg;
}

// A dtype the reader does not know.
TEST(SafetensorsCorrupt, UnknownDtype) {
  std::string msg = open_error(write_raw(
      "dtype", R"({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}})", 4));
  EXPECT_NE(msg.find("unsupported dtype \"F8_E4M3\""), std::string::npos) << msg;
}

// Two tensors sharing bytes.
TEST(SafetensorsCorrupt, OverlappingTensors) {
  std::string msg = open_error(write_raw("overlap", R"({
      "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                                         12));
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
}

// __metadata__ values must be strings.
TEST(SafetensorsCorrupt, MetadataNotStrings) {
  std::string msg = open_error(write_raw("meta", R"({"__metadata__": {"n": 3}})", 0));
  EXPECT_NE(msg.find("__metadata__"), std::string::npos) << msg;
}

// Random byte changes and truncations give tensors or an Error, never a crash or another
// exception.
TEST(SafetensorsCorrupt, RandomCorruption) {
  std::string dir = test::scratch_dir("safetensors_random");
  save_safetensors(dir + "/good.safetensors", every_dtype());
  const std::string good = test::read_file(dir + "/good.safetensors");
  std::mt19937 rng(7);
  const std::string path = dir + "/corrupt.safetensors";
  int refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    // Most changes land in the header, where they matter.
    test::write_file(path, test::corrupted(good, rng, trial, 8 + 600));
    try {
      auto file = SafetensorsFile::open(path);
      for (const std::string& name : file->names()) file->tensor(name).sum();
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
}

// A shape whose element count overflows, even behind a zero dimension.
TEST(SafetensorsCorrupt, HugeShape) {
  std::string msg = open_error(write_raw("huge", R"({"w": {"dtype": "F32",
      "shape": [0, 4611686018427387904, 4611686018427387904], "data_offsets": [0, 0]}})", 0));
  EXPECT_NE(msg.find("too large"), std::string::npos) << msg;
}
