/**
 * SECTION:element-llamavid
 * @title: llamavid
 *
 * Watches a video stream and answers questions about everything it has shown, with a LLaMA-VID
 * model (each sampled frame becomes a context and a content token in a memory that covers the
 * whole stream). Video passes through unchanged; the model works on threads of its own.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m -e videotestsrc is-live=true pattern=ball ! video/x-raw,framerate=10/1 ! \
 *   videoconvert ! llamavid ask-at-eos="What is on screen?" ! fakesink
 * ]| (pipelines/testsrc.sh) On Ctrl-C the question is answered about everything seen and -m
 * prints the llamavid-answer message.
 *
 * ## Pads
 * - `sink` / `src`: video/x-raw (RGB, RGBA, BGR, BGRx, BGRA, I420, NV12), any size and rate.
 *   Every buffer goes out unchanged, in order, without a copy. Frames are sampled by stream
 *   time at #GstLlamavid:sample-fps and copied into a bounded queue for the encoder.
 * - `query_sink` (text/x-raw, format=utf8): each buffer is one question; a trailing newline is
 *   stripped. May stay unlinked.
 * - `text_src` (text/x-raw, format=utf8): one buffer per answer, PTS = the stream position the
 *   answer speaks about (the newest frame in memory), or the position text_src has already
 *   reached, as its timestamps never go back. GAP events follow the video, so a sink there
 *   never holds the pipeline back. May stay unlinked.
 * - `subtitle_sink` (text/x-raw, format=utf8, with PTS and duration; e.g. from `subparse`):
 *   subtitle or caption text, joined to the memory entry of its time (the last one before it
 *   ends, once the video has passed its end or at EOS) and placed after that entry's slots in
 *   the movie prompt. While it is linked, the video's EOS waits for its EOS. May stay unlinked.
 *
 * ## Questions in
 * - the action signal `ask` (returns the question id);
 * - a custom event with a structure `llamavid-ask` (string `question`, optional guint64 `id`):
 *   serialized or out-of-band downstream, or upstream on `src` or `text_src` (the same event
 *   arriving on both, same seqnum, is one question);
 * - a buffer on `query_sink`;
 * - an application message `llamavid-ask` (`question`, optional `id`, optional string `element`
 *   naming one llamavid element) posted on the pipeline's bus; read from READY on.
 *
 * ## Messages
 * - `llamavid-answer`: `id` (guint64), `question` (string), `answer` (string), `stream-time`
 *   (guint64 ns, the newest frame the answer saw), `memory-start`, `memory-end` (guint64 ns, the
 *   span of the memory), `frames` (guint, entries in memory), `latency` (guint64 ns, from the
 *   question arriving to the answer being complete).
 * - `llamavid-error`: `id` (guint64), `question` (string), `reason` (string). A question that is
 *   empty, not UTF-8, too long, asked before any frame, or cancelled by a flush or a state change.
 *   Every question gets exactly one answer or error, in the order asked; at EOS the answers to
 *   pending questions (and to #GstLlamavid:ask-at-eos) are posted and pushed on `text_src` before
 *   EOS leaves the element.
 * - `llamavid-skipped`: `skipped` (guint64, frames skipped so far), `stream-time` (guint64 ns,
 *   the last skipped frame); at most one per second, and a last one at EOS.
 * - `llamavid-memory`: `action` (string: save, load, autosave), `path` (string), `success`
 *   (gboolean), `entries` (guint64, in memory after the action), `reason` (string, empty on
 *   success). A failure also posts a warning; it never stops the pipeline.
 *
 * ## Memory files
 * The action signals `save-memory` and `load-memory` (path -> gboolean) write and read the
 * memory (atomically; only files of the same model and format version load), and
 * #GstLlamavid:autosave-path saves it every #GstLlamavid:autosave-interval of stream time, at
 * EOS and when leaving PAUSED. A memory loaded in READY is the next stream's starting memory;
 * with #GstLlamavid:restore-memory the autosave file is loaded at each start, so a restarted
 * pipeline (a launch line too) goes on from where it stopped.
 *
 * ## Live sources
 * When upstream is live (LATENCY query) the video never waits for the model: a full encoder
 * queue skips the frame (#GstLlamavid:frames-skipped). On a non-live source every sampled frame
 * is encoded and a full queue holds the streaming thread (back-pressure). The element adds no
 * latency: answers are not on the video path.
 */
#include "gstllamavid.h"

#include <tuple>
#include <vector>

#include "element.h"
#include "enum_types.h"
#include "properties.h"

GST_DEBUG_CATEGORY(gst_llamavid_debug);
#define GST_CAT_DEFAULT gst_llamavid_debug

G_DEFINE_TYPE(GstLlamavid, gst_llamavid, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE(llamavid, "llamavid", GST_RANK_NONE, GST_TYPE_LLAMAVID);

namespace llamavid::element {

namespace {

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE("{ RGB, RGBA, BGR, BGRx, BGRA, I420, NV12 }")
#define TEXT_CAPS "text/x-raw, format=(string)utf8"

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(VIDEO_CAPS));
GstStaticPadTemplate query_sink_template =
    GST_STATIC_PAD_TEMPLATE("query_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(TEXT_CAPS));
GstStaticPadTemplate subtitle_sink_template = GST_STATIC_PAD_TEMPLATE(
    "subtitle_sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(TEXT_CAPS));
GstStaticPadTemplate text_src_template =
    GST_STATIC_PAD_TEMPLATE("text_src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(TEXT_CAPS));

// Loads the model named by the settings (shared with other elements) and makes the analyzer,
// unless it is already there. Posts an error naming the path on failure.
bool prepare_analyzer(GstLlamavid* self) {
  Private* p = self->priv;
  Settings s;
  {
    std::lock_guard<std::mutex> lock(p->settings_mutex);
    s = p->settings;
  }
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    if (p->analyzer && p->loaded_model == s.model && p->loaded_device == s.device) return true;
  }
  std::shared_ptr<const Model> model;
  post_progress(self, GST_PROGRESS_TYPE_START, "Loading the model " + s.model);
  try {
    GST_INFO_OBJECT(self, "loading model '%s' on device '%s'", s.model.c_str(), s.device.c_str());
    model = load_shared_model(s.model, s.device);
  } catch (const std::exception& e) {
    post_progress(self, GST_PROGRESS_TYPE_ERROR, "Cannot load the model " + s.model);
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                      ("Cannot load the llamavid model '%s': %s", s.model.c_str(),
                       error_text(e).c_str()),
                      ("model '%s', device '%s'", s.model.c_str(), s.device.c_str()));
    return false;
  }
  post_progress(self, GST_PROGRESS_TYPE_COMPLETE, "Loaded the model " + s.model);
  std::shared_ptr<StreamAnalyzer> old;
  std::string failure;
  std::vector<std::tuple<guint64, std::string, std::string>> refused;  // of the early questions
  {
    // Under the lock: a question asked meanwhile goes to the old analyzer or the new one, after
    // those asked in NULL.
    std::lock_guard<std::mutex> lock(p->state_mutex);
    AnalyzerOptions o;
    o.queue_size = s.queue_size;
    o.ids = p->question_ids;
    try {
      auto analyzer =
          std::make_shared<StreamAnalyzer>(model, s.session, o, make_callbacks(self));
      analyzer->set_watch_options(s.watch);
      refused = hand_over_watches_locked(self, *analyzer);
      old = std::move(p->analyzer);
      p->analyzer = std::move(analyzer);
      p->loaded_model = s.model;
      p->loaded_device = s.device;
      for (auto& q : p->asked_in_null) {
        std::string reason;
        p->analyzer->ask(q.text, q.id, &reason);
        if (!reason.empty()) refused.emplace_back(q.id, std::move(q.text), std::move(reason));
      }
      p->asked_in_null.clear();
    } catch (const std::exception& e) {
      failure = error_text(e);
    }
  }
  if (!failure.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS,
                      ("Cannot use the llamavid model '%s': %s", s.model.c_str(), failure.c_str()),
                      (nullptr));
    return false;
  }
  for (const auto& [id, text, reason] : refused)
    post_error(self, id, quoted_question(text), reason);
  return true;  // `old` goes here: its queued questions get "cancelled"
}

void release_analyzer(GstLlamavid* self) {
  Private* p = self->priv;
  std::shared_ptr<StreamAnalyzer> old;
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    old = std::move(p->analyzer);
  }
  old.reset();  // outside the lock: questions left get their "cancelled" error
}

GstStateChangeReturn change_state(GstElement* element, GstStateChange transition) {
  auto* self = GST_LLAMAVID(element);
  Private* p = self->priv;
  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!prepare_analyzer(self)) return GST_STATE_CHANGE_FAILURE;
      connect_bus(self);
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED: {
      if (!prepare_analyzer(self)) return GST_STATE_CHANGE_FAILURE;
      p->stream.reset();
      p->upstream_live = false;
      {
        std::lock_guard<std::mutex> lock(p->skip_mutex);
        p->skipped_reported = p->skipped_total = 0;
        p->watch_skipped_reported = p->watch_skipped_total = 0;
      }
      p->frame_error_reported = false;
      bool keep_memory;
      {
        std::lock_guard<std::mutex> lock(p->state_mutex);
        keep_memory = p->keep_memory_at_start;
      }
      // A memory loaded in READY goes first; else restore-memory's file, if any.
      if (!keep_memory) restore_memory_at_start(self);
      {
        std::lock_guard<std::mutex> lock(p->state_mutex);
        keep_memory = p->keep_memory_at_start;
        p->keep_memory_at_start = false;
      }
      auto a = current_analyzer(self);
      if (!keep_memory) a->clear();
      p->timeline.start(keep_memory);
      a->start();
      reset_subtitle_end(self);
      autosave_start(self);
      break;
    }
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      // Before the pads stop: unblocks a streaming thread waiting for room or draining.
      if (auto a = current_analyzer(self)) a->stop();
      wake_subtitle_wait(self, /*stopping=*/true);
      autosave_stop(self);
      autosave_now(self);
      break;
    default:
      break;
  }
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_llamavid_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    disconnect_bus(self);
    release_analyzer(self);  // and its memory, loaded or not
    std::lock_guard<std::mutex> lock(p->state_mutex);
    p->keep_memory_at_start = false;
    p->timeline.forget_load();
  }
  return ret;
}

void finalize(GObject* object) {
  auto* self = GST_LLAMAVID(object);
  disconnect_bus(self);
  autosave_stop(self);
  release_analyzer(self);
  delete self->priv;
  G_OBJECT_CLASS(gst_llamavid_parent_class)->finalize(object);
}

GstPad* make_pad(GstLlamavid* self, GstStaticPadTemplate* templ) {
  GstPad* pad = gst_pad_new_from_static_template(templ, templ->name_template);
  gst_pad_set_iterate_internal_links_function(pad, iterate_internal_links);
  gst_element_add_pad(GST_ELEMENT(self), pad);
  return pad;
}

}  // namespace

std::shared_ptr<StreamAnalyzer> current_analyzer(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->state_mutex);
  return self->priv->analyzer;
}

void update_session_options(GstLlamavid* self) {
  SessionOptions o;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    o = self->priv->settings.session;
  }
  auto a = current_analyzer(self);
  if (!a) return;
  try {
    a->set_session_options(o);
  } catch (const std::exception& e) {
    GST_WARNING_OBJECT(self, "settings not applied: %s", error_text(e).c_str());
  }
}

}  // namespace llamavid::element

using namespace llamavid::element;

static void gst_llamavid_init(GstLlamavid* self) {
  self->priv = new Private();
  self->priv->stream.reset();

  self->sinkpad = make_pad(self, &sink_template);
  gst_pad_set_chain_function(self->sinkpad, sink_chain);
  gst_pad_set_event_function(self->sinkpad, sink_event);
  GST_PAD_SET_PROXY_CAPS(self->sinkpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->sinkpad);

  self->srcpad = make_pad(self, &src_template);
  gst_pad_set_event_function(self->srcpad, src_event);
  gst_pad_set_query_function(self->srcpad, src_query);
  GST_PAD_SET_PROXY_CAPS(self->srcpad);
  GST_PAD_SET_PROXY_ALLOCATION(self->srcpad);

  self->query_sinkpad = make_pad(self, &query_sink_template);
  gst_pad_set_chain_function(self->query_sinkpad, query_sink_chain);
  gst_pad_set_event_function(self->query_sinkpad, query_sink_event);

  self->subtitle_sinkpad = make_pad(self, &subtitle_sink_template);
  gst_pad_set_chain_function(self->subtitle_sinkpad, subtitle_sink_chain);
  gst_pad_set_event_function(self->subtitle_sinkpad, subtitle_sink_event);
  gst_segment_init(&self->priv->subtitle_segment, GST_FORMAT_UNDEFINED);

  self->text_srcpad = make_pad(self, &text_src_template);
  gst_pad_set_event_function(self->text_srcpad, text_src_event);
  gst_pad_set_query_function(self->text_srcpad, text_src_query);
  gst_pad_use_fixed_caps(self->text_srcpad);
  self->priv->text.attach(self->text_srcpad);
}

static void gst_llamavid_class_init(GstLlamavidClass* klass) {
  GST_DEBUG_CATEGORY_INIT(gst_llamavid_debug, "llamavid", 0, "LLaMA-VID video question answering");
  auto* gobject_class = G_OBJECT_CLASS(klass);
  auto* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = set_property;
  gobject_class->get_property = get_property;
  gobject_class->finalize = finalize;
  element_class->change_state = change_state;
  install_properties(gobject_class);

  /**
   * GstLlamavid::ask:
   * @llamavid: the element
   * @question: the question
   *
   * Asks a question about everything seen so far. Never blocks on the model: the answer comes
   * as a llamavid-answer (or llamavid-error) message with the returned id.
   *
   * Returns: the question id (> 0, increasing)
   */
  g_signal_new_class_handler("ask", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(ask_signal), nullptr, nullptr, nullptr, G_TYPE_UINT64, 1,
                             G_TYPE_STRING);

  /**
   * GstLlamavid::watch:
   * @llamavid: the element
   * @question: a standing question ("Is the screen black?")
   *
   * Adds a standing question, answered against the memory at every new memory entry and at
   * least every #GstLlamavid:watch-interval of stream time; a llamavid-alert message is posted
   * when its answer changes (#GstLlamavid:watch-confirm, #GstLlamavid:watch-cooldown). In any
   * state.
   *
   * Returns: the watch id (> 0), or 0 after a llamavid-error when the question cannot be asked
   */
  g_signal_new_class_handler("watch", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(watch_signal), nullptr, nullptr, nullptr, G_TYPE_UINT64, 1,
                             G_TYPE_STRING);
  /**
   * GstLlamavid::unwatch:
   * @llamavid: the element
   * @watch_id: an id returned by the watch signal (or of a question of the watches property)
   *
   * Removes a standing question; an evaluation of it under way posts no alert afterwards.
   *
   * Returns: %FALSE when no watch has that id
   */
  g_signal_new_class_handler("unwatch", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(unwatch_signal), nullptr, nullptr, nullptr, G_TYPE_BOOLEAN,
                             1, G_TYPE_UINT64);

  /**
   * GstLlamavid::save-memory:
   * @llamavid: the element
   * @path: the memory file to write
   *
   * Saves the memory (everything seen so far) to @path atomically: the file is the old one or
   * the new one, never a mix. From READY on. Posts a llamavid-memory message; on failure also a
   * warning, and the pipeline goes on.
   *
   * Returns: %TRUE when the file was written
   */
  g_signal_new_class_handler("save-memory", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(save_memory_signal), nullptr, nullptr, nullptr,
                             G_TYPE_BOOLEAN, 1, G_TYPE_STRING);
  /**
   * GstLlamavid::load-memory:
   * @llamavid: the element
   * @path: a memory file written by save-memory or autosave with the same model
   *
   * Replaces the memory with the one saved in @path. From READY on; loaded in READY, it is the
   * starting memory of the next stream, whose times continue after it. A file of another model
   * or format version, or a corrupt one, leaves the memory as it was. Posts a llamavid-memory
   * message; on failure also a warning, and the pipeline goes on.
   *
   * Returns: %TRUE when the memory was loaded
   */
  g_signal_new_class_handler("load-memory", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(load_memory_signal), nullptr, nullptr, nullptr,
                             G_TYPE_BOOLEAN, 1, G_TYPE_STRING);

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_add_static_pad_template(element_class, &query_sink_template);
  gst_element_class_add_static_pad_template(element_class, &subtitle_sink_template);
  gst_element_class_add_static_pad_template(element_class, &text_src_template);
  gst_element_class_set_static_metadata(
      element_class, "LLaMA-VID video question answering", "Filter/Analyzer/Video",
      "Answers questions about everything a video stream has shown, with a LLaMA-VID model",
      "llamavid developers");
  gst_type_mark_as_plugin_api(skip_frames_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(time_markers_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(context_mode_get_type(), static_cast<GstPluginAPIFlags>(0));
  gst_type_mark_as_plugin_api(text_format_get_type(), static_cast<GstPluginAPIFlags>(0));
}
