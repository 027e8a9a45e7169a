#include <algorithm>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

constexpr const char* kAskName = "llamavid-ask";

// The optional `id` of a llamavid-ask structure; any integer type is taken.
guint64 structure_id(const GstStructure* s) {
  const GValue* v = gst_structure_get_value(s, "id");
  if (!v) return 0;
  GValue as_u64 = G_VALUE_INIT;
  g_value_init(&as_u64, G_TYPE_UINT64);
  guint64 id = 0;
  if (g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_UINT64) && g_value_transform(v, &as_u64))
    id = g_value_get_uint64(&as_u64);
  g_value_unset(&as_u64);
  return id;
}

void on_bus_sync_message(GstBus*, GstMessage* message, gpointer user_data) {
  auto* self = GST_LLAMAVID(user_data);
  const GstStructure* s = gst_message_get_structure(message);
  if (!s || !gst_structure_has_name(s, kAskName)) return;
  const gchar* element = gst_structure_get_string(s, "element");
  if (element) {
    gchar* name = gst_object_get_name(GST_OBJECT(self));
    const bool mine = g_strcmp0(name, element) == 0;
    g_free(name);
    if (!mine) return;
  }
  ask_structure(self, s);
}

}  // namespace

guint64 ask(GstLlamavid* self, const std::string& question, guint64 id) {
  Private* p = self->priv;
  std::string refused;
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    if (p->analyzer) {
      id = p->analyzer->ask(question, id, &refused);  // queues only: no callback runs here
    } else {
      id = p->question_ids->assign(id);
      refused = queue_refusal(question, p->asked_in_null.size(), AnalyzerOptions().max_questions);
      if (refused.empty()) p->asked_in_null.push_back({id, question});
    }
  }
  // A refused question may be huge (it was refused for that): messages carry an excerpt.
  GST_DEBUG_OBJECT(self, "question %" G_GUINT64_FORMAT ": %s", id, excerpt(question).c_str());
  if (!refused.empty()) post_error(self, id, quoted_question(question), refused);
  return id;
}

guint64 ask_signal(GstLlamavid* self, const gchar* question) {
  return ask(self, question ? question : "", 0);
}

guint64 ask_structure(GstLlamavid* self, const GstStructure* s) {
  const gchar* question = gst_structure_get_string(s, "question");
  return ask(self, question ? question : "", structure_id(s));
}

bool is_ask_event(GstEvent* event) {
  const GstStructure* s = gst_event_get_structure(event);
  return s && gst_structure_has_name(s, kAskName);
}

// The copies an application sends to every sink of the pipeline reach us on src and text_src.
bool first_sighting(GstLlamavid* self, GstEvent* event) {
  Private* p = self->priv;
  const guint32 seqnum = gst_event_get_seqnum(event);
  std::lock_guard<std::mutex> lock(p->state_mutex);
  if (std::find(p->upstream_seqnums.begin(), p->upstream_seqnums.end(), seqnum) !=
      p->upstream_seqnums.end())
    return false;
  p->upstream_seqnums.push_back(seqnum);
  if (p->upstream_seqnums.size() > 64) p->upstream_seqnums.pop_front();
  return true;
}

void connect_bus(GstLlamavid* self) {
  GstObject* top = GST_OBJECT(gst_object_ref(self));
  while (GstObject* parent = gst_object_get_parent(top)) {
    gst_object_unref(top);
    top = parent;
  }
  GstBus* bus = GST_IS_ELEMENT(top) ? gst_element_get_bus(GST_ELEMENT(top)) : nullptr;
  gst_object_unref(top);
  if (!bus) {
    GST_DEBUG_OBJECT(self, "no bus: application messages will not be read");
    return;
  }
  gst_bus_enable_sync_message_emission(bus);
  self->priv->bus_handler = g_signal_connect_object(
      bus, "sync-message::application", G_CALLBACK(on_bus_sync_message), self, GConnectFlags(0));
  self->priv->bus = bus;
}

void disconnect_bus(GstLlamavid* self) {
  Private* p = self->priv;
  if (!p->bus) return;
  g_signal_handler_disconnect(p->bus, p->bus_handler);
  gst_bus_disable_sync_message_emission(p->bus);
  gst_object_unref(p->bus);
  p->bus = nullptr;
  p->bus_handler = 0;
}

GstFlowReturn query_sink_chain(GstPad*, GstObject* parent, GstBuffer* buffer) {
  auto* self = GST_LLAMAVID(parent);
  GstMapInfo map;
  std::string question;
  if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    question.assign(reinterpret_cast<const char*>(map.data), map.size);
    gst_buffer_unmap(buffer, &map);
  }
  gst_buffer_unref(buffer);
  if (!question.empty() && question.back() == '\n') question.pop_back();
  if (!question.empty() && question.back() == '\r') question.pop_back();
  ask(self, question, 0);
  return GST_FLOW_OK;
}

gboolean query_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS:
    case GST_EVENT_EOS:  // the end of the questions is not the end of the video
      gst_event_unref(event);
      return TRUE;
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

}  // namespace llamavid::element
