// Helpers of the llamavid element tests: the tiny models, a harnessed element with a bus of its
// own, frames and waiting for the element's messages.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>

#include <chrono>
#include <initializer_list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace llamavid::test {

constexpr GstClockTime kSecond = GST_SECOND;

// Model directories written once per test run (make_tiny_model.py / make_slow_model.py: see
// there which slow model suits which test).
const std::string& tiny_model_dir();
const std::string& slow_model_dir();
const std::string& slower_model_dir();

// An RGB buffer of one colour with the given timestamps.
GstBuffer* solid_buffer(int width, int height, guint8 value, GstClockTime pts,
                        GstClockTime duration = GST_CLOCK_TIME_NONE);

// The next element message whose structure is named one of `names` (others are dropped), or
// nullptr after `timeout`. The caller unrefs it.
GstMessage* wait_message(GstBus* bus, const std::vector<std::string>& names,
                         std::chrono::seconds timeout = std::chrono::seconds(120));
// The next llamavid-answer or llamavid-error.
GstMessage* wait_result(GstBus* bus, std::chrono::seconds timeout = std::chrono::seconds(120));
// The structure name and id of a result message.
std::string result_name(GstMessage* message);
guint64 result_id(GstMessage* message);
// A string field of a message's structure; "" when absent.
std::string string_field(GstMessage* message, const char* name);
// Result messages already on the bus, without waiting.
std::vector<GstMessage*> pending_results(GstBus* bus);

// A synced sink (basesink) rendered at least `min_rendered` buffers and dropped none as late.
void expect_real_time(GstElement* sink, guint64 min_rendered);

// Bytes the heap has handed out and not had back: the leak measure of the load and state-cycle
// tests. Resident size is none: glibc gives each new thread an arena whose freed pages stay
// resident, and a sanitizer's allocator holds freed memory in quarantine.
size_t heap_in_use();

// A llamavid-ask structure (id 0: none).
GstStructure* ask_structure(const std::string& question, guint64 id = 0,
                            const char* element = nullptr);

// Records what goes out of a pad, in order ("buffer", or the event type name).
class PadRecorder {
 public:
  explicit PadRecorder(GstPad* pad);
  ~PadRecorder();
  std::vector<std::string> items();
  std::vector<GstClockTime> buffer_pts();

 private:
  static GstPadProbeReturn probe(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  GstPad* pad_;
  gulong id_;
  std::mutex mutex_;
  std::vector<std::string> items_;
  std::vector<GstClockTime> pts_;
};

// Captures what the llamavid debug category logs up to `level` while it lives (the category's
// threshold is set to it, and back to none at the end).
class DebugLog {
 public:
  explicit DebugLog(GstDebugLevel level = GST_LEVEL_DEBUG);
  ~DebugLog();
  DebugLog(const DebugLog&) = delete;
  DebugLog& operator=(const DebugLog&) = delete;
  std::vector<std::string> lines();

 private:
  static void log(GstDebugCategory* category, GstDebugLevel level, const gchar* file,
                  const gchar* function, gint line, GObject* object, GstDebugMessage* message,
                  gpointer data);
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A llamavid element (tiny model, CPU, short answers) in a GstHarness: `video` drives sink/src,
// `text` collects text_src. The element has a bus of its own to read messages from.
class ElementHarness {
 public:
  // `props`: further properties as strings, set before the element starts.
  using Properties = std::initializer_list<std::pair<const char*, const char*>>;
  explicit ElementHarness(
      Properties props = {},
      const char* caps = "video/x-raw,format=RGB,width=32,height=24,framerate=30/1");
  ~ElementHarness();
  ElementHarness(const ElementHarness&) = delete;
  ElementHarness& operator=(const ElementHarness&) = delete;

  // Pushes a solid frame at `pts` seconds; expects it back on src unchanged.
  void push_frame(double pts_s, guint8 value = 100);
  // Asks through the action signal; returns the id.
  guint64 ask(const std::string& question);
  guint64 uint64_property(const char* name);

  GstElement* element = nullptr;
  GstBus* bus = nullptr;
  GstHarness* video = nullptr;
  GstHarness* text = nullptr;
  int width = 32, height = 24;
};

}  // namespace llamavid::test
