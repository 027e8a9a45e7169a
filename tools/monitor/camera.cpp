#include "camera.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include <gst/app/gstappsrc.h>

#include "core/error.h"
#include "gst_elements.h"
#include "message_json.h"

namespace llamavid::monitor {

namespace {

constexpr guint kTickMs = 1000;
// Frames waiting between the connection and the element. The element never holds a live stream
// back (it skips frames itself when its encoder falls behind), so a full queue means the
// machine cannot even hand frames over: a live camera's next frame is dropped and counted.
constexpr guint64 kQueuedFrames = 4;

int64_t now_ms() { return g_get_monotonic_time() / 1000; }

GstMessage* ask_message(GstElement* pipeline, const Question& q) {
  GstStructure* s = gst_structure_new("llamavid-ask", "question", G_TYPE_STRING, q.text.c_str(),
                                      nullptr);
  if (q.id) gst_structure_set(s, "id", G_TYPE_UINT64, static_cast<guint64>(*q.id), nullptr);
  return gst_message_new_application(GST_OBJECT(pipeline), s);
}

uint64_t uint64_property(GstElement* e, const char* name) {
  guint64 v = 0;
  g_object_get(e, name, &v, nullptr);
  return v;
}

}  // namespace

Camera::Camera(CameraSettings settings, Callbacks callbacks)
    : settings_(std::move(settings)),
      callbacks_(std::move(callbacks)),
      // A file is analysed whole (the element waits for it); anything else is a live camera.
      live_(!g_str_has_prefix(settings_.uri.c_str(), "file:")) {
  pipeline_ = gst_pipeline_new(settings_.name.c_str());
  appsrc_ = make_element("appsrc");
  llamavid_ = make_llamavid_element(settings_.name.c_str());
  GstElement* sink = make_element("fakesink");
  // A file's frames wait for room; a live camera's are dropped (and counted) in on_frame.
  g_object_set(appsrc_, "format", GST_FORMAT_TIME, "is-live", live_ ? TRUE : FALSE, "block",
               live_ ? FALSE : TRUE, "max-bytes", static_cast<guint64>(0), "max-buffers",
               kQueuedFrames, nullptr);
  g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  if (!settings_.model.empty()) g_object_set(llamavid_, "model", settings_.model.c_str(), nullptr);
  if (!settings_.device.empty())
    g_object_set(llamavid_, "device", settings_.device.c_str(), nullptr);
  if (settings_.sample_fps > 0) g_object_set(llamavid_, "sample-fps", settings_.sample_fps, nullptr);
  if (!settings_.autosave_path.empty())
    g_object_set(llamavid_, "autosave-path", settings_.autosave_path.c_str(), "autosave-interval",
                 settings_.autosave_interval_s, "restore-memory", TRUE, nullptr);
  gst_bin_add_many(GST_BIN(pipeline_), appsrc_, llamavid_, sink, nullptr);
  if (!gst_element_link_many(appsrc_, llamavid_, sink, nullptr)) {
    gst_object_unref(pipeline_);
    throw Error("camera '" + settings_.name + "': cannot link appsrc ! llamavid ! fakesink");
  }
  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, reinterpret_cast<GstBusFunc>(on_bus_message), this);
  gst_object_unref(bus);
}

Camera::~Camera() {
  if (!stopped_) {
    callbacks_.on_status = [](const CameraStatus&) {};  // the link may be gone
    stop();
  }
  g_source_remove(bus_watch_);
  gst_object_unref(pipeline_);
  if (caps_) gst_caps_unref(caps_);
}

void Camera::start() {
  // READY loads the model (or shares the one another camera loaded); a bad one fails here.
  if (gst_element_set_state(pipeline_, GST_STATE_READY) == GST_STATE_CHANGE_FAILURE ||
      gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    GstBus* bus = gst_element_get_bus(pipeline_);
    GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    std::string why = msg ? error_text(msg) : "the analysis pipeline cannot start";
    if (msg) gst_message_unref(msg);
    throw Error("camera '" + settings_.name + "': " + why);
  }
  // The watches go in once the model is loaded, so a refused one is reported on the bus.
  for (const std::string& w : settings_.watches) {
    guint64 id = 0;
    g_signal_emit_by_name(llamavid_, "watch", w.c_str(), &id);
    if (id == 0) throw Error("camera '" + settings_.name + "': the watch '" + w + "' is refused");
  }
  {
    // The element takes the pipeline's application messages from READY on.
    std::lock_guard<std::mutex> lock(ask_mutex_);
    listening_ = true;
    for (const Question& q : early_questions_)
      gst_element_post_message(pipeline_, ask_message(pipeline_, q));
    early_questions_.clear();
  }
  tick_timer_ = g_timeout_add(kTickMs, [](gpointer self) -> gboolean {
    return static_cast<Camera*>(self)->tick() ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
  }, this);
  set_state(CameraState::Starting);
  connect();
}

void Camera::ask(const Question& question) {
  std::lock_guard<std::mutex> lock(ask_mutex_);
  if (listening_)
    gst_element_post_message(pipeline_, ask_message(pipeline_, question));
  else
    early_questions_.push_back(question);
}

void Camera::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (tick_timer_) g_source_remove(tick_timer_);
  if (retry_timer_) g_source_remove(retry_timer_);
  tick_timer_ = retry_timer_ = 0;
  if (source_) retire_source();
  stop_retired();
  for (auto& f : stopping_) f.wait();
  stopping_.clear();
  set_state(CameraState::Stopped);  // with the memory's figures, before they go
  // PAUSED->READY autosaves the memory (with --state-dir).
  gst_element_set_state(pipeline_, GST_STATE_NULL);
}

CameraStatus Camera::status() const {
  CameraStatus s;
  s.state = state_;
  s.memory_start_ns = uint64_property(llamavid_, "memory-start");
  s.memory_end_ns = uint64_property(llamavid_, "memory-end");
  s.frames = uint64_property(llamavid_, "memory-frames");
  s.frames_skipped = uint64_property(llamavid_, "frames-skipped") + frames_dropped_;
  s.reconnects = reconnects_;
  return s;
}

void Camera::set_state(CameraState state) {
  state_ = state;
  last_status_ms_ = now_ms();
  callbacks_.on_status(status());
}

void Camera::retire_source() {
  source_->retire();
  retired_.push_back(std::move(source_));
}

void Camera::stop_retired() {
  for (auto& r : retired_)
    stopping_.push_back(std::async(std::launch::async, [old = std::move(r)]() mutable {
      old.reset();
    }));
  retired_.clear();
  stopping_.erase(std::remove_if(stopping_.begin(), stopping_.end(),
                                 [](const std::future<void>& f) {
                                   return f.wait_for(std::chrono::seconds(0)) ==
                                          std::future_status::ready;
                                 }),
                  stopping_.end());
}

void Camera::connect() {
  retry_timer_ = 0;
  stop_retired();
  {
    std::lock_guard<std::mutex> lock(frame_mutex_);
    timeline_.new_connection();
  }
  frame_since_connect_ = false;
  connected_at_ms_ = now_ms();
  CameraSource::Callbacks cb;
  cb.on_frame = [this](GstSample* sample) { on_frame(sample); };
  cb.on_failure = [this](const std::string& why) { lose(why); };
  cb.on_end = [this] { on_end(); };
  source_ = std::make_unique<CameraSource>(settings_.uri, std::move(cb));
  source_->start();
}

void Camera::lose(const std::string& why) {
  if (!source_) return;
  retire_source();
  if (state_ == CameraState::Playing) ++reconnects_;
  const int64_t delay_ms = backoff_.next_delay_ms();
  std::cerr << "llamavid-monitor: camera '" << settings_.name << "': " << why
            << "; reconnecting in " << delay_ms / 1000.0 << " s" << std::endl;
  set_state(CameraState::Reconnecting);
  retry_timer_ = g_timeout_add(static_cast<guint>(delay_ms), [](gpointer self) -> gboolean {
    static_cast<Camera*>(self)->connect();
    return G_SOURCE_REMOVE;
  }, this);
}

void Camera::on_end() {
  if (live_) {
    lose("the stream ended");
    return;
  }
  // A file ends once: the element answers what is pending and its memory stays for questions.
  gst_app_src_end_of_stream(GST_APP_SRC(appsrc_));
  retire_source();
  set_state(CameraState::Stopped);
}

void Camera::on_frame(GstSample* sample) {
  GstBuffer* buffer = gst_sample_get_buffer(sample);
  const GstSegment* segment = gst_sample_get_segment(sample);
  GstCaps* caps = gst_sample_get_caps(sample);
  if (!buffer || !segment || !caps || !GST_BUFFER_PTS_IS_VALID(buffer)) return;
  const guint64 stream_time =
      gst_segment_to_stream_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  if (!GST_CLOCK_TIME_IS_VALID(stream_time)) return;
  last_frame_ms_ = now_ms();
  frame_since_connect_ = true;
  if (live_ && gst_app_src_get_current_level_buffers(GST_APP_SRC(appsrc_)) >= kQueuedFrames) {
    ++frames_dropped_;
    return;
  }
  GstBuffer* out = gst_buffer_copy(buffer);  // shares the frame's memory
  {
    std::lock_guard<std::mutex> lock(frame_mutex_);
    GST_BUFFER_PTS(out) = static_cast<GstClockTime>(
        timeline_.place(static_cast<int64_t>(stream_time), g_get_monotonic_time() * 1000));
    GST_BUFFER_DTS(out) = GST_CLOCK_TIME_NONE;
    if (!caps_ || !gst_caps_is_equal(caps_, caps)) {
      gst_caps_replace(&caps_, caps);
      gst_app_src_set_caps(GST_APP_SRC(appsrc_), caps);
    }
  }
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_), out);
}

bool Camera::tick() {
  const int64_t now = now_ms();
  if (source_) {
    if (frame_since_connect_ && state_ != CameraState::Playing) {
      backoff_.reset();
      set_state(CameraState::Playing);
    }
    const int64_t since = frame_since_connect_ ? last_frame_ms_.load() : connected_at_ms_;
    if (now - since > kStallTimeoutMs)
      lose(frame_since_connect_ ? "no frame for 10 s" : "no frame within 10 s of connecting");
  }
  if (now - last_status_ms_ >= kStatusIntervalMs) set_state(state_);
  return true;
}

gboolean Camera::on_bus_message(GstBus*, GstMessage* msg, Camera* self) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ELEMENT: {
      const GstStructure* s = gst_message_get_structure(msg);
      if (gst_structure_has_name(s, "llamavid-answer") ||
          gst_structure_has_name(s, "llamavid-error"))
        self->callbacks_.on_answer(message_json(s));
      else if (gst_structure_has_name(s, "llamavid-alert"))
        self->callbacks_.on_alert(message_json(s));
      break;
    }
    case GST_MESSAGE_WARNING: {
      GError* err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      std::cerr << "llamavid-monitor: camera '" << self->settings_.name
                << "': warning: " << (err ? err->message : "") << std::endl;
      if (err) g_error_free(err);
      break;
    }
    case GST_MESSAGE_ERROR:
      self->callbacks_.on_fatal("camera '" + self->settings_.name + "': " + error_text(msg));
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace llamavid::monitor
