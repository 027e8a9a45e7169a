// One camera of llamavid-monitor: an analysis pipeline `appsrc ! llamavid ! fakesink` that runs
// from start to stop, fed by the camera's current connection (CameraSource). When the camera
// fails, stalls or (a live one) ends, the connection is thrown away and made again after a
// backoff, and the element with its memory goes on: questions are answered about what came
// before while the camera is away, and the frames of the new connection continue the timeline
// (SourceTimeline). Everything but ask() runs on the main loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gst/gst.h>

#include "backoff.h"
#include "camera_source.h"
#include "monitor_messages.h"
#include "source_timeline.h"

namespace llamavid::monitor {

struct CameraSettings {
  std::string name;
  std::string uri;  // a URI (a file path made into a file:// URI)
  std::vector<std::string> watches;
  double sample_fps = 0;  // 0: the element's default
  std::string model, device;
  std::string autosave_path;  // with --state-dir: the memory file, restored at start
  unsigned autosave_interval_s = 60;
};

class Camera {
 public:
  // A camera with no frame for this long (connecting or playing) is reconnected.
  static constexpr int64_t kStallTimeoutMs = 10000;
  // The status is published at every change of state and at least this often.
  static constexpr int64_t kStatusIntervalMs = 5000;

  struct Callbacks {
    std::function<void(const std::string& json)> on_answer;  // answers and errors
    std::function<void(const std::string& json)> on_alert;
    std::function<void(const CameraStatus& status)> on_status;
    std::function<void(const std::string& why)> on_fatal;  // the analysis pipeline failed
  };

  Camera(CameraSettings settings, Callbacks callbacks);
  ~Camera();
  Camera(const Camera&) = delete;
  Camera& operator=(const Camera&) = delete;

  // Loads the model (shared with the other cameras), restores the memory when there is a saved
  // one, starts the analysis pipeline and the first connection. Error when the element cannot
  // start (the model, the memory directory).
  void start();
  // Queues a question (any thread; one asked before start() waits for it); its answer or error
  // comes through on_answer.
  void ask(const Question& question);
  // Publishes the `stopped` status and ends the connection and the analysis pipeline (which
  // autosaves). Once only.
  void stop();
  CameraStatus status() const;
  const std::string& name() const { return settings_.name; }

 private:
  void connect();
  void lose(const std::string& why);
  void retire_source();
  void stop_retired();
  void on_frame(GstSample* sample);
  void on_end();
  bool tick();
  void set_state(CameraState state);
  static gboolean on_bus_message(GstBus* bus, GstMessage* msg, Camera* self);

  CameraSettings settings_;
  Callbacks callbacks_;
  bool live_;
  GstElement* pipeline_ = nullptr;
  GstElement* appsrc_ = nullptr;
  GstElement* llamavid_ = nullptr;
  guint bus_watch_ = 0, tick_timer_ = 0, retry_timer_ = 0;
  std::unique_ptr<CameraSource> source_;
  // Connections given up (kept until the bus callback that gave them up has returned), then
  // each stopped on a thread of its own, so the main loop never waits for one.
  std::vector<std::unique_ptr<CameraSource>> retired_;
  std::vector<std::future<void>> stopping_;
  CameraState state_ = CameraState::Starting;
  bool stopped_ = false;
  uint64_t reconnects_ = 0;
  Backoff backoff_;
  int64_t connected_at_ms_ = 0, last_status_ms_ = 0;

  std::mutex ask_mutex_;  // questions that come before the element listens wait here
  bool listening_ = false;
  std::vector<Question> early_questions_;

  std::mutex frame_mutex_;  // the streaming thread's timeline and caps
  SourceTimeline timeline_;
  GstCaps* caps_ = nullptr;
  std::atomic<int64_t> last_frame_ms_{0};
  std::atomic<bool> frame_since_connect_{false};
  std::atomic<uint64_t> frames_dropped_{0};  // before the element: the hand-over queue was full
};

}  // namespace llamavid::monitor
