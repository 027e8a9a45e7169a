#include "video_dump.h"

#include <cmath>
#include <iostream>
#include <memory>

#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include "answer_dump.h"
#include "core/default_model.h"
#include "core/error.h"
#include "model/model.h"
#include "stream/session.h"
#include "gst_elements.h"
#include "video_pipeline.h"

namespace llamavid {

namespace {

// Takes the first frame of each 1/fps period of stream time (periods counted from stream time
// 0), as the element does, so that both see the same frames.
class FrameSampler {
 public:
  explicit FrameSampler(double fps) : fps_(fps) {}

  bool take(int64_t t_ns) {
    const auto slot = static_cast<int64_t>(std::floor(static_cast<double>(t_ns) * fps_ / 1e9));
    if (sampled_any_ && slot == last_slot_) return false;
    sampled_any_ = true;
    last_slot_ = slot;
    return true;
  }

 private:
  double fps_;
  bool sampled_any_ = false;
  int64_t last_slot_ = 0;
};

class DumpAsker {
 public:
  DumpAsker(const VideoAskOptions& options, const std::string& dir)
      : options_(options), dir_(dir), sampler_(options.sample_fps.value_or(1.0)) {}

  int run() {
    LoadOptions load;
    if (!options_.device.empty()) load.device = options_.device;
    session_ = std::make_unique<Session>(
        Model::load(options_.model.empty() ? default_model_dir() : options_.model, load),
        session_options());

    GstElement* sink = gst_element_factory_make("appsink", "frames");
    GstCaps* caps = gst_caps_from_string(
        "video/x-raw,format={RGB,RGBA,BGR,BGRx,BGRA,I420,NV12}");
    g_object_set(sink, "caps", caps, "sync", FALSE, nullptr);
    gst_caps_unref(caps);
    GstAppSinkCallbacks callbacks = {};
    callbacks.new_sample = on_sample;
    gst_app_sink_set_callbacks(GST_APP_SINK(sink), &callbacks, this, nullptr);

    pipeline_ = std::make_unique<VideoPipeline>(options_.source, std::vector<GstElement*>{sink});
    if (!options_.subtitles.empty()) {
      GstElement* text = make_element("appsink", "subtitles");
      GstCaps* text_caps = gst_caps_from_string("text/x-raw,format=utf8");
      g_object_set(text, "caps", text_caps, "sync", FALSE, nullptr);
      gst_caps_unref(text_caps);
      GstAppSinkCallbacks text_callbacks = {};
      text_callbacks.new_sample = on_subtitle;
      gst_app_sink_set_callbacks(GST_APP_SINK(text), &text_callbacks, this, nullptr);
      add_subtitle_branch(pipeline_->pipeline(), options_.subtitles, text, "sink");
    }
    if (pipeline_->start())
      after_timer_ = g_timeout_add(50, reinterpret_cast<GSourceFunc>(on_tick), this);
    pipeline_->run();
    if (after_timer_) g_source_remove(after_timer_);
    const std::string error = error_.empty() ? pipeline_->error() : error_;
    if (!error.empty()) {
      std::cerr << "llamavid-ask: " << error << "\n";
      return 1;
    }
    if (!answered_) {
      if (!pipeline_->reached_eos()) return 1;  // stopped by a second Ctrl-C
      session_->flush_subtitles();  // at EOS, as the element does
      answer();
    }
    return 0;
  }

 private:
  SessionOptions session_options() const {
    SessionOptions s;
    if (options_.max_new_tokens) s.max_new_tokens = *options_.max_new_tokens;
    if (options_.temperature) s.temperature = *options_.temperature;
    if (options_.seed) s.seed = *options_.seed;
    if (options_.context_mode) s.context_mode = *options_.context_mode;
    if (options_.hybrid_window_ns) s.hybrid_window_ns = *options_.hybrid_window_ns;
    return s;
  }

  void answer() {
    answered_ = true;
    Answer a = session_->answer(options_.question, /*keep_tensors=*/true);
    write_answer_dump(dir_, a);
    std::cout << answer_line(a.text) << std::endl;
  }

  static gboolean on_tick(DumpAsker* self) {
    if (self->pipeline_->elapsed_ns() < static_cast<int64_t>(self->options_.after_s * 1e9))
      return G_SOURCE_CONTINUE;
    try {
      self->answer();
    } catch (const std::exception& e) {
      self->error_ = e.what();  // exceptions must not cross GLib's C frames
    }
    self->pipeline_->quit();
    self->after_timer_ = 0;
    return G_SOURCE_REMOVE;
  }

  // Streaming thread: encodes the sampled frames (the video waits for the model).
  static GstFlowReturn on_sample(GstAppSink* sink, gpointer data) {
    auto* self = static_cast<DumpAsker*>(data);
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_EOS;
    GstFlowReturn ret = GST_FLOW_OK;
    try {
      self->ingest(sample);
    } catch (const std::exception& e) {
      self->pipeline_->post_error(e.what());
      ret = GST_FLOW_ERROR;
    }
    gst_sample_unref(sample);
    return ret;
  }

  // Streaming thread of the subtitle branch: each buffer joins the session at its stream time,
  // as the element's subtitle_sink takes it.
  static GstFlowReturn on_subtitle(GstAppSink* sink, gpointer data) {
    auto* self = static_cast<DumpAsker*>(data);
    GstSample* sample = gst_app_sink_pull_sample(sink);
    if (!sample) return GST_FLOW_EOS;
    GstBuffer* buf = gst_sample_get_buffer(sample);
    const GstSegment* segment = gst_sample_get_segment(sample);
    GstMapInfo map;
    if (GST_BUFFER_PTS_IS_VALID(buf) && gst_buffer_map(buf, &map, GST_MAP_READ)) {
      const GstClockTime pts = GST_BUFFER_PTS(buf);
      const guint64 start = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, pts);
      const guint64 end =
          GST_BUFFER_DURATION_IS_VALID(buf)
              ? gst_segment_to_stream_time(segment, GST_FORMAT_TIME, pts + GST_BUFFER_DURATION(buf))
              : start;
      if (start != GST_CLOCK_TIME_NONE)
        self->session_->add_subtitle(static_cast<int64_t>(start),
                                     static_cast<int64_t>(end == GST_CLOCK_TIME_NONE ? start : end),
                                     std::string(reinterpret_cast<const char*>(map.data), map.size));
      gst_buffer_unmap(buf, &map);
    }
    gst_sample_unref(sample);
    return GST_FLOW_OK;
  }

  void ingest(GstSample* sample) {
    GstBuffer* buf = gst_sample_get_buffer(sample);
    const GstSegment* segment = gst_sample_get_segment(sample);
    if (!GST_BUFFER_PTS_IS_VALID(buf)) return;
    const guint64 t = gst_segment_to_stream_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buf));
    if (t == GST_CLOCK_TIME_NONE || !sampler_.take(static_cast<int64_t>(t))) return;

    GstVideoInfo info;
    if (!gst_video_info_from_caps(&info, gst_sample_get_caps(sample)))
      throw Error("appsink: the frame caps are not raw video");
    GstVideoFrame vf;
    if (!gst_video_frame_map(&vf, &info, buf, GST_MAP_READ)) throw Error("cannot map a frame");
    Frame f;
    f.width = GST_VIDEO_INFO_WIDTH(&info);
    f.height = GST_VIDEO_INFO_HEIGHT(&info);
    pixel_format_from_string(gst_video_format_to_string(GST_VIDEO_INFO_FORMAT(&info)), f.format);
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&vf) && p < 3; ++p) {
      f.planes[p] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&vf, p));
      f.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE(&vf, p);
    }
    f.pts_ns = static_cast<int64_t>(t);
    try {
      session_->add_frames({f});
    } catch (...) {
      gst_video_frame_unmap(&vf);
      throw;
    }
    gst_video_frame_unmap(&vf);
  }

  const VideoAskOptions& options_;
  std::string dir_;
  FrameSampler sampler_;  // streaming thread only
  std::unique_ptr<Session> session_;
  std::unique_ptr<VideoPipeline> pipeline_;
  guint after_timer_ = 0;
  bool answered_ = false;
  std::string error_;  // an answer that failed on the main loop
};

}  // namespace

int ask_video_dump(const VideoAskOptions& options, const std::string& dir) {
  gst_init(nullptr, nullptr);
  DumpAsker asker(options, dir);
  return asker.run();
}

}  // namespace llamavid
