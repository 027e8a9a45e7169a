/**
 * SECTION:element-llamavid
 * @title: llamavid
 *
 * Watches a video stream and answers questions about everything it has shown, with a LLaMA-VID
 * model (each sampled frame becomes a context and a content token in a memory that covers the
 * whole stream). Video passes through unchanged; the model works on threads of its own.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m -e videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=10/1 ! \
 *   videoconvert ! llamavid ask-at-eos="What is on screen?" ! fakesink
 * ]| (pipelines/testsrc.sh) On Ctrl-C the question is answered about everything seen and -m
 * prints the llamavid-answer message.
 *
 * ## Pads
 * - `sink` / `src`: video/x-raw (RGB, RGBA, BGR, BGRx, BGRA, I420, NV12), any size and rate.
 *   Every buffer goes out unchanged, in order, without a copy. Frames are sampled by stream
 *   time at #GstLlamavid:sample-fps and copied into a bounded queue for the encoder.
 * - `query_sink` (text/x-raw, format=utf8): each buffer is one question; a trailing newline is
 *   stripped. May stay unlinked.
 * - `text_src` (text/x-raw, format=utf8): one buffer per answer, PTS = the stream position the
 *   answer speaks about (the newest frame in memory), or the position text_src has already
 *   reached, as its timestamps never go back. GAP events follow the video, so a sink there
 *   never holds the pipeline back. May stay unlinked.
 *
 * ## Questions in
 * - the action signal `ask` (returns the question id);
 * - a custom event with a structure `llamavid-ask` (string `question`, optional guint64 `id`):
 *   serialized or out-of-band downstream, or upstream on `src` or `text_src` (the same event
 *   arriving on both, same seqnum, is one question);
 * - a buffer on `query_sink`;
 * - an application message `llamavid-ask` (`question`, optional `id`, optional string `element`
 *   naming one llamavid element) posted on the pipeline's bus; read from READY on.
 *
 * ## Messages
 * - `llamavid-answer`: `id` (guint64), `question` (string), `answer` (string), `stream-time`
 *   (guint64 ns, the newest frame the answer saw), `memory-start`, `memory-end` (guint64 ns, the
 *   span of the memory), `frames` (guint, entries in memory), `latency` (guint64 ns, from the
 *   question arriving to the answer being complete).
 * - `llamavid-error`: `id` (guint64), `question` (string), `reason` (string). A question that is
 *   empty, not UTF-8, too long, asked before any frame, or cancelled by a flush or a state change.
 *   Every question gets exactly one answer or error, in the order asked; at EOS the answers to
 *   pending questions (and to #GstLlamavid:ask-at-eos) are posted and pushed on `text_src` before
 *   EOS leaves the element.
 * - `llamavid-skipped`: `skipped` (guint64, frames skipped so far), `stream-time` (guint64 ns,
 *   the last skipped frame); at most one per second, and a last one at EOS.
 *
 * ## Live sources
 * When upstream is live (LATENCY query) the video never waits for the model: a full encoder
 * queue skips the frame (#GstLlamavid:frames-skipped). On a non-live source every sampled frame
 * is encoded and a full queue holds the streaming thread (back-pressure). The element adds no
 * latency: answers are not on the video path.
 */
#include "gstllamavid.h"

#include <gst/video/video.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "default_model.h"
#include "stream_analyzer.h"
#include "text_output.h"

GST_DEBUG_CATEGORY(gst_llamavid_debug);
#define GST_CAT_DEFAULT gst_llamavid_debug

namespace {

using llamavid::StreamAnalyzer;

constexpr const char* kAskName = "llamavid-ask";
constexpr auto kSkipReportInterval = std::chrono::seconds(1);

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE("{ RGB, RGBA, BGR, BGRx, BGRA, I420, NV12 }")
#define TEXT_CAPS "text/x-raw, format=(string)utf8"

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
GstStaticPadTemplate query_sink_template =
    GST_STATIC_PAD_TEMPLATE("query_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(TEXT_CAPS));
GstStaticPadTemplate text_src_template =
    GST_STATIC_PAD_TEMPLATE("text_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(TEXT_CAPS));

enum class SkipFrames { Auto, Never, Always };
enum class TimeMarkers { Auto, None, Start, Span };

constexpr double kDefaultSampleFps = 1.0;
constexpr guint kDefaultMaxNewTokens = 64;
constexpr double kDefaultTemperature = 0.0;
constexpr guint64 kDefaultSeed = 0;
constexpr guint kDefaultMaxMemoryEntries = 0;
constexpr double kDefaultMergeThreshold = -1.0;
constexpr guint kDefaultQueueSize = 8;
constexpr SkipFrames kDefaultSkipFrames = SkipFrames::Auto;
constexpr TimeMarkers kDefaultTimeMarkers = TimeMarkers::Auto;

const char* time_markers_name(TimeMarkers m) {
  switch (m) {
    case TimeMarkers::None:
      return "none";
    case TimeMarkers::Start:
      return "start";
    case TimeMarkers::Span:
      return "span";
    default:
      return "auto";
  }
}

GType skip_frames_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(SkipFrames::Auto), "Skip frames when the source is live", "auto"},
      {static_cast<gint>(SkipFrames::Never), "Never skip: the video waits for the encoder",
       "never"},
      {static_cast<gint>(SkipFrames::Always), "Skip frames whenever the encoder queue is full",
       "always"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidSkipFrames", values));
  return type;
}

GType time_markers_get_type() {
  static GType type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(TimeMarkers::Auto), "As the model's configuration says", "auto"},
      {static_cast<gint>(TimeMarkers::None), "No time markers", "none"},
      {static_cast<gint>(TimeMarkers::Start), "[hh:mm:ss] at the start of each entry", "start"},
      {static_cast<gint>(TimeMarkers::Span), "Start, end and duration of each entry", "span"},
      {0, nullptr, nullptr}};
  if (g_once_init_enter(&type))
    g_once_init_leave(&type, g_enum_register_static("GstLlamavidTimeMarkers", values));
  return type;
}

// Property values, behind Private::settings_mutex.
struct Settings {
  std::string model = llamavid::default_model_dir();
  std::string device = "auto";
  double sample_fps = kDefaultSampleFps;
  guint max_new_tokens = kDefaultMaxNewTokens;
  double temperature = kDefaultTemperature;
  guint64 seed = kDefaultSeed;
  std::string ask_at_eos;
  guint max_memory_entries = kDefaultMaxMemoryEntries;
  double merge_threshold = kDefaultMergeThreshold;
  TimeMarkers time_markers = kDefaultTimeMarkers;
  guint queue_size = kDefaultQueueSize;
  SkipFrames skip_frames = kDefaultSkipFrames;

  llamavid::SessionOptions session_options() const {
    llamavid::SessionOptions o;
    o.max_new_tokens = max_new_tokens;
    o.temperature = temperature;
    o.seed = seed;
    o.max_entries = max_memory_entries;
    o.merge_threshold = merge_threshold;
    o.time_markers = time_markers_name(time_markers);
    return o;
  }
};

// What the video streaming thread alone touches (reset while it does not run).
struct StreamState {
  GstVideoInfo info;
  bool have_info = false;
  GstSegment segment;
  bool sampled_any = false;  // the sampling clock restarts on a segment or flush
  int64_t last_slot = 0;     // index of the sample-fps period of the last sampled frame
  bool live_known = false;

  void reset() {
    gst_video_info_init(&info);
    have_info = false;
    gst_segment_init(&segment, GST_FORMAT_UNDEFINED);
    sampled_any = false;
    live_known = false;
  }
};

struct Private {
  std::mutex settings_mutex;
  Settings settings;

  // Guards the analyzer's replacement and the question ids while there is none.
  std::mutex state_mutex;
  std::shared_ptr<StreamAnalyzer> analyzer;  // from NULL->READY to READY->NULL
  std::string loaded_model, loaded_device;
  uint64_t next_id = 1;
  std::deque<guint32> upstream_seqnums;  // upstream events seen, to take copies only once

  StreamState stream;
  std::atomic<bool> upstream_live{false};
  llamavid::TextOutput text;

  GstBus* bus = nullptr;  // the top-level bus whose application messages are questions
  gulong bus_handler = 0;

  std::mutex skip_mutex;
  std::chrono::steady_clock::time_point last_skip_report;
  uint64_t skipped_reported = 0;
  uint64_t skipped_total = 0;
  int64_t last_skipped_ns = 0;
  std::atomic<bool> frame_error_reported{false};
};

}  // namespace

struct _GstLlamavid {
  GstElement parent;
  GstPad* sinkpad;
  GstPad* srcpad;
  GstPad* query_sinkpad;
  GstPad* text_srcpad;
  Private* priv;
};

G_DEFINE_TYPE(GstLlamavid, gst_llamavid, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(llamavid, "llamavid", GST_RANK_NONE, GST_TYPE_LLAMAVID);

enum {
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_SAMPLE_FPS,
  PROP_MAX_NEW_TOKENS,
  PROP_TEMPERATURE,
  PROP_SEED,
  PROP_ASK_AT_EOS,
  PROP_MEMORY_FRAMES,
  PROP_MEMORY_SPAN,
  PROP_MAX_MEMORY_ENTRIES,
  PROP_MERGE_THRESHOLD,
  PROP_TIME_MARKERS,
  PROP_QUEUE_SIZE,
  PROP_SKIP_FRAMES,
  PROP_FRAMES_SAMPLED,
  PROP_FRAMES_SKIPPED,
};

namespace {

std::shared_ptr<StreamAnalyzer> current_analyzer(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->state_mutex);
  return self->priv->analyzer;
}

// GstStructure strings and text/x-raw buffers must be UTF-8; invalid bytes (a question that is
// refused for them, a partial character cut by max-new-tokens) become U+FFFD.
std::string valid_utf8(const std::string& text) {
  if (g_utf8_validate(text.data(), static_cast<gssize>(text.size()), nullptr)) return text;
  gchar* valid = g_utf8_make_valid(text.data(), static_cast<gssize>(text.size()));
  std::string out(valid);
  g_free(valid);
  return out;
}

void post(GstLlamavid* self, GstStructure* s) {
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void post_error(GstLlamavid* self, uint64_t id, const std::string& question,
                const std::string& reason) {
  GST_DEBUG_OBJECT(self, "question %" G_GUINT64_FORMAT " not answered: %s", id, reason.c_str());
  post(self, gst_structure_new("llamavid-error", "id", G_TYPE_UINT64, static_cast<guint64>(id),
                               "question", G_TYPE_STRING, valid_utf8(question).c_str(), "reason",
                               G_TYPE_STRING, valid_utf8(reason).c_str(), nullptr));
}

void post_answer(GstLlamavid* self, uint64_t id, const std::string& question,
                 const llamavid::Answer& a, int64_t latency_ns) {
  GST_DEBUG_OBJECT(self, "answer %" G_GUINT64_FORMAT ": %s", id, a.text.c_str());
  post(self,
       gst_structure_new(
           "llamavid-answer", "id", G_TYPE_UINT64, static_cast<guint64>(id), "question",
           G_TYPE_STRING, valid_utf8(question).c_str(), "answer", G_TYPE_STRING,
           valid_utf8(a.text).c_str(), "stream-time", G_TYPE_UINT64,
           static_cast<guint64>(std::max<int64_t>(a.stream_time_ns, 0)), "memory-start",
           G_TYPE_UINT64, static_cast<guint64>(std::max<int64_t>(a.memory_start_ns, 0)),
           "memory-end", G_TYPE_UINT64, static_cast<guint64>(std::max<int64_t>(a.memory_end_ns, 0)),
           "frames", G_TYPE_UINT, static_cast<guint>(a.frames), "latency", G_TYPE_UINT64,
           static_cast<guint64>(std::max<int64_t>(latency_ns, 0)), nullptr));
}

void post_skipped(GstLlamavid* self, uint64_t total, int64_t stream_time_ns) {
  post(self,
       gst_structure_new("llamavid-skipped", "skipped", G_TYPE_UINT64, static_cast<guint64>(total),
                         "stream-time", G_TYPE_UINT64,
                         static_cast<guint64>(std::max<int64_t>(stream_time_ns, 0)), nullptr));
}

// Rate-limited llamavid-skipped: the first skip, then at most one message per interval.
void on_skipped(GstLlamavid* self, uint64_t total, int64_t stream_time_ns) {
  Private* p = self->priv;
  const auto now = std::chrono::steady_clock::now();
  bool report = false;
  {
    std::lock_guard<std::mutex> lock(p->skip_mutex);
    p->skipped_total = total;
    p->last_skipped_ns = stream_time_ns;
    if (p->skipped_reported == 0 || now - p->last_skip_report >= kSkipReportInterval) {
      p->last_skip_report = now;
      p->skipped_reported = total;
      report = true;
    }
  }
  GST_LOG_OBJECT(self, "frame skipped (%" G_GUINT64_FORMAT " so far)", static_cast<guint64>(total));
  if (report) post_skipped(self, total, stream_time_ns);
}

// At EOS: the skips not reported yet.
void report_pending_skips(GstLlamavid* self) {
  Private* p = self->priv;
  uint64_t total;
  int64_t at;
  {
    std::lock_guard<std::mutex> lock(p->skip_mutex);
    if (p->skipped_total == p->skipped_reported) return;
    total = p->skipped_reported = p->skipped_total;
    at = p->last_skipped_ns;
    p->last_skip_report = std::chrono::steady_clock::now();
  }
  post_skipped(self, total, at);
}

void on_frame_error(GstLlamavid* self, const std::string& reason) {
  GST_WARNING_OBJECT(self, "frames left out of memory: %s", reason.c_str());
  if (!self->priv->frame_error_reported.exchange(true))
    GST_ELEMENT_WARNING(self, STREAM, FAILED,
                        ("Some frames could not be analysed: %s", reason.c_str()), (nullptr));
}

llamavid::AnalyzerCallbacks make_callbacks(GstLlamavid* self) {
  llamavid::AnalyzerCallbacks c;
  c.on_answer = [self](uint64_t id, const std::string& q, const llamavid::Answer& a,
                       int64_t latency_ns) {
    post_answer(self, id, q, a, latency_ns);
    self->priv->text.push_answer(valid_utf8(a.text), a.stream_time_ns);
  };
  c.on_error = [self](uint64_t id, const std::string& q, const std::string& reason) {
    post_error(self, id, q, reason);
  };
  c.on_skipped = [self](uint64_t total, int64_t pts) { on_skipped(self, total, pts); };
  c.on_frame_error = [self](const std::string& reason) { on_frame_error(self, reason); };
  return c;
}

// Every question path ends here. Never blocks on the model.
guint64 ask(GstLlamavid* self, const std::string& question, guint64 id) {
  Private* p = self->priv;
  bool have_analyzer;
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    have_analyzer = static_cast<bool>(p->analyzer);
    if (have_analyzer) {
      id = p->analyzer->ask(question, id);  // queues only: no callback runs here
    } else {
      if (id == 0) id = p->next_id;
      p->next_id = std::max<uint64_t>(p->next_id, id + 1);
    }
  }
  GST_DEBUG_OBJECT(self, "question %" G_GUINT64_FORMAT ": %s", id, question.c_str());
  if (!have_analyzer) post_error(self, id, question, "no frame has been seen yet");
  return id;
}

guint64 ask_signal(GstLlamavid* self, const gchar* question) {
  return ask(self, question ? question : "", 0);
}

// The optional `id` of a llamavid-ask structure; any integer type is taken.
guint64 structure_id(const GstStructure* s) {
  const GValue* v = gst_structure_get_value(s, "id");
  if (!v) return 0;
  GValue as_u64 = G_VALUE_INIT;
  g_value_init(&as_u64, G_TYPE_UINT64);
  guint64 id = 0;
  if (g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_UINT64) && g_value_transform(v, &as_u64))
    id = g_value_get_uint64(&as_u64);
  g_value_unset(&as_u64);
  return id;
}

guint64 ask_structure(GstLlamavid* self, const GstStructure* s) {
  const gchar* question = gst_structure_get_string(s, "question");
  return ask(self, question ? question : "", structure_id(s));
}

bool is_ask_event(GstEvent* event) {
  const GstStructure* s = gst_event_get_structure(event);
  return s && gst_structure_has_name(s, kAskName);
}

// True the first time an upstream event's seqnum is seen (the copies an application sends to
// every sink of the pipeline reach us on src and text_src).
bool first_sighting(GstLlamavid* self, GstEvent* event) {
  Private* p = self->priv;
  const guint32 seqnum = gst_event_get_seqnum(event);
  std::lock_guard<std::mutex> lock(p->state_mutex);
  if (std::find(p->upstream_seqnums.begin(), p->upstream_seqnums.end(), seqnum) !=
      p->upstream_seqnums.end())
    return false;
  p->upstream_seqnums.push_back(seqnum);
  if (p->upstream_seqnums.size() > 64) p->upstream_seqnums.pop_front();
  return true;
}

void on_bus_sync_message(GstBus*, GstMessage* message, gpointer user_data) {
  auto* self = GST_LLAMAVID(user_data);
  const GstStructure* s = gst_message_get_structure(message);
  if (!s || !gst_structure_has_name(s, kAskName)) return;
  const gchar* element = gst_structure_get_string(s, "element");
  if (element) {
    gchar* name = gst_object_get_name(GST_OBJECT(self));
    const bool mine = g_strcmp0(name, element) == 0;
    g_free(name);
    if (!mine) return;
  }
  ask_structure(self, s);
}

void connect_bus(GstLlamavid* self) {
  GstObject* top = GST_OBJECT(gst_object_ref(self));
  while (GstObject* parent = gst_object_get_parent(top)) {
    gst_object_unref(top);
    top = parent;
  }
  GstBus* bus = GST_IS_ELEMENT(top) ? gst_element_get_bus(GST_ELEMENT(top)) : nullptr;
  gst_object_unref(top);
  if (!bus) {
    GST_DEBUG_OBJECT(self, "no bus: application messages will not be read");
    return;
  }
  gst_bus_enable_sync_message_emission(bus);
  self->priv->bus_handler = g_signal_connect_object(
      bus, "sync-message::application", G_CALLBACK(on_bus_sync_message), self, GConnectFlags(0));
  self->priv->bus = bus;
}

void disconnect_bus(GstLlamavid* self) {
  Private* p = self->priv;
  if (!p->bus) return;
  g_signal_handler_disconnect(p->bus, p->bus_handler);
  gst_bus_disable_sync_message_emission(p->bus);
  gst_object_unref(p->bus);
  p->bus = nullptr;
  p->bus_handler = 0;
}

// Loads the model named by the settings (shared with other elements) and makes the analyzer,
// unless it is already there. Posts an error naming the path on failure.
bool prepare_analyzer(GstLlamavid* self) {
  Private* p = self->priv;
  Settings s;
  {
    std::lock_guard<std::mutex> lock(p->settings_mutex);
    s = p->settings;
  }
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    if (p->analyzer && p->loaded_model == s.model && p->loaded_device == s.device) return true;
  }
  std::shared_ptr<const llamavid::Model> model;
  try {
    GST_INFO_OBJECT(self, "loading model '%s' on device '%s'", s.model.c_str(), s.device.c_str());
    model = llamavid::load_shared_model(s.model, s.device);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Cannot load the llamavid model '%s': %s", s.model.c_str(), e.what()),
                      ("model '%s', device '%s'", s.model.c_str(), s.device.c_str()));
    return false;
  }
  std::shared_ptr<StreamAnalyzer> old;
  std::string failure;
  {
    // Under the lock, so that no question id is given twice while the analyzer changes.
    std::lock_guard<std::mutex> lock(p->state_mutex);
    llamavid::AnalyzerOptions o;
    o.queue_size = s.queue_size;
    o.first_id = p->analyzer ? p->analyzer->next_id() : p->next_id;
    try {
      auto analyzer =
          std::make_shared<StreamAnalyzer>(model, s.session_options(), o, make_callbacks(self));
      old = std::move(p->analyzer);
      p->analyzer = std::move(analyzer);
      p->loaded_model = s.model;
      p->loaded_device = s.device;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }
  if (!failure.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Cannot use the llamavid model '%s': %s", s.model.c_str(), failure.c_str()),
                      (nullptr));
    return false;
  }
  return true;  // `old` goes here: its queued questions get "cancelled"
}

void release_analyzer(GstLlamavid* self) {
  Private* p = self->priv;
  std::shared_ptr<StreamAnalyzer> old;
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    if (p->analyzer) p->next_id = p->analyzer->next_id();
    old = std::move(p->analyzer);
  }
  old.reset();  // outside the lock: questions left get their "cancelled" error
}

void update_session_options(GstLlamavid* self) {
  llamavid::SessionOptions o;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    o = self->priv->settings.session_options();
  }
  auto a = current_analyzer(self);
  if (!a) return;
  try {
    a->set_session_options(o);
  } catch (const std::exception& e) {
    GST_WARNING_OBJECT(self, "settings not applied: %s", e.what());
  }
}

bool frames_are_live(GstLlamavid* self) {
  SkipFrames mode;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    mode = self->priv->settings.skip_frames;
  }
  if (mode == SkipFrames::Always) return true;
  if (mode == SkipFrames::Never) return false;
  StreamState& st = self->priv->stream;
  if (!st.live_known) {
    GstQuery* q = gst_query_new_latency();
    gboolean live = FALSE;
    if (gst_pad_peer_query(self->sinkpad, q)) gst_query_parse_latency(q, &live, nullptr, nullptr);
    gst_query_unref(q);
    self->priv->upstream_live = live;
    st.live_known = true;
  }
  return self->priv->upstream_live;
}

// True when the frame at `stream_time` starts a new sample-fps period (by stream time, so any
// frame rate, variable rates and gaps sample alike).
bool sample_due(GstLlamavid* self, GstClockTime stream_time) {
  double fps;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    fps = self->priv->settings.sample_fps;
  }
  StreamState& st = self->priv->stream;
  const auto slot =
      static_cast<int64_t>(std::floor(static_cast<double>(stream_time) * fps / GST_SECOND));
  if (st.sampled_any && slot == st.last_slot) return false;
  st.sampled_any = true;
  st.last_slot = slot;
  return true;
}

// Copies the frame into the encoder queue (or counts it as skipped).
GstFlowReturn sample_frame(GstLlamavid* self, GstBuffer* buffer, GstClockTime stream_time) {
  StreamState& st = self->priv->stream;
  auto analyzer = current_analyzer(self);
  if (!analyzer) return GST_FLOW_FLUSHING;
  const bool live = frames_are_live(self);
  const auto pts_ns = static_cast<int64_t>(stream_time);
  if (live && analyzer->skip_if_full(pts_ns)) return GST_FLOW_OK;

  llamavid::Frame frame;
  if (!llamavid::pixel_format_from_string(
          gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&st.info)), frame.format))
    return GST_FLOW_NOT_NEGOTIATED;
  GstVideoFrame vframe;
  if (!gst_video_frame_map(&vframe, &st.info, buffer, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("Cannot read a video frame"), (nullptr));
    return GST_FLOW_ERROR;
  }
  frame.width = GST_VIDEO_FRAME_WIDTH(&vframe);
  frame.height = GST_VIDEO_FRAME_HEIGHT(&vframe);
  for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(&vframe) && i < 3; ++i) {
    frame.planes[i] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vframe, i));
    frame.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&vframe, i);
  }
  frame.pts_ns = pts_ns;
  llamavid::FrameCopy copy;
  std::string failure;
  try {
    copy = llamavid::FrameCopy::of(frame);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  gst_video_frame_unmap(&vframe);
  if (!failure.empty()) {
    on_frame_error(self, failure);
    return GST_FLOW_OK;
  }

  if (analyzer->submit_frame(std::move(copy), live) == llamavid::SubmitResult::Cancelled)
    return GST_FLOW_FLUSHING;
  return GST_FLOW_OK;
}

GstFlowReturn sink_chain(GstPad*, GstObject* parent, GstBuffer* buffer) {
  auto* self = GST_LLAMAVID(parent);
  StreamState& st = self->priv->stream;
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  if (GST_CLOCK_TIME_IS_VALID(pts) && st.segment.format == GST_FORMAT_TIME && st.have_info) {
    self->priv->text.advance(pts);
    const guint64 stream_time = gst_segment_to_stream_time(&st.segment, GST_FORMAT_TIME, pts);
    if (GST_CLOCK_TIME_IS_VALID(stream_time) && sample_due(self, stream_time)) {
      const GstFlowReturn ret = sample_frame(self, buffer, stream_time);
      if (ret != GST_FLOW_OK) {
        gst_buffer_unref(buffer);
        return ret;
      }
    }
  }
  return gst_pad_push(self->srcpad, buffer);
}

// EOS: answers every pending question (and ask-at-eos), pushes them and EOS on text_src, then
// lets EOS go on downstream.
gboolean handle_eos(GstLlamavid* self, GstPad* pad, GstEvent* event) {
  std::string at_eos;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    at_eos = self->priv->settings.ask_at_eos;
  }
  if (!at_eos.empty()) ask(self, at_eos, 0);
  if (auto a = current_analyzer(self)) a->drain();
  report_pending_skips(self);
  self->priv->text.finish();
  return gst_pad_event_default(pad, GST_OBJECT(self), event);
}

gboolean sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_LLAMAVID(parent);
  Private* p = self->priv;
  StreamState& st = p->stream;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_STREAM_START:
      st.live_known = false;
      p->text.start_stream(event);
      break;
    case GST_EVENT_CAPS: {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      GstVideoInfo info;
      if (!gst_video_info_from_caps(&info, caps)) {
        GST_WARNING_OBJECT(self, "caps not understood: %" GST_PTR_FORMAT, caps);
        gst_event_unref(event);
        return FALSE;
      }
      st.info = info;  // a new size or format: the memory carries on
      st.have_info = true;
      break;
    }
    case GST_EVENT_SEGMENT: {
      const GstSegment* segment = nullptr;
      gst_event_parse_segment(event, &segment);
      gst_segment_copy_into(segment, &st.segment);
      st.sampled_any = false;
      p->text.set_segment(event);
      break;
    }
    case GST_EVENT_GAP: {
      GstClockTime ts = GST_CLOCK_TIME_NONE;
      gst_event_parse_gap(event, &ts, nullptr);
      p->text.advance(ts);
      break;
    }
    case GST_EVENT_FLUSH_START:
      if (auto a = current_analyzer(self)) a->cancel();
      p->text.flush_start();
      break;
    case GST_EVENT_FLUSH_STOP: {
      gboolean reset_time = TRUE;
      gst_event_parse_flush_stop(event, &reset_time);
      if (auto a = current_analyzer(self)) a->reset();
      st.sampled_any = false;
      st.live_known = false;
      p->text.flush_stop(reset_time);
      break;
    }
    case GST_EVENT_EOS:
      return handle_eos(self, pad, event);
    case GST_EVENT_CUSTOM_DOWNSTREAM:
    case GST_EVENT_CUSTOM_DOWNSTREAM_OOB:
      if (is_ask_event(event)) ask_structure(self, gst_event_get_structure(event));
      break;
    default:
      break;
  }
  return gst_pad_event_default(pad, parent, event);
}

gboolean src_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_LLAMAVID(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CUSTOM_UPSTREAM:
      if (is_ask_event(event)) {
        if (first_sighting(self, event)) ask_structure(self, gst_event_get_structure(event));
        gst_event_unref(event);
        return TRUE;
      }
      break;
    case GST_EVENT_SEEK:
    case GST_EVENT_LATENCY:
      // The same event may come through text_src too: forward it once.
      if (!first_sighting(self, event)) {
        gst_event_unref(event);
        return TRUE;
      }
      break;
    default:
      break;
  }
  return gst_pad_event_default(pad, parent, event);
}

gboolean text_src_event(GstPad*, GstObject* parent, GstEvent* event) {
  auto* self = GST_LLAMAVID(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CUSTOM_UPSTREAM:
      if (is_ask_event(event) && first_sighting(self, event))
        ask_structure(self, gst_event_get_structure(event));
      gst_event_unref(event);
      return TRUE;
    case GST_EVENT_SEEK:
    case GST_EVENT_LATENCY:
      if (!first_sighting(self, event)) {
        gst_event_unref(event);
        return TRUE;
      }
      return gst_pad_push_event(self->sinkpad, event);
    case GST_EVENT_QOS:  // about the text branch only: the video source need not hear it
    case GST_EVENT_RECONFIGURE:
      gst_event_unref(event);
      return TRUE;
    default:
      gst_event_unref(event);
      return FALSE;
  }
}

gboolean src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_LLAMAVID(parent);
  const gboolean ret = gst_pad_query_default(pad, parent, query);
  if (ret && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY) {
    // Passthrough: upstream's answer is ours. Its liveness says whether frames may be skipped.
    gboolean live = FALSE;
    gst_query_parse_latency(query, &live, nullptr, nullptr);
    self->priv->upstream_live = live;
  }
  return ret;
}

gboolean text_src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_LLAMAVID(parent);
  switch (GST_QUERY_TYPE(query)) {
    case GST_QUERY_CAPS:
    case GST_QUERY_ACCEPT_CAPS:
      return gst_pad_query_default(pad, parent, query);
    default:
      // Position, duration, latency and the like are the video's.
      return gst_pad_peer_query(self->sinkpad, query);
  }
}

GstFlowReturn query_sink_chain(GstPad*, GstObject* parent, GstBuffer* buffer) {
  auto* self = GST_LLAMAVID(parent);
  GstMapInfo map;
  std::string question;
  if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    question.assign(reinterpret_cast<const char*>(map.data), map.size);
    gst_buffer_unmap(buffer, &map);
  }
  gst_buffer_unref(buffer);
  if (!question.empty() && question.back() == '\n') question.pop_back();
  if (!question.empty() && question.back() == '\r') question.pop_back();
  ask(self, question, 0);
  return GST_FLOW_OK;
}

gboolean query_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS:
    case GST_EVENT_EOS:  // the end of the questions is not the end of the video
      gst_event_unref(event);
      return TRUE;
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

// Only sink and src are linked inside the element: caps, allocation and the like pass between
// them and never reach the text pads.
GstIterator* iterate_internal_links(GstPad* pad, GstObject* parent) {
  auto* self = GST_LLAMAVID(parent);
  GstPad* other = pad == self->sinkpad  ? self->srcpad
                  : pad == self->srcpad ? self->sinkpad
                                        : nullptr;
  GValue value = G_VALUE_INIT;
  g_value_init(&value, GST_TYPE_PAD);
  g_value_set_object(&value, other);
  GstIterator* it = gst_iterator_new_single(GST_TYPE_PAD, other ? &value : nullptr);
  g_value_unset(&value);
  return it;
}

GstStateChangeReturn change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_LLAMAVID(element);
  Private* p = self->priv;
  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!prepare_analyzer(self)) return GST_STATE_CHANGE_FAILURE;
      connect_bus(self);
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED: {
      if (!prepare_analyzer(self)) return GST_STATE_CHANGE_FAILURE;
      p->stream.reset();
      p->upstream_live = false;
      {
        std::lock_guard<std::mutex> lock(p->skip_mutex);
        p->skipped_reported = p->skipped_total = 0;
      }
      p->frame_error_reported = false;
      auto a = current_analyzer(self);
      a->clear();
      a->start();
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      // Before the pads stop: unblocks a streaming thread waiting for room or draining.
      if (auto a = current_analyzer(self)) a->stop();
      break;
    default:
      break;
  }
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_llamavid_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    disconnect_bus(self);
    release_analyzer(self);
  }
  return ret;
}

void set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  auto* self = GST_LLAMAVID(object);
  Private* p = self->priv;
  bool session_changed = false;
  guint queue_size = 0;
  {
    std::lock_guard<std::mutex> lock(p->settings_mutex);
    Settings& s = p->settings;
    switch (prop_id) {
      case PROP_MODEL: {
        const gchar* v = g_value_get_string(value);
        s.model = v && *v ? v : llamavid::default_model_dir();
        break;
      }
      case PROP_DEVICE: {
        const gchar* v = g_value_get_string(value);
        s.device = v && *v ? v : "auto";
        break;
      }
      case PROP_SAMPLE_FPS:
        s.sample_fps = g_value_get_double(value);
        break;
      case PROP_MAX_NEW_TOKENS:
        s.max_new_tokens = g_value_get_uint(value);
        session_changed = true;
        break;
      case PROP_TEMPERATURE:
        s.temperature = g_value_get_double(value);
        session_changed = true;
        break;
      case PROP_SEED:
        s.seed = g_value_get_uint64(value);
        session_changed = true;
        break;
      case PROP_ASK_AT_EOS: {
        const gchar* v = g_value_get_string(value);
        s.ask_at_eos = v ? v : "";
        break;
      }
      case PROP_MAX_MEMORY_ENTRIES:
        s.max_memory_entries = g_value_get_uint(value);
        session_changed = true;
        break;
      case PROP_MERGE_THRESHOLD:
        s.merge_threshold = g_value_get_double(value);
        session_changed = true;
        break;
      case PROP_TIME_MARKERS:
        s.time_markers = static_cast<TimeMarkers>(g_value_get_enum(value));
        session_changed = true;
        break;
      case PROP_QUEUE_SIZE:
        queue_size = s.queue_size = g_value_get_uint(value);
        break;
      case PROP_SKIP_FRAMES:
        s.skip_frames = static_cast<SkipFrames>(g_value_get_enum(value));
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
        break;
    }
  }
  if (session_changed) update_session_options(self);
  if (queue_size)
    if (auto a = current_analyzer(self)) a->set_queue_size(queue_size);
}

void get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  auto* self = GST_LLAMAVID(object);
  Private* p = self->priv;
  switch (prop_id) {
    case PROP_MEMORY_FRAMES: {
      auto a = current_analyzer(self);
      g_value_set_uint64(value, a ? a->memory_frames() : 0);
      return;
    }
    case PROP_MEMORY_SPAN: {
      auto a = current_analyzer(self);
      const int64_t span = a && a->memory_frames() ? a->memory_end_ns() - a->memory_start_ns() : 0;
      g_value_set_uint64(value, static_cast<guint64>(std::max<int64_t>(span, 0)));
      return;
    }
    case PROP_FRAMES_SAMPLED: {
      auto a = current_analyzer(self);
      g_value_set_uint64(value, a ? a->frames_submitted() + a->frames_skipped() : 0);
      return;
    }
    case PROP_FRAMES_SKIPPED: {
      auto a = current_analyzer(self);
      g_value_set_uint64(value, a ? a->frames_skipped() : 0);
      return;
    }
    default:
      break;
  }
  std::lock_guard<std::mutex> lock(p->settings_mutex);
  const Settings& s = p->settings;
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string(value, s.model.c_str());
      break;
    case PROP_DEVICE:
      g_value_set_string(value, s.device.c_str());
      break;
    case PROP_SAMPLE_FPS:
      g_value_set_double(value, s.sample_fps);
      break;
    case PROP_MAX_NEW_TOKENS:
      g_value_set_uint(value, s.max_new_tokens);
      break;
    case PROP_TEMPERATURE:
      g_value_set_double(value, s.temperature);
      break;
    case PROP_SEED:
      g_value_set_uint64(value, s.seed);
      break;
    case PROP_ASK_AT_EOS:
      g_value_set_string(value, s.ask_at_eos.c_str());
      break;
    case PROP_MAX_MEMORY_ENTRIES:
      g_value_set_uint(value, s.max_memory_entries);
      break;
    case PROP_MERGE_THRESHOLD:
      g_value_set_double(value, s.merge_threshold);
      break;
    case PROP_TIME_MARKERS:
      g_value_set_enum(value, static_cast<gint>(s.time_markers));
      break;
    case PROP_QUEUE_SIZE:
      g_value_set_uint(value, s.queue_size);
      break;
    case PROP_SKIP_FRAMES:
      g_value_set_enum(value, static_cast<gint>(s.skip_frames));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

void finalize(GObject* object) {
  auto* self = GST_LLAMAVID(object);
  disconnect_bus(self);
  release_analyzer(self);
  delete self->priv;
  G_OBJECT_CLASS(gst_llamavid_parent_class)->finalize(object);
}

GstPad* make_pad(GstLlamavid* self, GstStaticPadTemplate* templ) {
  GstPad* pad = gst_pad_new_from_static_template(templ, templ->name_template);
  gst_pad_set_iterate_internal_links_function(pad, iterate_internal_links);
  gst_element_add_pad(GST_ELEMENT(self), pad);
  return pad;
}

}  // namespace

static void gst_llamavid_init(GstLlamavid* self) {
  self->priv = new Private();
  self->priv->stream.reset();

  self->sinkpad = make_pad(self, &sink_template);
  gst_pad_set_chain_function(self->sinkpad, sink_chain);
  gst_pad_set_event_function(self->sinkpad, sink_event);
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);

  self->srcpad = make_pad(self, &src_template);
  gst_pad_set_event_function(self->srcpad, src_event);
  gst_pad_set_query_function(self->srcpad, src_query);
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->srcpad);

  self->query_sinkpad = make_pad(self, &query_sink_template);
  gst_pad_set_chain_function(self->query_sinkpad, query_sink_chain);
  gst_pad_set_event_function(self->query_sinkpad, query_sink_event);

  self->text_srcpad = make_pad(self, &text_src_template);
  gst_pad_set_event_function(self->text_srcpad, text_src_event);
  gst_pad_set_query_function(self->text_srcpad, text_src_query);
  gst_pad_use_fixed_caps(self->text_srcpad);
  self->priv->text.attach(self->text_srcpad);
}

static void gst_llamavid_class_init(GstLlamavidClass* klass) {
  GST_DEBUG_CATEGORY_INIT(gst_llamavid_debug, "llamavid", 0, "LLaMA-VID video question answering");
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = set_property;
  gobject_class->get_property = get_property;
  gobject_class->finalize = finalize;
  element_class->change_state = change_state;

  constexpr auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  constexpr auto ro = static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  constexpr auto ready = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_READY);
  constexpr auto playing = static_cast<GParamFlags>(rw | GST_PARAM_MUTABLE_PLAYING);
  static const std::string default_model = llamavid::default_model_dir();

  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_string(
          "model", "Model",
          "Model directory (config.json, tokenizer.model, vocab.txt, weights); empty for the "
          "shipped default model",
          default_model.c_str(), ready));
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_string(
          "device", "Device",
          "Where the model runs: auto (CUDA when the linked libtorch has it), cpu, cuda, cuda:N",
          "auto", ready));
  g_object_class_install_property(
      gobject_class, PROP_SAMPLE_FPS,
      g_param_spec_double(
          "sample-fps", "Sample rate",
          "Frames per second of stream time turned into tokens (by timestamp, not frame count)",
          0.0001, 1000.0, kDefaultSampleFps, playing));
  g_object_class_install_property(
      gobject_class, PROP_MAX_NEW_TOKENS,
      g_param_spec_uint("max-new-tokens", "Max new tokens", "Length limit of one answer, in tokens",
                        1, 65536, kDefaultMaxNewTokens, playing));
  g_object_class_install_property(
      gobject_class, PROP_TEMPERATURE,
      g_param_spec_double("temperature", "Temperature",
                          "0 answers greedily; above 0 samples, reproducibly for a given seed", 0.0,
                          100.0, kDefaultTemperature, playing));
  g_object_class_install_property(
      gobject_class, PROP_SEED,
      g_param_spec_uint64("seed", "Seed", "Sampling seed (with temperature > 0)", 0, G_MAXUINT64,
                          kDefaultSeed, playing));
  g_object_class_install_property(
      gobject_class, PROP_ASK_AT_EOS,
      g_param_spec_string(
          "ask-at-eos", "Ask at EOS",
          "A question answered when EOS arrives, before EOS goes downstream; empty for none", "",
          playing));
  g_object_class_install_property(
      gobject_class, PROP_MEMORY_FRAMES,
      g_param_spec_uint64(
          "memory-frames", "Memory frames",
          "Entries held in memory (one per sampled frame until alike frames merge or old "
          "entries are thinned)",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MEMORY_SPAN,
      g_param_spec_uint64("memory-span", "Memory span",
                          "Stream time covered by the memory, oldest to newest entry (ns)", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MAX_MEMORY_ENTRIES,
      g_param_spec_uint(
          "max-memory-entries", "Max memory entries",
          "Entries kept before the oldest half is thinned (merged pairwise); 0: as many as the "
          "model's context holds",
          0, G_MAXINT, kDefaultMaxMemoryEntries, playing));
  g_object_class_install_property(
      gobject_class, PROP_MERGE_THRESHOLD,
      g_param_spec_double(
          "merge-threshold", "Merge threshold",
          "Similarity (cosine of the mean vision features) above which a frame merges into the "
          "newest entry; 0 never merges; -1: the model's setting",
          -1.0, 1.0, kDefaultMergeThreshold, playing));
  g_object_class_install_property(
      gobject_class, PROP_TIME_MARKERS,
      g_param_spec_enum(
          "time-markers", "Time markers",
          "Time markers written between the frames of the prompt (movie-style models)",
          time_markers_get_type(), static_cast<gint>(kDefaultTimeMarkers), playing));
  g_object_class_install_property(
      gobject_class, PROP_QUEUE_SIZE,
      g_param_spec_uint(
          "queue-size", "Queue size",
          "Sampled frames waiting for the encoder; when full, live video skips frames and "
          "non-live video waits",
          1, 1024, kDefaultQueueSize, playing));
  g_object_class_install_property(
      gobject_class, PROP_SKIP_FRAMES,
      g_param_spec_enum(
          "skip-frames", "Skip frames",
          "When a full encoder queue skips sampled frames instead of holding the video",
          skip_frames_get_type(), static_cast<gint>(kDefaultSkipFrames), playing));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_SAMPLED,
      g_param_spec_uint64("frames-sampled", "Frames sampled",
                          "Frames picked at sample-fps in this stream, encoded or skipped", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_SKIPPED,
      g_param_spec_uint64(
          "frames-skipped", "Frames skipped",
          "Sampled frames skipped in this stream because the encoder fell behind a live source", 0,
          G_MAXUINT64, 0, ro));

  /**
   * GstLlamavid::ask:
   * @llamavid: the element
   * @question: the question
   *
   * Asks a question about everything seen so far. Never blocks on the model: the answer comes
   * as a llamavid-answer (or llamavid-error) message with the returned id.
   *
   * Returns: the question id (> 0, increasing)
   */
  g_signal_new_class_handler("ask", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(ask_signal), nullptr, nullptr, nullptr, G_TYPE_UINT64, 1,
                             G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &query_sink_template);
  gst_element_class_add_static_pad_template(element_class, &text_src_template);
  gst_element_class_set_static_metadata(
      element_class, "LLaMA-VID video question answering", "Filter/Analyzer/Video",
      "Answers questions about everything a video stream has shown, with a LLaMA-VID model",
      "llamavid developers");
  gst_type_mark_as_plugin_api(skip_frames_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(time_markers_get_type(), static_cast<GstPluginAPIFlags>(0));
}
