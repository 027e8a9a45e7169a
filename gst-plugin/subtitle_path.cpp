// subtitle_sink: timed text (subtitles, captions) joins the memory at its stream time.
#include <algorithm>
#include <chrono>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

// More than any subtitle line; the memory keeps kMaxSubtitleBytes of an entry's text anyway,
// so a huge buffer is cut here before it is copied around.
constexpr gsize kMaxSubtitleBufferBytes = 4096;

}  // namespace

GstFlowReturn subtitle_sink_chain(GstPad*, GstObject* parent, GstBuffer* buffer) {
  auto* self = GST_LLAMAVID(parent);
  Private* p = self->priv;
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  const GstClockTime duration = GST_BUFFER_DURATION(buffer);
  std::string text;
  GstMapInfo map;
  if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    text.assign(reinterpret_cast<const char*>(map.data), std::min(map.size, kMaxSubtitleBufferBytes));
    gst_buffer_unmap(buffer, &map);
  }
  gst_buffer_unref(buffer);
  const GstSegment& seg = p->subtitle_segment;
  if (!GST_CLOCK_TIME_IS_VALID(pts) || seg.format != GST_FORMAT_TIME) {
    GST_DEBUG_OBJECT(self, "subtitle without a time: dropped");
    return GST_FLOW_OK;
  }
  const guint64 start = gst_segment_to_stream_time(&seg, GST_FORMAT_TIME, pts);
  guint64 end = GST_CLOCK_TIME_IS_VALID(duration)
                    ? gst_segment_to_stream_time(&seg, GST_FORMAT_TIME, pts + duration)
                    : start;
  if (!GST_CLOCK_TIME_IS_VALID(start)) return GST_FLOW_OK;  // outside the segment
  if (!GST_CLOCK_TIME_IS_VALID(end)) end = start;
  auto analyzer = current_analyzer(self);
  if (!analyzer) return GST_FLOW_FLUSHING;
  // Frames map through the timeline as they are sampled; subtitles follow the same offset.
  const int64_t offset = p->timeline.offset_ns();
  GST_LOG_OBJECT(self, "subtitle %" GST_TIME_FORMAT " - %" GST_TIME_FORMAT ": %s",
                 GST_TIME_ARGS(start), GST_TIME_ARGS(end), text.c_str());
  analyzer->add_subtitle(static_cast<int64_t>(start) + offset, static_cast<int64_t>(end) + offset,
                         text);
  return GST_FLOW_OK;
}

namespace {

void set_subtitle_ended(GstLlamavid* self, bool ended) {
  SubtitleEnd& e = self->priv->subtitle_end;
  {
    std::lock_guard<std::mutex> lock(e.mutex);
    e.ended = ended;
  }
  e.cv.notify_all();
}

}  // namespace

// Every event ends here: the subtitle stream's segment is kept for its times, its EOS releases
// the video's, and nothing of it (stream-start, caps, segment, gap, EOS) belongs on the
// element's source pads.
gboolean subtitle_sink_event(GstPad*, GstObject* parent, GstEvent* event) {
  auto* self = GST_LLAMAVID(parent);
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_SEGMENT:
      gst_event_copy_segment(event, &self->priv->subtitle_segment);
      break;
    case GST_EVENT_STREAM_START:
      set_subtitle_ended(self, false);
      break;
    case GST_EVENT_FLUSH_STOP:
      gst_segment_init(&self->priv->subtitle_segment, GST_FORMAT_UNDEFINED);
      set_subtitle_ended(self, false);
      break;
    case GST_EVENT_EOS:
      GST_DEBUG_OBJECT(self, "subtitle stream ended");
      set_subtitle_ended(self, true);
      break;
    default:
      break;
  }
  gst_event_unref(event);
  return TRUE;
}

void wait_for_subtitle_end(GstLlamavid* self, GstPad* video_pad) {
  if (!gst_pad_is_linked(self->subtitle_sinkpad)) return;
  SubtitleEnd& e = self->priv->subtitle_end;
  std::unique_lock<std::mutex> lock(e.mutex);
  if (!e.ended) GST_DEBUG_OBJECT(self, "video ended: waiting for the subtitle stream's EOS");
  // An unlink does not notify: the wait looks again every 100 ms.
  while (!e.ended && !e.stopping && !GST_PAD_IS_FLUSHING(video_pad) &&
         gst_pad_is_linked(self->subtitle_sinkpad))
    e.cv.wait_for(lock, std::chrono::milliseconds(100));
}

void wake_subtitle_wait(GstLlamavid* self, bool stopping) {
  SubtitleEnd& e = self->priv->subtitle_end;
  {
    std::lock_guard<std::mutex> lock(e.mutex);
    if (stopping) e.stopping = true;
  }
  e.cv.notify_all();
}

void reset_subtitle_end(GstLlamavid* self) {
  SubtitleEnd& e = self->priv->subtitle_end;
  std::lock_guard<std::mutex> lock(e.mutex);
  e.ended = false;
  e.stopping = false;
}

}  // namespace llamavid::element
