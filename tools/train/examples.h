// Training examples for the default model, made exactly as the session serves them: memory
// entries (frames merged with merge_entries, spans as the sampling shows them), context tokens
// through the Q-Former from the question (exact mode) or from the standing prompt (standing
// mode), the movie prompt with span time markers, visual tokens spliced by splice_visual. Only
// the frames differ: they come from the frame bank's cached vision features instead of a live
// encoder.
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
  int64_t streams = 2;
  int64_t questions_per_stream = 8;
  int64_t min_segments = 1;
  int64_t max_segments = 10;
  // Share of streams whose context tokens come from kStandingPrompt instead of each question,
  // as the session's standing context mode makes them.
  double standing_share = 0.5;
  // Loss weight of each category (index = Category).
  std::vector<double> category_weight = std::vector<double>(kNumCategories, 1.0);
  // Share of each category among the questions (index = Category).
  std::vector<double> category_share = std::vector<double>(kNumCategories, 1.0);
};

struct Batch {
  torch::Tensor embeds;   // [B, L, C], right-padded with zeros
  torch::Tensor targets;  // [B, L] int64: the next token to predict, -100 where none
  torch::Tensor sequence_weights;  // [B] float32: loss weight of each question (its category's)
  std::vector<Category> categories;  // [B]
};

// A batch of questions about freshly generated streams; autograd reaches the token generator
// and the LLM.
Batch make_batch(const ExampleSource& source, const ExampleOptions& options, std::mt19937_64& rng);

// Per-sequence mean cross-entropy of a batch: [B] (each row averaged over its targets).
// logits [B, L, V] -> [B]
torch::Tensor sequence_losses(const torch::Tensor& logits, const Batch& batch);

}  // namespace llamavid::world
