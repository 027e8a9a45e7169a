// One connection to a camera: `uridecodebin uri=URI ! videoconvert ! appsink`, a pipeline of its
// own that llamavid-monitor builds for each connection and throws away when the camera fails.
// A reconnection so starts from a clean pipeline, while the analysis pipeline (the llamavid
// element, its memory and its questions) keeps running. Frames are handed over on the streaming
// thread; a failure or the end of the stream is reported once, on the main loop.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <gst/gst.h>

namespace llamavid::monitor {

class CameraSource {
 public:
  struct Callbacks {
    std::function<void(GstSample*)> on_frame;                 // streaming thread
    std::function<void(const std::string& why)> on_failure;  // main loop
    std::function<void()> on_end;                             // main loop: end of stream
  };

  CameraSource(const std::string& uri, Callbacks callbacks);
  // Stops the pipeline (its threads end before it returns). Any thread, after retire(): an RTSP
  // source saying goodbye to a server that does not answer can take its timeout (20 s).
  ~CameraSource();
  CameraSource(const CameraSource&) = delete;
  CameraSource& operator=(const CameraSource&) = delete;

  // Starts playing; a source that cannot start is reported through on_failure.
  void start();
  // Nothing more is handed over or reported (the camera has given up on this connection). On the
  // main loop.
  void retire();

 private:
  static GstFlowReturn on_new_sample(GstElement* sink, CameraSource* self);
  static void on_pad_added(GstElement* decodebin, GstPad* pad, CameraSource* self);
  static gboolean on_bus_message(GstBus* bus, GstMessage* msg, CameraSource* self);
  void report_failure(const std::string& why);

  std::string uri_;
  Callbacks callbacks_;
  GstElement* pipeline_ = nullptr;
  GstElement* convert_ = nullptr;
  guint bus_watch_ = 0;
  std::atomic<bool> active_{true};
};

}  // namespace llamavid::monitor
