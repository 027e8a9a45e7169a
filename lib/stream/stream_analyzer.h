// One live stream analysed off the host's streaming thread: a Session fed by an encoder worker
// (frames from a bounded queue, encoded in batches) and questioned by an answer worker
// (questions in the order asked). Free of GStreamer and of libtorch headers, so the element
// includes it cheaply.
//
// Thread safety: every method may be called from any thread. Callbacks run on the worker threads
// (on_skipped on the submitting thread; errors for questions never started, on the thread
// destroying the analyzer), never with an analyzer lock held, so they may call back into it.
//
// Guarantees:
// - Every question gets exactly one answer or error callback, in the order asked.
// - A question sees every frame submitted before it was asked (unless the frame was skipped or
//   dropped by cancel()): it waits until the encoder has taken those frames into memory.
// - A question asked while the memory is empty waits for the first frame in memory; it gets
//   "no frame has been seen yet" only from a drain() (EOS) that finds no frame coming.
// - submit_frame() never blocks when `live`; when the queue is full the frame is skipped.
// - Watches (standing questions) are evaluated by the answer worker only when no asked question
//   is queued, so they never delay one. A round of evaluations is due at each new memory entry and
//   every WatchOptions::interval_ns of stream time. After frames submitted as live, the encoder
//   goes on at once and a round still unfinished when the next is due is skipped (counted);
//   other frames are encoded one at a time while there are watches, and the encoder waits for
//   each round, so a file's watches see every state of its memory (unless a question is queued:
//   then nothing waits for the watches).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "stream/question_ids.h"
#include "stream/session.h"
#include "stream/watch_rule.h"
#include "vision/frame.h"
#include "vision/frame_copy.h"

namespace llamavid {

// Longer questions are refused when asked, unqueued: one the model accepts is far shorter
// (kQuestionPositions tokens), and a queue of megabyte questions would hold gigabytes.
constexpr size_t kMaxQuestionBytes = 8192;
// The question as messages quote it: valid UTF-8, cut to kMaxQuestionBytes (then "...").
std::string quoted_question(const std::string& question);

// Why a question is not queued behind `waiting` others when at most `max_waiting` may wait (too
// long, or the queue full); "" when it is.
std::string queue_refusal(const std::string& question, size_t waiting, size_t max_waiting);

struct AnalyzerOptions {
  size_t queue_size = 8;  // frames waiting for the encoder
  size_t max_batch = 4;   // frames encoded per Session::add_frames call
  // Questions waiting for the answer worker; more are refused. With kMaxQuestionBytes each, the
  // queue holds at most 32 MiB of questions.
  size_t max_questions = 4096;
  // The ids questions get; unset: a counter of the analyzer's own, from 1.
  std::shared_ptr<QuestionIds> ids;
};

struct WatchOptions {
  int64_t interval_ns = 1000000000;  // a round at least this often, in stream time
  WatchRules rules;
};

// An alert of watch `watch_id`, as the host reports it.
struct WatchEvent {
  uint64_t watch_id = 0;
  std::string question;
  WatchAlert alert;
  int64_t stream_time_ns = 0;  // the newest frame the evaluation saw (the memory's timeline)
  int64_t latency_ns = 0;      // from that frame's submission to the alert
};

struct AnalyzerCallbacks {
  // `latency_ns`: from the question being asked to its answer being complete.
  std::function<void(uint64_t id, const std::string& question, const Answer& answer,
                     int64_t latency_ns)>
      on_answer;
  std::function<void(uint64_t id, const std::string& question, const std::string& reason)> on_error;
  // A frame was skipped: the total so far and the skipped frame's timestamp. Runs on the thread
  // that submitted the frame.
  std::function<void(uint64_t skipped_total, int64_t pts_ns)> on_skipped;
  // A batch of frames could not be encoded (they are left out of memory).
  std::function<void(const std::string& reason)> on_frame_error;
  // A watch's answer changed (WatchTracker's rules). Runs on the answer worker, or on the thread
  // of finish_watches().
  std::function<void(const WatchEvent& event)> on_alert;
  // Every evaluation of a watch, before the alert it may fire (for logs and tests).
  std::function<void(uint64_t watch_id, const std::string& question, const Answer& answer)>
      on_watch_answer;
  // Watch evaluations skipped so far (a round fell behind a live stream), at `pts_ns`.
  std::function<void(uint64_t skipped_total, int64_t pts_ns)> on_watch_skipped;
  // A watch could not be evaluated (once per watch until it evaluates again).
  std::function<void(uint64_t watch_id, const std::string& question, const std::string& reason)>
      on_watch_error;
  // The session's log (Session::set_log).
  LogSink on_log;
};

enum class SubmitResult { Queued, Skipped, Cancelled };

// The reason given to questions dropped by cancel(), stop() or the destructor.
inline constexpr const char* kCancelledReason = "cancelled";

class StreamAnalyzer {
 public:
  StreamAnalyzer(std::shared_ptr<const Model> model, const SessionOptions& session_options,
                 const AnalyzerOptions& options, AnalyzerCallbacks callbacks);
  // Stops the workers; questions still queued get a "cancelled" error.
  ~StreamAnalyzer();
  StreamAnalyzer(const StreamAnalyzer&) = delete;
  StreamAnalyzer& operator=(const StreamAnalyzer&) = delete;

  // Starts the two workers (no-op when running). Questions asked before are then answered.
  void start();
  // Cancels everything queued or in flight (see cancel()) and joins the workers; every question
  // asked so far has had its callback when this returns. The memory is kept. Frames are refused
  // until the next start().
  void stop();
  bool running() const;

  // Queues a frame for the encoder. When the queue is full: `live` skips the frame (counted,
  // on_skipped) and returns at once; otherwise waits for room. Cancelled: refused because of
  // cancel() (until reset()) or because the workers are stopped.
  SubmitResult submit_frame(FrameCopy frame, bool live);
  // FrameCopy::of in a buffer of a frame already encoded: at a steady frame size, copying
  // frames allocates nothing.
  FrameCopy copy_frame(const Frame& frame);
  // Live hosts call this before copying a frame: when the queue is full the frame is counted as
  // skipped (true) and need not be copied at all.
  bool skip_if_full(int64_t pts_ns);
  // Session::add_subtitle and flush_subtitles, beside the workers (a host calls flush after a
  // drain(), when every frame is in memory).
  void add_subtitle(int64_t start_ns, int64_t end_ns, const std::string& text);
  void flush_subtitles();

  // Queues a question and returns its id: `id` when non-zero, else the next one (ids given by
  // the caller move the counter past them, so assigned ids keep increasing). Never blocks on the
  // model; validation errors (empty, not UTF-8, too long, no frame yet) arrive as on_error.
  // A question of more than kMaxQuestionBytes, or one asked while AnalyzerOptions::max_questions
  // wait, is not queued: `refused`, when given, receives the reason and nothing is called back
  // (the host reports it); without `refused`, on_error reports it at once on this thread, with
  // quoted_question().
  uint64_t ask(const std::string& question, uint64_t id = 0, std::string* refused = nullptr);

  // Blocks until every frame queued and every question asked before the call are resolved: the
  // frames encoded, the questions answered or errored (those waiting for a first frame get
  // "no frame has been seen yet"), and returns true; returns false at once when cancel() (a
  // flush) comes meanwhile or the workers are stopped. Questions asked meanwhile do not hold
  // it: they are answered after it returns.
  bool drain();
  // Drops queued frames, stops the answer being generated and errors every queued question with
  // "cancelled"; frames are refused until reset(). Does not wait.
  void cancel();
  // Accepts frames again after cancel().
  void reset();

  // Forgets the stream: memory, counters and timestamps. Between streams, with the workers
  // stopped.
  void clear();

  uint64_t frames_submitted() const;  // frames accepted into the queue
  uint64_t frames_encoded() const;    // frames taken into memory (or failed to encode)
  uint64_t frames_skipped() const;    // frames skipped because the queue was full

  void set_queue_size(size_t frames);
  void set_session_options(const SessionOptions& options);
  SessionOptions session_options() const;
  uint64_t memory_frames() const;
  int64_t memory_start_ns() const;
  int64_t memory_end_ns() const;

  // Session::save_memory / load_memory, beside the workers. After a load, frames older than the
  // loaded memory's end are placed at its end (as frames going back in time are).
  void save_memory(const std::string& path) const;
  void load_memory(const std::string& path);

  // Adds a standing question under `id` (a host's id, unique among its questions and watches;
  // 0: the next question id) and returns the id. Throws QuestionError when the question cannot
  // be asked (Session::validate, or too long). Its first evaluation is its baseline.
  uint64_t add_watch(const std::string& question, uint64_t id = 0);
  // False when no watch has that id.
  bool remove_watch(uint64_t id);
  void set_watch_options(const WatchOptions& options);
  uint64_t watch_skipped() const;  // evaluations skipped in this stream (reset by clear())
  // At EOS, after drain(): evaluates every watch once more on the whole memory and fires the
  // changes still waiting for their confirmation (WatchTracker::finish). False when a cancel()
  // or stop() came meanwhile.
  bool finish_watches();

 private:
  static constexpr int64_t kNoPts = std::numeric_limits<int64_t>::min();

  struct Question {
    uint64_t id = 0;
    std::string text;
    uint64_t barrier = 0;     // frames submitted before it was asked
    uint64_t generation = 0;  // cancel() generation it belongs to
    std::chrono::steady_clock::time_point asked;
  };

  struct QueuedFrame {
    FrameCopy frame;
    bool live = false;
    std::chrono::steady_clock::time_point submitted;
  };
  struct Watch {
    uint64_t id = 0;
    std::string question;
    WatchTracker tracker;
    bool error_reported = false;  // its evaluation failed and that was reported
  };

  void encoder_loop();
  void answer_loop();
  void answer_one(const Question& q, bool cancelled);
  // stream_watches.cpp. With mutex_ held, after a batch: queues a round when one is due,
  // counting what the previous one left as skipped; returns the skip total when it skipped
  // some, else 0.
  uint64_t schedule_watch_round_locked();
  bool watch_round_busy_locked() const { return !round_.empty() || evaluating_watch_; }
  // Evaluates the next watch of the round; `lock` held on entry and exit, released meanwhile.
  void evaluate_next_watch(std::unique_lock<std::mutex>& lock);
  // Questions left in the queue when no worker will answer them: "cancelled" on this thread.
  void cancel_leftover_questions();
  void cancel_locked();

  Session session_;
  AnalyzerCallbacks callbacks_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;  // any change of the state below
  size_t queue_size_;
  size_t max_batch_;
  size_t max_questions_;
  std::deque<QueuedFrame> frames_;
  std::vector<std::vector<uint8_t>> spare_buffers_;  // of encoded frames, for copy_frame()
  std::deque<Question> questions_;
  std::shared_ptr<QuestionIds> ids_;
  uint64_t submitted_ = 0;  // frames ever queued: questions' barriers count in it
  uint64_t done_ = 0;       // frames encoded or dropped, in queue order
  uint64_t questions_queued_ = 0;    // questions ever queued
  uint64_t questions_resolved_ = 0;  // of those, answered or errored (in queue order)
  uint64_t accepted_ = 0;   // the counters of this stream (reset by clear())
  uint64_t encoded_ = 0;
  uint64_t skipped_ = 0;
  bool has_memory_ = false;  // a frame was encoded or a memory loaded (cleared by clear())
  int draining_ = 0;         // drain() calls under way: questions stop waiting for a frame
  std::atomic<uint64_t> generation_{0};  // written under mutex_, read by the abort poll
  bool cancelled_ = false;
  bool running_ = false;
  bool stopping_ = false;
  int64_t last_pts_ns_;  // memory entries must not go back in time
  std::chrono::steady_clock::time_point newest_submitted_;  // of the newest frame encoded

  // Watches: the list, the round due (ids still to evaluate) and when the last one was due.
  std::vector<Watch> watches_;
  WatchOptions watch_options_;
  std::deque<uint64_t> round_;
  bool evaluating_watch_ = false;
  int64_t last_round_ns_;       // kNoPts: none yet in this stream
  uint64_t round_entries_ = 0;  // memory entries at the last round
  uint64_t watch_skipped_ = 0;
  std::thread encoder_;
  std::thread answerer_;
};

// The shared model instance for a directory and device (Model::shared), for hosts that do not
// include libtorch. Throws Error naming the directory and what is wrong.
std::shared_ptr<const Model> load_shared_model(const std::string& dir, const std::string& device);

}  // namespace llamavid
