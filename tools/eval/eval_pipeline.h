// The evaluation's GStreamer pipeline: rendered frames go through the real llamavid element,
// one element per context mode, so every mode sees exactly the same frames:
//
//   appsrc (RGB, non-live, PTS = stream time) ! videoconvert ! tee
//     ! queue ! llamavid context-mode=MODE sample-fps=F ! fakesink    (one branch per mode)
//
// Frames are pushed as fast as the pipeline takes them (the source is not live, so the element
// tokenizes every sampled frame); questions are asked with the `ask` signal once every frame is
// in memory, and answers are read from the bus by id. Runs on the calling thread, no main loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <gst/gst.h>
#include <gst/video/video.h>
#include <opencv2/core.hpp>

namespace llamavid::eval {

struct EvalPipelineOptions {
  std::string model;               // empty: the element's default model
  std::vector<std::string> modes;  // context modes ("exact", "standing"): one element each
  int width = 320;
  int height = 240;
  int fps_num = 1;  // the stream's frame rate, which is also the element's sample-fps
  int fps_den = 1;
  unsigned max_new_tokens = 24;
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
  // options' size. Error when the pipeline has failed.
  void push(const cv::Mat& rgb, int64_t pts_ns);
  // Ends the stream and waits until every element has every frame in memory.
  void finish();
  // Asks every question of every element; answers[m][q] is element m's answer to question q
  // (a refused question's answer is "", its reason on stderr). Call after finish().
  std::vector<std::vector<std::string>> ask(const std::vector<std::string>& questions);
  // Entries held by the memory of element m (the element's memory-frames).
  uint64_t memory_frames(size_t m) const;

 private:
  // Throws Error when the bus holds an ERROR.
  void check_bus();

  EvalPipelineOptions options_;
  GstElement* pipeline_ = nullptr;
  GstElement* src_ = nullptr;                // owned by the pipeline
  std::vector<GstElement*> llamavid_;        // one per mode, owned by the pipeline
  GstBus* bus_ = nullptr;
  GstVideoInfo info_;  // the frames' layout (RGB rows may be padded)
};

}  // namespace llamavid::eval
