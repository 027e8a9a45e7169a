// Helpers shared by the C++ tests: where fixtures live, running the Python reference.
#pragma once

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

}  // namespace llamavid::test
