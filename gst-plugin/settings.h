// The llamavid element's property values (Settings) and its property table. Adding a property:
// a field (with its DEFAULT) here, and one row in the table of settings.cpp.
#pragma once

#include <glib-object.h>

#include <string>

#include "session.h"

namespace llamavid::element {

enum class SkipFrames { Auto, Never, Always };
enum class TimeMarkers { Auto, None, Start, Span };
enum class ContextMode { Standing, Exact };

GType skip_frames_get_type();
GType time_markers_get_type();
GType context_mode_get_type();

constexpr double kDefaultSampleFps = 1.0;
constexpr guint kDefaultMaxNewTokens = 64;
constexpr double kDefaultTemperature = 0.0;
constexpr guint64 kDefaultSeed = 0;
constexpr guint kDefaultMaxMemoryEntries = 0;
constexpr double kDefaultMergeThreshold = -1.0;
constexpr guint kDefaultQueueSize = 8;
constexpr guint kDefaultAutosaveInterval = 60;
constexpr SkipFrames kDefaultSkipFrames = SkipFrames::Auto;
constexpr TimeMarkers kDefaultTimeMarkers = TimeMarkers::Auto;
constexpr ContextMode kDefaultContextMode = ContextMode::Standing;
constexpr guint64 kDefaultMaxMemoryBytes = guint64{1} << 30;  // SessionOptions' default

// Property values, behind Private::settings_mutex.
struct Settings {
  Settings();

  std::string model;  // the shipped default model's directory
  std::string device = "auto";
  double sample_fps = kDefaultSampleFps;
  guint max_new_tokens = kDefaultMaxNewTokens;
  double temperature = kDefaultTemperature;
  guint64 seed = kDefaultSeed;
  std::string ask_at_eos;
  guint max_memory_entries = kDefaultMaxMemoryEntries;
  double merge_threshold = kDefaultMergeThreshold;
  TimeMarkers time_markers = kDefaultTimeMarkers;
  ContextMode context_mode = kDefaultContextMode;
  std::string standing_prompt = kStandingPrompt;
  guint64 max_memory_bytes = kDefaultMaxMemoryBytes;
  guint queue_size = kDefaultQueueSize;
  SkipFrames skip_frames = kDefaultSkipFrames;
  std::string autosave_path;  // empty: no autosave
  guint autosave_interval = kDefaultAutosaveInterval;  // seconds of stream time

  SessionOptions session_options() const;
};

// Installs every property of the table on the class.
void install_properties(GObjectClass* klass);
void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec);
void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec);

}  // namespace llamavid::element
