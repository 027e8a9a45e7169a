#include "session.h"

#include <algorithm>
#include <cstdio>
#include <mutex>

#include "answer_tensors.h"
#include "generate.h"
#include "memory.h"
#include "model.h"
#include "preprocess.h"
#include "prompt.h"
#include "prompt_embeddings.h"
#include "sampler.h"

namespace llamavid {

namespace {

// Longest valid UTF-8 check (no overlongs, no surrogates, max U+10FFFF).
bool is_valid_utf8(const std::string& s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = p[i];
    int extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned cc = p[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

void check_options(const SessionOptions& o) {
  if (o.time_markers != "auto" && o.time_markers != "none" && o.time_markers != "start" &&
      o.time_markers != "span")
    throw Error("time markers must be auto, none, start or span, not '" + o.time_markers + "'");
  if (o.merge_threshold > 1.0) throw Error("the merge threshold must be at most 1");
  if (o.max_new_tokens < 1) throw Error("max-new-tokens must be at least 1");
}

}  // namespace

std::string format_clock(int64_t ns) {
  const int64_t s = std::max<int64_t>(ns, 0) / 1000000000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

std::string format_time_marker(const std::string& kind, int64_t start_ns, int64_t end_ns) {
  if (kind == "start") return "[" + format_clock(start_ns) + "]";
  if (kind == "span")
    return "[" + format_clock(start_ns) + "-" + format_clock(end_ns) + ", " +
           format_clock(end_ns - start_ns) + "]";
  return "";
}

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions options;
  mutable std::mutex mutex;  // guards memory and options
  TokenMemory memory;

  // Visual tokens per entry in the prompt: one context token plus the content tokens.
  int64_t tokens_per_entry() const { return 1 + model->config().content_tokens_per_frame(); }

  // The marker kind in force: "none", "start" or "span" (the movie layout only).
  std::string time_markers() const {
    if (model->config().prompt_style != PromptStyle::Movie) return "none";
    if (options.time_markers != "auto") return options.time_markers;
    switch (model->config().time_markers) {
      case TimeMarkers::Start: return "start";
      case TimeMarkers::Span: return "span";
      case TimeMarkers::None: break;
    }
    return "none";
  }

  // Prompt tokens of one marker (a long one, so the budget errs on the safe side).
  int64_t marker_tokens() const {
    const std::string kind = time_markers();
    if (kind == "none") return 0;
    const int64_t hour = 3600LL * 1000000000;
    return static_cast<int64_t>(
        model->tokenizer().encode(format_time_marker(kind, 10 * hour, 23 * hour)).size());
  }

  // Entries the LLM context can hold next to the prompt text and the answer.
  int64_t context_entry_limit() const {
    const int64_t reserve = 256 + options.max_new_tokens;  // template, question, markers
    const int64_t per_entry = tokens_per_entry() + marker_tokens();
    return std::max<int64_t>(1, (model->config().max_token - reserve) / per_entry);
  }

  MemoryBudget budget() const {
    int64_t limit = context_entry_limit();
    if (options.max_entries > 0) limit = std::min(limit, options.max_entries);
    const double merge = options.merge_threshold >= 0.0 ? options.merge_threshold
                                                        : model->config().merge_threshold;
    return MemoryBudget{limit, merge};
  }
};

Session::Session(std::shared_ptr<const Model> model, SessionOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error("session: no model");
  impl_->model = std::move(model);
  impl_->options = options;
  check_options(options);
  impl_->memory.set_budget(impl_->budget());
}

Session::~Session() = default;

void Session::add_frames(const std::vector<Frame>& frames) {
  if (frames.empty()) return;
  const Model& m = *impl_->model;
  torch::InferenceMode guard;
  std::vector<torch::Tensor> pixels;
  pixels.reserve(frames.size());
  for (const Frame& f : frames)
    pixels.push_back(clip_preprocess(frame_to_rgb(f), m.config().vision.image_size));
  auto batch = torch::stack(pixels).to(m.options());
  torch::Tensor features = m.vision()->forward(batch);                          // [B, 1+P, Cv]
  torch::Tensor content = m.tokens()->content_tokens(m.tokens()->prompt_features(features));

  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (size_t i = 0; i < frames.size(); ++i) {
    MemoryEntry e;
    e.start_ns = e.end_ns = frames[i].pts_ns;
    e.features = features[static_cast<int64_t>(i)].clone();
    e.content = content[static_cast<int64_t>(i)].clone();
    e.signature = features[static_cast<int64_t>(i)].mean(0).to(torch::kFloat32);
    impl_->memory.append(std::move(e));
  }
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
  // Leave room for at least the newest frame's tokens and the answer.
  const int64_t room = m.config().max_token - max_new - 64 - impl_->tokens_per_entry();
  if (n > room)
    throw QuestionError("the question is too long: " + std::to_string(n) +
                        " tokens, the model accepts at most " + std::to_string(std::max<int64_t>(room, 0)));
}

Answer Session::answer(const std::string& question_in, bool keep_tensors,
                       const std::function<bool()>& abort) {
  validate(question_in);
  const std::string question = trim(question_in);
  const Model& m = *impl_->model;

  std::vector<MemoryEntry> entries;
  SessionOptions opts;
  std::string markers;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    entries = impl_->memory.entries();  // tensor handles only
    opts = impl_->options;
    markers = impl_->time_markers();
  }
  if (entries.empty()) throw QuestionError("no frame has been seen yet");

  torch::InferenceMode guard;
  // The question guides each entry's context token through the Q-Former.
  std::vector<int64_t> bert_ids = m.bert_tokenizer().encode(question, m.config().qformer.max_text_length);
  auto ids = torch::tensor(bert_ids, torch::kInt64).unsqueeze(0).to(m.device());
  auto mask = torch::ones_like(ids);

  std::vector<torch::Tensor> feats, contents;
  for (const auto& e : entries) {
    feats.push_back(e.features);
    contents.push_back(e.content);
  }
  auto features = torch::stack(feats);                                    // [T, M, Cv]
  auto content = torch::stack(contents);                                  // [T, K, C]
  auto text_q = m.tokens()->text_queries(features, ids, mask);            // [T, Q, Cv]
  auto context = m.tokens()->context_tokens(text_q, m.tokens()->prompt_features(features));
  const int64_t T = content.size(0), C = content.size(2);
  // Frame order, (context, content...) per frame: [T * (1 + K), C].
  auto visual = torch::cat({context.unsqueeze(1), content}, 1).reshape({-1, C});

  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& e : entries) spans.emplace_back(e.start_ns, e.end_ns);
  const FrameLayout layout = entry_layout(spans, markers, impl_->tokens_per_entry());
  const PromptStyle style = m.config().prompt_style;
  std::vector<int64_t> prompt = build_prompt_ids(m.tokenizer(), question, style, layout);

  // Text embeddings with the visual rows spliced in at the slots, in order.
  const int64_t slot_rows = style == PromptStyle::Video ? T * impl_->tokens_per_entry() : 1;
  auto embeds = splice_visual(m.llm(), prompt, visual, slot_rows).unsqueeze(0);  // [1, L, C]
  if (embeds.size(1) + opts.max_new_tokens > m.config().max_token)
    throw QuestionError("the prompt (" + std::to_string(embeds.size(1)) +
                        " tokens) and answer do not fit the model's context of " +
                        std::to_string(m.config().max_token));

  KVCache cache = m.llm()->new_cache(1);
  cache.reserve(embeds.size(1) + opts.max_new_tokens);  // decoding then never reallocates
  auto logits = m.llm()->forward(embeds, cache, /*all_logits=*/false);
  Sampler sampler(SamplingParams{opts.temperature, opts.top_p, opts.seed});
  GenerateOptions gen;
  gen.max_new_tokens = opts.max_new_tokens;
  gen.eos_token_id = m.config().llm.eos_token_id;
  auto out_ids = generate(
      m.llm(), cache, logits, [&](const torch::Tensor& l) { return sampler.sample(l); }, gen,
      [&](int64_t) { return !(abort && abort()); });

  Answer a;
  a.ids = out_ids;
  a.text = trim(m.tokenizer().decode(out_ids));
  a.stream_time_ns = entries.back().end_ns;
  a.memory_start_ns = entries.front().start_ns;
  a.memory_end_ns = entries.back().end_ns;
  a.frames = static_cast<uint64_t>(entries.size());
  if (keep_tensors) {
    auto t = std::make_shared<AnswerTensors>();
    t->context = context.to(torch::kCPU, torch::kFloat32);
    t->content = content.to(torch::kCPU, torch::kFloat32);
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
}

SessionOptions Session::options() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->options;
}

void Session::set_options(const SessionOptions& options) {
  check_options(options);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->options = options;
  impl_->memory.set_budget(impl_->budget());
}

}  // namespace llamavid
