#include "cli_args.h"

#include <cmath>
#include <iostream>

#include "core/error_text.h"

namespace llamavid {

CliArgs::CliArgs(int argc, char** argv, const std::set<std::string>& valued,
                 const std::set<std::string>& flags,
                 const std::map<std::string, std::string>& aliases) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h") arg = "--help";
    if (auto a = aliases.find(arg); a != aliases.end()) arg = "--" + a->second;
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      if (!valued.count(name)) throw UsageError("option --" + name + " takes no value");
    } else if (valued.count(name)) {
      if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
      value = argv[++i];
    } else if (!flags.count(name) && name != "help") {
      throw UsageError("unknown option --" + name);
    }
    values_[name].push_back(value);
  }
}

std::string CliArgs::value(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> CliArgs::values(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

double CliArgs::number(const std::string& name, double fallback) const {
  if (!has(name)) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(value(name), &used);
    if (used == value(name).size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("--" + name + " needs a number, got '" + value(name) + "'");
}

int64_t CliArgs::duration_ns(const std::string& name, int64_t fallback_ns) const {
  if (!has(name)) return fallback_ns;
  const double s = number(name, 0.0);
  if (!(s >= 0 && s <= 1e9)) throw UsageError("--" + name + " must be 0 to 1e9 seconds");
  return static_cast<int64_t>(std::llround(s * 1e9));
}

uint64_t CliArgs::integer(const std::string& name, uint64_t fallback) const {
  if (!has(name)) return fallback;
  const std::string v = value(name);
  if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
    throw UsageError("--" + name + " needs a whole number, got '" + v + "'");
  try {
    return std::stoull(v);
  } catch (const std::exception&) {
    throw UsageError("--" + name + " is out of range: '" + v + "'");
  }
}

int tool_main(const char* tool, const char* usage, int argc, char** argv, const CliSpec& spec,
              const std::function<int(const CliArgs&)>& run) {
  try {
    const CliArgs args(argc, argv, spec.valued, spec.flags, spec.aliases);
    if (args.has("help")) {
      std::cout << usage;
      return 0;
    }
    return run(args);
  } catch (const UsageError& e) {
    std::cerr << tool << ": " << error_text(e) << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << tool << ": " << error_text(e) << "\n";
    return 1;
  }
}

}  // namespace llamavid
