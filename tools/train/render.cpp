#include "render.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include "core/error.h"

namespace llamavid::world {

void init_gstreamer() {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
}

void render_frames(const RenderRequest& r,
                   const std::function<void(const cv::Mat& rgb, int64_t index)>& on_frame) {
  init_gstreamer();
  const std::string description =
      "videotestsrc " + r.pattern + " num-buffers=" + std::to_string(r.offset_frames + r.frames) +
      " ! video/x-raw,format=RGB,width=" + std::to_string(r.width) +
      ",height=" + std::to_string(r.height) + ",framerate=" + std::to_string(r.fps_num) + "/" +
      std::to_string(r.fps_den) + " ! appsink name=sink sync=false";
  GError* err = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &err);
  if (!pipeline) {
    const std::string why = err ? err->message : "unknown reason";
    g_clear_error(&err);
    throw Error("render: cannot build '" + description + "': " + why);
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  std::string failure;
  for (int64_t i = 0;; ++i) {
    GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
    if (!sample) break;  // EOS or error
    if (i >= r.offset_frames) {
      GstBuffer* buffer = gst_sample_get_buffer(sample);
      GstMapInfo map;
      if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        // RGB rows are padded to 4 bytes in GStreamer's layout.
        const size_t stride = (static_cast<size_t>(r.width) * 3 + 3) & ~size_t{3};
        cv::Mat rgb(r.height, r.width, CV_8UC3, map.data, stride);
        on_frame(rgb, i - r.offset_frames);
        gst_buffer_unmap(buffer, &map);
      } else {
        failure = "cannot map a rendered buffer";
      }
    }
    gst_sample_unref(sample);
    if (!failure.empty()) break;
  }
  GstBus* bus = gst_element_get_bus(pipeline);
  if (GstMessage* msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* e = nullptr;
    gst_message_parse_error(msg, &e, nullptr);
    failure = e ? e->message : "pipeline error";
    g_clear_error(&e);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
  if (!failure.empty()) throw Error("render: '" + description + "': " + failure);
}

}  // namespace llamavid::world
