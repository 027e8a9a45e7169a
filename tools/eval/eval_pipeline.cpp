#include "eval_pipeline.h"

#include <cstring>
#include <iostream>
#include <map>
#include <utility>

#include <gst/app/gstappsrc.h>

#include "core/error.h"
#include "gst_elements.h"

namespace llamavid::eval {

namespace {

// Frames appsrc holds before push() waits: enough to keep the element busy, few enough that
// large frames do not pile up.
constexpr guint kQueuedFrames = 4;
// How often push() looks at the bus while the queue is full.
constexpr GstClockTime kPollInterval = 2 * GST_MSECOND;

void link(GstElement* a, GstElement* b) {
  if (!gst_element_link(a, b))
    throw Error(std::string("cannot link ") + GST_OBJECT_NAME(a) + " to " + GST_OBJECT_NAME(b));
}

}  // namespace

EvalPipeline::EvalPipeline(const EvalPipelineOptions& options) : options_(options) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  pipeline_ = gst_pipeline_new("llamavid-eval");
  bus_ = gst_element_get_bus(pipeline_);
  try {
    gst_video_info_set_format(&info_, GST_VIDEO_FORMAT_RGB, static_cast<guint>(options.width),
                              static_cast<guint>(options.height));
    info_.fps_n = options.fps_num;
    info_.fps_d = options.fps_den;
    GstCaps* caps = gst_video_info_to_caps(&info_);
    src_ = make_element("appsrc", "frames");
    // Not live, and time-stamped: the element samples by stream time and encodes every frame.
    g_object_set(src_, "caps", caps, "format", GST_FORMAT_TIME, "is-live", FALSE, "max-bytes",
                 guint64{0}, "max-buffers", guint64{kQueuedFrames}, nullptr);
    gst_caps_unref(caps);
    GstElement* convert = make_element("videoconvert");
    GstElement* tee = make_element("tee");
    gst_bin_add_many(GST_BIN(pipeline_), src_, convert, tee, nullptr);
    link(src_, convert);
    link(convert, tee);
    for (const std::string& mode : options.modes) {
      GstElement* queue = make_element("queue");
      GstElement* llamavid = make_llamavid_element(("llamavid-" + mode).c_str());
      GstElement* sink = make_element("fakesink");
      g_object_set(sink, "sync", FALSE, nullptr);
      gst_bin_add_many(GST_BIN(pipeline_), queue, llamavid, sink, nullptr);
      llamavid_.push_back(llamavid);
      if (!g_object_class_find_property(G_OBJECT_GET_CLASS(llamavid), "context-mode"))
        throw Error("this llamavid element has no context-mode property (an older plugin?)");
      if (!options.model.empty()) g_object_set(llamavid, "model", options.model.c_str(), nullptr);
      g_object_set(llamavid, "sample-fps",
                   static_cast<double>(options.fps_num) / options.fps_den, "max-new-tokens",
                   options.max_new_tokens, nullptr);
      gst_util_set_object_arg(G_OBJECT(llamavid), "context-mode", mode.c_str());
      link(tee, queue);
      link(queue, llamavid);
      link(llamavid, sink);
    }
    // The model loads at NULL->READY, so a bad one fails here.
    if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
      check_bus();
      throw Error("the evaluation pipeline cannot start");
    }
  } catch (...) {
    gst_element_set_state(pipeline_, GST_STATE_NULL);
    gst_object_unref(bus_);
    gst_object_unref(pipeline_);
    throw;
  }
}

EvalPipeline::~EvalPipeline() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(bus_);
  gst_object_unref(pipeline_);
}

void EvalPipeline::check_bus() {
  while (GstMessage* msg = gst_bus_pop_filtered(bus_, GST_MESSAGE_ERROR)) {
    const std::string text = error_text(msg);
    gst_message_unref(msg);
    throw Error(text);
  }
}

void EvalPipeline::push(const cv::Mat& rgb, int64_t pts_ns) {
  if (rgb.type() != CV_8UC3 || rgb.cols != options_.width || rgb.rows != options_.height)
    throw Error("a rendered frame is not " + std::to_string(options_.width) + "x" +
                std::to_string(options_.height) + " RGB");
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
  check_bus();
  GstBuffer* buf = gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info_), nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  const auto stride = static_cast<size_t>(GST_VIDEO_INFO_PLANE_STRIDE(&info_, 0));
  const size_t row = static_cast<size_t>(options_.width) * 3;
  for (int y = 0; y < options_.height; ++y)
    std::memcpy(map.data + static_cast<size_t>(y) * stride, rgb.ptr(y), row);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = static_cast<GstClockTime>(pts_ns);
  GST_BUFFER_DURATION(buf) =
      gst_util_uint64_scale_int(GST_SECOND, options_.fps_den, options_.fps_num);
  const GstFlowReturn flow = gst_app_src_push_buffer(GST_APP_SRC(src_), buf);
  if (flow != GST_FLOW_OK) {
    check_bus();
    throw Error(std::string("the evaluation pipeline refused a frame: ") +
                gst_flow_get_name(flow));
  }
}

void EvalPipeline::finish() {
  gst_app_src_end_of_stream(GST_APP_SRC(src_));
  // The element lets EOS go only once every queued frame is encoded, so at EOS on the bus
  // every element has the whole stream in memory.
  for (;;) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus_, GST_CLOCK_TIME_NONE,
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

std::vector<std::vector<std::string>> EvalPipeline::ask(
    const std::vector<std::string>& questions) {
  std::vector<std::vector<std::string>> answers(llamavid_.size(),
                                                std::vector<std::string>(questions.size()));
  std::map<std::pair<GstObject*, guint64>, std::pair<size_t, size_t>> pending;  // -> (m, q)
  for (size_t m = 0; m < llamavid_.size(); ++m)
    for (size_t q = 0; q < questions.size(); ++q) {
      guint64 id = 0;
      g_signal_emit_by_name(llamavid_[m], "ask", questions[q].c_str(), &id);
      pending[{GST_OBJECT(llamavid_[m]), id}] = {m, q};
    }
  while (!pending.empty()) {
    GstMessage* msg = gst_bus_timed_pop_filtered(
        bus_, GST_CLOCK_TIME_NONE,
        static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR));
    if (GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      const std::string text = error_text(msg);
      gst_message_unref(msg);
      throw Error(text);
    }
    const GstStructure* s = gst_message_get_structure(msg);
    const bool answered = gst_structure_has_name(s, "llamavid-answer");
    guint64 id = 0;
    if ((answered || gst_structure_has_name(s, "llamavid-error")) &&
        gst_structure_get_uint64(s, "id", &id)) {
      auto it = pending.find({GST_MESSAGE_SRC(msg), id});
      if (it != pending.end()) {
        const auto [m, q] = it->second;
        if (answered)
          answers[m][q] = string_field(s, "answer");
        else
          std::cerr << "llamavid-eval: " << options_.modes[m] << " mode cannot answer \""
                    << questions[q] << "\": " << string_field(s, "reason") << "\n";
        pending.erase(it);
      }
    }
    gst_message_unref(msg);
  }
  return answers;
}

uint64_t EvalPipeline::memory_frames(size_t m) const {
  guint64 frames = 0;
  g_object_get(llamavid_.at(m), "memory-frames", &frames, nullptr);
  return frames;
}

}  // namespace llamavid::eval
