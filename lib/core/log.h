// What lib/ tells a host's log, free of any logging library: the element sends Event to
// GStreamer's debug log at level DEBUG and Detail at LOG; a tool may print or ignore them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace llamavid {

enum class LogLevel {
  Event,   // each frame's fate, thinning, budget decisions, each answer with its timing
  Detail,  // the figures behind them (similarities, batch timings)
};

using LogSink = std::function<void(LogLevel level, const std::string& text)>;

// "12.500 s": stream times in log lines.
std::string log_seconds(int64_t ns);

}  // namespace llamavid
