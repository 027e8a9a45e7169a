#include "examples.h"

#include "core/error.h"
#include "model/prompt_embeddings.h"
#include "stream/memory.h"
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
    const auto& pool = (*src.by_class)[stream.segments[spans[i].segment].cls];
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

Category pick_category(const ExampleOptions& o, std::mt19937_64& rng) {
  std::discrete_distribution<int> d(o.category_share.begin(), o.category_share.end());
  return static_cast<Category>(d(rng));
}

}  // namespace

Batch make_batch(const ExampleSource& src, const ExampleOptions& o, std::mt19937_64& rng) {
  auto& tokens = src.modules->tokens;
  auto& llm = src.modules->llm;
  std::vector<torch::Tensor> sequences;
  std::vector<std::vector<int64_t>> targets;  // per sequence, aligned with its positions
  Batch batch;
  const double intervals[] = {1.0, 1.0, 1.0, 1.0, 0.5, 2.0};
  for (int64_t s = 0; s < o.streams; ++s) {
    const Stream stream = stream_with_segments(rng, pick(rng, o.min_segments, o.max_segments));
    const double interval = intervals[pick(rng, 0, 5)];
    const auto spans = sampled_spans(stream, interval);
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
    torch::Tensor standing_context;
    if (std::bernoulli_distribution(o.standing_share)(rng))
      standing_context = context_for(kStandingPrompt);
    for (int64_t q = 0; q < o.questions_per_stream; ++q) {
      Question question;
      int tries = 0;
      while (!make_question(rng, pick_category(o, rng), stream, interval, question))
        if (++tries > 20) throw Error("examples: no question could be made about a stream");
      auto context = standing_context.defined() ? standing_context : context_for(question.text);
      auto visual = entry_rows(context, content);
      auto prompt = build_prompt_ids(*src.tokenizer, question.text, PromptStyle::Movie, layout);
      auto prompt_embeds = splice_visual(llm, prompt, visual, 1);  // [P, C]
      std::vector<int64_t> answer = src.tokenizer->encode(question.answer);
      answer.push_back(src.config->llm.eos_token_id);
      // The answer is fed after the prompt (teacher forcing) without its final EOS.
      auto fed = torch::tensor(std::vector<int64_t>(answer.begin(), answer.end() - 1),
                               torch::kInt64).unsqueeze(0);
      auto seq = answer.size() > 1 ? torch::cat({prompt_embeds, llm->embed(fed).squeeze(0)}, 0)
                                   : prompt_embeds;
      std::vector<int64_t> t(static_cast<size_t>(seq.size(0)), -100);
      const size_t first = static_cast<size_t>(prompt_embeds.size(0)) - 1;
      for (size_t k = 0; k < answer.size(); ++k) t[first + k] = answer[k];
      sequences.push_back(seq);
      targets.push_back(std::move(t));
      batch.categories.push_back(question.category);
    }
  }
  int64_t max_len = 0;
  for (const auto& s : sequences) max_len = std::max(max_len, s.size(0));
  const int64_t B = static_cast<int64_t>(sequences.size());
  std::vector<torch::Tensor> padded;
  batch.targets = torch::full({B, max_len}, -100, torch::kInt64);
  batch.sequence_weights = torch::zeros({B});
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = sequences[b].size(0);
    padded.push_back(torch::constant_pad_nd(sequences[b], {0, 0, 0, max_len - n}));
    batch.targets[b].narrow(0, 0, n).copy_(torch::tensor(targets[b], torch::kInt64));
    batch.sequence_weights[b] = o.category_weight[static_cast<int>(batch.categories[b])];
  }
  batch.embeds = torch::stack(padded);
  return batch;
}

torch::Tensor sequence_losses(const torch::Tensor& logits, const Batch& batch) {
  const int64_t V = logits.size(2);
  auto ce = torch::nn::functional::cross_entropy(
      logits.reshape({-1, V}), batch.targets.reshape({-1}).clamp_min(0),
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  auto mask = (batch.targets >= 0).to(torch::kFloat32);
  ce = ce.reshape(batch.targets.sizes()) * mask;
  return ce.sum(1) / mask.sum(1).clamp_min(1.0);
}

}  // namespace llamavid::world
