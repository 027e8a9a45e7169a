#include "frame_source.h"

#include <cstring>
#include <iostream>
#include <string>

#include <gst/app/gstappsrc.h>

#include "core/error.h"
#include "gst_elements.h"

namespace llamavid::eval {

namespace {

// Frames appsrc holds before push() waits: enough to keep the pipeline busy, few enough that
// large frames do not pile up.
constexpr guint kQueuedFrames = 4;
// How often push() looks at the bus while the queue is full.
constexpr GstClockTime kPollInterval = 2 * GST_MSECOND;

}  // namespace

FrameSource::FrameSource(GstBus* bus, int width, int height, int fps_num, int fps_den)
    : bus_(bus) {
  gst_video_info_set_format(&info_, GST_VIDEO_FORMAT_RGB, static_cast<guint>(width),
                            static_cast<guint>(height));
  info_.fps_n = fps_num;
  info_.fps_d = fps_den;
  GstCaps* caps = gst_video_info_to_caps(&info_);
  src_ = make_element("appsrc", "frames");
  // Not live, and time-stamped: what follows takes every frame at its stream time.
  g_object_set(src_, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE, "max-bytes",
               guint64{0}, "max-buffers", guint64{kQueuedFrames}, nullptr);
  gst_caps_unref(caps);
}

void FrameSource::push(const cv::Mat& rgb, int64_t pts_ns) {
  const int width = GST_VIDEO_INFO_WIDTH(&info_), height = GST_VIDEO_INFO_HEIGHT(&info_);
  if (rgb.type() != CV_8UC3 || rgb.cols != width || rgb.rows != height)
    throw Error("a rendered frame is not " + std::to_string(width) + "x" +
                std::to_string(height) + " RGB");
  // Back-pressure without blocking inside appsrc, so that a failed pipeline is noticed.
  for (;;) {
    guint64 queued = 0;
    g_object_get(src_, "current-level-buffers", &queued, nullptr);
    if (queued < kQueuedFrames) break;
    if (GstMessage* msg = gst_bus_timed_pop_filtered(bus_, kPollInterval, GST_MESSAGE_ERROR)) {
      const std::string text = error_text(msg);
      gst_message_unref(msg);
      throw Error(text);
    }
  }
  check_bus(bus_);
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info_), nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  const auto stride = static_cast<size_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0));
  const size_t row = static_cast<size_t>(width) * 3;
  for (int y = 0; y < height; ++y)
    std::memcpy(map.data + static_cast<size_t>(y) * stride, rgb.ptr(y), row);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = static_cast<GstClockTime>(pts_ns);
  GST_BUFFER_DURATION(buf) = gst_util_uint64_scale_int(GST_SECOND, info_.fps_d, info_.fps_n);
  const GstFlowReturn flow = gst_app_src_push_buffer(GST_APP_SRC(src_), buf);
  if (flow != GST_FLOW_OK) {
    check_bus(bus_);
    throw Error(std::string("the pipeline refused a frame: ") + gst_flow_get_name(flow));
  }
}

void FrameSource::end() { gst_app_src_end_of_stream(GST_APP_SRC(src_)); }

void check_bus(GstBus* bus) {
  while (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    const std::string text = error_text(msg);
    gst_message_unref(msg);
    throw Error(text);
  }
}

void wait_eos(GstBus* bus) {
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus, GST_CLOCK_TIME_NONE,
        static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING));
    const GstMessageType type = GST_MESSAGE_TYPE(msg);
    if (type == GST_MESSAGE_WARNING) {
      GError* err = nullptr;
      gst_message_parse_warning(msg, &err, nullptr);
      std::cerr << "llamavid-eval: warning from " << GST_OBJECT_NAME(GST_MESSAGE_SRC(msg))
                << ": " << err->message << "\n";
      g_error_free(err);
      gst_message_unref(msg);
      continue;
    }
    const std::string text = type == GST_MESSAGE_ERROR ? error_text(msg) : "";
    gst_message_unref(msg);
    if (!text.empty()) throw Error(text);
    return;
  }
}

}  // namespace llamavid::eval
