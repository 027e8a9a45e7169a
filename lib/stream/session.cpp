#include "stream/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "core/utf8.h"

#include "model/generate.h"
#include "model/model.h"
#include "model/prompt_embeddings.h"
#include "model/sampler.h"
#include "stream/answer_tensors.h"
#include "stream/class_anchors.h"
#include "stream/entry_text.h"
#include "stream/memory.h"
#include "stream/memory_budget.h"
#include "stream/memory_file.h"
#include "stream/question_anchors.h"
#include "stream/standing_prefix.h"
#include "text/prompt.h"
#include "text/time_marker.h"
#include "vision/preprocess.h"

namespace llamavid {

namespace {

void check_options(const SessionOptions& o) {
  if (o.merge_threshold > 1.0) throw Error("the merge threshold must be at most 1");
  if (o.max_new_tokens < 1) throw Error("max-new-tokens must be at least 1");
  if (o.max_memory_bytes < 0) throw Error("max-memory-bytes must not be negative");
  if (o.hybrid_window_ns < 0) throw Error("the hybrid window must not be negative");
  if (is_blank(o.standing_prompt)) throw Error("the standing prompt is empty");
  if (!is_valid_utf8(o.standing_prompt)) throw Error("the standing prompt is not valid UTF-8");
}

// Puts the cache back to `length` positions when an answer leaves, however it leaves.
class TruncateOnExit {
 public:
  TruncateOnExit(KVCache& cache, int64_t length) : cache_(cache), length_(length) {}
  ~TruncateOnExit() { cache_.truncate(length_); }
  TruncateOnExit(const TruncateOnExit&) = delete;
  TruncateOnExit& operator=(const TruncateOnExit&) = delete;

 private:
  KVCache& cache_;
  int64_t length_;
};

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  LogSink log;  // set before use (set_log), then only read

  void note(LogLevel level, const std::string& text) const {
    if (log) log(level, text);
  }
  void note_change(const MemoryChange& c) const {
    if (c.thinnings > 0)
      note(LogLevel::Event, "memory thinned " + std::to_string(c.thinnings) + " time(s): " +
                                std::to_string(memory.size()) + " entries left");
    if (c.features_dropped > 0)
      note(LogLevel::Event, "byte budget: features of " + std::to_string(c.features_dropped) +
                                " entries dropped (" + std::to_string(memory.bytes()) +
                                " bytes held)");
  }
  // Ingest state (add_frames only): the standing prompt's ids for the Q-Former [1, L] and their
  // mask, made again when the option changes, and the preprocessed batch, kept so that a batch
  // allocates no input buffer.
  std::string standing_prompt;
  torch::Tensor standing_ids;
  torch::Tensor standing_mask;
  torch::Tensor input;

  // Makes standing_ids follow options.standing_prompt. Call from add_frames only.
  void follow_standing_prompt() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (standing_ids.defined() && options.standing_prompt == standing_prompt) return;
      standing_prompt = options.standing_prompt;
    }
    const std::vector<int64_t> ids =
        model->bert_tokenizer().encode(standing_prompt, model->config().qformer.max_text_length);
    standing_ids = torch::tensor(ids, torch::kInt64).unsqueeze(0).to(model->device());
    standing_mask = torch::ones_like(standing_ids);
  }

  // Lock order: prefix_mutex before mutex.
  mutable std::mutex mutex;  // guards memory, options, prefix_epoch, cache_positions
  SessionOptions options;
  TokenMemory memory;
  uint64_t prefix_epoch = 0;     // changes with the options the prefix depends on
  int64_t cache_positions = 0;   // KV cache positions the byte budget allows (standing)
  MemoryBudget budget;           // the memory's, as last planned
  int64_t template_positions = 0;  // prompt tokens of the template without question or entries
  // Subtitles waiting for a frame at or after their end (add_subtitle), in arrival order.
  struct PendingSubtitle {
    int64_t end_ns;
    std::string text;
  };
  std::vector<PendingSubtitle> pending_subtitles;
  bool subtitles_seen = false;  // entries' budget includes subtitle_tokens() from then on

  std::mutex prefix_mutex;  // guards prefix and prefix_synced_epoch
  std::unique_ptr<StandingPrefix> prefix;
  uint64_t prefix_synced_epoch = 0;
  std::atomic<int64_t> prefix_bytes{0};

  // Visual tokens per entry in the prompt: one context token plus the content tokens.
  int64_t tokens_per_entry() const { return 1 + model->config().content_tokens_per_frame(); }
  ContextMode mode() const { return resolve_context_mode(options.context_mode, model->config()); }

  // The marker kind in force (the movie layout only).
  TimeMarkers time_markers() const {
    if (model->config().prompt_style != PromptStyle::Movie) return TimeMarkers::None;
    return options.time_markers.value_or(model->config().time_markers);
  }

  // The entries whose visual tokens follow `question` (llamavid_time_anchors,
  // llamavid_class_anchors), with `markers` in their texts.
  QuestionAnchors anchors(const std::string& question, const std::vector<MemoryEntry>& entries,
                          TimeMarkers markers) const {
    std::vector<std::pair<int64_t, int64_t>> spans;
    std::vector<std::string> captions;
    for (const auto& e : entries) {
      spans.emplace_back(e.start_ns, e.end_ns);
      captions.push_back(e.caption);
    }
    return question_anchors(model->config(), markers, question, spans, captions);
  }

  // Captions every entry that has none (class anchors): the model's greedy answer to
  // kStandingPrompt about that entry alone, one short decode each. Made by the first answer
  // that needs them rather than at ingest, so that ingest runs as fast as without class anchors;
  // an entry is captioned once (a frame merged in as alike keeps its caption). An entry added
  // meanwhile has none in this answer (no caption names it yet).
  void caption_entries();

  // Prompt tokens of one marker: the most of long ones with assorted digits (streams of
  // hundreds of hours too), so the budget errs on the safe side and the standing mode's cache,
  // sized from it, holds every prompt.
  int64_t marker_tokens() const {
    const TimeMarkers kind = time_markers();
    if (kind == TimeMarkers::None) return 0;
    const int64_t s = 1000000000;
    const int64_t samples[][2] = {{(10 * 3600 + 23 * 60 + 45) * s, (23 * 3600 + 59 * 60 + 58) * s},
                                  {(123 * 3600 + 45 * 60 + 59) * s, (987 * 3600 + 6 * 60 + 37) * s},
                                  {0, 59 * s}};
    size_t most = 0;
    for (const auto& [start, end] : samples)
      most = std::max(most, model->tokenizer().encode(format_time_marker(kind, start, end)).size());
    return static_cast<int64_t>(most);
  }

  // Prompt tokens of a subtitle of kMaxSubtitleBytes of plain speech, what an entry's budget
  // keeps for subtitle text once subtitles arrive (the movie layout only).
  int64_t subtitle_tokens() const {
    if (model->config().prompt_style != PromptStyle::Movie) return 0;
    std::string sample;
    while (sample.size() < kMaxSubtitleBytes) sample += "so what do you think about this one ";
    sample.resize(kMaxSubtitleBytes);
    return static_cast<int64_t>(model->tokenizer().encode(sample).size());
  }

  // Attaches the pending subtitles that end at or before `through_ns` (all of them when
  // `all`). Call with mutex held.
  void attach_subtitles(int64_t through_ns, bool all) {
    std::vector<PendingSubtitle> waiting;
    for (auto& p : pending_subtitles) {
      if ((all || p.end_ns <= through_ns) && memory.attach_subtitle(p.end_ns, p.text)) continue;
      waiting.push_back(std::move(p));
    }
    pending_subtitles = std::move(waiting);
  }

  // Extends the prefix cache now unless an answer is using it (that answer, or the next
  // batch, will), or drops it when the mode has none.
  void extend_prefix_if_free(ContextMode mode) {
    std::unique_lock<std::mutex> prefix_lock(prefix_mutex, std::try_to_lock);
    if (!prefix_lock.owns_lock()) return;
    if (mode != ContextMode::Exact) {
      sync_prefix(snapshot());
    } else if (prefix) {
      prefix.reset();  // left from another mode: its bytes count against the cap
      prefix_bytes = 0;
    }
  }

  // What entries and prompt text cost for this model under the current options.
  ModelFootprint footprint() const {
    const ModelConfig& config = model->config();
    const LlamaConfig& c = config.llm;
    const int64_t element = static_cast<int64_t>(c10::elementSize(model->dtype()));
    ModelFootprint f;
    f.max_token = config.max_token;
    f.template_positions = template_positions;
    f.entry_positions =
        tokens_per_entry() + marker_tokens() + (subtitles_seen ? subtitle_tokens() : 0);
    f.kv_bytes_per_position = c.num_hidden_layers * 2 * c.num_key_value_heads * c.head_dim() * element;
    // An entry without features: context and content tokens, fp32 signature.
    f.entry_bytes = tokens_per_entry() * c.hidden_size * element + config.vision.hidden_size * 4;
    f.merge_threshold = config.merge_threshold;
    return f;
  }

  // Makes the memory and the prefix cache follow plan_memory for the current options. Throws
  // Error, changing nothing, when the options' byte cap cannot hold one entry.
  void apply_budget() {
    SessionOptions resolved = options;
    resolved.context_mode = mode();
    const MemoryPlan plan = plan_memory(footprint(), resolved);
    note_change(memory.set_budget(plan.memory));
    cache_positions = plan.cache_positions;
    budget = plan.memory;
    note_budget();
  }

  void note_budget() const {
    note(LogLevel::Event, "budget: " + std::string(context_mode_name(mode())) + " mode, at most " +
                              std::to_string(budget.max_entries) + " entries, " +
                              std::to_string(budget.max_bytes) + " bytes, " +
                              std::to_string(cache_positions) + " KV cache positions");
  }

  // What an answer or a prefix extension works from, taken under mutex.
  struct Snapshot {
    std::vector<MemoryEntry> entries;  // tensor handles only
    SessionOptions options;
    ContextMode mode = ContextMode::Standing;  // resolved
    TimeMarkers markers = TimeMarkers::None;
    uint64_t prefix_epoch = 0;
    int64_t cache_positions = 0;
  };
  Snapshot snapshot() const {
    std::lock_guard<std::mutex> lock(mutex);
    return Snapshot{memory.entries(), options, mode(), time_markers(), prefix_epoch,
                    cache_positions};
  }

  // How many of the oldest entries the prefix cache holds: all in the standing mode, those
  // older than the window in the hybrid mode (the window's get the question's context tokens).
  static size_t prefix_entries(const Snapshot& snap) {
    const auto& e = snap.entries;
    if (snap.mode != ContextMode::Hybrid || e.empty()) return e.size();
    const int64_t from = e.back().end_ns - snap.options.hybrid_window_ns;
    size_t n = e.size();
    while (n > 0 && e[n - 1].end_ns >= from) --n;
    return n;
  }

  // Brings the prefix cache up to `snap`. Call with prefix_mutex held.
  void sync_prefix(const Snapshot& snap) {
    if (!prefix) prefix = std::make_unique<StandingPrefix>(*model, tokens_per_entry());
    if (snap.prefix_epoch != prefix_synced_epoch) {
      prefix->reset();
      prefix_synced_epoch = snap.prefix_epoch;
    }
    const std::vector<MemoryEntry> held(snap.entries.begin(),
                                        snap.entries.begin() + static_cast<std::ptrdiff_t>(prefix_entries(snap)));
    prefix->sync(held, snap.markers, snap.cache_positions);
    prefix_bytes = prefix->bytes();
  }

  Answer exact_answer(const std::string& question, bool keep_tensors,
                      const std::function<bool()>& abort);
  // The standing and hybrid modes' answer: over the prefix cache, which holds every entry
  // (standing) or those older than the window (hybrid).
  Answer prefixed_answer(const std::string& question, bool keep_tensors,
                         const std::function<bool()>& abort);
  // Context tokens of `entries` guided by `question` where they have features, their standing
  // ones where not. -> [T, C]
  torch::Tensor guided_contexts(const std::vector<MemoryEntry>& entries,
                                const std::string& question) const;
};

namespace {

std::vector<int64_t> generate_answer(const Model& m, const SessionOptions& opts, KVCache& cache,
                                     const torch::Tensor& logits,
                                     const std::function<bool()>& abort) {
  Sampler sampler(SamplingParams{opts.temperature, opts.top_p, opts.seed});
  GenerateOptions gen;
  gen.max_new_tokens = opts.max_new_tokens;
  gen.eos_token_id = m.config().llm.eos_token_id;
  return generate(
      m.llm(), cache, logits, [&](const torch::Tensor& l) { return sampler.sample(l); }, gen,
      [&](int64_t) { return !(abort && abort()); });
}

// The fields every answer fills the same way.
Answer make_answer(const Model& m, const std::vector<int64_t>& ids,
                   const std::vector<MemoryEntry>& entries) {
  Answer a;
  a.ids = ids;
  a.text = trim(m.tokenizer().decode(ids));
  a.stream_time_ns = entries.back().end_ns;
  a.memory_start_ns = entries.front().start_ns;
  a.memory_end_ns = entries.back().end_ns;
  a.frames = static_cast<uint64_t>(entries.size());
  return a;
}

}  // namespace

void Session::Impl::caption_entries() {
  std::vector<MemoryEntry> entries;
  TimeMarkers markers;
  {
    std::lock_guard<std::mutex> lock(mutex);
    entries = memory.entries();  // tensor handles only
    markers = time_markers();
  }
  const Model& m = *model;
  SessionOptions greedy;
  greedy.max_new_tokens = kMaxCaptionTokens;
  greedy.temperature = 0.0;
  for (const MemoryEntry& e : entries) {
    if (!e.caption.empty()) continue;
    FrameLayout layout;
    layout.slots_per_frame = tokens_per_entry();
    layout.text_after_frame = {entry_text(e, m.config().prompt_style, markers)};
    const std::vector<int64_t> ids =
        build_prompt_ids(m.tokenizer(), kStandingPrompt, m.config().prompt_style, layout);
    auto rows = splice_visual(m.llm(), ids,
                              entry_rows(e.context.unsqueeze(0), e.content.unsqueeze(0)), 1);
    KVCache cache = m.llm()->new_cache(1);
    cache.reserve(rows.size(0) + greedy.max_new_tokens);
    auto logits = m.llm()->forward(rows.unsqueeze(0), cache, /*all_logits=*/false);
    // An empty caption (EOS first, which a model trained on captions does not answer) is
    // tried again by the next answer.
    const std::string caption =
        trim(m.tokenizer().decode(generate_answer(m, greedy, cache, logits, {})));
    std::lock_guard<std::mutex> lock(mutex);
    memory.set_caption(e.version, caption);
  }
}

ContextMode resolve_context_mode(ContextMode requested, const ModelConfig& config) {
  return requested == ContextMode::Auto ? config.context_mode : requested;
}

Session::Session(std::shared_ptr<const Model> model, SessionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error("session: no model");
  impl_->model = std::move(model);
  impl_->options = options;
  check_options(options);
  // The prompt without question and entries, plus a few positions for the dummy-prefix piece
  // each text chunk between visual slots gets of its own, and the most a question's anchors can
  // bring: their slots, and a class anchor run's marker, number and dummy-prefix piece.
  const ModelConfig& config = impl_->model->config();
  impl_->template_positions =
      static_cast<int64_t>(build_prompt_ids(impl_->model->tokenizer(), "", config.prompt_style, {})
                               .size()) +
      8 + static_cast<int64_t>(max_anchor_entries(config)) * impl_->tokens_per_entry() +
      static_cast<int64_t>(max_class_runs(config)) * (impl_->marker_tokens() + 4);
  impl_->apply_budget();
}

Session::~Session() = default;

void Session::add_frames(const std::vector<Frame>& frames) {
  if (frames.empty()) return;
  const Model& m = *impl_->model;
  const auto started = std::chrono::steady_clock::now();
  torch::InferenceMode guard;
  // Preprocess straight into the batch: no per-frame RGB copy, tensor or stack. The input
  // buffer is kept between batches (add_frames is not reentrant).
  const int64_t image_size = m.config().vision.image_size;
  const auto n = static_cast<int64_t>(frames.size());
  torch::Tensor& input = impl_->input;
  if (!input.defined() || input.size(0) < n)
    input = torch::empty({n, 3, image_size, image_size}, torch::kFloat32);
  torch::Tensor batch = input.narrow(0, 0, n);  // [B, 3, S, S]
  for (int64_t b = 0; b < n; ++b)
    clip_preprocess_into(frames[static_cast<size_t>(b)], batch[b], m.config().frame_fit);
  batch = batch.to(m.options());
  torch::Tensor features = m.vision()->forward(batch);                          // [B, 1+P, Cv]
  torch::Tensor patches = m.tokens()->prompt_features(features);                // [B, N, Cv]
  torch::Tensor content = m.tokens()->content_tokens(patches);                  // [B, K, C]
  // Every entry gets its standing context token: the standing mode reads it, and the exact mode
  // once the entry's features are dropped.
  impl_->follow_standing_prompt();
  auto text_q = m.tokens()->text_queries(features, impl_->standing_ids,
                                         impl_->standing_mask);                 // [B, Q, Cv]
  torch::Tensor context = m.tokens()->context_tokens(text_q, patches);         // [B, C]
  torch::Tensor signatures = features.mean(1).to(torch::kCPU, torch::kFloat32);  // [B, Cv]

  ContextMode mode;
  std::vector<std::pair<LogLevel, std::string>> notes;  // logged once unlocked
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    mode = impl_->mode();
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto b = static_cast<int64_t>(i);
      MemoryEntry e;
      e.start_ns = e.end_ns = frames[i].pts_ns;
      // Rows of the batch: the memory copies them only into an entry it adds.
      if (mode != ContextMode::Standing) e.features = features[b];
      e.content = content[b];
      e.context = context[b];
      e.signature = signatures[b];
      const MemoryChange c = impl_->memory.append(std::move(e));
      if (impl_->log) {
        const std::string at = "frame at " + log_seconds(frames[i].pts_ns) + ": ";
        notes.emplace_back(LogLevel::Event,
                           at + (c.merged ? "merged into the newest entry" : "new entry") + " (" +
                               std::to_string(impl_->memory.size()) + " entries)");
        if (c.similarity > -1.0)
          notes.emplace_back(LogLevel::Detail, at + "similarity to the newest entry " +
                                                   std::to_string(c.similarity));
        impl_->note_change(c);
      }
    }
    impl_->attach_subtitles(frames.back().pts_ns, /*all=*/false);
  }
  if (impl_->log) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    notes.emplace_back(LogLevel::Detail, "batch of " + std::to_string(frames.size()) +
                                             " frame(s) encoded in " + std::to_string(ms) + " ms");
  }
  for (const auto& [level, text] : notes) impl_->note(level, text);
  impl_->extend_prefix_if_free(mode);
}

void Session::set_log(LogSink sink) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->log = std::move(sink);
  const Model& m = *impl_->model;
  impl_->note(LogLevel::Event, "model " + m.directory() + " on " + m.device().str() + " (" +
                                   c10::toString(m.dtype()) + ")");
  impl_->note_budget();  // the plan made before there was a log
}

void Session::add_subtitle(int64_t start_ns, int64_t end_ns, const std::string& raw) {
  std::string text = make_valid_utf8(raw);
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  for (size_t at; (at = text.find(kImagePlaceholder)) != std::string::npos;)
    text.erase(at, kImagePlaceholder.size());
  text = trim(text);
  if (text.empty()) return;
  ContextMode mode;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->subtitles_seen) {
      impl_->subtitles_seen = true;
      impl_->apply_budget();
      ++impl_->prefix_epoch;  // the cache is sized from the budget
    }
    // A subtitle file parsed far ahead of its video waits here; past the cap the oldest goes.
    constexpr size_t kMaxPendingSubtitles = 16384;
    auto& pending = impl_->pending_subtitles;
    if (pending.size() >= kMaxPendingSubtitles) pending.erase(pending.begin());
    pending.push_back({std::max(start_ns, end_ns), text});
    impl_->attach_subtitles(impl_->memory.end_ns(), /*all=*/false);
    mode = impl_->mode();
  }
  impl_->extend_prefix_if_free(mode);
}

void Session::flush_subtitles() {
  ContextMode mode;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->attach_subtitles(0, /*all=*/true);
    mode = impl_->mode();
  }
  impl_->extend_prefix_if_free(mode);
}

void Session::validate(const std::string& question) const {
  if (question.empty() || is_blank(question)) throw QuestionError("the question is empty");
  if (!is_valid_utf8(question)) throw QuestionError("the question is not valid UTF-8");
  if (question.find(kImagePlaceholder) != std::string::npos)
    throw QuestionError("the question contains the reserved text \"<image>\"");
  const Model& m = *impl_->model;
  const int64_t n = static_cast<int64_t>(m.tokenizer().encode(question).size());
  int64_t max_new;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    max_new = impl_->options.max_new_tokens;
  }
  // The budget keeps kQuestionPositions free beside a full memory; a model whose whole context
  // is smaller leaves less.
  const int64_t room = std::min(kQuestionPositions, m.config().max_token - max_new -
                                                        impl_->template_positions -
                                                        impl_->tokens_per_entry());
  if (n > room)
    throw QuestionError("the question is too long: " + std::to_string(n) +
                        " tokens, the model accepts at most " + std::to_string(std::max<int64_t>(room, 0)));
}

Answer Session::answer(const std::string& question_in, bool keep_tensors,
                       const std::function<bool()>& abort) {
  validate(question_in);
  const std::string question = trim(question_in);
  if (impl_->model->config().class_anchors) {
    torch::InferenceMode guard;
    impl_->caption_entries();
  }
  ContextMode mode;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    mode = impl_->mode();
  }
  torch::InferenceMode guard;
  const auto started = std::chrono::steady_clock::now();
  Answer a = mode == ContextMode::Exact ? impl_->exact_answer(question, keep_tensors, abort)
                                        : impl_->prefixed_answer(question, keep_tensors, abort);
  if (impl_->log) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    impl_->note(LogLevel::Event, "answered in " + std::to_string(ms) + " ms (" +
                                     context_mode_name(mode) + " mode, " +
                                     std::to_string(a.frames) + " entries, " +
                                     std::to_string(a.ids.size()) + " tokens)");
  }
  return a;
}

torch::Tensor Session::Impl::guided_contexts(const std::vector<MemoryEntry>& entries,
                                            const std::string& question) const {
  // The question guides the context token of every entry that still has its features; the
  // others (features dropped by the byte budget, or made in standing mode) keep their standing
  // one.
  const Model& m = *model;
  std::vector<torch::Tensor> contexts, feats;
  std::vector<int64_t> with_features;
  for (size_t i = 0; i < entries.size(); ++i) {
    contexts.push_back(entries[i].context);
    if (entries[i].features.defined()) {
      with_features.push_back(static_cast<int64_t>(i));
      feats.push_back(entries[i].features);
    }
  }
  auto context = torch::stack(contexts);  // [T, C]
  if (!feats.empty()) {
    std::vector<int64_t> bert_ids =
        m.bert_tokenizer().encode(question, m.config().qformer.max_text_length);
    auto ids = torch::tensor(bert_ids, torch::kInt64).unsqueeze(0).to(m.device());
    auto features = torch::stack(feats);                                  // [F, M, Cv]
    auto text_q = m.tokens()->text_queries(features, ids, torch::ones_like(ids));  // [F, Q, Cv]
    auto guided = m.tokens()->context_tokens(text_q, m.tokens()->prompt_features(features));
    auto rows = torch::tensor(with_features, torch::kInt64).to(m.device());
    context.index_copy_(0, rows, guided);
  }
  return context;
}

Answer Session::Impl::exact_answer(const std::string& question, bool keep_tensors,
                                   const std::function<bool()>& abort) {
  const Model& m = *model;
  std::vector<MemoryEntry> entries;
  SessionOptions opts;
  TimeMarkers markers;
  {
    std::lock_guard<std::mutex> lock(mutex);
    entries = memory.entries();  // tensor handles only
    opts = options;
    markers = time_markers();
  }
  if (entries.empty()) throw QuestionError("no frame has been seen yet");

  std::vector<torch::Tensor> contents;
  for (const auto& e : entries) contents.push_back(e.content);
  auto context = guided_contexts(entries, question);  // [T, C]
  auto content = torch::stack(contents);              // [T, K, C]
  const int64_t T = content.size(0);
  auto visual = entry_rows(context, content);  // [T * (1 + K), C]
  const QuestionAnchors anchor = anchors(question, entries, markers);
  if (!anchor.empty())  // the anchor entries' rows again, after the question
    visual = torch::cat({visual, entry_rows(context, content, anchor.entries)});

  const PromptStyle style = m.config().prompt_style;
  FrameLayout layout = entries_layout(entries, style, markers, tokens_per_entry());
  layout.text_after_anchor = anchor.texts;
  std::vector<int64_t> prompt = build_prompt_ids(m.tokenizer(), question, style, layout);

  // Text embeddings with the visual rows spliced in at the slots, in order.
  const int64_t slot_rows = style == PromptStyle::Video ? T * tokens_per_entry() : 1;
  auto embeds = splice_visual(m.llm(), prompt, visual, slot_rows).unsqueeze(0);  // [1, L, C]
  if (embeds.size(1) + opts.max_new_tokens > m.config().max_token)
    throw QuestionError("the prompt (" + std::to_string(embeds.size(1)) +
                        " tokens) and answer do not fit the model's context of " +
                        std::to_string(m.config().max_token));

  KVCache cache = m.llm()->new_cache(1);
  cache.reserve(embeds.size(1) + opts.max_new_tokens);  // decoding then never reallocates
  auto logits = m.llm()->forward(embeds, cache, /*all_logits=*/false);
  Answer a = make_answer(m, generate_answer(m, opts, cache, logits, abort), entries);
  if (keep_tensors) {
    auto t = std::make_shared<AnswerTensors>();
    t->context = context.to(torch::kCPU, torch::kFloat32);
    t->content = content.to(torch::kCPU, torch::kFloat32);
    t->first_logits = logits.reshape({-1}).to(torch::kCPU, torch::kFloat32);
    t->prompt_ids = prompt;
    for (const auto& e : entries) t->captions.push_back(e.caption);
    a.tensors = t;
  }
  return a;
}

// The answer works on the shared prefix cache under prefix_mutex for its whole length: it
// brings the cache up to date, appends its tail, decodes and truncates back. Ingest meanwhile
// only appends entries to the memory (its try_lock fails), so it never waits for an answer;
// the answer waits at most for one extension in progress (a few tokens per new or merged entry,
// or, once per quarter of the entry budget, a rebuild after thinning). Extending only lazily,
// before each question, was rejected: the first question after a quiet stretch would prefill
// everything that arrived since, so its latency would grow with the stream again.
Answer Session::Impl::prefixed_answer(const std::string& question, bool keep_tensors,
                                      const std::function<bool()>& abort) {
  const Model& m = *model;
  std::lock_guard<std::mutex> prefix_lock(prefix_mutex);
  const Snapshot snap = snapshot();
  const std::vector<MemoryEntry>& entries = snap.entries;
  const SessionOptions& opts = snap.options;
  if (entries.empty()) throw QuestionError("no frame has been seen yet");
  sync_prefix(snap);
  const size_t held = prefix_entries(snap);
  const std::vector<MemoryEntry> window(entries.begin() + static_cast<std::ptrdiff_t>(held),
                                        entries.end());

  // What goes after the cached prefix: in the standing mode the tail (the newest entry's
  // marker, the template's end, the question); in the hybrid mode the marker of the newest
  // cached entry, the window's entries with question-guided context tokens, then the tail.
  torch::Tensor rows;     // [R, C]
  torch::Tensor context;  // [T, C], for the dump
  auto embed = [&](const std::vector<int64_t>& ids) {
    return m.llm()->embed(torch::tensor(ids, torch::kInt64).unsqueeze(0).to(m.device())).squeeze(0);
  };
  std::vector<torch::Tensor> contexts, contents;
  for (const auto& e : entries) {
    contexts.push_back(e.context);
    contents.push_back(e.content);
  }
  context = torch::stack(contexts);
  const torch::Tensor content = torch::stack(contents);  // [T, K, C]
  const PromptStyle style = m.config().prompt_style;
  const QuestionAnchors anchor = anchors(question, entries, snap.markers);
  std::vector<int64_t> rest_ids;  // the prompt ids of `rows`, for the dump
  if (window.empty()) {
    rest_ids = prefix->tail_ids(question, entry_text(entries.back(), style, snap.markers),
                                anchor.texts);
    // The anchor entries' rows, with the context tokens their entries have in this prompt.
    rows = anchor.empty() ? embed(rest_ids)
                          : splice_visual(m.llm(), rest_ids,
                                          entry_rows(context, content, anchor.entries), 1);
  } else {
    auto guided = guided_contexts(window, question);
    context.narrow(0, static_cast<int64_t>(held), guided.size(0)).copy_(guided);
    FrameLayout layout = entries_layout(window, style, snap.markers, tokens_per_entry());
    layout.text_after_anchor = anchor.texts;
    const std::vector<int64_t> ids = build_prompt_ids(m.tokenizer(), question, style, layout);
    // The cache holds the template's head, before the first slot.
    const auto first_slot = std::find(ids.begin(), ids.end(), kImageTokenIndex);
    const auto W = static_cast<int64_t>(window.size());
    const int64_t slot_rows = style == PromptStyle::Video ? W * tokens_per_entry() : 1;
    auto visual = entry_rows(guided, content.narrow(0, static_cast<int64_t>(held), W));
    if (!anchor.empty())
      visual = torch::cat({visual, entry_rows(context, content, anchor.entries)});
    rows = splice_visual(m.llm(), std::vector<int64_t>(first_slot, ids.end()), visual, slot_rows);
    if (held > 0) {
      rest_ids = m.tokenizer().encode(entry_text(entries[held - 1], style, snap.markers));
      if (!rest_ids.empty()) rows = torch::cat({embed(rest_ids), rows}, 0);
    }
    rest_ids.insert(rest_ids.end(), first_slot, ids.end());
  }

  KVCache& cache = prefix->cache();
  const int64_t prefix_length = cache.length();
  const int64_t total = prefix_length + rows.size(0) + opts.max_new_tokens;
  if (total > m.config().max_token)
    throw QuestionError("the prompt (" + std::to_string(total - opts.max_new_tokens) +
                        " tokens) and answer do not fit the model's context of " +
                        std::to_string(m.config().max_token));
  if (total > cache.capacity())
    throw QuestionError("the question is too long for the memory held: the prompt and answer "
                        "need " + std::to_string(total) + " cache positions, max-memory-bytes "
                        "allows " + std::to_string(cache.capacity()));

  TruncateOnExit restore(cache, prefix_length);
  auto logits = m.llm()->forward(rows.unsqueeze(0), cache, /*all_logits=*/false);
  Answer a = make_answer(m, generate_answer(m, opts, cache, logits, abort), entries);
  if (keep_tensors) {
    auto t = std::make_shared<AnswerTensors>();
    t->context = context.to(torch::kCPU, torch::kFloat32);
    t->content = content.to(torch::kCPU, torch::kFloat32);
    t->first_logits = logits.reshape({-1}).to(torch::kCPU, torch::kFloat32);
    t->prompt_ids = prefix->cached_ids();
    t->prompt_ids.insert(t->prompt_ids.end(), rest_ids.begin(), rest_ids.end());
    for (const auto& e : entries) t->captions.push_back(e.caption);
    a.tensors = t;
  }
  return a;
}

uint64_t Session::memory_frames() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return static_cast<uint64_t>(impl_->memory.size());
}

int64_t Session::memory_start_ns() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->memory.start_ns();
}

int64_t Session::memory_end_ns() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->memory.end_ns();
}

void Session::clear_memory() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->memory.clear();
  impl_->pending_subtitles.clear();
}

SessionOptions Session::options() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->options;
}

int64_t Session::memory_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->memory.bytes() + impl_->prefix_bytes;
}

void Session::set_options(const SessionOptions& options) {
  check_options(options);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const SessionOptions old = impl_->options;
  impl_->options = options;
  try {
    impl_->apply_budget();
  } catch (...) {
    impl_->options = old;
    throw;
  }
  // The prefix cache is rebuilt (at its new size) when what it holds or its size may change.
  if (options.context_mode != old.context_mode || options.time_markers != old.time_markers ||
      options.max_memory_bytes != old.max_memory_bytes ||
      options.max_new_tokens != old.max_new_tokens || options.max_entries != old.max_entries)
    ++impl_->prefix_epoch;
}

void Session::save_memory(const std::string& path) const {
  std::vector<MemoryEntry> entries;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    entries = impl_->memory.entries();  // tensor handles only: the file is written unlocked
  }
  const Model& m = *impl_->model;
  save_memory_file(path, entries, m.identity(), m.directory());
}

void Session::load_memory(const std::string& path) {
  const Model& m = *impl_->model;
  EntryShapes shapes;
  shapes.feature_tokens = m.config().vision.num_tokens();
  shapes.vision_width = m.config().vision.hidden_size;
  shapes.content_tokens = m.config().content_tokens_per_frame();
  shapes.width = m.config().llm.hidden_size;
  std::vector<MemoryEntry> entries = load_memory_file(path, m.identity(), shapes);
  torch::InferenceMode guard;
  for (MemoryEntry& e : entries) {
    for (torch::Tensor* t : {&e.features, &e.context, &e.content})
      if (t->defined()) *t = t->to(m.options());
  }
  std::lock_guard<std::mutex> lock(impl_->mutex);
  // The entries go in as they were saved (no merging), then the budget applies as usual.
  const MemoryBudget budget = plan_memory(impl_->footprint(), impl_->options).memory;
  MemoryBudget as_saved = budget;
  as_saved.merge_threshold = 0.0;
  impl_->memory.set_budget(as_saved);
  impl_->memory.clear();
  for (MemoryEntry& e : entries) impl_->memory.append(std::move(e));
  impl_->memory.set_budget(budget);
}

}  // namespace llamavid
