#include <algorithm>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

constexpr auto kSkipReportInterval = std::chrono::seconds(1);

// `stream_time_ns`: the answer's stream time in this stream's timeline (Answer's is the memory's).
void post_answer(GstLlamavid* self, uint64_t id, const std::string& question, const Answer& a,
                 int64_t stream_time_ns, int64_t latency_ns) {
  GST_DEBUG_OBJECT(self, "answer %" G_GUINT64_FORMAT ": %s", id, a.text.c_str());
  post(self,
       gst_structure_new(
           "llamavid-answer", "id", G_TYPE_UINT64, static_cast<guint64>(id), "question",
           G_TYPE_STRING, make_valid_utf8(question).c_str(), "answer", G_TYPE_STRING,
           make_valid_utf8(a.text).c_str(), "stream-time", G_TYPE_UINT64,
           static_cast<guint64>(std::max<int64_t>(stream_time_ns, 0)), "memory-start",
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

}  // namespace

void post(GstLlamavid* self, GstStructure* s) {
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

void post_error(GstLlamavid* self, uint64_t id, const std::string& question,
                const std::string& reason) {
  GST_DEBUG_OBJECT(self, "question %" G_GUINT64_FORMAT " not answered: %s", id, reason.c_str());
  post(self, gst_structure_new("llamavid-error", "id", G_TYPE_UINT64, static_cast<guint64>(id),
                               "question", G_TYPE_STRING, make_valid_utf8(question).c_str(), "reason",
                               G_TYPE_STRING, make_valid_utf8(reason).c_str(), nullptr));
}

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

AnalyzerCallbacks make_callbacks(GstLlamavid* self) {
  AnalyzerCallbacks c;
  c.on_answer = [self](uint64_t id, const std::string& q, const Answer& a, int64_t latency_ns) {
    // Before the first frame after a load-memory the answer is about the loaded past only: 0
    // stamps it at the position text_src has reached.
    const int64_t stream_time_ns = self->priv->timeline.to_stream(a.stream_time_ns);
    post_answer(self, id, q, a, stream_time_ns, latency_ns);
    self->priv->text.push_answer(make_valid_utf8(a.text), std::max<int64_t>(stream_time_ns, 0));
  };
  c.on_error = [self](uint64_t id, const std::string& q, const std::string& reason) {
    post_error(self, id, q, reason);
  };
  c.on_skipped = [self](uint64_t total, int64_t pts) { on_skipped(self, total, pts); };
  c.on_frame_error = [self](const std::string& reason) { on_frame_error(self, reason); };
  return c;
}

}  // namespace llamavid::element
