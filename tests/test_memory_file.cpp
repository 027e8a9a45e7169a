// Memory files: save and load a session's memory (tiny random models), refuse files of another
// model, version or a corrupt file with the memory untouched, and never leave a broken file
// behind a failed or killed save.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "io/checksum.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "session_frames.h"
#include "stream/memory_file.h"
#include "stream/session.h"
#include "test_util.h"

extern char** environ;

using namespace llamavid;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSecond = 1000000000;

class MemoryFileTest : public ::testing::Test {
 public:
  // `count` solid-colour frames at 1 s intervals starting at `start_s` (shades by time, so
  // frames of different calls differ too).
  static void feed(Session& s, int count, int start_s = 0) {
    test::feed_solid_frames(s, count, start_s, start_s);
  }

 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(test::scratch_dir("memory_file_model"));
    other_dir_ = new std::string(test::scratch_dir("memory_file_other_model"));
    test::run_python("make_tiny_model.py", *dir_ + " movie");
    test::run_python("make_tiny_model.py", *other_dir_ + " movie --seed 7");
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete other_dir_;
  }

  static std::shared_ptr<const Model> model(const std::string& dir) {
    LoadOptions o;
    o.device = "cpu";
    return Model::shared(dir, o);
  }

  // A session over the first model that never merges frames.
  static std::unique_ptr<Session> session(const std::string& dir = *dir_) {
    SessionOptions o;
    o.merge_threshold = 0.0;
    o.max_new_tokens = 6;
    return std::make_unique<Session>(model(dir), o);
  }

  static std::string* dir_;
  static std::string* other_dir_;
};
std::string* MemoryFileTest::dir_ = nullptr;
std::string* MemoryFileTest::other_dir_ = nullptr;

// Files other than `keep` in a directory (temporary files left behind).
std::vector<std::string> other_files(const std::string& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != keep) out.push_back(e.path().filename().string());
  return out;
}

// Whether process `pid` has a file in `dir` open: an unnamed file being saved shows there as
// "DIR/#INODE (deleted)".
bool writing_in(pid_t pid, const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const fs::path target = fs::read_symlink(e.path(), ec);
    if (!ec && target.string().rfind(dir + "/", 0) == 0) return true;
  }
  return false;
}

// Runs this test binary again with one disabled helper test and extra environment; returns its
// pid.
pid_t spawn_helper(const std::string& test_name, const std::vector<std::string>& env_extra) {
  std::vector<std::string> args = {"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                   "--gtest_filter=" + test_name};
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  pid_t pid = 0;
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  EXPECT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0);
  return pid;
}

}  // namespace

// A saved memory loads into a new session with the same entries, and answers as the original.
TEST_F(MemoryFileTest, RoundTripAnswersAlike) {
  auto a = session();
  feed(*a, 5);
  const std::string path = test::scratch_dir("memory_file_round_trip") + "/memory.safetensors";
  a->save_memory(path);

  auto b = session();
  b->load_memory(path);
  EXPECT_EQ(b->memory_frames(), 5u);
  EXPECT_EQ(b->memory_start_ns(), 0);
  EXPECT_EQ(b->memory_end_ns(), 4 * kSecond);
  EXPECT_EQ(b->answer("What is on screen?").ids, a->answer("What is on screen?").ids);
}

// Every field of every entry comes back bit for bit.
TEST_F(MemoryFileTest, EntriesComeBackExactly) {
  auto m = model(*dir_);
  std::vector<MemoryEntry> entries(3);
  for (int i = 0; i < 3; ++i) {
    entries[i].start_ns = i * kSecond;
    entries[i].end_ns = i * kSecond + 500;
    entries[i].frames = i + 1;
    entries[i].features = torch::randn({4, 8});
    entries[i].content = torch::randn({2, 6});
    entries[i].signature = torch::randn({8});
  }
  entries[1].features = torch::Tensor();  // dropped by a byte budget
  entries[2].context = torch::randn({6});
  entries[0].subtitle = "Bonjour à tous.";
  entries[2].subtitle = "日本語 and more";
  const std::string path = test::scratch_dir("memory_file_exact") + "/m.safetensors";
  save_memory_file(path, entries, "0123456789abcdef", "somewhere");
  const auto back = load_memory_file(path, "0123456789abcdef", EntryShapes{4, 8, 2, 6});
  ASSERT_EQ(back.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back[i].start_ns, entries[i].start_ns);
    EXPECT_EQ(back[i].end_ns, entries[i].end_ns);
    EXPECT_EQ(back[i].frames, entries[i].frames);
    EXPECT_EQ(back[i].features.defined(), entries[i].features.defined());
    if (entries[i].features.defined()) {
      EXPECT_TRUE(torch::equal(back[i].features, entries[i].features));
    }
    EXPECT_EQ(back[i].context.defined(), entries[i].context.defined());
    if (entries[i].context.defined()) {
      EXPECT_TRUE(torch::equal(back[i].context, entries[i].context));
    }
    EXPECT_TRUE(torch::equal(back[i].content, entries[i].content));
    EXPECT_TRUE(torch::equal(back[i].signature, entries[i].signature));
    EXPECT_EQ(back[i].subtitle, entries[i].subtitle);
  }

  // Subtitle bytes that are not what the columns say, or not text a prompt can hold, are
  // refused by name.
  auto f = SafetensorsFile::open(path);
  auto rewrite = [&](const std::string& name, const torch::Tensor& t) {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const auto& n : f->names()) tensors.emplace_back(n, n == name ? t : f->tensor(n));
    uint64_t sum = kFnvOffset;
    for (const auto& named : tensors) sum = fnv1a(sum, named.second);
    auto meta = f->metadata();
    meta["checksum"] = hex64(sum);
    const std::string bad = path + "." + name;
    save_safetensors(bad, tensors, meta);
    return bad;
  };
  const std::string image = "<image>";
  auto with_image = f->tensor("subtitle_text").clone();
  for (size_t k = 0; k < image.size(); ++k) with_image[static_cast<int64_t>(k)] = image[k];
  const auto lengths = f->tensor("subtitle_bytes").clone();
  auto too_long = lengths.clone();
  too_long[0] = lengths[0] + 1;
  for (const auto& bad : {rewrite("subtitle_text", with_image), rewrite("subtitle_bytes", too_long)}) {
    try {
      load_memory_file(bad, "0123456789abcdef", EntryShapes{4, 8, 2, 6});
      ADD_FAILURE() << "loaded " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("subtitle"), std::string::npos) << e.what();
    }
  }
}

// An empty memory saves and loads as empty.
TEST_F(MemoryFileTest, EmptyMemoryRoundTrips) {
  auto a = session();
  const std::string path = test::scratch_dir("memory_file_empty") + "/m.safetensors";
  a->save_memory(path);
  auto b = session();
  feed(*b, 2);
  b->load_memory(path);
  EXPECT_EQ(b->memory_frames(), 0u);
}

// The identity is the same for the same weights loaded again (another process would compute the
// same) and differs between models.
TEST_F(MemoryFileTest, ModelIdentityIsStableAndDistinct) {
  LoadOptions o;
  o.device = "cpu";
  const std::string id = model(*dir_)->identity();
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(Model::load(*dir_, o)->identity(), id);
  EXPECT_NE(model(*other_dir_)->identity(), id);
}

// The same weights under another config.json (another compress_type, prompt or merge
// threshold) are another model: the identity covers the configuration as parsed, not its
// spacing.
TEST_F(MemoryFileTest, IdentityCoversTheConfig) {
  const std::string id = model(*dir_)->identity();
  const std::string dir = test::scratch_dir("memory_file_config_model");
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.model", "vocab.txt"})
    std::filesystem::copy_file(*dir_ + "/" + name, dir + "/" + name);
  nlohmann::json config = nlohmann::json::parse(test::read_file(*dir_ + "/config.json"));
  test::write_file(dir + "/config.json", config.dump(4));  // spacing only
  EXPECT_EQ(Model::load(dir)->identity(), id);
  config["llamavid_merge_threshold"] = 0.5;
  test::write_file(dir + "/config.json", config.dump());
  EXPECT_NE(Model::load(dir)->identity(), id);
}

// Entries that do not fit the model (shapes), hold NaN or infinity, or absurd times are refused
// with the reason, and the memory loaded into stays as it was.
TEST_F(MemoryFileTest, EntriesThatDoNotFitAreRefused) {
  auto probe = session();
  feed(*probe, 1);
  const std::string dir = test::scratch_dir("memory_file_unfit");
  probe->save_memory(dir + "/good.safetensors");
  std::vector<MemoryEntry> good = load_memory_file(
      dir + "/good.safetensors", model(*dir_)->identity(),
      EntryShapes{model(*dir_)->config().vision.num_tokens(),
                  model(*dir_)->config().vision.hidden_size,
                  model(*dir_)->config().content_tokens_per_frame(),
                  model(*dir_)->config().llm.hidden_size});
  ASSERT_EQ(good.size(), 1u);
  struct Case {
    const char* what;
    void (*spoil)(MemoryEntry&);
    const char* reason;
  };
  const Case cases[] = {
      {"content one column short",
       [](MemoryEntry& e) { e.content = e.content.narrow(1, 0, e.content.size(1) - 1); },
       "'content' of shape"},
      {"an extra content token", [](MemoryEntry& e) { e.content = torch::cat({e.content, e.content}); },
       "'content' of shape"},
      {"NaN in the context token",
       [](MemoryEntry& e) { e.context = e.context.clone(); e.context[0] = NAN; }, "NaN"},
      {"infinity in the signature",
       [](MemoryEntry& e) { e.signature = e.signature.clone(); e.signature[1] = INFINITY; },
       "NaN or infinite"},
      {"a time 200 years in",
       [](MemoryEntry& e) { e.end_ns = int64_t{200} * 365 * 24 * 3600 * kSecond; },
       "invalid time span"},
      {"a negative start", [](MemoryEntry& e) { e.start_ns = -kSecond; }, "invalid time span"},
  };
  auto b = session();
  feed(*b, 2, 30);
  for (const Case& c : cases) {
    std::vector<MemoryEntry> entries = good;
    c.spoil(entries[0]);
    const std::string path = dir + "/bad.safetensors";
    save_memory_file(path, entries, model(*dir_)->identity(), *dir_);
    try {
      b->load_memory(path);
      ADD_FAILURE() << c.what << ": loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.reason), std::string::npos) << c.what << ": " << e.what();
    }
    EXPECT_EQ(b->memory_frames(), 2u) << c.what;
    EXPECT_EQ(b->memory_start_ns(), 30 * kSecond) << c.what;
  }
  EXPECT_NO_THROW(b->answer("What is on screen?"));
}

// A memory made by another model is refused with a message saying so; the memory stays.
TEST_F(MemoryFileTest, AnotherModelIsRefused) {
  auto a = session(*other_dir_);
  feed(*a, 3);
  const std::string path = test::scratch_dir("memory_file_other") + "/m.safetensors";
  a->save_memory(path);
  auto b = session();
  feed(*b, 2, 10);
  try {
    b->load_memory(path);
    FAIL() << "loaded a memory of another model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_EQ(b->memory_frames(), 2u);
  EXPECT_EQ(b->memory_start_ns(), 10 * kSecond);
}

// Another format version and a safetensors file that is no memory file are refused by name.
TEST_F(MemoryFileTest, OtherVersionAndOtherFilesAreRefused) {
  auto a = session();
  feed(*a, 2);
  const std::string dir = test::scratch_dir("memory_file_version");
  a->save_memory(dir + "/m.safetensors");
  auto f = SafetensorsFile::open(dir + "/m.safetensors");
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& name : f->names()) tensors.emplace_back(name, f->tensor(name));
  auto meta = f->metadata();
  meta["version"] = "3";
  save_safetensors(dir + "/v3.safetensors", tensors, meta);
  meta["version"] = "1";  // before subtitles: the same layout without them
  save_safetensors(dir + "/v1.safetensors", tensors, meta);

  auto b = session();
  try {
    b->load_memory(dir + "/v3.safetensors");
    FAIL() << "loaded version 3";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("version 3"), std::string::npos) << e.what();
  }
  auto c = session();
  c->load_memory(dir + "/v1.safetensors");
  EXPECT_EQ(c->memory_frames(), 2u);
  try {
    b->load_memory(*dir_ + "/model.safetensors");
    FAIL() << "loaded a weights file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a llamavid memory file"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(b->load_memory(dir + "/missing.safetensors"), Error);
  EXPECT_EQ(b->memory_frames(), 0u);
}

// Truncated files and changed bytes are an Error (never a crash) and leave the memory as it
// was; a change the format does not see (header padding) loads the same entries.
TEST_F(MemoryFileTest, CorruptFilesAreRefused) {
  auto a = session();
  feed(*a, 3);
  const std::string dir = test::scratch_dir("memory_file_corrupt");
  a->save_memory(dir + "/good.safetensors");
  const std::string good = test::read_file(dir + "/good.safetensors");
  auto b = session();
  feed(*b, 2, 20);
  std::mt19937 rng(11);
  int refused = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::string bad = test::corrupted(good, rng, trial, good.size());
    test::write_file(dir + "/bad.safetensors", bad);
    try {
      b->load_memory(dir + "/bad.safetensors");
      EXPECT_EQ(b->memory_frames(), 3u) << "trial " << trial;  // loaded: the same entries
      b->clear_memory();
      feed(*b, 2, 20);
    } catch (const Error&) {
      ++refused;
      EXPECT_EQ(b->memory_frames(), 2u) << "trial " << trial;
      EXPECT_EQ(b->memory_start_ns(), 20 * kSecond) << "trial " << trial;
    }
  }
  EXPECT_GT(refused, 150);
}

// A save that runs out of room (the file size limit stands in for a full disk) is an Error and
// leaves the previous file intact, with no temporary file left.
TEST_F(MemoryFileTest, FullDiskKeepsThePreviousFile) {
  auto a = session();
  feed(*a, 2);
  const std::string dir = test::scratch_dir("memory_file_full");
  const std::string path = dir + "/m.safetensors";
  a->save_memory(path);
  const std::string before = test::read_file(path);
  feed(*a, 6, 2);

  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG
  rlimit small = old;
  small.rlim_cur = before.size() + 100;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool failed = false;
  try {
    a->save_memory(path);
  } catch (const Error&) {
    failed = true;
  }
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(failed);
  EXPECT_EQ(test::read_file(path), before);
  EXPECT_TRUE(other_files(dir, "m.safetensors").empty());
}

// A save into a directory that cannot be written (read-only, or missing) is an Error that
// leaves the previous file there as it was.
TEST_F(MemoryFileTest, UnwritableTargetIsAnError) {
  auto a = session();
  feed(*a, 2);
  const std::string dir = test::scratch_dir("memory_file_readonly");
  const std::string path = dir + "/m.safetensors";
  a->save_memory(path);
  const std::string before = test::read_file(path);
  fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  const bool root_ignores_modes = access(dir.c_str(), W_OK) == 0;
  // root writes anywhere: a target that is a directory cannot be replaced by any user.
  const std::string target = root_ignores_modes ? dir : path;
  EXPECT_THROW(a->save_memory(target), Error);
  fs::permissions(dir, fs::perms::owner_all);
  EXPECT_EQ(test::read_file(path), before);
  EXPECT_THROW(a->save_memory(dir + "/missing/m.safetensors"), Error);
}

// The helper of KilledSaveLeavesAWholeFile (a plain test, so that the fixture's model writing
// does not run in every helper): saves two different memories to one file, in turns, until
// killed.
TEST(MemoryFileHelper, DISABLED_SaveLoop) {
  const char* path = std::getenv("LLAMAVID_SAVE_LOOP");
  const char* dir = std::getenv("LLAMAVID_SAVE_LOOP_MODEL");
  ASSERT_NE(path, nullptr);
  ASSERT_NE(dir, nullptr);
  LoadOptions o;
  o.device = "cpu";
  SessionOptions so;
  so.merge_threshold = 0.0;
  auto model = Model::shared(dir, o);
  Session small(model, so), large(model, so);
  MemoryFileTest::feed(small, 2);
  MemoryFileTest::feed(large, 12);
  test::write_file(std::string(path) + ".ready", "");
  for (;;) {
    small.save_memory(path);
    large.save_memory(path);
  }
}

// A process killed at random moments while saving leaves the old or the new memory, whole,
// and no temporary that outlives the next save.
TEST_F(MemoryFileTest, KilledSaveLeavesAWholeFile) {
  const std::string dir = test::scratch_dir("memory_file_killed");
  const std::string path = dir + "/m.safetensors";
  std::mt19937 rng(5);
  auto reader = session();
  feed(*reader, 2);
  reader->save_memory(path);  // the old file, as the helper's first memory
  int kills = 0, interrupted = 0, leftovers = 0;
  for (int round = 0; round < 12; ++round) {
    fs::remove(path + ".ready");
    const pid_t pid = spawn_helper("MemoryFileHelper.DISABLED_SaveLoop",
                                   {"LLAMAVID_SAVE_LOOP=" + path,
                                    "LLAMAVID_SAVE_LOOP_MODEL=" + *dir_, "OMP_NUM_THREADS=1"});
    ASSERT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(path + ".ready") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 150)(rng)));
    // Every other round waits for the helper to hold the file it writes: a save spends most of
    // its time making tensors (all the more under a sanitizer), and the kill must also land
    // inside the write itself.
    bool saving = writing_in(pid, dir);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (round % 2 == 1 && !saving && std::chrono::steady_clock::now() < give_up)
      saving = writing_in(pid, dir);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ++kills;
    if (saving) ++interrupted;
    ASSERT_TRUE(fs::exists(path)) << "round " << round;
    reader->load_memory(path);  // throws if the file is broken
    EXPECT_TRUE(reader->memory_frames() == 2u || reader->memory_frames() == 12u)
        << reader->memory_frames();
    // The file being written has no name until just before it replaces the old one: a kill in
    // that instant leaves the killed process's temporary, which the next save removes.
    for (const std::string& f : other_files(dir, "m.safetensors")) {
      if (f == "m.safetensors.ready") continue;
      ++leftovers;
      EXPECT_EQ(f.rfind(".m.safetensors.tmp-" + std::to_string(pid) + "-", 0), 0u) << f;
    }
    reader->save_memory(path);
    EXPECT_EQ(other_files(dir, "m.safetensors"), std::vector<std::string>{"m.safetensors.ready"})
        << "round " << round;
  }
  EXPECT_EQ(kills, 12);
  // Kills that landed inside a save: the case this test is about.
  std::printf("%d of 12 kills landed inside a save, %d left a temporary\n", interrupted,
              leftovers);
  EXPECT_GT(interrupted, 0);
}
