// The evaluation's GStreamer pipeline: rendered frames, or a file they were encoded into, go
// through the real llamavid element, one element per context mode, so every mode sees exactly
// the same frames:
//
//   appsrc (RGB, non-live, PTS = stream time) ! videoconvert ! tee          (rendered frames)
//   filesrc location=FILE ! decodebin ! videoconvert ! tee                   (--real-files)
//     ! queue ! llamavid context-mode=MODE sample-fps=F ! fakesink    (one branch per mode)
//
// Frames go as fast as the pipeline takes them (the source is not live, so the element tokenizes
// every sampled frame); questions are asked with the `ask` signal once every frame is in memory,
// and answers are read from the bus by id. Runs on the calling thread, no main loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gst/gst.h>
#include <gst/video/video.h>
#include <opencv2/core.hpp>

#include "frame_source.h"

namespace llamavid::eval {

struct EvalPipelineOptions {
  std::string model;               // empty: the element's default model
  std::vector<std::string> modes;  // context modes ("exact", "standing"): one element each
  int width = 320;
  int height = 240;
  int fps_num = 1;  // the stream's frame rate, which is also the element's sample-fps
  int fps_den = 1;
  unsigned max_new_tokens = 24;
  std::string file;  // non-empty: the frames come from this file (decodebin), not from push()
};

class EvalPipeline {
 public:
  // Builds the pipeline and starts it (the model loads): Error with what the pipeline posted
  // when it cannot start (missing element, bad model).
  explicit EvalPipeline(const EvalPipelineOptions& options);
  ~EvalPipeline();
  EvalPipeline(const EvalPipeline&) = delete;
  EvalPipeline& operator=(const EvalPipeline&) = delete;

  // Pushes one frame, waiting while the pipeline's queue is full. rgb [H, W, 3] uint8 at the
  // options' size. Error when the pipeline has failed (or plays a file).
  void push(const cv::Mat& rgb, int64_t pts_ns);
  // Ends the stream (a file: waits for its end) and waits until every element has every frame
  // in memory.
  void finish();
  // Asks every question of every element; answers[m][q] is element m's answer to question q
  // (a refused question's answer is "", its reason on stderr). Call after finish().
  std::vector<std::vector<std::string>> ask(const std::vector<std::string>& questions);
  // Entries held by the memory of element m (the element's memory-frames).
  uint64_t memory_frames(size_t m) const;

 private:
  // The head of the pipeline, up to videoconvert (added and linked to it).
  void add_source(GstElement* convert);
  static void on_decoded_pad(GstElement* decodebin, GstPad* pad, GstElement* convert);

  EvalPipelineOptions options_;
  GstElement* pipeline_ = nullptr;
  std::unique_ptr<FrameSource> source_;  // rendered frames; null for a file
  std::vector<GstElement*> llamavid_;    // one per mode, owned by the pipeline
  GstBus* bus_ = nullptr;
};

}  // namespace llamavid::eval
