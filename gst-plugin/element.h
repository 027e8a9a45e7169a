// The llamavid element's insides, shared by its source files (not installed):
//   gstllamavid.cpp  type, pads, state changes, the analyzer's life
//   settings.cpp     property values (Settings)
//   properties.cpp   the property table: specs, get and set
//   enum_types.cpp   the GEnum types of the enum properties
//   messages.cpp     messages posted on the bus and the analyzer's callbacks
//   questions.cpp    question intake: signal, events, query_sink, bus messages
//   video_path.cpp   video pads: sampling frames, segments, flushes, EOS, queries
//   persistence.cpp  save-memory / load-memory and autosave
//   watches.cpp      standing questions: signals, the watches property, handing them over
//   text_output.cpp  text_src
//   message_json.cpp a message's JSON object (text-format=json; llamavid-ask --json too)
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/error_text.h"  // error_text: what messages say of an exception
#include "core/utf8.h"  // make_valid_utf8: GstStructure strings and text buffers must be UTF-8
#include "gstllamavid.h"
#include "settings.h"
#include "stream/memory_timeline.h"
#include "stream/stream_analyzer.h"
#include "text_output.h"

GST_DEBUG_CATEGORY_EXTERN(gst_llamavid_debug);

namespace llamavid::element {

// What the video streaming thread alone touches (reset while it does not run).
struct StreamState {
  GstVideoInfo info;
  bool have_info = false;
  GstSegment segment;
  bool sampled_any = false;  // the sampling clock restarts on a segment or flush
  int64_t last_slot = 0;     // index of the sample-fps period of the last sampled frame
  bool live_known = false;

  void reset() {
    gst_video_info_init(&info);
    have_info = false;
    gst_segment_init(&segment, GST_FORMAT_UNDEFINED);
    sampled_any = false;
    live_known = false;
  }
};

// Autosave (persistence.cpp): the streaming thread says when a save is due, a thread of its own
// writes the file, so the video never waits for the disk.
struct Autosave {
  std::mutex mutex;
  std::condition_variable cv;
  bool armed = false;  // next_due_ns is set for this stream
  int64_t next_due_ns = 0;
  bool requested = false;
  bool stopping = false;
  std::thread worker;  // from READY->PAUSED to PAUSED->READY
};

// The subtitle stream's end: the video's EOS waits for it while subtitle_sink is linked (as a
// muxer waits for all its inputs), so cues parsed after the last frame still join the memory
// before ask-at-eos and the autosave.
struct SubtitleEnd {
  std::mutex mutex;
  std::condition_variable cv;
  bool ended = false;     // subtitle_sink has had EOS since its last flush or start
  bool stopping = false;  // PAUSED->READY: the video's EOS waits no more
};

// A standing question of the element. The element keeps them, so that they are set in any
// state (NULL too) and outlive the analyzer (a new model gets them all, under the same ids).
struct ElementWatch {
  guint64 id = 0;
  std::string question;
  bool from_property = false;  // set by the watches property (replaced when it is set again)
};

struct Private {
  std::mutex settings_mutex;
  Settings settings;

  // Guards the analyzer's replacement.
  std::mutex state_mutex;
  std::shared_ptr<StreamAnalyzer> analyzer;  // from NULL->READY to READY->NULL
  std::string loaded_model, loaded_device;
  // Every question's id, whether an analyzer takes it or none is there to.
  std::shared_ptr<QuestionIds> question_ids = std::make_shared<QuestionIds>();
  // Questions asked in NULL (no model yet, and a pipeline's bus drops every message posted in
  // NULL): handed to the analyzer at NULL->READY, answered once the next run has a frame.
  struct EarlyQuestion {
    guint64 id;
    std::string text;
  };
  std::vector<EarlyQuestion> asked_in_null;
  std::vector<ElementWatch> watches;
  std::deque<guint32> upstream_seqnums;  // upstream events seen, to take copies only once
  // A memory loaded before the stream starts is its starting memory: READY->PAUSED keeps it.
  bool keep_memory_at_start = false;

  StreamState stream;
  std::atomic<bool> upstream_live{false};
  TextOutput text;

  GstBus* bus = nullptr;  // the top-level bus whose application messages are questions
  gulong bus_handler = 0;

  std::mutex skip_mutex;
  std::chrono::steady_clock::time_point last_skip_report;
  uint64_t skipped_reported = 0;  // frames and watch evaluations, as last reported
  uint64_t watch_skipped_reported = 0;
  uint64_t skipped_total = 0;
  uint64_t watch_skipped_total = 0;
  int64_t last_skipped_ns = 0;
  std::atomic<bool> frame_error_reported{false};

  std::mutex save_mutex;                   // one save or load at a time
  MemoryTimeline timeline;  // stream time <-> memory time (after load-memory)
  GstSegment subtitle_segment;  // subtitle_sink's (its streaming thread only)
  SubtitleEnd subtitle_end;
  Autosave autosave;
};

// gstllamavid.cpp
std::shared_ptr<StreamAnalyzer> current_analyzer(GstLlamavid* self);
void update_session_options(GstLlamavid* self);

// messages.cpp
void post(GstLlamavid* self, GstStructure* s);
void post_error(GstLlamavid* self, uint64_t id, const std::string& question,
                const std::string& reason);
void post_progress(GstLlamavid* self, GstProgressType type, const std::string& text);
void report_pending_skips(GstLlamavid* self);
void on_frame_error(GstLlamavid* self, const std::string& reason);
AnalyzerCallbacks make_callbacks(GstLlamavid* self);

// questions.cpp
// Every question path ends here. Never blocks on the model.
guint64 ask(GstLlamavid* self, const std::string& question, guint64 id);
guint64 ask_signal(GstLlamavid* self, const gchar* question);
guint64 ask_structure(GstLlamavid* self, const GstStructure* s);
bool is_ask_event(GstEvent* event);
// True the first time an upstream event's seqnum is seen.
bool first_sighting(GstLlamavid* self, GstEvent* event);
void connect_bus(GstLlamavid* self);
void disconnect_bus(GstLlamavid* self);
GstFlowReturn query_sink_chain(GstPad* pad, GstObject* parent, GstBuffer* buffer);
gboolean query_sink_event(GstPad* pad, GstObject* parent, GstEvent* event);

// subtitle_path.cpp
GstFlowReturn subtitle_sink_chain(GstPad* pad, GstObject* parent, GstBuffer* buffer);
gboolean subtitle_sink_event(GstPad* pad, GstObject* parent, GstEvent* event);
// Video EOS: returns once subtitle_sink is unlinked or at its EOS, or video_pad flushes, or the
// element stops.
void wait_for_subtitle_end(GstLlamavid* self, GstPad* video_pad);
// Wakes that wait: on a video flush (stopping=false) or at PAUSED->READY (stopping=true).
void wake_subtitle_wait(GstLlamavid* self, bool stopping);
// READY->PAUSED: a new run waits for its own subtitle EOS.
void reset_subtitle_end(GstLlamavid* self);

// video_path.cpp
GstFlowReturn sink_chain(GstPad* pad, GstObject* parent, GstBuffer* buffer);
gboolean sink_event(GstPad* pad, GstObject* parent, GstEvent* event);
gboolean src_event(GstPad* pad, GstObject* parent, GstEvent* event);
gboolean src_query(GstPad* pad, GstObject* parent, GstQuery* query);
gboolean text_src_event(GstPad* pad, GstObject* parent, GstEvent* event);
gboolean text_src_query(GstPad* pad, GstObject* parent, GstQuery* query);
GstIterator* iterate_internal_links(GstPad* pad, GstObject* parent);

// watches.cpp
// The watch signal: the watch's id, or 0 after a llamavid-error when it cannot be asked.
guint64 watch_signal(GstLlamavid* self, const gchar* question);
gboolean unwatch_signal(GstLlamavid* self, guint64 id);
// The watches property changed: its previous watches go, its new ones come.
void apply_property_watches(GstLlamavid* self);
WatchOptions watch_options(GstLlamavid* self);
// A new analyzer gets every watch (state_mutex held). Those it refuses are dropped from the
// element and returned as (id, question, reason), for llamavid-error messages once unlocked.
std::vector<std::tuple<guint64, std::string, std::string>> hand_over_watches_locked(
    GstLlamavid* self, StreamAnalyzer& analyzer);

// persistence.cpp
gboolean save_memory_signal(GstLlamavid* self, const gchar* path);
gboolean load_memory_signal(GstLlamavid* self, const gchar* path);
// A sampled frame's stream time in the memory's timeline (after a load-memory, the new stream
// continues the loaded memory's timeline).
int64_t memory_time(GstLlamavid* self, int64_t stream_time_ns);
// Each sampled frame: asks the autosave worker for a save when the interval has passed.
void autosave_tick(GstLlamavid* self, int64_t stream_time_ns);
// A flush: the next autosave is an interval after the next frame.
void autosave_rearm(GstLlamavid* self);
void autosave_start(GstLlamavid* self);
void autosave_stop(GstLlamavid* self);
// At EOS and when leaving PAUSED: saves now when autosave is on and the memory holds entries.
void autosave_now(GstLlamavid* self);
// READY->PAUSED with restore-memory: loads autosave-path's memory when the file exists (a
// failure warns and the stream starts empty).
void restore_memory_at_start(GstLlamavid* self);

}  // namespace llamavid::element

struct _GstLlamavid {
  GstElement parent;
  GstPad* sinkpad;
  GstPad* srcpad;
  GstPad* query_sinkpad;
  GstPad* text_srcpad;
  GstPad* subtitle_sinkpad;
  llamavid::element::Private* priv;
};
