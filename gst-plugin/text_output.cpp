#include "text_output.h"

#include <algorithm>

GST_DEBUG_CATEGORY_EXTERN(gst_llamavid_debug);
#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid {

TextOutput::~TextOutput() {
  std::lock_guard<std::mutex> lock(mutex_);
  clear_locked(false);
}

void TextOutput::attach(GstPad* pad) {
  pad_ = pad;
  gst_segment_init(&segment_, GST_FORMAT_TIME);
  gst_pad_set_activatemode_function_full(pad, activate_mode, this, nullptr);
}

gboolean TextOutput::activate_mode(GstPad* pad, GstObject*, GstPadMode mode, gboolean active) {
  auto* self = static_cast<TextOutput*>(GST_PAD_CAST(pad)->activatemodedata);
  if (mode != GST_PAD_MODE_PUSH) return FALSE;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->clear_locked(false);
    self->flushing_ = !active;
    self->have_segment_ = false;
    self->need_gap_ = false;
    self->target_ = self->position_ = GST_CLOCK_TIME_NONE;
  }
  self->cv_.notify_all();
  if (active) return gst_pad_start_task(pad, loop, self, nullptr);
  return gst_pad_stop_task(pad);
}

void TextOutput::clear_locked(bool keep_stream_events) {
  std::deque<Item> kept;
  for (auto& item : items_) {
    if (!item.event) continue;
    const GstEventType type = GST_EVENT_TYPE(item.event);
    if (keep_stream_events && (type == GST_EVENT_STREAM_START || type == GST_EVENT_CAPS))
      kept.push_back(std::move(item));
    else
      gst_event_unref(item.event);
  }
  items_.swap(kept);
  eos_reached_ = eos_queued_;  // whoever waits for a dropped EOS is done waiting
}

void TextOutput::start_stream(GstEvent* upstream) {
  const gchar* upstream_id = nullptr;
  gst_event_parse_stream_start(upstream, &upstream_id);
  gchar* id = g_strdup_printf("%s/llamavid-text", upstream_id ? upstream_id : "");
  GstEvent* start = gst_event_new_stream_start(id);
  g_free(id);
  guint group = 0;
  if (gst_event_parse_group_id(upstream, &group)) gst_event_set_group_id(start, group);
  gst_event_set_stream_flags(start, GST_STREAM_FLAG_SPARSE);
  GstCaps* caps = gst_caps_new_simple("text/x-raw", "format", G_TYPE_STRING, "utf8", nullptr);
  GstEvent* caps_event = gst_event_new_caps(caps);
  gst_caps_unref(caps);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    items_.push_back(Item{start, {}, 0});
    items_.push_back(Item{caps_event, {}, 0});
  }
  cv_.notify_all();
}

void TextOutput::set_segment(GstEvent* upstream) {
  const GstSegment* segment = nullptr;
  gst_event_parse_segment(upstream, &segment);
  GstEvent* event = gst_event_new_segment(segment);
  gst_event_set_seqnum(event, gst_event_get_seqnum(upstream));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flushing_) {
      gst_event_unref(event);
      return;
    }
    items_.push_back(Item{event, {}, 0});
    target_ = GST_CLOCK_TIME_NONE;  // positions of the new segment follow
  }
  cv_.notify_all();
}

void TextOutput::advance(GstClockTime position) {
  if (!GST_CLOCK_TIME_IS_VALID(position)) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (GST_CLOCK_TIME_IS_VALID(target_) && position <= target_) return;
    target_ = position;
  }
  cv_.notify_all();
}

void TextOutput::finish() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (flushing_) return;
  const uint64_t seq = ++eos_queued_;
  items_.push_back(Item{gst_event_new_eos(), {}, 0, seq});
  cv_.notify_all();
  cv_.wait(lock, [&] { return flushing_ || eos_reached_ >= seq; });
}

void TextOutput::push_answer(const std::string& text, int64_t stream_time_ns) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flushing_) return;
    items_.push_back(Item{nullptr, text, stream_time_ns});
  }
  cv_.notify_all();
}

void TextOutput::flush_start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    flushing_ = true;
    clear_locked(true);
  }
  cv_.notify_all();
  gst_pad_push_event(pad_, gst_event_new_flush_start());
  gst_pad_pause_task(pad_);
}

void TextOutput::flush_stop(bool reset_time) {
  const bool active = gst_pad_is_active(pad_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    clear_locked(true);
    have_segment_ = false;
    need_gap_ = false;
    target_ = position_ = GST_CLOCK_TIME_NONE;
    flushing_ = !active;
  }
  gst_pad_push_event(pad_, gst_event_new_flush_stop(reset_time));
  if (active) gst_pad_start_task(pad_, loop, this, nullptr);
}

std::deque<TextOutput::Item>::iterator TextOutput::next_item_locked() {
  if (items_.empty() || items_.front().event || have_segment_) return items_.begin();
  // An answer needs a segment first: after a flush the video's new segment may come after
  // answers already queued (data before a segment is a stream error downstream).
  return std::find_if(items_.begin(), items_.end(), [](const Item& item) {
    return item.event && GST_EVENT_TYPE(item.event) == GST_EVENT_SEGMENT;
  });
}

bool TextOutput::gap_due_locked() const {
  if (!have_segment_ || !GST_CLOCK_TIME_IS_VALID(target_)) return false;
  return need_gap_ || !GST_CLOCK_TIME_IS_VALID(position_) || target_ > position_;
}

void TextOutput::loop(gpointer self) { static_cast<TextOutput*>(self)->run_once(); }

void TextOutput::run_once() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock,
           [&] { return flushing_ || next_item_locked() != items_.end() || gap_due_locked(); });
  if (flushing_) {
    lock.unlock();
    gst_pad_pause_task(pad_);
    return;
  }

  const auto next = next_item_locked();
  if (next == items_.end()) {
    const GstClockTime start = GST_CLOCK_TIME_IS_VALID(position_) ? position_ : target_;
    const GstClockTime duration = target_ - start;
    position_ = target_;
    need_gap_ = false;
    lock.unlock();
    gst_pad_push_event(pad_, gst_event_new_gap(start, duration));
    return;
  }

  Item item = std::move(*next);
  items_.erase(next);
  if (item.eos_seq) {
    // Everything before EOS is out: finish() need not wait for a sink that holds EOS (appsink
    // waits for its samples to be pulled).
    eos_reached_ = std::max(eos_reached_, item.eos_seq);
    cv_.notify_all();
  }
  if (item.event) {
    if (GST_EVENT_TYPE(item.event) == GST_EVENT_SEGMENT) {
      const GstSegment* segment = nullptr;
      gst_event_parse_segment(item.event, &segment);
      gst_segment_copy_into(segment, &segment_);
      have_segment_ = true;
      need_gap_ = true;
      position_ = GST_CLOCK_TIME_NONE;
    }
    lock.unlock();
    gst_pad_push_event(pad_, item.event);
    return;
  }

  // An answer: stamped at the stream time it speaks about, never before what was pushed.
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  if (have_segment_ && item.stream_time_ns >= 0)
    pts = gst_segment_position_from_stream_time(&segment_, GST_FORMAT_TIME,
                                                static_cast<guint64>(item.stream_time_ns));
  if (GST_CLOCK_TIME_IS_VALID(position_) && (!GST_CLOCK_TIME_IS_VALID(pts) || pts < position_))
    pts = position_;
  if (GST_CLOCK_TIME_IS_VALID(pts)) position_ = pts;
  lock.unlock();

  GstBuffer* buffer = item.text.empty() ? gst_buffer_new()
                                        : gst_buffer_new_memdup(item.text.data(), item.text.size());
  GST_BUFFER_PTS(buffer) = pts;
  const GstFlowReturn ret = gst_pad_push(pad_, buffer);
  // Nothing linked, or a branch that stopped, is not the video's problem.
  if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED && ret != GST_FLOW_FLUSHING &&
      ret != GST_FLOW_EOS)
    GST_WARNING_OBJECT(pad_, "pushing an answer failed: %s", gst_flow_get_name(ret));
}

}  // namespace llamavid
