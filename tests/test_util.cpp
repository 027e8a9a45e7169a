#include "test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace llamavid::test {

namespace {
std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}
}  // namespace

std::string build_dir() { return env_or("LLAMAVID_TEST_BUILD", "."); }
std::string source_dir() { return env_or("LLAMAVID_TEST_SOURCE", "."); }

std::string shared_data_dir() {
  std::string dir = env_or("LLAMAVID_SHARED_DATA", "");
  return (!dir.empty() && fs::is_directory(dir)) ? dir : std::string();
}

std::string scratch_dir(const std::string& name) {
  fs::path dir = fs::path(build_dir()) / "scratch" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void run_python(const std::string& script, const std::string& args) {
  std::string cmd = env_or("PYTHON3", "/usr/bin/python3") + " " + source_dir() +
                    "/reference/" + script + " " + args;
  int rc = std::system(cmd.c_str());
  ASSERT_EQ(rc, 0) << "reference script failed: " << cmd;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string corrupted(const std::string& good, std::mt19937& rng, int trial, size_t span) {
  std::string bytes = good;
  if (trial % 4 == 0) {
    bytes.resize(rng() % bytes.size());
  } else {
    span = std::min(span, bytes.size());
    for (int k = 0; k < 1 + trial % 3; ++k) bytes[rng() % span] = static_cast<char>(rng());
  }
  return bytes;
}

}  // namespace llamavid::test
