// The llamavid element's property values. What the session takes is a SessionOptions, so its
// defaults are the session's own; the rest is the element's. Adding a property: a field here
// (or the session option it sets) and a row in the table of properties.cpp.
#pragma once

#include <glib.h>

#include <string>
#include <vector>

#include "stream/session.h"
#include "stream/stream_analyzer.h"

namespace llamavid::element {

enum class SkipFrames { Auto, Never, Always };
enum class TextFormat { Text, Json };

constexpr double kDefaultSampleFps = 1.0;
constexpr guint kDefaultQueueSize = 8;
constexpr guint kDefaultAutosaveInterval = 60;
constexpr SkipFrames kDefaultSkipFrames = SkipFrames::Auto;
constexpr TextFormat kDefaultTextFormat = TextFormat::Text;

// Property values, behind Private::settings_mutex.
struct Settings {
  Settings();

  std::string model;  // the shipped default model's directory
  std::string device = "auto";
  double sample_fps = kDefaultSampleFps;
  std::string ask_at_eos;
  guint queue_size = kDefaultQueueSize;
  SkipFrames skip_frames = kDefaultSkipFrames;
  std::string autosave_path;  // empty: no autosave
  guint autosave_interval = kDefaultAutosaveInterval;  // seconds of stream time
  bool restore_memory = false;  // autosave_path's memory is loaded at each start
  TextFormat text_format = kDefaultTextFormat;
  std::vector<std::string> watches;  // the `watches` property's questions (watches.cpp)
  WatchOptions watch;                 // watch-interval, watch-confirm, watch-cooldown
  SessionOptions session;  // max-new-tokens ... max-memory-bytes
};

}  // namespace llamavid::element
