// Standing questions: the watch / unwatch signals and the watches property keep the element's
// list (Private::watches); the analyzer of the moment evaluates them.
#include <algorithm>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

// Adds a watch to the element and to the analyzer when there is one. Returns its id, or 0 with
// `refused` set. state_mutex held.
guint64 add_watch_locked(GstLlamavid* self, const std::string& question, bool from_property,
                         std::string* refused) {
  Private* p = self->priv;
  guint64 id = 0;
  if (p->analyzer) {
    try {
      id = p->analyzer->add_watch(question);
    } catch (const QuestionError& e) {
      *refused = e.what();
      return 0;
    }
  } else {
    // No model yet (NULL): what needs the model is checked when the analyzer comes.
    *refused = is_blank(question) ? "the question is empty" : queue_refusal(question, 0, 1);
    if (!refused->empty()) return 0;
    id = p->question_ids->assign(0);
  }
  p->watches.push_back(ElementWatch{id, question, from_property});
  return id;
}

void post_refusals(GstLlamavid* self,
                   const std::vector<std::pair<std::string, std::string>>& refusals) {
  for (const auto& [question, reason] : refusals) post_error(self, 0, quoted_question(question), reason);
}

}  // namespace

guint64 watch_signal(GstLlamavid* self, const gchar* question) {
  const std::string text = question ? question : "";
  std::string refused;
  guint64 id;
  {
    std::lock_guard<std::mutex> lock(self->priv->state_mutex);
    id = add_watch_locked(self, text, false, &refused);
  }
  if (id == 0) {
    post_refusals(self, {{text, refused}});
    return 0;
  }
  GST_DEBUG_OBJECT(self, "watch %" G_GUINT64_FORMAT ": %s", id, excerpt(text).c_str());
  return id;
}

gboolean unwatch_signal(GstLlamavid* self, guint64 id) {
  Private* p = self->priv;
  std::lock_guard<std::mutex> lock(p->state_mutex);
  const auto it = std::find_if(p->watches.begin(), p->watches.end(),
                               [&](const ElementWatch& w) { return w.id == id; });
  if (it == p->watches.end()) return FALSE;
  p->watches.erase(it);
  if (p->analyzer) p->analyzer->remove_watch(id);
  GST_DEBUG_OBJECT(self, "watch %" G_GUINT64_FORMAT " removed", id);
  return TRUE;
}

void apply_property_watches(GstLlamavid* self) {
  Private* p = self->priv;
  std::vector<std::string> questions;
  {
    std::lock_guard<std::mutex> lock(p->settings_mutex);
    questions = p->settings.watches;
  }
  std::vector<std::pair<std::string, std::string>> refusals;
  {
    std::lock_guard<std::mutex> lock(p->state_mutex);
    for (const auto& w : p->watches)
      if (w.from_property && p->analyzer) p->analyzer->remove_watch(w.id);
    p->watches.erase(std::remove_if(p->watches.begin(), p->watches.end(),
                                    [](const ElementWatch& w) { return w.from_property; }),
                     p->watches.end());
    for (const auto& q : questions) {
      std::string refused;
      if (add_watch_locked(self, q, true, &refused) == 0) refusals.emplace_back(q, refused);
    }
  }
  GST_DEBUG_OBJECT(self, "watches property: %zu question(s), %zu refused", questions.size(),
                   refusals.size());
  post_refusals(self, refusals);
}

WatchOptions watch_options(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
  return self->priv->settings.watch;
}

std::vector<std::tuple<guint64, std::string, std::string>> hand_over_watches_locked(
    GstLlamavid* self, StreamAnalyzer& analyzer) {
  Private* p = self->priv;
  std::vector<std::tuple<guint64, std::string, std::string>> refused;
  std::vector<ElementWatch> kept;
  for (auto& w : p->watches) {
    try {
      analyzer.add_watch(w.question, w.id);
      kept.push_back(std::move(w));
    } catch (const QuestionError& e) {
      refused.emplace_back(w.id, quoted_question(w.question), e.what());
    }
  }
  p->watches = std::move(kept);
  return refused;
}

}  // namespace llamavid::element
