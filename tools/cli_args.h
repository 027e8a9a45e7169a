// A small command-line parser shared by the llamavid tools: --name VALUE options, repeatable
// ones, boolean flags, short aliases and positional words.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace llamavid {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class CliArgs {
 public:
  // `valued`: options taking a value; `flags`: boolean options. "--help"/"-h" are always known.
  // `aliases` maps a short form ("-i") to a long name ("interactive").
  CliArgs(int argc, char** argv, const std::set<std::string>& valued,
          const std::set<std::string>& flags,
          const std::map<std::string, std::string>& aliases = {});

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // The last value given, or `fallback`.
  std::string value(const std::string& name, const std::string& fallback = "") const;
  // Every value of a repeatable option, in order.
  std::vector<std::string> values(const std::string& name) const;
  double number(const std::string& name, double fallback) const;
  uint64_t integer(const std::string& name, uint64_t fallback) const;
  // A duration given in seconds (0 to 1e9, so that it fits in int64 nanoseconds), in ns.
  int64_t duration_ns(const std::string& name, int64_t fallback_ns) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// The options a tool knows (CliArgs' constructor arguments).
struct CliSpec {
  std::set<std::string> valued;
  std::set<std::string> flags;
  std::map<std::string, std::string> aliases;
};

// Every tool's main: parses argv by `spec`; --help prints `usage` (exit 0); a UsageError prints
// "<tool>: <reason>" and the usage on stderr (exit 2); any other exception "<tool>: <what>"
// (exit 1); otherwise `run`'s status.
int tool_main(const char* tool, const char* usage, int argc, char** argv, const CliSpec& spec,
              const std::function<int(const CliArgs&)>& run);

}  // namespace llamavid
