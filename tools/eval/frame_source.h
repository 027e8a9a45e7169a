// An appsrc that takes rendered RGB frames stamped with their stream time, at the pace of the
// pipeline behind it (non-live: nothing is dropped), for the evaluation's element pipeline and
// its file writer alike.
#pragma once

#include <cstdint>

#include <gst/gst.h>
#include <gst/video/video.h>
#include <opencv2/core.hpp>

namespace llamavid::eval {

class FrameSource {
 public:
  // Makes the appsrc (added to no bin yet); `bus` is its pipeline's, watched for errors while
  // push() waits.
  FrameSource(GstBus* bus, int width, int height, int fps_num, int fps_den);
  GstElement* element() const { return src_; }

  // One frame, rgb [H, W, 3] uint8 at the source's size; waits while the pipeline's queue is
  // full. Error when the pipeline has failed.
  void push(const cv::Mat& rgb, int64_t pts_ns);
  void end();

 private:
  GstBus* bus_;
  GstElement* src_;
  GstVideoInfo info_;  // the frames' layout (RGB rows may be padded)
};

// Throws Error when `bus` holds an ERROR.
void check_bus(GstBus* bus);
// Waits for EOS on `bus` (warnings are printed, an ERROR throws Error).
void wait_eos(GstBus* bus);

}  // namespace llamavid::eval
