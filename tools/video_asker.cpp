#include "video_asker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "core/utf8.h"
#include "gst_elements.h"
#include "message_json.h"
#include "stream/stream_analyzer.h"  // quoted_question
#include "text/time_marker.h"        // format_clock
#include "video_pipeline.h"

namespace llamavid {

namespace {

constexpr auto kProgressInterval = std::chrono::milliseconds(500);

// Drives one run: asks, matches answers to the questions asked, decides when it is over.
class ElementAsker {
 public:
  explicit ElementAsker(const VideoAskOptions& options) : options_(options) {}

  int run() {
    llamavid_ = make_llamavid_element("llamavid");
    set_properties();
    GstElement* sink = gst_element_factory_make("fakesink", "sink");
    // Interactive: a file plays at its own pace, so there is time to ask while it plays.
    g_object_set(sink, "sync", options_.interactive ? TRUE : FALSE, nullptr);

    pipeline_ = std::make_unique<VideoPipeline>(options_.source,
                                                std::vector<GstElement*>{llamavid_, sink});
    pipeline_->on_element_message([this](GstMessage* m) { on_message(m); });
    if (!options_.subtitles.empty())
      add_subtitle_branch(pipeline_->pipeline(), options_.subtitles, llamavid_, "subtitle_sink");
    if (!add_watches()) return 1;
    live_ = pipeline_->start();
    started_ = std::chrono::steady_clock::now();
    show_progress_ = !live_ && isatty(STDERR_FILENO);
    std::unique_ptr<StdinLines> lines;
    if (options_.interactive)
      lines = std::make_unique<StdinLines>([this](const std::string& q) { ask_line(q); },
                                           [this] { stdin_open_ = false; maybe_finish(); });
    const guint timer = g_timeout_add(50, reinterpret_cast<GSourceFunc>(on_tick), this);
    pipeline_->run();
    g_source_remove(timer);
    if (!live_) report_progress(/*last=*/true);

    if (!pipeline_->error().empty()) {
      clear_progress();
      std::cerr << "llamavid-ask: " << pipeline_->error() << "\n";
      // A live source that fails before --after (a camera restarting): what was seen is still
      // answered, and the exit status says the stream failed.
      if (live_ && final_pending_ && final_id_ == 0 && pipeline_->frame_seen())
        answer_what_was_seen();
      return 1;
    }
    if (final_pending_) {
      std::cerr << "llamavid-ask: the stream ended before the question was answered\n";
      return 1;
    }
    if (!pending_.empty()) {
      std::cerr << "llamavid-ask: the stream ended with " << pending_.size()
                << " question(s) unanswered\n";
      return 1;
    }
    return status_;
  }

 private:
  void set_properties() {
    GObject* e = G_OBJECT(llamavid_);
    if (!options_.model.empty()) g_object_set(e, "model", options_.model.c_str(), nullptr);
    if (!options_.device.empty()) g_object_set(e, "device", options_.device.c_str(), nullptr);
    if (options_.sample_fps) g_object_set(e, "sample-fps", *options_.sample_fps, nullptr);
    if (options_.max_new_tokens)
      g_object_set(e, "max-new-tokens", static_cast<guint>(*options_.max_new_tokens), nullptr);
    if (options_.temperature) g_object_set(e, "temperature", *options_.temperature, nullptr);
    if (options_.seed) g_object_set(e, "seed", static_cast<guint64>(*options_.seed), nullptr);
    if (options_.context_mode)
      gst_util_set_object_arg(G_OBJECT(e), "context-mode", context_mode_name(*options_.context_mode));
    if (options_.hybrid_window_ns)
      g_object_set(e, "hybrid-window", static_cast<double>(*options_.hybrid_window_ns) / 1e9, nullptr);
    // The question is asked at EOS in any case: on a file that is the plan, on a live source it
    // answers a stream that ends before --after.
    if (!options_.question.empty()) {
      g_object_set(e, "ask-at-eos", options_.question.c_str(), nullptr);
      final_pending_ = true;
    }
  }

  // Asks the positional question now and runs the loop until its answer (or a minute).
  void answer_what_was_seen() {
    g_object_set(llamavid_, "ask-at-eos", "", nullptr);
    final_id_ = ask(options_.question);
    struct Deadline {
      VideoPipeline* pipeline;
      bool passed = false;
    } deadline{pipeline_.get()};
    const guint timeout = g_timeout_add_seconds(
        60,
        [](gpointer p) {
          auto* d = static_cast<Deadline*>(p);
          d->passed = true;
          d->pipeline->quit();
          return G_SOURCE_REMOVE;
        },
        &deadline);
    // Each further error the failing source posts ends a run of the loop: run it again.
    while (final_pending_ && !deadline.passed) pipeline_->run();
    if (!deadline.passed) g_source_remove(timeout);
    if (final_pending_) std::cerr << "llamavid-ask: no answer about what was seen\n";
  }

  // The element takes watches in any state; in NULL it refuses only an empty or over-long one
  // (refusals that need the model come as llamavid-error with id 0 once it has loaded).
  bool add_watches() {
    for (const auto& question : options_.watches) {
      guint64 id = 0;
      g_signal_emit_by_name(llamavid_, "watch", question.c_str(), &id);
      if (id == 0) {
        std::cerr << "llamavid-ask: cannot watch \"" << question
                  << "\": the question is empty or longer than the element accepts\n";
        return false;
      }
      watch_questions_.insert(quoted_question(question));
    }
    return true;
  }

  // Position / duration on a terminal (one line, redrawn); with `last`, the closing line,
  // terminal or not.
  void report_progress(bool last) {
    const auto now = std::chrono::steady_clock::now();
    if (!last && (!show_progress_ || now - last_progress_ < kProgressInterval)) return;
    last_progress_ = now;
    const int64_t position = std::max<int64_t>(pipeline_->position_ns(), 0);
    const int64_t duration = pipeline_->duration_ns();
    std::string line = format_clock(position);
    if (duration > 0) {
      line += " / " + format_clock(duration);
      const int64_t percent = std::min<int64_t>(100, position * 100 / duration);
      line += " (" + std::to_string(percent) + " %)";
    }
    clear_progress();
    if (last) {
      guint64 sampled = 0, skipped = 0;
      g_object_get(llamavid_, "frames-sampled", &sampled, "frames-skipped", &skipped, nullptr);
      const double seconds = std::chrono::duration<double>(now - started_).count();
      char took[32];
      std::snprintf(took, sizeof took, "%.1f", seconds);
      std::cerr << "llamavid-ask: read " << format_clock(position) << " of video in " << took
                << " s (" << sampled << " frames sampled, " << skipped << " skipped)\n";
      return;
    }
    std::cerr << "llamavid-ask: " << line << std::flush;
    progress_shown_ = true;
  }

  // Takes the progress line off the terminal before other output.
  void clear_progress() {
    if (!progress_shown_) return;
    std::cerr << "\r\033[K" << std::flush;
    progress_shown_ = false;
  }

  // One line on stdout: the JSON object of the message with --json, else `plain`.
  void print(const GstStructure* s, const std::string& plain) {
    clear_progress();
    std::cout << (options_.json ? message_json(s) : plain) << std::endl;
  }

  void on_alert(const GstStructure* s) {
    guint64 since = 0;
    gst_structure_get_uint64(s, "since", &since);
    print(s, alert_line(static_cast<int64_t>(since), string_field(s, "question"),
                        string_field(s, "previous"), string_field(s, "answer")));
  }

  guint64 ask(const std::string& question) {
    guint64 id = 0;
    g_signal_emit_by_name(llamavid_, "ask", question.c_str(), &id);
    return id;
  }

  // On a live source, asks the question due after --after seconds of stream.
  static gboolean on_tick(ElementAsker* self) {
    if (!self->pipeline_->frame_seen()) return G_SOURCE_CONTINUE;
    if (!self->live_) self->report_progress(/*last=*/false);
    if (self->live_ && self->final_pending_ && self->final_id_ == 0 &&
        self->pipeline_->elapsed_ns() >= static_cast<int64_t>(self->options_.after_s * 1e9)) {
      g_object_set(self->llamavid_, "ask-at-eos", "", nullptr);
      self->final_id_ = self->ask(self->options_.question);
    }
    return G_SOURCE_CONTINUE;
  }

  // A question typed before any frame has passed the element is asked at once too: the element
  // answers it once the first frame is in memory.
  void ask_line(const std::string& question) {
    if (question.find_first_not_of(" \t") == std::string::npos) return;  // blank: not a question
    pending_.insert(ask(question));
  }

  // The run is over once every question asked or due has its answer.
  void maybe_finish() {
    if (final_pending_ || !pending_.empty()) return;
    if (options_.interactive && stdin_open_) return;
    pipeline_->quit();
  }

  void on_message(GstMessage* msg) {
    if (GST_MESSAGE_SRC(msg) != GST_OBJECT(llamavid_)) return;
    const GstStructure* s = gst_message_get_structure(msg);
    if (gst_structure_has_name(s, "llamavid-alert")) {
      on_alert(s);
      return;
    }
    const bool answer = gst_structure_has_name(s, "llamavid-answer");
    if (!answer && !gst_structure_has_name(s, "llamavid-error")) return;
    guint64 id = 0;
    gst_structure_get_uint64(s, "id", &id);
    const std::string question = string_field(s, "question");
    if (!answer && id == 0 && watch_questions_.count(question)) {
      // A watch the loaded model cannot take.
      clear_progress();
      if (options_.json) print(s, "");
      std::cerr << "llamavid-ask: cannot watch \"" << question
                << "\": " << string_field(s, "reason") << "\n";
      status_ = 1;
      pipeline_->quit();
      return;
    }
    if (pending_.erase(id) == 0) {
      // The positional question: asked by the timer (its id is known) or at EOS (not known).
      const bool is_final =
          final_pending_ &&
          (final_id_ ? id == final_id_ : question == quoted_question(options_.question));
      if (!is_final) return;
      final_pending_ = false;
    }
    if (answer) {
      print(s, answer_line(string_field(s, "answer")));
    } else {
      clear_progress();
      if (options_.json) print(s, "");
      std::cerr << "llamavid-ask: cannot answer \"" << question
                << "\": " << string_field(s, "reason") << "\n";
      status_ = 1;
      // Interactive output keeps one line per question, so answers stay matched to questions.
      if (options_.interactive && !options_.json) std::cout << std::endl;
      else if (!options_.interactive) pipeline_->quit();
    }
    maybe_finish();
  }

  const VideoAskOptions& options_;
  GstElement* llamavid_ = nullptr;  // owned by the pipeline
  std::unique_ptr<VideoPipeline> pipeline_;
  std::set<guint64> pending_;  // ids of the questions read from stdin and not yet answered
  bool live_ = false;
  bool final_pending_ = false;  // the positional question is still to be answered
  guint64 final_id_ = 0;        // its id once asked through the signal
  bool stdin_open_ = true;
  int status_ = 0;
  std::set<std::string> watch_questions_;  // as the element's messages quote them
  std::chrono::steady_clock::time_point started_, last_progress_;
  bool show_progress_ = false;   // a file, and stderr is a terminal
  bool progress_shown_ = false;  // the progress line is on the terminal now
};

}  // namespace

std::string answer_line(const std::string& text) {
  std::string line = make_valid_utf8(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  std::replace(line.begin(), line.end(), '\r', ' ');
  return line;
}

std::string alert_line(int64_t since_ns, const std::string& question, const std::string& previous,
                       const std::string& answer) {
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03lld",
                static_cast<long long>(std::max<int64_t>(since_ns, 0) / 1000000 % 1000));
  return format_clock(since_ns) + millis + "  " + answer_line(question) + ": " +
         answer_line(previous) + " -> " + answer_line(answer);
}

int ask_video(const VideoAskOptions& options) {
  gst_init(nullptr, nullptr);
  ElementAsker asker(options);
  return asker.run();
}

}  // namespace llamavid
