// The torch.save reader against files written by Debian's real torch.save: every dtype, strided
// views and shared storages, nested state dicts, zip64, and each kind of refused file.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "test_util.h"

using namespace llamavid;

namespace {

// Runs make_torch_checkpoints.py for `which_case` into a fresh directory, which it returns.
std::string make(const std::string& which_case) {
  std::string dir = test::scratch_dir("torch_checkpoint_" + which_case);
  test::run_python("make_torch_checkpoints.py", which_case + " " + dir);
  return dir;
}

std::string read_error(const std::string& path) {
  try {
    read_torch_checkpoint(path);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error reading " << path;
  return "";
}

std::vector<int64_t> ints(const std::string& csv) {
  std::vector<int64_t> out;
  std::stringstream in(csv);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

void expect_same(const std::map<std::string, torch::Tensor>& got, const SafetensorsFile& expected) {
  ASSERT_EQ(got.size(), expected.names().size());
  for (const std::string& name : expected.names()) {
    ASSERT_TRUE(got.count(name)) << name;
    const torch::Tensor& t = got.at(name);
    EXPECT_EQ(t.scalar_type(), expected.dtype(name)) << name;
    EXPECT_TRUE(torch::equal(t, expected.tensor(name))) << name;
  }
}

}  // namespace

// Every dtype comes out with the stored dtype, shape and values (incl. bf16, scalars, empties).
TEST(TorchCheckpoint, EveryDtype) {
  std::string dir = make("dtypes");
  expect_same(read_torch_checkpoint(dir + "/dtypes.pt"),
              *SafetensorsFile::open(dir + "/dtypes.safetensors"));
}

// Transposes, offset slices, stride-0 expansions and parameters keep their strides and offsets,
// and views of one storage share memory.
TEST(TorchCheckpoint, ViewsAndSharedStorage) {
  std::string dir = make("views");
  auto got = read_torch_checkpoint(dir + "/views.pt");
  auto expected = SafetensorsFile::open(dir + "/views.safetensors");
  expect_same(got, *expected);
  for (const auto& [name, t] : got) {
    EXPECT_EQ(t.strides().vec(), ints(expected->metadata().at("stride." + name))) << name;
    EXPECT_EQ(t.storage_offset(), std::stoll(expected->metadata().at("offset." + name))) << name;
  }
  for (const char* view : {"transposed", "slice", "column"}) {
    EXPECT_TRUE(got.at(view).is_alias_of(got.at("base"))) << view;
  }
  EXPECT_FALSE(got.at("expanded").is_alias_of(got.at("base")));
  EXPECT_FALSE(got.at("param").requires_grad());
}

// A state dict stored under 'model' or 'state_dict' is found; other values are skipped.
TEST(TorchCheckpoint, NestedStateDict) {
  std::string dir = make("nested");
  for (const char* key : {"model", "state_dict"}) {
    auto got = read_torch_checkpoint(dir + "/" + key + ".pt");
    ASSERT_EQ(got.size(), 2u) << key;
    EXPECT_TRUE(torch::equal(got.at("w"), torch::ones({2, 3}))) << key;
    EXPECT_TRUE(torch::equal(got.at("b"), torch::zeros({3}))) << key;
  }
}

// Sizes and offsets given only in zip64 extra fields are read (as in shards over 4 GB), and
// entries not aligned in the file are still read correctly.
TEST(TorchCheckpoint, Zip64Entries) {
  std::string dir = make("zip64");
  expect_same(read_torch_checkpoint(dir + "/zip64.pt"),
              *SafetensorsFile::open(dir + "/dtypes.safetensors"));
}

// The legacy (pre-1.6) format is refused with a message saying so.
TEST(TorchCheckpointRefused, LegacyFormat) {
  std::string msg = read_error(make("legacy") + "/legacy.pt");
  EXPECT_NE(msg.find("legacy"), std::string::npos) << msg;
}

// A pickle that calls os.system is refused before anything runs.
TEST(TorchCheckpointRefused, ForbiddenGlobal) {
  std::string dir = make("forbidden");
  std::string msg = read_error(dir + "/forbidden.pt");
  EXPECT_NE(msg.find("refusing to load " + dir + "/forbidden.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("os.system"), std::string::npos) << msg;
}

// Containers nested a million deep are refused while read, and lists chained a million deep
// through the memo are freed without recursion: an error each time, never a stack overflow.
TEST(TorchCheckpointRefused, DeepNesting) {
  const std::string dir = make("deep");
  for (const char* name : {"deep_list", "deep_dict", "deep_tuple"}) {
    const std::string msg = read_error(dir + "/" + name + ".pt");
    EXPECT_NE(msg.find("nest deeper than 100 levels"), std::string::npos) << name << ": " << msg;
  }
  const std::string msg = read_error(dir + "/memo_chain.pt");
  EXPECT_NE(msg.find("holds a list, not a dict of tensors"), std::string::npos) << msg;
}


TEST(TorchCheckpointRefused, TruncatedZip) {
  std::string dir = make("truncated");
  std::string msg = read_error(dir + "/truncated.pt");
  EXPECT_NE(msg.find(dir + "/truncated.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

// Deflated entries are refused by name.
TEST(TorchCheckpointRefused, CompressedEntry) {
  std::string msg = read_error(make("compressed") + "/compressed.pt");
  EXPECT_NE(msg.find("data.pkl is compressed"), std::string::npos) << msg;
}

// A storage entry shorter than the pickle claims is refused instead of read past.
TEST(TorchCheckpointRefused, ShortStorage) {
  std::string msg = read_error(make("short_storage") + "/short_storage.pt");
  EXPECT_NE(msg.find("storage"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bytes of its entry"), std::string::npos) << msg;
}

// A zip without <archive>/data.pkl is not a torch.save file.
TEST(TorchCheckpointRefused, NotTorchZip) {
  std::string msg = read_error(make("not_torch") + "/not_torch.zip");
  EXPECT_NE(msg.find("data.pkl"), std::string::npos) << msg;
}

// A file that is not a zip at all.
TEST(TorchCheckpointRefused, NotZip) {
  std::string path = test::scratch_dir("torch_checkpoint_text") + "/x.pt";
  test::write_file(path, "this is not a checkpoint at all, just some text of some length");
  std::string msg = read_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

// Random byte changes and truncations of a real file give tensors or an Error, never a crash or
// another exception.
TEST(TorchCheckpointRefused, RandomCorruption) {
  std::string dir = make("dtypes");
  const std::string good = test::read_file(dir + "/dtypes.pt");
  std::mt19937 rng(7);
  const std::string path = dir + "/corrupt.pt";
  int refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    test::write_file(path, test::corrupted(good, rng, trial, good.size()));
    try {
      read_torch_checkpoint(path);
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);
}
