#include "properties.h"

#include <algorithm>
#include <cmath>

#include "core/default_model.h"
#include "element.h"
#include "enum_types.h"

namespace llamavid::element {

namespace {

constexpr auto kRw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
constexpr auto kRo = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
constexpr auto kReady = static_cast<GParamFlags>(kRw | GST_PARAM_MUTABLE_READY);
constexpr auto kPlaying = static_cast<GParamFlags>(kRw | GST_PARAM_MUTABLE_PLAYING);

std::string string_or(const GValue* value, const std::string& fallback) {
  const gchar* v = g_value_get_string(value);
  return v && *v ? v : fallback;
}

// What a new value must reach besides the settings.
enum class Effect { None, Session, QueueSize, Watches, WatchOptions };

// One property: its spec, how it is stored in and read from the settings (or, for statistics,
// from the running analyzer), and what a change must reach.
struct PropertyRow {
  GParamSpec* (*spec)();
  void (*set)(Settings& s, const GValue* value);         // nullptr: read-only
  void (*get)(const Settings& s, GValue* value);         // nullptr: get_live
  void (*get_live)(GstLlamavid* self, GValue* value);    // without the settings lock
  Effect effect;
};

int64_t seconds_to_ns(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1e9)); }
double ns_to_seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

uint64_t span_ns(const StreamAnalyzer& a) {
  const int64_t span = a.memory_frames() ? a.memory_end_ns() - a.memory_start_ns() : 0;
  return static_cast<uint64_t>(std::max<int64_t>(span, 0));
}

uint64_t ns_value(int64_t ns) { return static_cast<uint64_t>(std::max<int64_t>(ns, 0)); }

// The property table: property id = row index + 1.
const PropertyRow kProperties[] = {
    {[] {
       static const std::string default_model = default_model_dir();
       return g_param_spec_string(
           "model", "Model",
           "Model directory (config.json, tokenizer.model, vocab.txt, weights); empty for the "
           "shipped default model",
           default_model.c_str(), kReady);
     },
     [](Settings& s, const GValue* v) { s.model = string_or(v, default_model_dir()); },
     [](const Settings& s, GValue* v) { g_value_set_string(v, s.model.c_str()); }, nullptr,
     Effect::None},
    {[] {
       return g_param_spec_string(
           "device", "Device",
           "Where the model runs: auto (CUDA when the linked libtorch has it), cpu, cuda, cuda:N",
           "auto", kReady);
     },
     [](Settings& s, const GValue* v) { s.device = string_or(v, "auto"); },
     [](const Settings& s, GValue* v) { g_value_set_string(v, s.device.c_str()); }, nullptr,
     Effect::None},
    {[] {
       return g_param_spec_double(
           "sample-fps", "Sample rate",
           "Frames per second of stream time turned into tokens (by timestamp, not frame count)",
           0.0001, 1000.0, kDefaultSampleFps, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.sample_fps = g_value_get_double(v); },
     [](const Settings& s, GValue* v) { g_value_set_double(v, s.sample_fps); }, nullptr,
     Effect::None},
    {[] {
       return g_param_spec_uint("max-new-tokens", "Max new tokens",
                                "Length limit of one answer, in tokens", 1, 65536,
                                static_cast<guint>(SessionOptions{}.max_new_tokens), kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.max_new_tokens = g_value_get_uint(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint(v, static_cast<guint>(s.session.max_new_tokens)); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_double(
           "temperature", "Temperature",
           "0 answers greedily; above 0 samples, reproducibly for a given seed", 0.0, 100.0,
           SessionOptions{}.temperature, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.temperature = g_value_get_double(v); },
     [](const Settings& s, GValue* v) { g_value_set_double(v, s.session.temperature); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_uint64("seed", "Seed", "Sampling seed (with temperature > 0)", 0,
                                  G_MAXUINT64, SessionOptions{}.seed, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.seed = g_value_get_uint64(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint64(v, s.session.seed); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_string(
           "ask-at-eos", "Ask at EOS",
           "A question answered when EOS arrives, before EOS goes downstream; empty for none", "",
           kPlaying);
     },
     [](Settings& s, const GValue* v) { s.ask_at_eos = string_or(v, ""); },
     [](const Settings& s, GValue* v) { g_value_set_string(v, s.ask_at_eos.c_str()); }, nullptr,
     Effect::None},
    {[] {
       return g_param_spec_uint64(
           "memory-frames", "Memory frames",
           "Entries held in memory (one per sampled frame until alike frames merge or old "
           "entries are thinned)",
           0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a ? a->memory_frames() : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_uint64("memory-span", "Memory span",
                                  "Stream time covered by the memory, oldest to newest entry (ns)",
                                  0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a ? span_ns(*a) : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_uint64("memory-start", "Memory start",
                                  "Time of the oldest memory entry's start on the memory's "
                                  "timeline (ns; 0 while the memory is empty)",
                                  0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a && a->memory_frames() ? ns_value(a->memory_start_ns()) : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_uint64("memory-end", "Memory end",
                                  "Time of the newest memory entry's end on the memory's "
                                  "timeline (ns; 0 while the memory is empty)",
                                  0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a && a->memory_frames() ? ns_value(a->memory_end_ns()) : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_uint(
           "max-memory-entries", "Max memory entries",
           "Entries kept before the oldest half is thinned (merged pairwise); 0: as many as the "
           "model's context holds",
           0, G_MAXINT, static_cast<guint>(SessionOptions{}.max_entries), kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.max_entries = g_value_get_uint(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint(v, static_cast<guint>(s.session.max_entries)); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_double(
           "merge-threshold", "Merge threshold",
           "Similarity (cosine of the mean vision features) above which a frame merges into the "
           "newest entry; 0 never merges; -1: the model's setting",
           -1.0, 1.0, SessionOptions{}.merge_threshold, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.merge_threshold = g_value_get_double(v); },
     [](const Settings& s, GValue* v) { g_value_set_double(v, s.session.merge_threshold); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_enum(
           "time-markers", "Time markers",
           "Time markers written between the frames of the prompt (movie-style models)",
           time_markers_get_type(), time_markers_value(SessionOptions{}.time_markers), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.session.time_markers = time_markers_option(g_value_get_enum(v));
     },
     [](const Settings& s, GValue* v) { g_value_set_enum(v, time_markers_value(s.session.time_markers)); },
     nullptr, Effect::Session},
    {[] {
       return g_param_spec_enum(
           "context-mode", "Context mode",
           "How each memory entry's context token is made: standing (once, as frames arrive; "
           "the prompt over the memory stays prefilled, so answers take the same time at hour 8 "
           "as at minute 1), exact (from each question, as LLaMA-VID; answers recompute the "
           "whole memory), hybrid (from each question within hybrid-window, standing before) or "
           "auto (the model's own: standing for the default model, hybrid for the released "
           "checkpoints)",
           context_mode_get_type(), static_cast<gint>(SessionOptions{}.context_mode), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.session.context_mode = static_cast<ContextMode>(g_value_get_enum(v));
     },
     [](const Settings& s, GValue* v) { g_value_set_enum(v, static_cast<gint>(s.session.context_mode)); },
     nullptr, Effect::Session},
    {[] {
       return g_param_spec_double(
           "hybrid-window", "Hybrid window",
           "Seconds of stream, back from the newest frame, whose memory entries get context "
           "tokens from each question in the hybrid context mode (older ones keep their "
           "standing tokens in the prefilled prompt)",
           0.0, 1e9, ns_to_seconds(SessionOptions{}.hybrid_window_ns), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.session.hybrid_window_ns = seconds_to_ns(g_value_get_double(v));
     },
     [](const Settings& s, GValue* v) { g_value_set_double(v, ns_to_seconds(s.session.hybrid_window_ns)); },
     nullptr, Effect::Session},
    {[] {
       return g_param_spec_string(
           "standing-prompt", "Standing prompt",
           "The text that guides each memory entry's context token as frames arrive, in place "
           "of a question (a deployment that mostly asks one thing puts it here); applies to "
           "frames from then on; empty for the default",
           SessionOptions{}.standing_prompt.c_str(), kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.standing_prompt = string_or(v, SessionOptions{}.standing_prompt); },
     [](const Settings& s, GValue* v) { g_value_set_string(v, s.session.standing_prompt.c_str()); },
     nullptr, Effect::Session},
    {[] {
       return g_param_spec_uint64(
           "max-memory-bytes", "Max memory bytes",
           "Cap on the bytes the memory holds (entries and, in the standing and hybrid modes, "
           "the prompt's KV cache); over it the oldest entries' features go first, then entries are thinned; "
           "0: bounded by the model's context only",
           0, G_MAXINT64, static_cast<guint64>(SessionOptions{}.max_memory_bytes), kPlaying);
     },
     [](Settings& s, const GValue* v) { s.session.max_memory_bytes = static_cast<int64_t>(g_value_get_uint64(v)); },
     [](const Settings& s, GValue* v) { g_value_set_uint64(v, static_cast<guint64>(s.session.max_memory_bytes)); }, nullptr,
     Effect::Session},
    {[] {
       return g_param_spec_uint(
           "queue-size", "Queue size",
           "Sampled frames waiting for the encoder; when full, live video skips frames and "
           "non-live video waits",
           1, 1024, kDefaultQueueSize, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.queue_size = g_value_get_uint(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint(v, s.queue_size); }, nullptr,
     Effect::QueueSize},
    {[] {
       return g_param_spec_enum(
           "skip-frames", "Skip frames",
           "When a full encoder queue skips sampled frames instead of holding the video",
           skip_frames_get_type(), static_cast<gint>(kDefaultSkipFrames), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.skip_frames = static_cast<SkipFrames>(g_value_get_enum(v));
     },
     [](const Settings& s, GValue* v) { g_value_set_enum(v, static_cast<gint>(s.skip_frames)); },
     nullptr, Effect::None},
    {[] {
       return g_param_spec_uint64("frames-sampled", "Frames sampled",
                                  "Frames picked at sample-fps in this stream, encoded or skipped",
                                  0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a ? a->frames_submitted() + a->frames_skipped() : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_uint64(
           "frames-skipped", "Frames skipped",
           "Sampled frames skipped in this stream because the encoder fell behind a live source",
           0, G_MAXUINT64, 0, kRo);
     },
     nullptr, nullptr,
     [](GstLlamavid* self, GValue* v) {
       auto a = current_analyzer(self);
       g_value_set_uint64(v, a ? a->frames_skipped() : 0);
     },
     Effect::None},
    {[] {
       return g_param_spec_string(
           "autosave-path", "Autosave path",
           "Memory file written every autosave-interval of stream time, at EOS and when the "
           "element stops (atomically: the file is always the old or the new memory); empty "
           "for none",
           "", kPlaying);
     },
     [](Settings& s, const GValue* v) { s.autosave_path = string_or(v, ""); },
     [](const Settings& s, GValue* v) { g_value_set_string(v, s.autosave_path.c_str()); },
     nullptr, Effect::None},
    {[] {
       return g_param_spec_uint("autosave-interval", "Autosave interval",
                                "Seconds of stream time between two autosaves", 1, G_MAXINT,
                                kDefaultAutosaveInterval, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.autosave_interval = g_value_get_uint(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint(v, s.autosave_interval); }, nullptr,
     Effect::None},
    {[] {
       return g_param_spec_boolean(
           "restore-memory", "Restore memory",
           "At each start (READY to PAUSED), loads the memory autosave-path holds, when the file "
           "exists and no memory was loaded in READY, so a restarted pipeline goes on from where "
           "it stopped",
           FALSE, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.restore_memory = g_value_get_boolean(v); },
     [](const Settings& s, GValue* v) { g_value_set_boolean(v, s.restore_memory); }, nullptr,
     Effect::None},
    {[] {
       return gst_param_spec_array(
           "watches", "Watches",
           "Standing questions, answered as the stream advances; a llamavid-alert is posted "
           "when an answer changes. Setting it replaces the watches it set before (those of the "
           "watch signal stay)",
           g_param_spec_string("question", "Question", "A standing question", "", kRw), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.watches.clear();
       for (guint i = 0; i < gst_value_array_get_size(v); ++i) {
         const GValue* item = gst_value_array_get_value(v, i);
         if (G_VALUE_HOLDS_STRING(item) && g_value_get_string(item))
           s.watches.emplace_back(g_value_get_string(item));
       }
     },
     [](const Settings& s, GValue* v) {
       for (const auto& question : s.watches) {
         GValue item = G_VALUE_INIT;
         g_value_init(&item, G_TYPE_STRING);
         g_value_set_string(&item, question.c_str());
         gst_value_array_append_and_take_value(v, &item);
       }
     },
     nullptr, Effect::Watches},
    {[] {
       return g_param_spec_double(
           "watch-interval", "Watch interval",
           "Seconds of stream time between two evaluations of the watches when no new memory "
           "entry comes (every new entry is evaluated too)",
           0.0, 1e9, ns_to_seconds(WatchOptions{}.interval_ns), kPlaying);
     },
     [](Settings& s, const GValue* v) { s.watch.interval_ns = seconds_to_ns(g_value_get_double(v)); },
     [](const Settings& s, GValue* v) { g_value_set_double(v, ns_to_seconds(s.watch.interval_ns)); },
     nullptr, Effect::WatchOptions},
    {[] {
       return g_param_spec_uint(
           "watch-confirm", "Watch confirm",
           "Consecutive evaluations a watch's changed answer must hold before it alerts", 1,
           G_MAXINT, WatchRules{}.confirm, kPlaying);
     },
     [](Settings& s, const GValue* v) { s.watch.rules.confirm = g_value_get_uint(v); },
     [](const Settings& s, GValue* v) { g_value_set_uint(v, s.watch.rules.confirm); }, nullptr,
     Effect::WatchOptions},
    {[] {
       return g_param_spec_double(
           "watch-cooldown", "Watch cooldown",
           "Seconds of stream time after a watch's alert before it may alert again (a change "
           "meanwhile alerts once the cooldown is over, if it still holds)",
           0.0, 1e9, ns_to_seconds(WatchRules{}.cooldown_ns), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.watch.rules.cooldown_ns = seconds_to_ns(g_value_get_double(v));
     },
     [](const Settings& s, GValue* v) {
       g_value_set_double(v, ns_to_seconds(s.watch.rules.cooldown_ns));
     },
     nullptr, Effect::WatchOptions},
    {[] {
       return g_param_spec_enum(
           "text-format", "Text format",
           "What text_src carries: text (each answer's text) or json (one JSON object per "
           "answer, error and alert, with the fields of its message)",
           text_format_get_type(), static_cast<gint>(kDefaultTextFormat), kPlaying);
     },
     [](Settings& s, const GValue* v) {
       s.text_format = static_cast<TextFormat>(g_value_get_enum(v));
     },
     [](const Settings& s, GValue* v) { g_value_set_enum(v, static_cast<gint>(s.text_format)); },
     nullptr, Effect::None},
};

constexpr guint kPropertyCount = G_N_ELEMENTS(kProperties);

const PropertyRow* row(guint prop_id) {
  return prop_id >= 1 && prop_id <= kPropertyCount ? &kProperties[prop_id - 1] : nullptr;
}

}  // namespace

void install_properties(GObjectClass* klass) {
  for (guint i = 0; i < kPropertyCount; ++i)
    g_object_class_install_property(klass, i + 1, kProperties[i].spec());
}

void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_LLAMAVID(object);
  const PropertyRow* r = row(prop_id);
  if (!r || !r->set) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  guint queue_size;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    r->set(self->priv->settings, value);
    queue_size = self->priv->settings.queue_size;
  }
  switch (r->effect) {
    case Effect::Session:
      update_session_options(self);
      break;
    case Effect::QueueSize:
      if (auto a = current_analyzer(self)) a->set_queue_size(queue_size);
      break;
    case Effect::Watches:
      apply_property_watches(self);
      break;
    case Effect::WatchOptions:
      if (auto a = current_analyzer(self)) a->set_watch_options(watch_options(self));
      break;
    case Effect::None:
      break;
  }
}

void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_LLAMAVID(object);
  const PropertyRow* r = row(prop_id);
  if (!r) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  if (r->get_live) {
    r->get_live(self, value);
    return;
  }
  std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
  r->get(self->priv->settings, value);
}

}  // namespace llamavid::element
