// The llamavid element's text_src output: answers and GAP events, pushed by a task of the pad's
// own, so that neither the video streaming thread nor the answer worker ever waits on what is
// linked to text_src (a synced sink, a stalled branch, or nothing at all).
//
// Stream order on the pad: stream-start, caps (text/x-raw, format=utf8), the video's segment, then
// answer buffers and GAP events up to the video position, then EOS. Timestamps never go back: an
// answer about a frame that GAP events have already passed is stamped at the position reached.
// After a flush, answers wait for the video's next segment.
#pragma once

#include <gst/gst.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace llamavid {

class TextOutput {
 public:
  TextOutput() = default;
  ~TextOutput();
  TextOutput(const TextOutput&) = delete;
  TextOutput& operator=(const TextOutput&) = delete;

  // Takes over the pad's activation (the task runs while the pad is active in push mode).
  void attach(GstPad* pad);

  // Serialized with the video, from the streaming thread:
  // a new stream upstream: queues stream-start (same group as `upstream`) and caps.
  void start_stream(GstEvent* upstream);
  // the video's segment (the text stream uses the same one, so running times match).
  void set_segment(GstEvent* upstream);
  // the video reached `position` (buffer time in the current segment): GAP events follow it.
  void advance(GstClockTime position);
  // queues EOS and waits until everything before it has been pushed (or the pad flushes or
  // stops); EOS itself goes on without waiting for the sink.
  void finish();

  // From the answer worker: one buffer holding `text`, about stream time `stream_time_ns`.
  void push_answer(const std::string& text, int64_t stream_time_ns);

  // FLUSH_START / FLUSH_STOP of the video: flushes the text pad too.
  void flush_start();
  void flush_stop(bool reset_time);

 private:
  struct Item {
    GstEvent* event = nullptr;  // owned; null for an answer
    std::string text;
    int64_t stream_time_ns = 0;
    uint64_t eos_seq = 0;  // for EOS: finish() waits until the task reaches this one
  };

  static gboolean activate_mode(GstPad* pad, GstObject* parent, GstPadMode mode, gboolean active);
  static void loop(gpointer self);
  void run_once();
  // Drops queued items; stream-start and caps survive a flush (they are not resent upstream).
  void clear_locked(bool keep_stream_events);
  bool gap_due_locked() const;
  // The item to push next (items_.end() when none may go yet).
  std::deque<Item>::iterator next_item_locked();

  GstPad* pad_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  bool flushing_ = true;  // until the pad is activated
  bool have_segment_ = false;
  bool need_gap_ = false;  // a GAP is due right after a segment, even of zero length (preroll)
  GstSegment segment_;     // the last segment pushed
  GstClockTime target_ = GST_CLOCK_TIME_NONE;    // video position to cover with GAPs
  GstClockTime position_ = GST_CLOCK_TIME_NONE;  // end of what has been pushed
  uint64_t eos_queued_ = 0;
  uint64_t eos_reached_ = 0;
};

}  // namespace llamavid
