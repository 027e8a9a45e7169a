#include "camera_source.h"

#include <gst/app/gstappsink.h>

#include "gst_elements.h"

namespace llamavid::monitor {

namespace {

// The formats the llamavid element takes as they are; videoconvert converts only the others.
constexpr const char* kFrameCaps =
    "video/x-raw,format={RGB,RGBA,BGR,BGRx,BGRA,I420,NV12}";

}  // namespace

CameraSource::CameraSource(const std::string& uri, Callbacks callbacks)
    : uri_(uri), callbacks_(std::move(callbacks)) {
  pipeline_ = gst_pipeline_new(nullptr);
  GstElement* decode = make_element("uridecodebin");
  convert_ = make_element("videoconvert");
  GstElement* sink = make_element("appsink");
  g_object_set(decode, "uri", uri.c_str(), nullptr);
  GstCaps* caps = gst_caps_from_string(kFrameCaps);
  // The analysis pipeline paces the frames (a live camera has its own pace; a file waits for
  // the element), so the sink never waits for the clock.
  g_object_set(sink, "caps", caps, "sync", FALSE, "emit-signals", TRUE, nullptr);
  gst_caps_unref(caps);
  gst_bin_add_many(GST_BIN(pipeline_), decode, convert_, sink, nullptr);
  gst_element_link(convert_, sink);
  g_signal_connect(decode, "pad-added", G_CALLBACK(on_pad_added), this);
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_new_sample), this);
  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, reinterpret_cast<GstBusFunc>(on_bus_message), this);
  gst_object_unref(bus);
}

CameraSource::~CameraSource() {
  retire();
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(pipeline_);
}

void CameraSource::retire() {
  active_ = false;
  if (bus_watch_) g_source_remove(bus_watch_);
  bus_watch_ = 0;
}

void CameraSource::start() {
  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    report_failure(uri_ + ": the source cannot start");
}

void CameraSource::report_failure(const std::string& why) {
  if (active_.exchange(false)) callbacks_.on_failure(why);
}

void CameraSource::on_pad_added(GstElement*, GstPad* pad, CameraSource* self) {
  const std::string why = link_decoded_pad(self->pipeline_, pad, self->convert_);
  if (why.empty()) return;
  GError* err = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, why.c_str());
  gst_element_post_message(self->pipeline_,
                           gst_message_new_error(GST_OBJECT(self->pipeline_), err, nullptr));
  g_error_free(err);
}

GstFlowReturn CameraSource::on_new_sample(GstElement* sink, CameraSource* self) {
  GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
  if (!sample) return GST_FLOW_EOS;
  if (self->active_) self->callbacks_.on_frame(sample);
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

gboolean CameraSource::on_bus_message(GstBus*, GstMessage* msg, CameraSource* self) {
  switch (GST_MESSAGE_TYPE(msg)) {
    case GST_MESSAGE_ERROR:
      self->report_failure(error_text(msg));
      break;
    case GST_MESSAGE_EOS:
      if (self->active_.exchange(false)) self->callbacks_.on_end();
      break;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

}  // namespace llamavid::monitor
