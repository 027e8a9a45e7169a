#include "video_pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <glib-unix.h>

#include "core/error.h"
#include "gst_elements.h"

namespace llamavid {

VideoPipeline::VideoPipeline(const std::string& source, const std::vector<GstElement*>& tail)
    : source_(source) {
  const std::string uri = source_to_uri(source);
  pipeline_ = gst_pipeline_new("llamavid-ask");
  GstElement* decode = make_element("uridecodebin");
  convert_ = make_element("videoconvert");
  g_object_set(decode, "uri", uri.c_str(), nullptr);
  gst_bin_add_many(GST_BIN(pipeline_), decode, convert_, nullptr);
  GstElement* prev = convert_;
  for (GstElement* e : tail) {
    gst_bin_add(GST_BIN(pipeline_), e);
    if (!gst_element_link(prev, e)) {
      const std::string what =
          std::string("cannot link ") + GST_OBJECT_NAME(prev) + " to " + GST_OBJECT_NAME(e);
      gst_object_unref(pipeline_);
      throw Error(what);
    }
    prev = e;
  }
  g_signal_connect(decode, "pad-added", G_CALLBACK(on_pad_added), this);
  g_signal_connect(decode, "no-more-pads", G_CALLBACK(on_no_more_pads), this);

  // Frames are counted as they reach the last tail element (the sink): the others have seen them.
  GstPad* sink = gst_element_get_static_pad(prev, "sink");
  gst_pad_add_probe(sink, GST_PAD_PROBE_TYPE_BUFFER,
                    reinterpret_cast<GstPadProbeCallback>(on_buffer), this, nullptr);
  gst_object_unref(sink);

  loop_ = g_main_loop_new(nullptr, FALSE);
  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, reinterpret_cast<GstBusFunc>(on_bus_message), this);
  gst_object_unref(bus);
  sigint_watch_ = g_unix_signal_add(SIGINT, reinterpret_cast<GSourceFunc>(on_interrupt), this);
}

VideoPipeline::~VideoPipeline() {
  if (sigint_watch_) g_source_remove(sigint_watch_);
  if (pipeline_) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    if (bus_watch_) g_source_remove(bus_watch_);
    gst_object_unref(pipeline_);
  }
  if (loop_) g_main_loop_unref(loop_);
}

void VideoPipeline::on_pad_added(GstElement*, GstPad* pad, VideoPipeline* self) {
  const std::string why = link_decoded_pad(self->pipeline_, pad, self->convert_);
  if (!why.empty()) self->post_error(self->source_ + ": " + why);
}

void VideoPipeline::on_no_more_pads(GstElement*, VideoPipeline* self) {
  GstPad* sink = gst_element_get_static_pad(self->convert_, "sink");
  if (!gst_pad_is_linked(sink)) self->post_error(self->source_ + ": no video stream");
  gst_object_unref(sink);
}

GstPadProbeReturn VideoPipeline::on_buffer(GstPad* pad, GstPadProbeInfo* info,
                                           VideoPipeline* self) {
  GstBuffer* buf = GST_PAD_PROBE_INFO_BUFFER(info);
  GstEvent* ev = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (!ev || !GST_BUFFER_PTS_IS_VALID(buf)) {
    if (ev) gst_event_unref(ev);
    return GST_PAD_PROBE_OK;
  }
  const GstSegment* segment = nullptr;
  gst_event_parse_segment(ev, &segment);
  const guint64 t = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
  gst_event_unref(ev);
  if (t == GST_CLOCK_TIME_NONE) return GST_PAD_PROBE_OK;
  int64_t first = self->first_ns_.load();
  if (first < 0) {
    first = static_cast<int64_t>(t);
    self->first_ns_.store(first);
  }
  self->elapsed_ns_.store(std::max<int64_t>(0, static_cast<int64_t>(t) - first));
  self->position_ns_.store(static_cast<int64_t>(t));
  return GST_PAD_PROBE_OK;
}

int64_t VideoPipeline::duration_ns() const {
  gint64 d = -1;
  if (!gst_element_query_duration(pipeline_, GST_FORMAT_TIME, &d)) return -1;
  return d;
}

void VideoPipeline::post_error(const std::string& message) {
  GError* err = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, message.c_str());
  gst_element_post_message(pipeline_,
                           gst_message_new_error(GST_OBJECT(pipeline_), err, nullptr));
  g_error_free(err);
}

gboolean VideoPipeline::on_bus_message(GstBus*, GstMessage* msg, VideoPipeline* self) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR:
      if (self->error_.empty()) self->error_ = error_text(msg);
      g_main_loop_quit(self->loop_);
      break;
    case GST_MESSAGE_EOS:
      self->eos_ = true;
      g_main_loop_quit(self->loop_);
      break;
    case GST_MESSAGE_ELEMENT:
      if (self->element_handler_) self->element_handler_(msg);
      break;
    default:
      break;
  }
  return TRUE;
}

gboolean VideoPipeline::on_interrupt(VideoPipeline* self) {
  if (self->interrupts_++ == 0)
    gst_element_send_event(self->pipeline_, gst_event_new_eos());
  else
    g_main_loop_quit(self->loop_);
  return G_SOURCE_CONTINUE;
}

std::string VideoPipeline::take_bus_error() {
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
  gst_object_unref(bus);
  if (!msg) return "";
  std::string text = error_text(msg);
  gst_message_unref(msg);
  return text;
}

bool VideoPipeline::start() {
  const GstStateChangeReturn r = gst_element_set_state(pipeline_, GST_STATE_PAUSED);
  if (r == GST_STATE_CHANGE_FAILURE) {
    std::string why = take_bus_error();
    throw Error(why.empty() ? source_ + ": the pipeline cannot start" : why);
  }
  // A live source cannot preroll: that is how GStreamer tells a camera from a file.
  const bool live = r == GST_STATE_CHANGE_NO_PREROLL;
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::string why = take_bus_error();
    throw Error(why.empty() ? source_ + ": the pipeline cannot play" : why);
  }
  return live;
}

void VideoPipeline::run() { g_main_loop_run(loop_); }

void VideoPipeline::quit() { g_main_loop_quit(loop_); }

StdinLines::StdinLines(std::function<void(const std::string&)> on_line,
                       std::function<void()> on_end)
    : on_line_(std::move(on_line)), on_end_(std::move(on_end)) {
  watch_ = g_unix_fd_add(STDIN_FILENO, static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR),
                         reinterpret_cast<GUnixFDSourceFunc>(on_readable), this);
}

StdinLines::~StdinLines() {
  if (watch_) g_source_remove(watch_);
}

gboolean StdinLines::on_readable(gint fd, GIOCondition, StdinLines* self) {
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) {
    self->partial_.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = self->partial_.find('\n')) != std::string::npos) {
      std::string line = self->partial_.substr(0, nl);
      self->partial_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      self->on_line_(line);
    }
    return G_SOURCE_CONTINUE;
  }
  // End of input (or a read error, which ends input just the same).
  if (!self->partial_.empty()) self->on_line_(self->partial_);
  self->partial_.clear();
  self->watch_ = 0;
  self->on_end_();
  return G_SOURCE_REMOVE;
}

}  // namespace llamavid
