// The trainer's packed batches (tools/train/examples.cpp): every answer row of a packed
// sequence must get the logits a plain causal forward gives over exactly the rows it sees, and
// those rows must sit at consecutive positions from 0, as the prompt does when it is served one
// question at a time. A tiny random model keeps it fast; the packing does not depend on weights.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"
#include "examples.h"
#include "model/model.h"
#include "stream/class_anchors.h"
#include "test_util.h"
#include "text/prompt.h"
#include "text/sentencepiece_tokenizer.h"
#include "text/wordpiece_tokenizer.h"
#include "world.h"

namespace llamavid::world {
namespace {

struct TinyTrainer {
  SentencePieceTokenizer sp;
  WordPieceTokenizer wp;
  ModelConfig config;
  ModelModules modules;
  torch::Tensor features;
  std::vector<std::vector<int64_t>> by_class;

  static nlohmann::json config_json(const SentencePieceTokenizer& sp, const WordPieceTokenizer& wp) {
    std::ifstream in(test::source_dir() + "/tools/tiny_train_config.json");
    auto j = nlohmann::json::parse(in);
    j["vocab_size"] = sp.vocab_size();
    j["qformer_config"]["vocab_size"] = wp.vocab_size();
    return j;
  }

  // A batch of `standing` packed streams of `questions` each, or `exact` streams of that many
  // one-question sequences, of up to `segments` segments.
  Batch batch(int64_t standing, int64_t exact, int64_t questions, int64_t segments, uint64_t seed,
              bool marker_targets = false, double split_share = 0.0) {
    ExampleSource src{&modules, &sp, &wp, &config, features, &by_class};
    ExampleOptions o;
    o.marker_targets = marker_targets;
    o.split_share = split_share;
    o.streams = standing;
    o.questions_per_stream = questions;
    o.exact_streams = exact;
    o.exact_questions = questions;
    o.max_segments = segments;
    std::mt19937_64 rng(seed);
    return make_batch(src, o, rng);
  }

  TinyTrainer()
      : sp(test::source_dir() + "/../models/default/tokenizer.model"),
        wp(test::source_dir() + "/../models/default/vocab.txt"),
        config(parse_config(config_json(sp, wp).dump(), "tiny_train_config.json")),
        modules(config, /*num_query=*/4, torch::TensorOptions().dtype(torch::kFloat32)) {
    torch::manual_seed(3);
    torch::NoGradGuard no_grad;
    for (const auto& [name, t] : modules.named_tensors()) t.normal_(0.0, 0.2);
    const int64_t per_class = 2, n = num_classes() * per_class;
    const int64_t size = config.vision.image_size;
    features = modules.vision->forward(torch::rand({n, 3, size, size}));
    by_class.resize(static_cast<size_t>(num_classes()));
    for (int64_t i = 0; i < n; ++i) by_class[static_cast<size_t>(i / per_class)].push_back(i);
  }
};

// Checks every target row of `batch` against a plain forward of the rows it sees.
void expect_packing_exact(Llama& llm, const Batch& batch) {
  torch::NoGradGuard no_grad;
  auto packed = llm->forward(batch.embeds, batch.positions, batch.allowed);
  int64_t checked = 0;
  for (int64_t b = 0; b < batch.embeds.size(0); ++b) {
    for (int64_t i = 0; i < batch.embeds.size(1); ++i) {
      if (batch.targets[b][i].item<int64_t>() < 0) continue;
      auto seen = batch.allowed[b][i].nonzero().squeeze(1);
      ASSERT_EQ(seen[-1].item<int64_t>(), i);
      auto positions = batch.positions[b].index({seen});
      ASSERT_TRUE(positions.equal(torch::arange(seen.size(0), torch::kInt64)))
          << "row " << i << " of sequence " << b << " sees rows at positions " << positions;
      auto plain = llm->forward(batch.embeds[b].index({seen}).unsqueeze(0));
      EXPECT_LE((plain[0][-1] - packed[b][i]).abs().max().item<double>(), 1e-4)
          << "row " << i << " of sequence " << b;
      ++checked;
    }
  }
  EXPECT_EQ(checked, (batch.targets >= 0).sum().item<int64_t>());
}

TEST(TrainPacking, StandingStreamBlocksMatchUnpackedForwards) {
  TinyTrainer t;
  const Batch batch = t.batch(/*standing=*/2, /*exact=*/0, /*questions=*/6, /*segments=*/5, 11);
  ASSERT_EQ(batch.embeds.size(0), 2);
  ASSERT_EQ(batch.categories.size(), 12u);
  expect_packing_exact(t.modules.llm, batch);

  // The prompt text every question shares (the last time marker, the movie's end) is in the
  // prefix once: blocks start where the questions differ, so they do not all start alike.
  for (int64_t b = 0; b < 2; ++b) {
    const auto full = batch.allowed[b].sum(1).eq(torch::arange(1, batch.embeds.size(1) + 1));
    // The first row that does not see every row before it starts the second block: it sees the
    // prefix and itself.
    const int64_t second = full.logical_not().nonzero()[0][0].item<int64_t>();
    const int64_t prefix = batch.allowed[b][second].sum().item<int64_t>() - 1;
    auto starts = batch.positions[b].eq(prefix).nonzero().squeeze(1);
    ASSERT_EQ(starts.size(0), 6);
    bool all_alike = true;
    for (int64_t k = 1; k < 6; ++k)
      all_alike = all_alike && batch.embeds[b][starts[k].item<int64_t>()].equal(
                                   batch.embeds[b][starts[0].item<int64_t>()]);
    EXPECT_FALSE(all_alike) << "every block starts with the same row: shared text is repeated";
  }
}

TEST(TrainPacking, ExactStreamsAreOneSequencePerQuestion) {
  TinyTrainer t;
  const Batch batch = t.batch(/*standing=*/0, /*exact=*/2, /*questions=*/3, /*segments=*/4, 5);
  ASSERT_EQ(batch.embeds.size(0), 6);
  expect_packing_exact(t.modules.llm, batch);
}

// The long standing streams have more segments than the cap, up to long_segments, all lengths
// drawn; the other streams (standing and exact) stay within [min_segments, max_segments].
TEST(TrainPacking, LongStreamsGoPastTheCap) {
  ExampleOptions o;
  o.streams = 3;
  o.exact_streams = 1;
  o.long_streams = 2;
  o.min_segments = 2;
  o.max_segments = 6;
  o.long_segments = 12;
  std::mt19937_64 rng(5);
  std::set<int64_t> long_seen, short_seen;
  for (int i = 0; i < 400; ++i) {
    for (int64_t s = 0; s < o.streams + o.exact_streams; ++s) {
      const int64_t n = stream_segments(o, s, rng);
      (s < o.long_streams ? long_seen : short_seen).insert(n);
    }
  }
  EXPECT_EQ(long_seen, (std::set<int64_t>{7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(short_seen, (std::set<int64_t>{2, 3, 4, 5, 6}));
  o.long_segments = o.max_segments;  // nothing past the cap to draw: long streams are capped too
  for (int i = 0; i < 50; ++i) EXPECT_LE(stream_segments(o, 0, rng), o.max_segments);
}

// Focus streams come after the other standing streams, have 1 to focus_segments segments
// whatever the cap, and ask only the categories of focus_share; they pack like the others.
TEST(TrainPacking, FocusStreamsAskOnlyTheirCategories) {
  TinyTrainer t;
  ExampleSource src{&t.modules, &t.sp, &t.wp, &t.config, t.features, &t.by_class};
  ExampleOptions o;
  o.streams = 1;
  o.questions_per_stream = 5;
  o.max_segments = 6;
  o.focus_streams = 1;
  o.focus_segments = 2;
  o.focus_share[static_cast<int>(Category::Duration)] = 1.0;
  std::mt19937_64 rng(9);
  const Batch batch = make_batch(src, o, rng);
  ASSERT_EQ(batch.embeds.size(0), 2);
  ASSERT_EQ(batch.categories.size(), 10u);
  for (size_t q = 5; q < 10; ++q) EXPECT_EQ(batch.categories[q], Category::Duration) << q;
  expect_packing_exact(t.modules.llm, batch);

  std::set<int64_t> focus_seen;
  for (int i = 0; i < 200; ++i) focus_seen.insert(stream_segments(o, 1, rng));
  EXPECT_EQ(focus_seen, (std::set<int64_t>{1, 2}));
}

// Two batches of four `asked` questions about one stream of up to 5 segments, made from the same
// seed without and with the config's `flag`.
std::pair<Batch, Batch> batches_without_and_with(TinyTrainer& t, bool ModelConfig::*flag,
                                                 Category asked, ExampleOptions o) {
  ExampleSource src{&t.modules, &t.sp, &t.wp, &t.config, t.features, &t.by_class};
  o.streams = 1;
  o.questions_per_stream = 4;
  o.max_segments = 5;
  o.category_share.assign(kNumCategories, 0.0);
  o.category_share[static_cast<int>(asked)] = 1.0;
  t.config.*flag = false;
  std::mt19937_64 rng(21);
  Batch plain = make_batch(src, o, rng);
  t.config.*flag = true;
  rng.seed(21);
  Batch anchored = make_batch(src, o, rng);
  t.config.*flag = false;
  return {std::move(plain), std::move(anchored)};
}

// With llamavid_time_anchors in the config, an "at" question reads the entry its time names
// again after it: each block grows by one entry's rows, copies of rows the memory holds, and
// still packs exactly; "now" questions, which name no time, are the same rows as without.
TEST(TrainPacking, TimeAnchorsFollowTheConfig) {
  TinyTrainer t;
  // What an anchor adds to a prompt: one entry's slots (and the dummy-prefix piece of the text
  // after them, encoded as a chunk of its own).
  const int64_t per_entry = 1 + t.config.content_tokens_per_frame();
  FrameLayout layout{{"[00:00:00]"}, per_entry};
  const auto before = build_prompt_ids(t.sp, "At 00:00:00?", PromptStyle::Movie, layout);
  layout.text_after_anchor = {""};
  const auto after = build_prompt_ids(t.sp, "At 00:00:00?", PromptStyle::Movie, layout);
  const auto growth = static_cast<int64_t>(after.size() - before.size());
  EXPECT_GE(growth, per_entry);
  for (const Category asked : {Category::At, Category::Now}) {
    const auto [plain, anchored] =
        batches_without_and_with(t, &ModelConfig::time_anchors, asked, {});
    if (asked == Category::At) {
      EXPECT_EQ(anchored.embeds.size(1), plain.embeds.size(1) + 4 * growth);
      EXPECT_EQ((anchored.targets >= 0).sum().item<int64_t>(),
                (plain.targets >= 0).sum().item<int64_t>());
      torch::NoGradGuard no_grad;
      const auto a = anchored.embeds[0], p = plain.embeds[0];  // [L, C]
      EXPECT_TRUE(a.unsqueeze(1).eq(p.unsqueeze(0)).all(-1).any(1).all().item<bool>());
      expect_packing_exact(t.modules.llm, anchored);
    } else {
      EXPECT_TRUE(anchored.embeds.equal(plain.embeds));
    }
  }
}

// With llamavid_class_anchors in the config, a duration question reads the runs of the class it
// names after it (captions without errors here): every block grows, the answers are the same,
// and the batch still packs exactly; "at" questions, which name no class, are the same rows.
TEST(TrainPacking, ClassAnchorsFollowTheConfig) {
  TinyTrainer t;
  const int64_t per_entry = 1 + t.config.content_tokens_per_frame();
  for (const Category asked : {Category::Duration, Category::At}) {
    ExampleOptions exact_captions;
    exact_captions.caption_noise = 0.0;
    const auto [plain, anchored] =
        batches_without_and_with(t, &ModelConfig::class_anchors, asked, exact_captions);
    if (asked == Category::Duration) {
      EXPECT_GE(anchored.embeds.size(1), plain.embeds.size(1) + 4 * per_entry);
      EXPECT_TRUE(anchored.targets.ge(0).sum().equal(plain.targets.ge(0).sum()));
      expect_packing_exact(t.modules.llm, anchored);
    } else {
      EXPECT_TRUE(anchored.embeds.equal(plain.embeds));
    }
  }
}

// The text between two entries' slots is the first one's time marker: its rows name that
// entry's class; the template before the first entry, the slots and the text after the last
// entry name nothing.
TEST(TrainPacking, MarkerTargetsNameTheEntryBefore) {
  const int64_t I = kImageTokenIndex, n = -100;
  const std::vector<int64_t> ids = {1, 5, I, I, 7, 8, I, I, 9, I, I, 10, 11};
  EXPECT_EQ(marker_targets_of(ids, 2, {100, 101, 102}),
            (std::vector<int64_t>{n, n, n, n, 100, 100, n, n, 101, n, n, n, n}));
}

// In a batch, marker targets sit on prefix rows only, off by default.
TEST(TrainPacking, MarkerTargetsOnPrefixRowsOnly) {
  TinyTrainer t;
  const Batch off = t.batch(/*standing=*/1, /*exact=*/1, /*questions=*/4, /*segments=*/5, 11);
  EXPECT_EQ((off.marker_targets >= 0).sum().item<int64_t>(), 0);
  const Batch on = t.batch(1, 1, 4, 5, 11, /*marker_targets=*/true);
  const auto marked = on.marker_targets >= 0;
  EXPECT_GT(marked.sum().item<int64_t>(), 0);
  EXPECT_EQ(marked.logical_and(on.question_of >= 0).sum().item<int64_t>(), 0);
  EXPECT_EQ(marked.logical_and(on.targets >= 0).sum().item<int64_t>(), 0);
  // The markers' loss is a finite cross-entropy over those rows, zero without them.
  torch::NoGradGuard no_grad;
  auto logits = t.modules.llm->forward(on.embeds, on.positions, on.allowed);
  const double loss = marker_loss(logits, on).item<double>();
  EXPECT_TRUE(std::isfinite(loss) && loss > 0.0);
  Batch unmarked = on;
  unmarked.marker_targets = torch::full_like(on.marker_targets, -100);
  EXPECT_EQ(marker_loss(logits, unmarked).item<double>(), 0.0);
}

// A split segment's entries are runs of its samples, in order, none lost or repeated: 2 to
// kMaxSplit of them, as many as it has samples at most; share 0 changes nothing and draws
// nothing (a run resumed without the option keeps its sequence), and a share splits about that
// share of the segments.
TEST(TrainPacking, SplitSpansAreRunsOfTheSegmentsSamples) {
  std::mt19937_64 rng(9);
  int64_t splittable = 0, half_splittable = 0, half_split = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const Stream stream = stream_with_segments(rng, 12);
    for (const double interval : {1.0, 0.5, 2.0}) {
      const auto spans = sampled_spans(stream, interval);
      const int64_t step_ns = std::llround(interval * 1e9);
      std::mt19937_64 before = rng;
      EXPECT_EQ(split_spans(spans, interval, 0.0, rng).size(), spans.size());
      EXPECT_TRUE(before == rng) << "share 0 drew from the generator";

      const double share = trial % 2 ? 1.0 : 0.5;
      const auto pieces = split_spans(spans, interval, share, rng);
      size_t p = 0;
      for (const auto& span : spans) {
        splittable += span.samples >= 2 ? 1 : 0;
        int64_t runs = 0, samples = 0, next_ns = span.first_ns;
        while (p < pieces.size() && pieces[p].segment == span.segment) {
          const auto& piece = pieces[p++];
          EXPECT_NEAR(static_cast<double>(piece.first_ns), static_cast<double>(next_ns), 2.0);
          EXPECT_NEAR(static_cast<double>(piece.last_ns - piece.first_ns),
                      static_cast<double>((piece.samples - 1) * step_ns), 2.0);
          ASSERT_GE(piece.samples, 1);
          next_ns = piece.last_ns + step_ns;
          samples += piece.samples;
          ++runs;
        }
        EXPECT_EQ(samples, span.samples) << "segment " << span.segment;
        EXPECT_NEAR(static_cast<double>(next_ns - step_ns), static_cast<double>(span.last_ns), 2.0);
        EXPECT_LE(runs, std::min(kMaxSplit, span.samples));
        if (share == 1.0 && span.samples >= 2) {
          EXPECT_GE(runs, 2);
        }
        if (share == 0.5 && span.samples >= 2) {
          ++half_splittable;
          half_split += runs > 1 ? 1 : 0;
        }
      }
      EXPECT_EQ(p, pieces.size());
    }
  }
  ASSERT_GT(half_splittable, 100);
  EXPECT_GT(splittable, half_splittable);
  const double half = static_cast<double>(half_split) / static_cast<double>(half_splittable);
  EXPECT_GT(half, 0.4) << "a share of 0.5 split " << half << " of the segments";
  EXPECT_LT(half, 0.6) << "a share of 0.5 split " << half << " of the segments";
}

// A flickering segment is a ball's: its entries are runs of its samples, in order, none lost,
// 2 to kMaxFlickerRuns of them, every other one off the crop and showing black; other classes
// and share 0 pass unchanged, and share 0 draws nothing.
TEST(TrainPacking, FlickerSpansAlternateABallWithBlack) {
  std::mt19937_64 rng(5);
  const int64_t black = class_of_label("black");
  int64_t flickered = 0, many_runs = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const Stream stream = stream_with_segments(rng, 12);
    const auto spans = sampled_spans(stream, 1.0);
    std::mt19937_64 before = rng;
    EXPECT_EQ(flicker_spans(stream, spans, 1.0, 0.0, rng).size(), spans.size());
    EXPECT_TRUE(before == rng) << "share 0 drew from the generator";

    const auto pieces = flicker_spans(stream, spans, 1.0, 1.0, rng);
    size_t p = 0;
    for (const auto& span : spans) {
      const auto& cls = pattern_classes()[stream.segments[span.segment].cls];
      int64_t runs = 0, samples = 0, next_ns = span.first_ns, off = 0;
      while (p < pieces.size() && pieces[p].segment == span.segment) {
        const auto& piece = pieces[p++];
        EXPECT_NEAR(static_cast<double>(piece.first_ns), static_cast<double>(next_ns), 2.0);
        next_ns = piece.last_ns + 1000000000;
        samples += piece.samples;
        if (runs > 0) {
          EXPECT_NE(piece.off_crop, pieces[p - 2].off_crop) << "runs do not alternate";
        }
        off += piece.off_crop ? 1 : 0;
        EXPECT_EQ(shown_class(stream, piece),
                  piece.off_crop ? black : stream.segments[span.segment].cls);
        ++runs;
      }
      EXPECT_EQ(samples, span.samples);
      if (cls.moves && span.samples >= 2) {
        ++flickered;
        EXPECT_GE(runs, 2);
        EXPECT_LE(runs, std::min(kMaxFlickerRuns, span.samples));
        EXPECT_GE(off, 1) << "no run off the crop";
        EXPECT_GE(runs - off, 1) << "no run shows the ball";
        many_runs += runs - off > static_cast<int64_t>(kMaxClassRuns) ? 1 : 0;
      } else {
        EXPECT_EQ(runs, 1);
        EXPECT_EQ(off, 0);
      }
    }
    EXPECT_EQ(p, pieces.size());
  }
  EXPECT_GT(flickered, 30);
  EXPECT_GT(many_runs, 0) << "no ball showed in more runs than a class anchor holds";
}

// Split segments in a batch: more entries (the markers between them name a class each), and the
// packing still gives every answer row what a plain forward gives.
TEST(TrainPacking, SplitSegmentsStillPackExactly) {
  TinyTrainer t;
  auto marker_runs = [](const Batch& b) {
    auto m = b.marker_targets >= 0;
    const int64_t L = m.size(1);
    auto starts = m.narrow(1, 1, L - 1).logical_and(m.narrow(1, 0, L - 1).logical_not());
    return starts.sum().item<int64_t>() + m.select(1, 0).sum().item<int64_t>();
  };
  const Batch whole = t.batch(/*standing=*/2, /*exact=*/0, /*questions=*/4, /*segments=*/6, 13,
                              /*marker_targets=*/true, /*split_share=*/0.0);
  const Batch split = t.batch(2, 0, 4, 6, 13, true, /*split_share=*/1.0);
  EXPECT_GT(marker_runs(split), marker_runs(whole));
  expect_packing_exact(t.modules.llm, split);
}

}  // namespace
}  // namespace llamavid::world
