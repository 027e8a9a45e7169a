// One stream's view of a model: frames go in (ingest), questions are answered about everything
// the memory holds. Free of libtorch and GStreamer, so hosts (the element, the tools) include it
// cheaply.
//
// Thread safety: add_frames() and answer() may run concurrently on different threads (the
// element's encoder and answer workers); each alone is not reentrant. In the standing context
// mode they share the LLM KV cache of the memory's prompt prefix: ingest extends it only when no
// answer holds it (it never waits for an answer), and an answer first brings it up to date
// itself, so an answer waits at most for one extension in progress (a batch's entries, or the
// rebuild after thinning) and ingest never changes a cache an answer is using.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "text/prompt.h"
#include "vision/frame.h"

namespace llamavid {

class Model;
struct AnswerTensors;  // answer_tensors.h: the per-frame tokens of an answer (for --dump)

// A question that cannot be answered; what() is the reason, for the llamavid-error message.
class QuestionError : public Error {
 public:
  using Error::Error;
};

// The mode `requested` means for a model: Auto is the model's own (its config's
// llamavid_context_mode), any other mode itself.
ContextMode resolve_context_mode(ContextMode requested, const ModelConfig& config);

struct SessionOptions {
  int64_t max_new_tokens = 64;
  double temperature = 0.0;  // 0: greedy
  double top_p = 0.9;
  uint64_t seed = 0;
  // Entries kept before the oldest half is thinned; 0: as many as the model's context allows.
  int64_t max_entries = 0;
  // Time markers after each entry in the movie layout (where LLaMA-VID puts subtitles); unset:
  // the model's llamavid_time_markers. The short-video layout has one slot for all frames and
  // no text between them.
  std::optional<TimeMarkers> time_markers;
  // Cosine similarity above which a frame merges into the newest entry; < 0: the model's.
  double merge_threshold = -1.0;
  ContextMode context_mode = ContextMode::Auto;
  // Stream time, back from the newest entry, whose entries get question-guided context tokens
  // in the hybrid mode (an entry is in the window when it ends at most this long before the
  // newest one ends). Five minutes: a clip or an image list is inside it whole.
  int64_t hybrid_window_ns = int64_t{300} * 1000000000;
  // The text the Q-Former reads, in place of a question, to make each entry's context token at
  // ingest (the standing mode's, and the exact mode's once features are dropped). A deployment
  // that mostly asks one thing ("Is anyone at the door?") puts it here. It applies to frames
  // encoded from then on; entries already made keep their tokens. The default model is trained
  // on kStandingPrompt (prompt.h) and on questions, so other texts are within its training.
  std::string standing_prompt = kStandingPrompt;
  // Cap on the bytes the memory holds: its entries' tensors and, in standing mode, the KV cache
  // (allocated once, for as many entries as the cap and the model's context allow). Over it the
  // features of the oldest entries are dropped first (their standing context tokens replace
  // them), then entries are thinned. 0: bounded by the model's context only.
  int64_t max_memory_bytes = int64_t{1} << 30;
};

struct Answer {
  std::string text;
  std::vector<int64_t> ids;      // generated ids, without BOS and EOS
  int64_t stream_time_ns = 0;    // newest frame the answer saw
  int64_t memory_start_ns = 0;   // span the memory covered
  int64_t memory_end_ns = 0;
  uint64_t frames = 0;           // entries in memory
  std::shared_ptr<const AnswerTensors> tensors;  // set when asked for
};

class Session {
 public:
  Session(std::shared_ptr<const Model> model, SessionOptions options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Where the session tells what it does (each frame's fate, thinning, budget decisions,
  // answers with their timing). Set before frames and questions come; the sink runs on the
  // thread of the call that logs, possibly with the session's lock held, so it must not call
  // back into the session.
  void set_log(LogSink sink);

  // Encodes frames (in stream order, as one batch) into memory entries.
  void add_frames(const std::vector<Frame>& frames);

  // Subtitle or caption text shown from `start_ns` to `end_ns` of stream time (the frames'
  // timeline). It joins the memory once a frame at or after its end has been added, or at
  // flush_subtitles(), on the entry TokenMemory::attach_subtitle picks (LLaMA-VID's rule: the
  // last frame before the text ends). Line breaks and tabs become spaces, "<image>" (reserved
  // for visual slots) is taken out, invalid UTF-8 is replaced; nothing is added when no text is
  // left. The first subtitle makes every entry's budget include room for subtitle text, so the
  // memory may thin once. At most 16384 subtitles wait; past that the oldest waiting is dropped.
  // May run beside add_frames() and answer().
  void add_subtitle(int64_t start_ns, int64_t end_ns, const std::string& text);
  // Attaches every subtitle still waiting for its end (at EOS, when no later frame comes).
  void flush_subtitles();

  // Checks a question before it is queued: throws QuestionError for an empty, non-UTF-8 or
  // over-long question.
  void validate(const std::string& question) const;

  // Answers about the memory as it is now. Throws QuestionError when the question cannot be
  // answered. `keep_tensors` fills Answer::tensors. `abort` is polled between tokens; when it
  // returns true the answer stops early with what it has.
  Answer answer(const std::string& question, bool keep_tensors = false,
                const std::function<bool()>& abort = {});

  uint64_t memory_frames() const;
  // Bytes the memory holds now: entries' tensors and the standing mode's KV cache (never more
  // than SessionOptions::max_memory_bytes when that is set).
  int64_t memory_bytes() const;
  int64_t memory_start_ns() const;
  int64_t memory_end_ns() const;
  void clear_memory();

  SessionOptions options() const;
  // Options may change while the stream runs; a new context mode applies to the next answer
  // (entries made before keep the tokens they have).
  void set_options(const SessionOptions& options);

  // Writes the memory to a memory file (memory_file.h) atomically; Error naming the file when it
  // cannot (an existing file is then untouched). May run beside add_frames() and answer().
  void save_memory(const std::string& path) const;
  // Replaces the memory with the entries of a memory file. Error naming the file when it is not
  // a memory file of this model and version, or is corrupt; the memory is then unchanged.
  void load_memory(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llamavid
