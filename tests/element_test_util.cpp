#include "element_test_util.h"

#include <gtest/gtest.h>

#include <malloc.h>

#include <cmath>

#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LLAMAVID_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LLAMAVID_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef LLAMAVID_SANITIZER_ALLOCATOR
#include <sanitizer/allocator_interface.h>
#endif

namespace llamavid::test {

namespace {

// GStreamer starts with the test program; a GLib critical anywhere fails it.
const bool gst_ready = [] {
  gst_init(nullptr, nullptr);
  g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL));
  return true;
}();

bool named_one_of(GstMessage* m, const std::vector<std::string>& names) {
  const GstStructure* s = gst_message_get_structure(m);
  if (!s) return false;
  for (const auto& n : names)
    if (gst_structure_has_name(s, n.c_str())) return true;
  return false;
}

}  // namespace

const std::string& tiny_model_dir() {
  static const std::string dir = [] {
    std::string d = scratch_dir("element_tiny_model");
    run_python("make_tiny_model.py", d + " movie");
    return d;
  }();
  return dir;
}

const std::string& slow_model_dir() {
  static const std::string dir = [] {
    std::string d = scratch_dir("element_slow_model");
    run_python("make_slow_model.py", d);
    return d;
  }();
  return dir;
}

const std::string& slower_model_dir() {
  static const std::string dir = [] {
    std::string d = scratch_dir("element_slower_model");
    run_python("make_slow_model.py", d + " --slower");
    return d;
  }();
  return dir;
}

GstBuffer* solid_buffer(int width, int height, guint8 value, GstClockTime pts,
                        GstClockTime duration) {
  const gsize size = static_cast<gsize>(width) * height * 3;
  GstBuffer* b = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_memset(b, 0, value, size);
  GST_BUFFER_PTS(b) = pts;
  GST_BUFFER_DURATION(b) = duration;
  return b;
}

GstMessage* wait_message(GstBus* bus, const std::vector<std::string>& names,
                         std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return nullptr;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    GstMessage* m =
        gst_bus_timed_pop_filtered(bus, static_cast<GstClockTime>(ns), GST_MESSAGE_ELEMENT);
    if (!m) return nullptr;
    if (named_one_of(m, names)) return m;
    gst_message_unref(m);
  }
}

GstMessage* wait_result(GstBus* bus, std::chrono::seconds timeout) {
  return wait_message(bus, {"llamavid-answer", "llamavid-error"}, timeout);
}

std::string result_name(GstMessage* message) {
  return gst_structure_get_name(gst_message_get_structure(message));
}

guint64 result_id(GstMessage* message) {
  guint64 id = 0;
  gst_structure_get_uint64(gst_message_get_structure(message), "id", &id);
  return id;
}

std::string string_field(GstMessage* message, const char* name) {
  const gchar* v = gst_structure_get_string(gst_message_get_structure(message), name);
  return v ? v : "";
}

std::vector<GstMessage*> pending_results(GstBus* bus) {
  std::vector<GstMessage*> out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ELEMENT)) {
    if (named_one_of(m, {"llamavid-answer", "llamavid-error"}))
      out.push_back(m);
    else
      gst_message_unref(m);
  }
  return out;
}

GstStructure* ask_structure(const std::string& question, guint64 id, const char* element) {
  GstStructure* s =
      gst_structure_new("llamavid-ask", "question", G_TYPE_STRING, question.c_str(), nullptr);
  if (id) gst_structure_set(s, "id", G_TYPE_UINT64, id, nullptr);
  if (element) gst_structure_set(s, "element", G_TYPE_STRING, element, nullptr);
  return s;
}

PadRecorder::PadRecorder(GstPad* pad) : pad_(GST_PAD(gst_object_ref(pad))) {
  id_ = gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, probe, this, nullptr);
}

PadRecorder::~PadRecorder() {
  gst_pad_remove_probe(pad_, id_);
  gst_object_unref(pad_);
}

GstPadProbeReturn PadRecorder::probe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto* self = static_cast<PadRecorder*>(data);
  std::lock_guard<std::mutex> lock(self->mutex_);
  if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_BUFFER) {
    self->items_.push_back("buffer");
    self->pts_.push_back(GST_BUFFER_PTS(GST_PAD_PROBE_INFO_BUFFER(info)));
  } else if (GST_PAD_PROBE_INFO_TYPE(info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    self->items_.push_back(GST_EVENT_TYPE_NAME(GST_PAD_PROBE_INFO_EVENT(info)));
  }
  return GST_PAD_PROBE_OK;
}

std::vector<std::string> PadRecorder::items() {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_;
}

std::vector<GstClockTime> PadRecorder::buffer_pts() {
  std::lock_guard<std::mutex> lock(mutex_);
  return pts_;
}

void expect_real_time(GstElement* sink, guint64 min_rendered) {
  GstStructure* stats = nullptr;
  g_object_get(sink, "stats", &stats, nullptr);
  guint64 rendered = 0, dropped = 0;
  gst_structure_get_uint64(stats, "rendered", &rendered);
  gst_structure_get_uint64(stats, "dropped", &dropped);
  gst_structure_free(stats);
  EXPECT_EQ(dropped, 0u) << "late buffers at the synced sink";
  EXPECT_GE(rendered, min_rendered);
}

DebugLog::DebugLog(GstDebugLevel level) {
  gst_debug_set_threshold_for_name("llamavid", level);
  gst_debug_add_log_function(&DebugLog::log, this, nullptr);
}

DebugLog::~DebugLog() {
  gst_debug_remove_log_function_by_data(this);
  gst_debug_set_threshold_for_name("llamavid", GST_LEVEL_NONE);
}

std::vector<std::string> DebugLog::lines() {
  std::lock_guard<std::mutex> lock(mutex_);
  return lines_;
}

void DebugLog::log(GstDebugCategory* category, GstDebugLevel, const gchar*, const gchar*, gint,
                   GObject*, GstDebugMessage* message, gpointer data) {
  if (g_strcmp0(gst_debug_category_get_name(category), "llamavid") != 0) return;
  auto* self = static_cast<DebugLog*>(data);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->lines_.emplace_back(gst_debug_message_get(message));
}

ElementHarness::ElementHarness(Properties props, const char* caps) {
  element = gst_element_factory_make("llamavid", "llamavid0");
  EXPECT_NE(element, nullptr) << "the llamavid plugin was not found";
  if (!element) return;
  g_object_set(element, "model", tiny_model_dir().c_str(), "device", "cpu", "max-new-tokens", 4,
               nullptr);
  for (const auto& [name, value] : props) gst_util_set_object_arg(G_OBJECT(element), name, value);
  bus = gst_bus_new();
  gst_element_set_bus(element, bus);
  video = gst_harness_new_with_element(element, "sink", "src");
  text = gst_harness_new_with_element(element, nullptr, "text_src");
  GstCaps* c = gst_caps_from_string(caps);
  GstStructure* s = gst_caps_get_structure(c, 0);
  gst_structure_get_int(s, "width", &width);
  gst_structure_get_int(s, "height", &height);
  gst_harness_set_src_caps(video, c);
}

ElementHarness::~ElementHarness() {
  if (text) gst_harness_teardown(text);
  if (video) gst_harness_teardown(video);
  if (element) gst_object_unref(element);
  if (bus) {
    gst_bus_set_flushing(bus, TRUE);
    gst_object_unref(bus);
  }
}

void ElementHarness::push_frame(double pts_s, guint8 value) {
  GstBuffer* b =
      solid_buffer(width, height, value, static_cast<GstClockTime>(std::llround(pts_s * kSecond)));
  ASSERT_EQ(gst_harness_push(video, b), GST_FLOW_OK);
  GstBuffer* out = gst_harness_pull(video);
  EXPECT_EQ(out, b);
  if (out) gst_buffer_unref(out);
}

guint64 ElementHarness::ask(const std::string& question) {
  guint64 id = 0;
  g_signal_emit_by_name(element, "ask", question.c_str(), &id);
  return id;
}

guint64 ElementHarness::uint64_property(const char* name) {
  guint64 v = 0;
  g_object_get(element, name, &v, nullptr);
  return v;
}

size_t heap_in_use() {
#ifdef LLAMAVID_SANITIZER_ALLOCATOR
  return __sanitizer_get_current_allocated_bytes();  // the sanitizer's allocator replaces malloc
#else
  const struct mallinfo2 info = mallinfo2();  // every arena
  return info.uordblks + info.hblkhd;
#endif
}

}  // namespace llamavid::test
