// Training examples for the default model, made exactly as the session serves them: memory
// entries (frames merged with merge_entries, spans as the sampling shows them), context tokens
// through the Q-Former from the standing prompt (standing mode) or from the question (exact
// mode), the movie prompt with span time markers, visual tokens spliced by splice_visual. Only
// the frames differ: they come from the frame bank's cached vision features instead of a live
// encoder.
//
// A standing-mode stream is packed: the part of its prompt every question shares (at least up to
// the last visual slot, the part the session's standing prefix holds in its KV cache) comes once,
// followed by one block per question (the rest of its prompt and the fed answer) that sees the
// prefix and itself only, at the positions it would have after the prefix. One sequence so trains many
// answers for the price of one memory. An exact-mode stream has a prefix per question (its
// context tokens come from the question), so it is one sequence per question.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "model/model.h"
#include "questions.h"
#include "world.h"

namespace llamavid::world {

struct ExampleSource {
  ModelModules* modules = nullptr;
  const SentencePieceTokenizer* tokenizer = nullptr;
  const WordPieceTokenizer* bert = nullptr;
  const ModelConfig* config = nullptr;
  torch::Tensor bank_features;                       // [N, M, Cv], no grad
  const std::vector<std::vector<int64_t>>* by_class = nullptr;  // bank frames of each class
};

struct ExampleOptions {
  // Standing-mode streams (context tokens from kStandingPrompt), each one packed sequence.
  int64_t streams = 2;
  int64_t questions_per_stream = 32;
  // Exact-mode streams (context tokens from each question), one sequence per question.
  int64_t exact_streams = 0;
  int64_t exact_questions = 2;
  int64_t min_segments = 1;
  int64_t max_segments = 10;
  // The first `long_streams` standing streams have more than max_segments segments, up to
  // long_segments: a curriculum that caps the others keeps training the positions and times of
  // long memories (a model trained on short ones only derails on long ones).
  int64_t long_streams = 0;
  int64_t long_segments = 40;
  // Loss weight of each category (index = Category).
  std::vector<double> category_weight = std::vector<double>(kNumCategories, 1.0);
  // Share of each category among the questions (index = Category).
  std::vector<double> category_share = std::vector<double>(kNumCategories, 1.0);
  // Whether Batch::marker_targets is filled (see there).
  bool marker_targets = false;
  // Share of segments held as several entries (split_spans). The element's memory opens a new
  // entry whenever a frame is not alike enough to the newest one, which a moving pattern at a
  // frame size the encoder never saw often is: one segment then spans many entries, a memory
  // the trainer must show too (the card's evaluation of a model trained without it: 100 % "now"
  // on streams of one entry per segment, 39 % on streams with split segments).
  double split_share = 0.0;
  // Share of the segments of moving classes (balls) held as entries alternating between the
  // class and black (flicker_spans): a ball leaves the centre crop the element keeps for part
  // of its path (44 % of the width at 1280x720), the element then holds black frames, and the
  // truth is still the ball. The card's evaluation lost most of its answers on such streams.
  // Not in the long streams (their batches outgrew the machine's memory).
  double flicker_share = 0.0;
  // Standing streams after the others, of 1 to focus_segments segments, whose questions are
  // drawn by focus_share only: a per-category curriculum beside the mix. Duration, which the
  // mixed batches left at a constant answer, rose from 57 to 78 % on memories of 1-5 entries
  // within 1,000 steps of such streams (the card's forks from step 11000).
  int64_t focus_streams = 0;
  int64_t focus_segments = 3;
  std::vector<double> focus_share = std::vector<double>(kNumCategories, 0.0);
  // Share of entries captioned with another class's label (class anchors). The session
  // captions entries with the model's own answer to "What is on screen?", which is sometimes
  // wrong (the card: "now" about 92 %), so the model must not take a caption for the truth.
  double caption_noise = 0.05;
};

struct Batch {
  torch::Tensor embeds;     // [B, L, C], right-padded with zeros
  torch::Tensor positions;  // [B, L] int64: each row's RoPE position
  torch::Tensor allowed;    // [B, L, L] bool: the keys each query sees (Llama's packed forward)
  torch::Tensor targets;    // [B, L] int64: the next token to predict, -100 where none
  torch::Tensor question_of;  // [B, L] int64: the question a target belongs to, -1 where none
  torch::Tensor question_weights;    // [Q] float32: loss weight of each question (its category's)
  // [B, L] int64, with ExampleOptions::marker_targets: on each row of a time marker that lies
  // between two entries, the first piece of the class label of the entry it follows; -100
  // elsewhere. An auxiliary target: prefix rows predict nothing else, and a marker that knows
  // its entry's class is what a question about that class must find to read its time.
  torch::Tensor marker_targets;
  std::vector<Category> categories;  // [Q]
};

// `spans` with each span of two or more samples, with probability `share`, cut into 2 to
// kMaxSplit runs of consecutive samples (as many as it has samples at most), each its own span
// of the same segment; the samples are `interval_s` apart.
constexpr int64_t kMaxSplit = 8;
std::vector<SampledSpan> split_spans(const std::vector<SampledSpan>& spans, double interval_s,
                                     double share, std::mt19937_64& rng);

// `spans` with each span of a moving class and two or more samples, with probability `share`,
// cut into 2 to kMaxFlickerRuns runs (as many as it has samples at most), every other one off
// the crop (SampledSpan::off_crop), starting with either. A ball shows in more runs than a class
// anchor holds (kMaxClassRuns), as in a long ball segment at a wide frame size (the card's
// 11-minute one: 68 entries), so that the decoder is trained on thinned anchors too.
constexpr int64_t kMaxFlickerRuns = 48;
std::vector<SampledSpan> flicker_spans(const Stream& stream, const std::vector<SampledSpan>& spans,
                                       double interval_s, double share, std::mt19937_64& rng);

// Whether stream `index` of a batch is one of the first `long_streams` standing streams.
bool is_long_stream(const ExampleOptions& options, int64_t index);

// How many segments stream `index` of a batch has (standing streams first, then focus streams,
// then exact ones).
int64_t stream_segments(const ExampleOptions& options, int64_t index, std::mt19937_64& rng);

// A batch of questions about freshly generated streams; autograd reaches the token generator
// and the LLM.
Batch make_batch(const ExampleSource& source, const ExampleOptions& options, std::mt19937_64& rng);

// Per-question mean cross-entropy of a batch (each question averaged over its answer tokens).
// logits [B, L, V] -> [Q]
torch::Tensor question_losses(const torch::Tensor& logits, const Batch& batch);

// Batch::marker_targets of a prefix `ids` whose slots each get one visual row, `slots_per_entry`
// slots an entry: the text between the slots of entry k and those of entry k + 1 is entry k's
// time marker, and its rows get entry_labels[k].
std::vector<int64_t> marker_targets_of(const std::vector<int64_t>& ids, int64_t slots_per_entry,
                                       const std::vector<int64_t>& entry_labels);

// Mean cross-entropy over the rows of Batch::marker_targets; 0 when there are none.
// logits [B, L, V] -> []
torch::Tensor marker_loss(const torch::Tensor& logits, const Batch& batch);

}  // namespace llamavid::world
