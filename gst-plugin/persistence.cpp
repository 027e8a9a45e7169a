// save-memory / load-memory and autosave. Failures never stop the pipeline: they post a
// GST_ELEMENT_WARNING and a llamavid-memory message with success=FALSE, and the signal returns
// FALSE; the memory (on a load) and the file (on a save) are left as they were.
#include <filesystem>

#include "element.h"

#define GST_CAT_DEFAULT gst_llamavid_debug

namespace llamavid::element {

namespace {

void post_memory_message(GstLlamavid* self, const char* action, const std::string& path,
                         bool success, uint64_t entries, const std::string& reason) {
  post(self, gst_structure_new("llamavid-memory", "action", G_TYPE_STRING, action, "path",
                               G_TYPE_STRING, make_valid_utf8(path).c_str(), "success", G_TYPE_BOOLEAN,
                               success ? TRUE : FALSE, "entries", G_TYPE_UINT64,
                               static_cast<guint64>(entries), "reason", G_TYPE_STRING,
                               make_valid_utf8(reason).c_str(), nullptr));
}

// A save or a load through `run`, reported on the bus; false when it failed.
template <typename Run>
bool run_memory_action(GstLlamavid* self, const char* action, const std::string& path, Run run) {
  auto a = current_analyzer(self);
  std::string failure;
  if (!a) {
    failure = "the element has no model yet (set it to READY first)";
  } else if (path.empty()) {
    failure = "no file name given";
  } else {
    std::lock_guard<std::mutex> lock(self->priv->save_mutex);
    try {
      run(*a);
    } catch (const std::exception& e) {
      failure = error_text(e);
    }
  }
  const uint64_t entries = a ? a->memory_frames() : 0;
  if (failure.empty()) {
    GST_INFO_OBJECT(self, "%s '%s': %" G_GUINT64_FORMAT " entries", action, path.c_str(),
                    static_cast<guint64>(entries));
    post_memory_message(self, action, path, true, entries, "");
    return true;
  }
  const bool load = g_str_equal(action, "load") || g_str_equal(action, "restore");
  GST_ELEMENT_WARNING(self, RESOURCE, FAILED,
                      ("Cannot %s the memory %s '%s': %s", load ? "load" : "save",
                       load ? "from" : "to", path.c_str(), failure.c_str()),
                      ("%s", action));
  post_memory_message(self, action, path, false, entries, failure);
  return false;
}

bool save(GstLlamavid* self, const char* action, const std::string& path) {
  return run_memory_action(self, action, path,
                           [&](StreamAnalyzer& a) { a.save_memory(path); });
}

std::string autosave_path(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
  return self->priv->settings.autosave_path;
}

void autosave_loop(GstLlamavid* self) {
  Autosave& as = self->priv->autosave;
  std::unique_lock<std::mutex> lock(as.mutex);
  for (;;) {
    as.cv.wait(lock, [&] { return as.stopping || as.requested; });
    if (as.stopping) return;
    as.requested = false;
    lock.unlock();
    const std::string path = autosave_path(self);
    if (!path.empty()) save(self, "autosave", path);
    lock.lock();
  }
}

}  // namespace

gboolean save_memory_signal(GstLlamavid* self, const gchar* path) {
  return save(self, "save", path ? path : "");
}

namespace {

// A load through the signal ("load") or at start ("restore"): the next stream continues it.
bool load(GstLlamavid* self, const char* action, const std::string& file) {
  const bool ok =
      run_memory_action(self, action, file, [&](StreamAnalyzer& a) { a.load_memory(file); });
  if (ok) {
    Private* p = self->priv;
    {
      std::lock_guard<std::mutex> lock(p->state_mutex);
      if (GST_STATE(self) <= GST_STATE_READY) p->keep_memory_at_start = true;
    }
    p->timeline.resume_after_load();
  }
  return ok;
}

}  // namespace

gboolean load_memory_signal(GstLlamavid* self, const gchar* path) {
  return load(self, "load", path ? path : "");
}

void restore_memory_at_start(GstLlamavid* self) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    if (!self->priv->settings.restore_memory) return;
    path = self->priv->settings.autosave_path;
  }
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) {
    GST_INFO_OBJECT(self, "restore-memory: no memory file at '%s' yet: starting empty",
                    path.c_str());
    return;
  }
  load(self, "restore", path);
}

int64_t memory_time(GstLlamavid* self, int64_t stream_time_ns) {
  MemoryTimeline& timeline = self->priv->timeline;
  const bool resuming = timeline.resuming();
  const int64_t memory_ns = timeline.to_memory(stream_time_ns, [&]() -> std::optional<int64_t> {
    auto a = current_analyzer(self);
    if (!a || a->memory_frames() == 0) return std::nullopt;
    return a->memory_end_ns();
  });
  if (resuming)
    GST_INFO_OBJECT(self, "stream times continue the loaded memory: offset %" G_GINT64_FORMAT
                    " ns", timeline.offset_ns());
  return memory_ns;
}

void autosave_tick(GstLlamavid* self, int64_t stream_time_ns) {
  guint interval;
  {
    std::lock_guard<std::mutex> lock(self->priv->settings_mutex);
    if (self->priv->settings.autosave_path.empty()) return;
    interval = self->priv->settings.autosave_interval;
  }
  const int64_t interval_ns = static_cast<int64_t>(interval) * GST_SECOND;
  Autosave& as = self->priv->autosave;
  {
    std::lock_guard<std::mutex> lock(as.mutex);
    if (!as.armed) {
      as.armed = true;
      as.next_due_ns = stream_time_ns + interval_ns;
      return;
    }
    if (stream_time_ns < as.next_due_ns) return;
    as.next_due_ns = stream_time_ns + interval_ns;
    as.requested = true;
  }
  as.cv.notify_one();
}

void autosave_rearm(GstLlamavid* self) {
  std::lock_guard<std::mutex> lock(self->priv->autosave.mutex);
  self->priv->autosave.armed = false;
}

void autosave_start(GstLlamavid* self) {
  Autosave& as = self->priv->autosave;
  std::lock_guard<std::mutex> lock(as.mutex);
  if (as.worker.joinable()) return;
  as.armed = as.requested = as.stopping = false;
  as.worker = std::thread([self] { autosave_loop(self); });
}

void autosave_stop(GstLlamavid* self) {
  Autosave& as = self->priv->autosave;
  {
    std::lock_guard<std::mutex> lock(as.mutex);
    if (!as.worker.joinable()) return;
    as.stopping = true;
  }
  as.cv.notify_one();
  as.worker.join();
}

void autosave_now(GstLlamavid* self) {
  const std::string path = autosave_path(self);
  if (path.empty()) return;
  auto a = current_analyzer(self);
  // An empty memory (a stream that never showed a frame) never replaces a saved one.
  if (a && a->memory_frames() > 0) save(self, "autosave", path);
}

}  // namespace llamavid::element
