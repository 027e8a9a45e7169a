// Renders videotestsrc frames through GStreamer (appsink), for the frame bank the trainer
// learns from and for the evaluation streams.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <opencv2/core.hpp>

namespace llamavid::world {

// Calls gst_init once (idempotent).
void init_gstreamer();

struct RenderRequest {
  std::string pattern;  // videotestsrc properties, e.g. "pattern=ball motion=sweep"
  int width = 320;
  int height = 240;
  int fps_num = 1;  // frame rate of the rendered stream
  int fps_den = 1;
  int64_t frames = 1;
  // Frames the source skips first (its running position), so animated patterns continue.
  int64_t offset_frames = 0;
};

// Renders `request.frames` RGB frames and passes each (a [H, W, 3] uint8 matrix, valid during
// the call) with its index to `on_frame`. Throws Error when the pipeline fails.
void render_frames(const RenderRequest& request,
                   const std::function<void(const cv::Mat& rgb, int64_t index)>& on_frame);

}  // namespace llamavid::world
