// Helpers shared by the C++ tests: where fixtures live, running the Python reference.
#pragma once

#include <random>
#include <string>

namespace llamavid::test {

// Build directory of tests/ (fixtures written by the reference go below it).
std::string build_dir();
// Source directory of tests/.
std::string source_dir();
// ../shared/data, or "" when it is not present (tests then skip).
std::string shared_data_dir();
// A fresh empty directory under the build tree for this test.
std::string scratch_dir(const std::string& name);
// Runs `/usr/bin/python3 tests/reference/<script> <args>` and fails the test on non-zero exit.
void run_python(const std::string& script, const std::string& args);
// Writes text to a file (overwriting).
void write_file(const std::string& path, const std::string& text);
// The whole content of a file ("" when it cannot be read).
std::string read_file(const std::string& path);
// Trial `trial` of a corruption run over `good`: every fourth trial truncates it at a random
// length, the others change one to three random bytes among its first `span` bytes.
std::string corrupted(const std::string& good, std::mt19937& rng, int trial, size_t span);

}  // namespace llamavid::test
