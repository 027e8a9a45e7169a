// llamavid-eval --real-files: a stream's rendered frames encoded into a file by a GStreamer
// encoder and muxer, as a user's recordings are, to be played back through filesrc ! decodebin:
//   appsrc ! videoconvert ! ENCODER ! MUXER ! filesink
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <gst/gst.h>
#include <opencv2/core.hpp>

#include "frame_source.h"

namespace llamavid::eval {

enum class FileFormat { Mp4H264, WebmVp8, AviMjpeg, MkvH264 };
constexpr int kFileFormats = 4;

// "x264enc/mp4mux" and the like.
const char* file_format_name(FileFormat format);
// "mp4", "webm", "avi", "mkv".
const char* file_extension(FileFormat format);

class StreamFileWriter {
 public:
  // Starts the pipeline; Error when an element is missing or it cannot start.
  StreamFileWriter(const std::string& path, FileFormat format, int width, int height,
                   int fps_num, int fps_den);
  ~StreamFileWriter();
  StreamFileWriter(const StreamFileWriter&) = delete;
  StreamFileWriter& operator=(const StreamFileWriter&) = delete;

  void push(const cv::Mat& rgb, int64_t pts_ns) { source_->push(rgb, pts_ns); }
  // Ends the stream and waits until the file is complete (the muxer's EOS).
  void finish();

 private:
  GstElement* pipeline_ = nullptr;
  GstBus* bus_ = nullptr;
  std::unique_ptr<FrameSource> source_;
};

}  // namespace llamavid::eval
