#include "examples.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "model/prompt_embeddings.h"
#include "stream/memory.h"
#include "stream/question_anchors.h"
#include "text/prompt.h"

namespace llamavid::world {

namespace {

int64_t pick(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

// The entries a session holds for `stream`: one per sampled segment (alike frames merged),
// each the merge of up to three bank frames of its class.
std::vector<MemoryEntry> stream_entries(const ExampleSource& src, const Stream& stream,
                                        const std::vector<SampledSpan>& spans,
                                        std::mt19937_64& rng) {
  std::vector<int64_t> frame_ids, owner;
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto& pool = (*src.by_class)[shown_class(stream, spans[i])];
    const int64_t k = std::min<int64_t>(spans[i].samples, pick(rng, 1, 3));
    for (int64_t j = 0; j < k; ++j) {
      frame_ids.push_back(pool[pick(rng, 0, static_cast<int64_t>(pool.size()) - 1)]);
      owner.push_back(static_cast<int64_t>(i));
    }
  }
  auto& tokens = src.modules->tokens;
  auto features = src.bank_features.index({torch::tensor(frame_ids, torch::kInt64)});  // [F, M, Cv]
  auto content = tokens->content_tokens(tokens->prompt_features(features));           // [F, K, C]
  std::vector<MemoryEntry> entries(spans.size());
  std::vector<bool> started(spans.size(), false);
  for (size_t f = 0; f < frame_ids.size(); ++f) {
    MemoryEntry e;
    e.features = features[static_cast<int64_t>(f)];
    e.content = content[static_cast<int64_t>(f)];
    const auto i = static_cast<size_t>(owner[f]);
    entries[i] = started[i] ? merge_entries(entries[i], e) : e;
    started[i] = true;
  }
  for (size_t i = 0; i < spans.size(); ++i) {
    entries[i].start_ns = spans[i].first_ns;
    entries[i].end_ns = spans[i].last_ns;
    entries[i].frames = spans[i].samples;
  }
  return entries;
}

// The captions a session gives the entries of `spans` (class anchors): the labels of the classes
// they show, each replaced by another class's with probability `noise`.
std::vector<std::string> entry_captions(const Stream& stream, const std::vector<SampledSpan>& spans,
                                        double noise, std::mt19937_64& rng) {
  std::vector<std::string> out;
  std::bernoulli_distribution wrong(noise);
  for (const auto& span : spans) {
    int64_t cls = shown_class(stream, span);
    if (wrong(rng)) cls = (cls + pick(rng, 1, num_classes() - 1)) % num_classes();
    out.push_back(pattern_classes()[cls].label);
  }
  return out;
}

// `span` cut into `runs` runs of consecutive samples at distinct random points, in order, each
// keeping the span's segment and off_crop; the samples are `interval_s` apart.
std::vector<SampledSpan> cut_span(const SampledSpan& span, int64_t runs, double interval_s,
                                  std::mt19937_64& rng) {
  const double step_ns = interval_s * 1e9;
  std::set<int64_t> cuts;  // the sample each run after the first starts at
  while (static_cast<int64_t>(cuts.size()) < runs - 1) cuts.insert(pick(rng, 1, span.samples - 1));
  cuts.insert(span.samples);
  std::vector<SampledSpan> out;
  int64_t begin = 0;
  for (const int64_t end : cuts) {
    SampledSpan run = span;
    run.first_ns = span.first_ns + std::llround(begin * step_ns);
    run.last_ns = span.first_ns + std::llround((end - 1) * step_ns);
    run.samples = end - begin;
    out.push_back(run);
    begin = end;
  }
  return out;
}

Category pick_category(const std::vector<double>& share, std::mt19937_64& rng) {
  std::discrete_distribution<int> d(share.begin(), share.end());
  return static_cast<Category>(d(rng));
}

// One sequence of a batch as it is built: blocks of rows, each seeing the first `prefix` rows
// of the sequence and itself (causally).
struct Sequence {
  std::vector<torch::Tensor> parts;  // [n, C] each
  std::vector<int64_t> positions, targets, question_of, marker_targets;
  std::vector<int64_t> sees_prefix, block_begin;  // per row: keys [0, p) and [b, row]
  int64_t length = 0;

  // `rows` [n, C] as one block after the first `prefix` rows, at positions prefix, prefix + 1,
  // ...; targets[k] is what row k predicts (-100 for nothing), for `question`.
  void append(const torch::Tensor& rows, int64_t prefix, const std::vector<int64_t>& block_targets,
              int64_t question) {
    const int64_t n = rows.size(0);
    parts.push_back(rows);
    for (int64_t k = 0; k < n; ++k) {
      positions.push_back(prefix + k);
      targets.push_back(block_targets[static_cast<size_t>(k)]);
      question_of.push_back(block_targets[static_cast<size_t>(k)] >= 0 ? question : -1);
      marker_targets.push_back(-100);
      sees_prefix.push_back(prefix);
      block_begin.push_back(length);
    }
    length += n;
  }
};

// The number of leading ids all `prompts` share, as a packed stream's prefix: at least the
// standing prefix (everything up to the last visual slot, which the session's KV cache holds),
// at most all but the last id of the shortest prompt, so that every block keeps the row that
// predicts its answer's first token, and before any time anchor's slot (`first_anchor_slots`:
// the first prompt's). Sharing the text after the last slot too (its time marker, the movie's
// end) is the same arithmetic as repeating it per block, at a fraction of the rows.
size_t shared_prefix_length(const std::vector<std::vector<int64_t>>& prompts,
                            int64_t first_anchor_slots) {
  const auto& first = prompts.front();
  size_t shared = first.size() - 1;
  for (const auto& ids : prompts) {
    shared = std::min(shared, ids.size() - 1);
    size_t k = 0;
    while (k < shared && ids[k] == first[k]) ++k;
    shared = k;
  }
  const size_t standing = standing_prefix_end(first, first_anchor_slots);
  if (standing == 0) throw Error("examples: a prompt without visual slots");
  if (shared < standing)
    throw Error("examples: the prompt before the last visual slot depends on the question");
  // Time anchors' slots belong to their question's block, even where questions are alike.
  const auto anchor = std::find(first.begin() + static_cast<std::ptrdiff_t>(standing),
                                first.begin() + static_cast<std::ptrdiff_t>(shared),
                                kImageTokenIndex);
  return static_cast<size_t>(anchor - first.begin());
}

}  // namespace

std::vector<int64_t> marker_targets_of(const std::vector<int64_t>& ids, int64_t slots_per_entry,
                                       const std::vector<int64_t>& entry_labels) {
  std::vector<int64_t> out(ids.size(), -100);
  int64_t slots = 0;
  size_t run_begin = 0;  // first text row after the latest slot
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != kImageTokenIndex) continue;
    // A slot that starts entry k + 1 closes entry k's marker, the text since its slots.
    if (slots % slots_per_entry == 0 && slots > 0) {
      const int64_t label = entry_labels[static_cast<size_t>(slots / slots_per_entry - 1)];
      for (size_t r = run_begin; r < i; ++r) out[r] = label;
    }
    ++slots;
    run_begin = i + 1;
  }
  return out;
}

std::vector<SampledSpan> split_spans(const std::vector<SampledSpan>& spans, double interval_s,
                                     double share, std::mt19937_64& rng) {
  std::vector<SampledSpan> out;
  std::bernoulli_distribution split(share);
  for (const auto& span : spans) {
    if (span.samples < 2 || share <= 0 || !split(rng)) {  // share 0 draws nothing
      out.push_back(span);
      continue;
    }
    for (const auto& run : cut_span(span, pick(rng, 2, std::min(kMaxSplit, span.samples)),
                                    interval_s, rng))
      out.push_back(run);
  }
  return out;
}

std::vector<SampledSpan> flicker_spans(const Stream& stream, const std::vector<SampledSpan>& spans,
                                       double interval_s, double share, std::mt19937_64& rng) {
  std::vector<SampledSpan> out;
  std::bernoulli_distribution flicker(share);
  for (const auto& span : spans) {
    const bool moves = pattern_classes()[stream.segments[span.segment].cls].moves;
    if (!moves || span.samples < 2 || share <= 0 || !flicker(rng)) {  // share 0 draws nothing
      out.push_back(span);
      continue;
    }
    auto runs = cut_span(span, pick(rng, 2, std::min(kMaxFlickerRuns, span.samples)), interval_s,
                         rng);
    const int64_t parity = pick(rng, 0, 1);
    for (size_t k = 0; k < runs.size(); ++k) {
      runs[k].off_crop = static_cast<int64_t>(k % 2) == parity;
      out.push_back(runs[k]);
    }
  }
  return out;
}

bool is_long_stream(const ExampleOptions& o, int64_t index) {
  return index < std::min(o.long_streams, o.streams);
}

int64_t stream_segments(const ExampleOptions& o, int64_t index, std::mt19937_64& rng) {
  if (is_long_stream(o, index) && o.long_segments > o.max_segments)
    return pick(rng, o.max_segments + 1, o.long_segments);
  if (index >= o.streams && index < o.streams + o.focus_streams)
    return pick(rng, 1, o.focus_segments);
  return pick(rng, o.min_segments, o.max_segments);
}

Batch make_batch(const ExampleSource& src, const ExampleOptions& o, std::mt19937_64& rng) {
  auto& tokens = src.modules->tokens;
  auto& llm = src.modules->llm;
  std::vector<Sequence> sequences;
  Batch batch;
  std::vector<double> weights;
  const double intervals[] = {1.0, 1.0, 1.0, 1.0, 0.5, 2.0};

  // Appends the block of `question` after `prefix` rows: the prompt's rest (its slots, those of
  // time anchors, filled with `anchor_rows`) and the answer fed after it (teacher forcing,
  // without its final EOS), the last prompt row predicting the answer's first token.
  auto add_question = [&](Sequence& seq, int64_t prefix, const std::vector<int64_t>& rest,
                          const Question& question, const torch::Tensor& anchor_rows) {
    std::vector<int64_t> answer = src.tokenizer->encode(question.answer);
    answer.push_back(src.config->llm.eos_token_id);
    std::vector<int64_t> fed = rest;
    fed.insert(fed.end(), answer.begin(), answer.end() - 1);
    std::vector<int64_t> block_targets(fed.size(), -100);
    for (size_t k = 0; k < answer.size(); ++k) block_targets[rest.size() - 1 + k] = answer[k];
    auto rows = anchor_rows.defined()
                    ? splice_visual(llm, fed, anchor_rows, 1)
                    : llm->embed(torch::tensor(fed, torch::kInt64).unsqueeze(0)).squeeze(0);
    seq.append(rows, prefix, block_targets, static_cast<int64_t>(batch.categories.size()));
    batch.categories.push_back(question.category);
    weights.push_back(o.category_weight[static_cast<int>(question.category)]);
  };

  for (int64_t s = 0; s < o.streams + o.focus_streams + o.exact_streams; ++s) {
    const bool focus = s >= o.streams && s < o.streams + o.focus_streams;
    const bool standing = s < o.streams + o.focus_streams;
    const Stream stream = stream_with_segments(rng, stream_segments(o, s, rng));
    const double interval = intervals[pick(rng, 0, 5)];
    // Long streams do not flicker: dozens of their segments held as up to kMaxFlickerRuns
    // entries each made batches that outgrew 19 GB.
    const auto spans = split_spans(
        flicker_spans(stream, sampled_spans(stream, interval), interval,
                      focus || is_long_stream(o, s) ? 0.0 : o.flicker_share, rng),
        interval, focus ? 0.0 : o.split_share, rng);
    const auto entries = stream_entries(src, stream, spans, rng);
    std::vector<torch::Tensor> feats, contents;
    std::vector<std::pair<int64_t, int64_t>> spans_ns;
    for (const auto& e : entries) {
      feats.push_back(e.features);
      contents.push_back(e.content);
      spans_ns.emplace_back(e.start_ns, e.end_ns);
    }
    auto features = torch::stack(feats);  // [T, M, Cv]
    auto content = torch::stack(contents);  // [T, K, C]
    const int64_t slots = 1 + content.size(1);
    const FrameLayout layout = entry_layout(spans_ns, TimeMarkers::Span, slots);
    auto patch = tokens->prompt_features(features);
    auto context_for = [&](const std::string& text) {  // -> [T, C]
      auto bert_ids = src.bert->encode(text, src.config->qformer.max_text_length);
      auto ids = torch::tensor(bert_ids, torch::kInt64).unsqueeze(0);
      return tokens->context_tokens(tokens->text_queries(features, ids, torch::ones_like(ids)),
                                    patch);
    };

    std::vector<Question> questions(
        static_cast<size_t>(standing ? o.questions_per_stream : o.exact_questions));
    for (auto& question : questions) {
      int tries = 0;
      while (!make_question(rng, pick_category(focus ? o.focus_share : o.category_share, rng),
                            stream, interval, question))
        if (++tries > 20) throw Error("examples: no question could be made about a stream");
    }
    // The entries each question reads again after it: those its clock times name (time
    // anchors) and the runs of the class it names (class anchors), found by the captions the
    // session makes, here the entries' labels with the session's caption errors sampled in.
    const std::vector<std::string> captions =
        src.config->class_anchors ? entry_captions(stream, spans, o.caption_noise, rng)
                                  : std::vector<std::string>(spans.size());
    std::vector<QuestionAnchors> anchors;
    std::vector<int64_t> anchor_slots;  // of each question's prompt
    std::vector<std::vector<int64_t>> prompts;
    for (const auto& question : questions) {
      anchors.push_back(
          question_anchors(*src.config, TimeMarkers::Span, question.text, spans_ns, captions));
      FrameLayout asked = layout;
      asked.text_after_anchor = anchors.back().texts;
      anchor_slots.push_back(asked.anchor_slots());
      prompts.push_back(build_prompt_ids(*src.tokenizer, question.text, PromptStyle::Movie, asked));
    }
    auto rest_of = [](const std::vector<int64_t>& ids, size_t cut) {
      return std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(cut), ids.end());
    };
    std::vector<int64_t> entry_labels;
    for (const auto& span : spans)
      entry_labels.push_back(
          src.tokenizer->encode(pattern_classes()[shown_class(stream, span)].label)[0]);
    auto prefix_rows = [&](const std::vector<int64_t>& ids, size_t cut, const torch::Tensor& ctx) {
      const std::vector<int64_t> head(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(cut));
      auto rows = splice_visual(llm, head, entry_rows(ctx, content), 1);
      Sequence seq;
      seq.append(rows, 0, std::vector<int64_t>(static_cast<size_t>(rows.size(0)), -100), -1);
      if (o.marker_targets) seq.marker_targets = marker_targets_of(head, slots, entry_labels);
      return seq;
    };
    if (standing) {
      const size_t cut = shared_prefix_length(prompts, anchor_slots.front());
      const auto ctx = context_for(kStandingPrompt);
      Sequence seq = prefix_rows(prompts.front(), cut, ctx);
      const int64_t prefix = seq.length;
      for (size_t q = 0; q < questions.size(); ++q)
        add_question(seq, prefix, rest_of(prompts[q], cut), questions[q],
                     entry_rows(ctx, content, anchors[q].entries));
      sequences.push_back(std::move(seq));
    } else {
      for (size_t q = 0; q < questions.size(); ++q) {
        const size_t cut = shared_prefix_length({prompts[q]}, anchor_slots[q]);
        const auto ctx = context_for(questions[q].text);
        Sequence seq = prefix_rows(prompts[q], cut, ctx);
        add_question(seq, seq.length, rest_of(prompts[q], cut), questions[q],
                     entry_rows(ctx, content, anchors[q].entries));
        sequences.push_back(std::move(seq));
      }
    }
  }

  int64_t L = 0;
  for (const auto& s : sequences) L = std::max(L, s.length);
  const int64_t B = static_cast<int64_t>(sequences.size());
  std::vector<torch::Tensor> padded;
  batch.positions = torch::zeros({B, L}, torch::kInt64);
  batch.targets = torch::full({B, L}, -100, torch::kInt64);
  batch.question_of = torch::full({B, L}, -1, torch::kInt64);
  batch.marker_targets = torch::full({B, L}, -100, torch::kInt64);
  // Padding rows see themselves only (a query must see some key).
  auto sees_prefix = torch::zeros({B, L}, torch::kInt64);
  auto block_begin = torch::arange(L, torch::kInt64).repeat({B, 1});
  for (int64_t b = 0; b < B; ++b) {
    const Sequence& seq = sequences[static_cast<size_t>(b)];
    const int64_t n = seq.length;
    padded.push_back(torch::constant_pad_nd(torch::cat(seq.parts), {0, 0, 0, L - n}));
    batch.positions[b].narrow(0, 0, n).copy_(torch::tensor(seq.positions, torch::kInt64));
    batch.targets[b].narrow(0, 0, n).copy_(torch::tensor(seq.targets, torch::kInt64));
    batch.question_of[b].narrow(0, 0, n).copy_(torch::tensor(seq.question_of, torch::kInt64));
    batch.marker_targets[b].narrow(0, 0, n).copy_(torch::tensor(seq.marker_targets, torch::kInt64));
    sees_prefix[b].narrow(0, 0, n).copy_(torch::tensor(seq.sees_prefix, torch::kInt64));
    block_begin[b].narrow(0, 0, n).copy_(torch::tensor(seq.block_begin, torch::kInt64));
  }
  auto key = torch::arange(L, torch::kInt64).view({1, 1, L});
  auto query = torch::arange(L, torch::kInt64).view({1, L, 1});
  batch.allowed = key.lt(sees_prefix.unsqueeze(2))
                      .logical_or(key.ge(block_begin.unsqueeze(2)).logical_and(key.le(query)));
  batch.embeds = torch::stack(padded);
  batch.question_weights = torch::tensor(weights, torch::kFloat32);
  return batch;
}

torch::Tensor question_losses(const torch::Tensor& logits, const Batch& batch) {
  const int64_t V = logits.size(2);
  auto mask = batch.targets.reshape({-1}) >= 0;
  auto ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}).index({mask}), batch.targets.reshape({-1}).index({mask}),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  auto owner = batch.question_of.reshape({-1}).index({mask});
  const int64_t Q = static_cast<int64_t>(batch.categories.size());
  auto sums = torch::zeros({Q}, ce.options()).index_add(0, owner, ce);
  auto counts = torch::zeros({Q}, ce.options()).index_add(0, owner, torch::ones_like(ce));
  return sums / counts.clamp_min(1.0);
}

torch::Tensor marker_loss(const torch::Tensor& logits, const Batch& batch) {
  auto mask = batch.marker_targets.reshape({-1}) >= 0;
  if (!mask.any().item<bool>()) return torch::zeros({}, logits.options());
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(2)}).index({mask}),
      batch.marker_targets.reshape({-1}).index({mask}));
}

}  // namespace llamavid::world
