#include <algorithm>

#include "element.h"
#include "message_json.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

constexpr auto kSkipReportInterval = std::chrono::seconds(1);

guint64 ns_field(int64_t ns) { return static_cast<guint64>(std::max<int64_t>(ns, 0)); }

bool json_output(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
  return self->priv->settings.text_format == TextFormat::Json;
}

// text_src's share of message `s`: its JSON object with text-format=json, else `plain` (the
// answer's text; nullptr for messages that plain text leaves out). Before posting, which takes
// `s`.
void push_text(GstLlamavid* self, const GstStructure* s, const std::string* plain,
               int64_t stream_time_ns) {
  if (json_output(self))
    self->priv->text.push_answer(message_json(s), stream_time_ns);
  else if (plain)
    self->priv->text.push_answer(*plain, stream_time_ns);
}

// `stream_time_ns`: the answer's stream time in this stream's timeline (Answer's is the memory's).
void post_answer(GstLlamavid* self, uint64_t id, const std::string& question, const Answer& a,
                 int64_t stream_time_ns, int64_t latency_ns) {
  GST_DEBUG_OBJECT(self, "answer %" G_GUINT64_FORMAT " in %.3f s (%" G_GUINT64_FORMAT
                   " entries): %s", id, static_cast<double>(latency_ns) / 1e9,
                   static_cast<guint64>(a.frames), a.text.c_str());
  const std::string text = make_valid_utf8(a.text);
  GstStructure* s =
       gst_structure_new(
           "llamavid-answer", "id", G_TYPE_UINT64, static_cast<guint64>(id), "question",
           G_TYPE_STRING, make_valid_utf8(question).c_str(), "answer", G_TYPE_STRING,
           make_valid_utf8(a.text).c_str(), "stream-time", G_TYPE_UINT64,
           ns_field(stream_time_ns), "memory-start",
           G_TYPE_UINT64, ns_field(a.memory_start_ns),
           "memory-end", G_TYPE_UINT64, ns_field(a.memory_end_ns),
           "frames", G_TYPE_UINT, static_cast<guint>(a.frames), "latency", G_TYPE_UINT64,
           ns_field(latency_ns), nullptr);
  push_text(self, s, &text, std::max<int64_t>(stream_time_ns, 0));
  post(self, s);
}

void post_alert(GstLlamavid* self, const WatchEvent& e) {
  const MemoryTimeline& t = self->priv->timeline;
  GST_DEBUG_OBJECT(self, "alert of watch %" G_GUINT64_FORMAT ": '%s' -> '%s'",
                   static_cast<guint64>(e.watch_id), e.alert.previous.c_str(),
                   e.alert.answer.c_str());
  const int64_t stream_time_ns = t.to_stream(e.stream_time_ns);
  GstStructure* s = gst_structure_new(
      "llamavid-alert", "watch-id", G_TYPE_UINT64, static_cast<guint64>(e.watch_id), "question",
      G_TYPE_STRING, make_valid_utf8(e.question).c_str(), "answer", G_TYPE_STRING,
      make_valid_utf8(e.alert.answer).c_str(), "previous", G_TYPE_STRING,
      make_valid_utf8(e.alert.previous).c_str(), "since", G_TYPE_UINT64,
      ns_field(t.to_stream(e.alert.since_ns)), "previous-since", G_TYPE_UINT64,
      ns_field(e.alert.previous.empty() ? 0 : t.to_stream(e.alert.previous_since_ns)),
      "stream-time", G_TYPE_UINT64, ns_field(stream_time_ns), "latency", G_TYPE_UINT64,
      ns_field(e.latency_ns), nullptr);
  push_text(self, s, nullptr, std::max<int64_t>(stream_time_ns, 0));
  post(self, s);
}

void post_skipped(GstLlamavid* self, uint64_t frames, uint64_t watches, int64_t stream_time_ns) {
  post(self, gst_structure_new("llamavid-skipped", "skipped", G_TYPE_UINT64,
                               static_cast<guint64>(frames), "watch-skipped", G_TYPE_UINT64,
                               static_cast<guint64>(watches), "stream-time", G_TYPE_UINT64,
                               ns_field(stream_time_ns), nullptr));
}

// Rate-limited llamavid-skipped, for frames and watch evaluations alike: the first skip, then
// at most one message per interval. `watches`: the count is of watch evaluations.
void on_skipped(GstLlamavid* self, uint64_t total, int64_t stream_time_ns, bool watches) {
  Private* p = self->priv;
  const auto now = std::chrono::steady_clock::now();
  bool report = false;
  uint64_t frames_total, watches_total;
  {
    std::lock_guard<std::mutex> lock(p->skip_mutex);
    (watches ? p->watch_skipped_total : p->skipped_total) = total;
    p->last_skipped_ns = stream_time_ns;
    const bool first = p->skipped_reported == 0 && p->watch_skipped_reported == 0;
    if (first || now - p->last_skip_report >= kSkipReportInterval) {
      p->last_skip_report = now;
      p->skipped_reported = p->skipped_total;
      p->watch_skipped_reported = p->watch_skipped_total;
      report = true;
    }
    frames_total = p->skipped_total;
    watches_total = p->watch_skipped_total;
  }
  GST_LOG_OBJECT(self, "%s skipped (%" G_GUINT64_FORMAT " so far)",
                 watches ? "watch evaluation" : "frame", static_cast<guint64>(total));
  if (report) post_skipped(self, frames_total, watches_total, stream_time_ns);
}

}  // namespace

void post(GstLlamavid* self, GstStructure* s) {
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void post_error(GstLlamavid* self, uint64_t id, const std::string& question,
                const std::string& reason) {
  GST_DEBUG_OBJECT(self, "question %" G_GUINT64_FORMAT " not answered: %s", id, reason.c_str());
  GstStructure* s = gst_structure_new("llamavid-error", "id", G_TYPE_UINT64,
                                      static_cast<guint64>(id), "question", G_TYPE_STRING,
                                      make_valid_utf8(question).c_str(), "reason", G_TYPE_STRING,
                                      make_valid_utf8(reason).c_str(), nullptr);
  push_text(self, s, nullptr, -1);  // at the position text_src has reached
  post(self, s);
}

void post_progress(GstLlamavid* self, GstProgressType type, const std::string& text) {
  GST_DEBUG_OBJECT(self, "progress: %s", text.c_str());
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_progress(GST_OBJECT(self), type, "load-model",
                               make_valid_utf8(text).c_str()));
}

void report_pending_skips(GstLlamavid* self) {
  Private* p = self->priv;
  uint64_t frames, watches;
  int64_t at;
  {
    std::lock_guard<std::mutex> lock(p->skip_mutex);
    if (p->skipped_total == p->skipped_reported &&
        p->watch_skipped_total == p->watch_skipped_reported)
      return;
    frames = p->skipped_reported = p->skipped_total;
    watches = p->watch_skipped_reported = p->watch_skipped_total;
    at = p->last_skipped_ns;
    p->last_skip_report = std::chrono::steady_clock::now();
  }
  post_skipped(self, frames, watches, at);
}

void on_frame_error(GstLlamavid* self, const std::string& reason) {
  GST_WARNING_OBJECT(self, "frames left out of memory: %s", reason.c_str());
  if (!self->priv->frame_error_reported.exchange(true))
    GST_ELEMENT_WARNING(self, STREAM, FAILED,
                        ("Some frames could not be analysed: %s", reason.c_str()), (nullptr));
}

AnalyzerCallbacks make_callbacks(GstLlamavid* self) {
  AnalyzerCallbacks c;
  c.on_answer = [self](uint64_t id, const std::string& q, const Answer& a, int64_t latency_ns) {
    // Before the first frame after a load-memory the answer is about the loaded past only: 0
    // stamps it at the position text_src has reached.
    const int64_t stream_time_ns = self->priv->timeline.to_stream(a.stream_time_ns);
    post_answer(self, id, q, a, stream_time_ns, latency_ns);
  };
  c.on_error = [self](uint64_t id, const std::string& q, const std::string& reason) {
    post_error(self, id, q, reason);
  };
  c.on_skipped = [self](uint64_t total, int64_t pts) { on_skipped(self, total, pts, false); };
  c.on_alert = [self](const WatchEvent& e) { post_alert(self, e); };
  c.on_watch_answer = [self](uint64_t id, const std::string&, const Answer& a) {
    GST_DEBUG_OBJECT(self, "watch %" G_GUINT64_FORMAT " at %" GST_TIME_FORMAT ": %s",
                     static_cast<guint64>(id),
                     GST_TIME_ARGS(ns_field(self->priv->timeline.to_stream(a.stream_time_ns))),
                     a.text.c_str());
  };
  c.on_watch_skipped = [self](uint64_t total, int64_t pts) {
    on_skipped(self, total, pts, true);
  };
  c.on_watch_error = [self](uint64_t id, const std::string& q, const std::string& reason) {
    post_error(self, id, q, reason);
  };
  c.on_log = [self](LogLevel level, const std::string& text) {
    if (level == LogLevel::Event)
      GST_DEBUG_OBJECT(self, "%s", text.c_str());
    else
      GST_LOG_OBJECT(self, "%s", text.c_str());
  };
  c.on_frame_error = [self](const std::string& reason) { on_frame_error(self, reason); };
  return c;
}

}  // namespace llamavid::element
