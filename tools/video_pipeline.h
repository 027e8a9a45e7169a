// The decoding pipeline behind llamavid-ask --video: `uridecodebin ! videoconvert ! TAIL`, run on
// a GLib main loop on the calling thread. It tells live sources from files, tracks how much
// stream time has reached the tail, and turns Ctrl-C into EOS (so a question asked at EOS is
// answered about what was seen); a second Ctrl-C stops at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gst/gst.h>

namespace llamavid {

class VideoPipeline {
 public:
  // `tail`: the elements after videoconvert, linked in order; the pipeline takes them over.
  VideoPipeline(const std::string& source, const std::vector<GstElement*>& tail);
  ~VideoPipeline();
  VideoPipeline(const VideoPipeline&) = delete;
  VideoPipeline& operator=(const VideoPipeline&) = delete;

  GstElement* pipeline() const { return pipeline_; }
  // Element messages, delivered on the main loop.
  void on_element_message(std::function<void(GstMessage*)> handler) {
    element_handler_ = std::move(handler);
  }

  // Goes to PLAYING and returns whether the source is live. Throws Error with what the
  // pipeline posted when it cannot start (bad URI, missing model, ...).
  bool start();
  // Runs the main loop until quit(), end of stream or an error.
  void run();
  void quit();

  bool reached_eos() const { return eos_; }
  // The first ERROR the pipeline posted ("element: message"), empty if none.
  const std::string& error() const { return error_; }
  // Whether a frame has passed the tail's elements (reached the last one's sink pad).
  bool frame_seen() const { return first_ns_.load() >= 0; }
  // Stream time from the first frame that passed the tail to the newest one, in ns.
  int64_t elapsed_ns() const { return elapsed_ns_.load(); }
  // The newest frame's stream time that passed the tail (-1 before the first), in ns.
  int64_t position_ns() const { return position_ns_.load(); }
  // The source's duration, -1 when it has none (a live source) or does not say.
  int64_t duration_ns() const;
  // Posts an ERROR on the bus (from any thread), so that it ends run() like a pipeline error.
  void post_error(const std::string& message);

 private:
  static void on_pad_added(GstElement* decodebin, GstPad* pad, VideoPipeline* self);
  static void on_no_more_pads(GstElement* decodebin, VideoPipeline* self);
  static GstPadProbeReturn on_buffer(GstPad* pad, GstPadProbeInfo* info, VideoPipeline* self);
  static gboolean on_bus_message(GstBus* bus, GstMessage* msg, VideoPipeline* self);
  static gboolean on_interrupt(VideoPipeline* self);
  std::string take_bus_error();

  GstElement* pipeline_ = nullptr;
  GstElement* convert_ = nullptr;
  GMainLoop* loop_ = nullptr;
  guint bus_watch_ = 0;
  guint sigint_watch_ = 0;
  int interrupts_ = 0;
  bool eos_ = false;
  std::string source_;
  std::string error_;
  std::function<void(GstMessage*)> element_handler_;
  std::atomic<int64_t> first_ns_{-1};  // written by the streaming thread
  std::atomic<int64_t> elapsed_ns_{0};
  std::atomic<int64_t> position_ns_{-1};
};

// Calls `on_line` for every line read from stdin (without its newline) and `on_end` once at end
// of input, from the main loop.
class StdinLines {
 public:
  StdinLines(std::function<void(const std::string&)> on_line, std::function<void()> on_end);
  ~StdinLines();
  StdinLines(const StdinLines&) = delete;
  StdinLines& operator=(const StdinLines&) = delete;

 private:
  static gboolean on_readable(gint fd, GIOCondition condition, StdinLines* self);

  std::function<void(const std::string&)> on_line_;
  std::function<void()> on_end_;
  std::string partial_;  // bytes after the last newline
  guint watch_ = 0;
};

}  // namespace llamavid
