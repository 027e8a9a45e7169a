#include <cmath>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

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
  const int64_t pts_ns = memory_time(self, static_cast<int64_t>(stream_time));
  GST_DEBUG_OBJECT(self, "sampled frame at %" GST_TIME_FORMAT "%s", GST_TIME_ARGS(stream_time),
                   live ? " (live)" : "");
  if (live && analyzer->skip_if_full(pts_ns)) return GST_FLOW_OK;

  Frame frame;
  if (!pixel_format_from_string(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&st.info)),
                                frame.format))
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
  FrameCopy copy;
  std::string failure;
  try {
    copy = analyzer->copy_frame(frame);
  } catch (const std::exception& e) {
    failure = error_text(e);
  }
  gst_video_frame_unmap(&vframe);
  if (!failure.empty()) {
    on_frame_error(self, failure);
    return GST_FLOW_OK;
  }

  if (analyzer->submit_frame(std::move(copy), live) == SubmitResult::Cancelled)
    return GST_FLOW_FLUSHING;
  return GST_FLOW_OK;
}

// EOS: answers every pending question (and ask-at-eos) and evaluates the watches a last time,
// pushes the answers (and alerts) and EOS on text_src, then
// lets EOS go on downstream. A flush while the answers come ends the wait and drops the EOS.
gboolean handle_eos(GstLlamavid* self, GstPad* pad, GstEvent* event) {
  std::string at_eos;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    at_eos = self->priv->settings.ask_at_eos;
  }
  auto analyzer = current_analyzer(self);
  // Subtitles still waiting for a later frame join the memory once every frame and every cue is
  // in, before the question asked at EOS.
  wait_for_subtitle_end(self, pad);
  // The watches' last round sees that whole memory; a change waiting for its confirmation fires.
  if (analyzer && analyzer->drain()) {
    analyzer->flush_subtitles();
    analyzer->finish_watches();
  }
  if (!at_eos.empty()) ask(self, at_eos, 0);
  if (analyzer && !analyzer->drain() && GST_PAD_IS_FLUSHING(pad)) {
    GST_DEBUG_OBJECT(self, "flushed while answering at EOS: EOS dropped");
    gst_event_unref(event);
    return FALSE;
  }
  autosave_now(self);
  report_pending_skips(self);
  self->priv->text.finish();
  return gst_pad_event_default(pad, GST_OBJECT(self), event);
}

}  // namespace

GstFlowReturn sink_chain(GstPad*, GstObject* parent, GstBuffer* buffer) {
  auto* self = GST_LLAMAVID(parent);
  StreamState& st = self->priv->stream;
  const GstClockTime pts = GST_BUFFER_PTS(buffer);
  if (GST_CLOCK_TIME_IS_VALID(pts) && st.segment.format == GST_FORMAT_TIME && st.have_info) {
    self->priv->text.advance(pts);
    const guint64 stream_time = gst_segment_to_stream_time(&st.segment, GST_FORMAT_TIME, pts);
    if (GST_CLOCK_TIME_IS_VALID(stream_time) && sample_due(self, stream_time)) {
      autosave_tick(self, static_cast<int64_t>(stream_time));
      const GstFlowReturn ret = sample_frame(self, buffer, stream_time);
      if (ret != GST_FLOW_OK) {
        gst_buffer_unref(buffer);
        return ret;
      }
    }
  }
  return gst_pad_push(self->srcpad, buffer);
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
      wake_subtitle_wait(self, /*stopping=*/false);
      p->text.flush_start();
      break;
    case GST_EVENT_FLUSH_STOP: {
      gboolean reset_time = TRUE;
      gst_event_parse_flush_stop(event, &reset_time);
      if (auto a = current_analyzer(self)) a->reset();
      autosave_rearm(self);
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

}  // namespace llamavid::element
