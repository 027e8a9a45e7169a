// llamavid-train: trains the shipped default model on the synthetic broadcast world.
//
//   llamavid-train corpus --out FILE [--seed S]
//       writes the text the tokenizers are trained on (make_tokenizers.py).
//   llamavid-train answers --out FILE
//       writes the answer words (class labels, yes, no), one per line, that the tokenizer makes
//       single pieces (make_tokenizers.py --answers).
//   llamavid-train train --work DIR --out DIR [--config FILE] [--seed S] [--steps N]
//                        [--vision-steps N] [--vision-lr X] [--threads N]
//                        [--checkpoint-every N]
//                        [--short-steps N] [--curriculum-steps N] [--min-segments N]
//                        [--max-segments N] [--long-streams N] [--long-segments N]
//                        [--frames-per-class N] [--streams N]
//                        [--questions N] [--exact-streams N] [--exact-questions N]
//                        [--lr X] [--decay-start N] [--decay-steps N]
//                        [--time-limit SECONDS] [--categories NAME,NAME...]
//                        [--category-shares NAME=X,...] [--marker-labels X] [--split-share X]
//                        [--flicker-share X] [--focus-streams N] [--focus-segments N]
//                        [--focus-categories NAME,NAME...] [--grow-from DIR]
//       DIR holds tokenizer.model and vocab.txt; the run keeps its frame bank, checkpoint and
//       loss log there and resumes from the checkpoint when one exists. Every checkpoint also
//       exports a model directory to --out.
//
// Phases: (1) the vision encoder learns to tell the pattern classes apart (cosine classifier on
// the mean feature, the same vector the memory merges alike frames by), which also yields the
// merge threshold; (2) with the encoder frozen and the bank's features cached, the token
// generator and the LLM learn to answer questions about memories of generated streams.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli_args.h"
#include "core/error.h"
#include "examples.h"
#include "frame_bank.h"
#include "grow.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "questions.h"
#include "text/prompt.h"
#include "train_state.h"
#include "world.h"

namespace fs = std::filesystem;
using namespace llamavid;
using namespace llamavid::world;

namespace {

struct Options {
  std::string command;
  std::string work, out, config = LLAMAVID_TRAIN_CONFIG;
  uint64_t seed = 1;
  int64_t steps = 20000;
  int64_t vision_steps = 1000;
  double vision_lr = 2e-3;
  int64_t threads = 1;
  int64_t checkpoint_every = 200;
  // Curriculum by memory entries: streams of 1-2 segments for the first short_steps (the model
  // must first find the visual tokens at all: with 3-10 entries from the start it never did),
  // then one segment more every 300 steps up to 10, then longer streams after curriculum_steps.
  int64_t short_steps = 600;
  int64_t curriculum_steps = 5000;
  int64_t max_segments = 60;
  int64_t min_segments = 1;
  // Of the standing streams, long_streams have max_segments+1 to long_segments segments whatever
  // the curriculum says (ExampleOptions::long_streams).
  int64_t long_streams = 0;
  int64_t long_segments = 40;
  int64_t frames_per_class = 24;
  // Per step: `streams` standing-mode streams, each one packed sequence of `questions` answers,
  // and `exact_streams` exact-mode streams of `exact_questions` sequences each.
  int64_t streams = 2;
  int64_t questions = 32;
  int64_t exact_streams = 0;
  int64_t exact_questions = 2;
  double lr = 1e-3;
  int64_t focus_streams = 0;
  int64_t focus_segments = 3;
  std::string focus_categories = "at,duration,describe";
  // Cosine decay of the rate to 5% over decay_steps from decay_start (0: constant rate). The
  // loss of a constant-rate run is a noisy plateau; annealing settles it into a minimum.
  int64_t decay_start = 0;
  int64_t decay_steps = 0;
  double time_limit_s = 0;  // 0: none
  std::string categories;   // comma-separated category names; empty: all
  // NAME=SHARE,...: how often each named category is drawn, over the defaults in train().
  // Once a category is learnt its questions teach little; the rest can have its share.
  std::string category_shares;
  // Weight of the auxiliary loss that makes each time marker name its entry's class
  // (Batch::marker_targets); 0: none.
  double marker_labels = 0;
  // Share of segments the memory holds as several entries (ExampleOptions::split_share).
  double split_share = 0;
  // Share of moving segments held as entries alternating with black (ExampleOptions).
  double flicker_share = 0;
  // A checkpoint of a shallower model that a new run (no checkpoint in --work) starts from
  // (grow.h); empty: from scratch.
  std::string grow_from;
};

const char* kUsage =
    "usage: llamavid-train corpus --out FILE [--seed S]\n"
    "       llamavid-train answers --out FILE\n"
    "       llamavid-train train --work DIR --out DIR [--config FILE] [--seed S]\n"
    "              [--steps N] [--vision-steps N] [--vision-lr X] [--threads N]\n"
    "              [--checkpoint-every N]\n"
    "              [--short-steps N] [--curriculum-steps N] [--min-segments N]\n"
    "              [--max-segments N] [--long-streams N] [--long-segments N]\n"
    "              [--frames-per-class N] [--streams N]\n"
    "              [--questions N] [--exact-streams N] [--exact-questions N]\n"
    "              [--lr X] [--decay-start N]\n"
    "              [--decay-steps N] [--time-limit SECONDS]\n"
    "              [--categories NAME,NAME...] [--category-shares NAME=X,...]\n"
    "              [--marker-labels X] [--split-share X] [--flicker-share X]\n"
    "              [--focus-streams N] [--focus-segments N]\n"
    "              [--focus-categories NAME,NAME...] [--grow-from DIR]\n"
    "\n"
    "Trains the shipped default model on the synthetic broadcast world: corpus and answers write\n"
    "what make_tokenizers.py trains the tokenizers on; train trains the model with them.\n"
    "\n"
    "corpus: writes the text the tokenizers are trained on (prompt texts, questions, answers).\n"
    "  --out FILE            the text file written (required)\n"
    "  --seed S              seed of the generated text (default 1)\n"
    "\n"
    "answers: writes the answer words (class labels, yes, no), one per line, that the tokenizer\n"
    "makes single pieces (make_tokenizers.py --answers).\n"
    "  --out FILE            the file written (required)\n"
    "\n"
    "train: phase 1 trains the vision encoder to tell the pattern classes apart, which also sets\n"
    "the merge threshold; phase 2, with the encoder frozen, trains the token generator and the\n"
    "LLM to answer questions about memories of generated streams. A checkpoint is written after\n"
    "phase 1, every --checkpoint-every steps and at the end; each exports the model to --out.\n"
    "  --work DIR            holds tokenizer.model and vocab.txt; the run keeps its frame bank\n"
    "                        (frame_bank.safetensors), checkpoint/ and loss.tsv there and\n"
    "                        resumes from checkpoint/ when it exists (required)\n"
    "  --out DIR             model directory each checkpoint exports: config.json,\n"
    "                        model.safetensors, tokenizer.model, vocab.txt (required)\n"
    "  --config FILE         model configuration, its vocabulary sizes taken from the tokenizers\n"
    "                        (default: tools/train/model_config.json of the source tree)\n"
    "  --seed S              seed of the initial weights and of the batches of both phases\n"
    "                        (default 1)\n"
    "  --steps N             phase 2 steps in all, resumed runs included (default 20000)\n"
    "  --vision-steps N      phase 1 steps, each on 64 frames of the frame bank (default 1000);\n"
    "                        raised on a run past phase 1, the encoder trains on from where\n"
    "                        it is (e.g. on a bank of more frame sizes), the features of the\n"
    "                        frames it already classifies right held where they are, then\n"
    "                        phase 2 goes on with the new features\n"
    "  --vision-lr X         phase 1 learning rate (AdamW; default 0.002)\n"
    "  --threads N           libtorch threads (default 1)\n"
    "  --checkpoint-every N  phase 2 steps between checkpoints (default 200)\n"
    "  --frames-per-class N  frames rendered of each pattern class at each training frame size;\n"
    "                        a bank in --work rendered with other sizes or counts is rendered\n"
    "                        again (default 24)\n"
    "  --streams N           standing-mode streams per step (context tokens from the standing\n"
    "                        prompt), each one packed sequence (default 2)\n"
    "  --questions N         questions per standing-mode stream (default 32)\n"
    "  --exact-streams N     exact-mode streams per step (context tokens from each question)\n"
    "                        (default 0)\n"
    "  --exact-questions N   questions per exact-mode stream, one sequence each (default 2)\n"
    "  --min-segments N      fewest segments (stretches of one pattern between cuts) of a\n"
    "                        stream (default 1)\n"
    "  --max-segments N      most segments of a stream, the cap of the curriculum (default 60)\n"
    "  --short-steps N       first steps, whose streams have at most 2 segments (default 600)\n"
    "  --curriculum-steps N  from --short-steps to this step the most segments grows from 3 by\n"
    "                        one every 300 steps up to 10; from this step on it is 10 plus 5\n"
    "                        every 500 steps (default 5000)\n"
    "  --long-streams N      the first N standing-mode streams of each step have more segments\n"
    "                        than the curriculum's current most, up to --long-segments\n"
    "                        (default 0)\n"
    "  --long-segments N     most segments of those long streams (default 40)\n"
    "  --lr X                phase 2 learning rate (AdamW), reached after a 200-step warm-up\n"
    "                        (default 0.001)\n"
    "  --decay-start N       step at which the cosine decay of the rate begins (default 0)\n"
    "  --decay-steps N       steps over which the rate decays to 5% of --lr, where it then\n"
    "                        stays (default 0: a constant rate)\n"
    "  --time-limit SECONDS  seconds this run may take, checked before each phase 2 step; once\n"
    "                        past, the run checkpoints and stops (default 0: no limit)\n"
    "  --categories LIST     NAME,NAME...: asks only questions of these categories, out of now,\n"
    "                        on-screen, at, order, presence, first, last, duration, count,\n"
    "                        describe, off-topic (default: all)\n"
    "  --category-shares LIST NAME=X,...: how often questions of the named categories are\n"
    "                        drawn, relative to the others' defaults (now 1, on-screen 1, at\n"
    "                        1.5, order 1.5, presence 1, first 1, last 1, duration 1, count 1,\n"
    "                        describe 1, off-topic 0.5); with --categories, only the\n"
    "                        categories it names may have a share above 0\n"
    "  --marker-labels X     weight of an auxiliary loss: every row of a time marker between\n"
    "                        two entries learns to name the class of the entry it follows, so\n"
    "                        that a question can find a marker by class (default 0: none)\n"
    "  --split-share X       share of segments held as 2 to 8 entries of consecutive samples\n"
    "                        instead of one, as the element holds a segment whose frames do\n"
    "                        not all merge (default 0: none)\n"
    "  --flicker-share X     share of moving segments (balls) held as 2 to 48 entries, every\n"
    "                        other one black, as the element holds a ball that leaves the\n"
    "                        centre crop; the answers still name the ball (default 0: none)\n"
    "  --focus-streams N     standing streams per step after the others, of 1 to\n"
    "                        --focus-segments segments, asking only --focus-categories: a\n"
    "                        per-category curriculum beside the mix (default 0)\n"
    "  --focus-segments N    most segments of a focus stream (default 3)\n"
    "  --focus-categories LIST NAME,NAME...: the categories focus streams ask, drawn by their\n"
    "                        shares; not order, which one segment cannot ask (default at,\n"
    "                        duration,describe)\n"
    "  --grow-from DIR       a new run (no checkpoint in --work yet) starts from the checkpoint\n"
    "                        in DIR, of a model whose decoder has a divisor of --config's\n"
    "                        layers: its layers are kept and new ones, adding nothing at first,\n"
    "                        go between them; the vision phase is not repeated (default: none)\n"
    "  -h, --help            this help\n"
    "\n"
    "Every command accepts every option and ignores those it does not list.\n";

const CliSpec kSpec = {{"work", "out", "config", "seed", "steps", "vision-steps", "vision-lr", "threads",
                        "checkpoint-every", "short-steps", "curriculum-steps", "max-segments",
                        "min-segments", "long-streams", "long-segments", "frames-per-class",
                        "streams", "questions", "exact-streams", "exact-questions", "lr",
                        "decay-start", "decay-steps", "time-limit", "categories",
                        "category-shares", "marker-labels", "split-share", "flicker-share",
                        "grow-from", "focus-streams", "focus-segments", "focus-categories"},
                       {},
                       {}};

Options parse(const CliArgs& args) {
  if (args.positional().size() != 1)
    throw UsageError(args.positional().empty() ? "no command" : "one command only");
  Options o;
  o.command = args.positional()[0];
  const auto count = [&](const char* name, int64_t& field) {
    field = static_cast<int64_t>(args.integer(name, static_cast<uint64_t>(field)));
  };
  o.work = args.value("work", o.work);
  o.out = args.value("out", o.out);
  o.config = args.value("config", o.config);
  o.seed = args.integer("seed", o.seed);
  count("steps", o.steps);
  count("vision-steps", o.vision_steps);
  o.vision_lr = args.number("vision-lr", o.vision_lr);
  if (!(o.vision_lr > 0 && o.vision_lr < 1)) throw UsageError("--vision-lr needs a rate in (0, 1)");
  count("threads", o.threads);
  count("checkpoint-every", o.checkpoint_every);
  count("short-steps", o.short_steps);
  count("curriculum-steps", o.curriculum_steps);
  count("max-segments", o.max_segments);
  count("long-streams", o.long_streams);
  count("long-segments", o.long_segments);
  count("min-segments", o.min_segments);
  count("frames-per-class", o.frames_per_class);
  count("streams", o.streams);
  count("questions", o.questions);
  count("exact-streams", o.exact_streams);
  count("exact-questions", o.exact_questions);
  o.lr = args.number("lr", o.lr);
  count("decay-start", o.decay_start);
  count("decay-steps", o.decay_steps);
  o.time_limit_s = args.number("time-limit", o.time_limit_s);
  o.categories = args.value("categories", o.categories);
  o.grow_from = args.value("grow-from", o.grow_from);
  o.category_shares = args.value("category-shares", o.category_shares);
  o.marker_labels = args.number("marker-labels", o.marker_labels);
  if (!(o.marker_labels >= 0 && o.marker_labels <= 100))
    throw UsageError("--marker-labels needs a weight from 0 to 100");
  o.split_share = args.number("split-share", o.split_share);
  if (!(o.split_share >= 0 && o.split_share <= 1))
    throw UsageError("--split-share needs a share from 0 to 1");
  o.flicker_share = args.number("flicker-share", o.flicker_share);
  if (!(o.flicker_share >= 0 && o.flicker_share <= 1))
    throw UsageError("--flicker-share needs a share from 0 to 1");
  count("focus-streams", o.focus_streams);
  count("focus-segments", o.focus_segments);
  o.focus_categories = args.value("focus-categories", o.focus_categories);
  if (o.focus_segments < 1) throw UsageError("--focus-segments must be at least 1");
  if (o.checkpoint_every < 1 || o.threads < 1)
    throw UsageError("--checkpoint-every and --threads must be at least 1");
  return o;
}

// The prompt texts the model reads (template, movie wrapper, markers) and every question and
// answer form, split where visual slots go, as the tokenizers will see them.
void write_corpus(const Options& o) {
  if (o.out.empty()) throw UsageError("corpus needs --out");
  std::mt19937_64 rng(o.seed);
  std::ofstream out(o.out);
  for (const auto& line : corpus_lines(rng, 3000)) out << line << "\n";
  for (int i = 0; i < 2000; ++i) {
    const Stream s = stream_with_segments(rng, 2 + static_cast<int64_t>(rng() % 30));
    FrameLayout layout;
    for (const auto& span : sampled_spans(s, 1.0))
      layout.text_after_frame.push_back(
          format_time_marker(TimeMarkers::Span, span.first_ns, span.last_ns));
    Question q;
    make_question(rng, static_cast<Category>(rng() % kNumCategories), s, 1.0, q);
    std::string text = build_prompt(q.text, PromptStyle::Movie, layout);
    size_t pos;
    while ((pos = text.find(kImagePlaceholder)) != std::string::npos) text.replace(pos, 7, "\n");
    out << text << "\n";
  }
}

void write_answers(const Options& o) {
  if (o.out.empty()) throw UsageError("answers needs --out");
  std::ofstream out(o.out);
  for (const auto& c : pattern_classes()) out << c.label << "\n";
  out << kYes << "\n" << kNo << "\n";
}

// Normal(0, 0.02) for matrices and learned embeddings/queries, ones for norm weights, zeros for
// biases: the usual transformer initialisation, seeded by the caller.
void init_parameters(const NamedTensors& params) {
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : params) {
    const bool is_bias = name.size() >= 4 && (name.compare(name.size() - 4, 4, "bias") == 0);
    if (is_bias) t.zero_();
    else if (t.dim() == 1) t.fill_(1.0);
    else t.normal_(0.0, 0.02);
  }
}

ModelConfig training_config(const Options& o, const SentencePieceTokenizer& sp,
                            const WordPieceTokenizer& wp, nlohmann::json& j) {
  std::ifstream in(o.config);
  if (!in) throw Error(o.config + ": cannot read the model configuration");
  j = nlohmann::json::parse(in);
  j["vocab_size"] = sp.vocab_size();
  j["qformer_config"]["vocab_size"] = wp.vocab_size();
  return parse_config(j.dump(), o.config);
}

void export_model(const Options& o, nlohmann::json config, const ModelModules& modules,
                  const Progress& p) {
  fs::create_directories(o.out);
  config["llamavid_merge_threshold"] = p.merge_threshold;
  std::ofstream((fs::path(o.out) / "config.json").string()) << config.dump(2) << "\n";
  NamedTensors tensors;
  for (const auto& [name, t] : modules.named_tensors()) tensors.emplace_back(name, t.detach());
  save_safetensors((fs::path(o.out) / "model.safetensors").string(), tensors,
                   {{"step", std::to_string(p.step)}, {"seed", std::to_string(o.seed)}});
  for (const char* f : {"tokenizer.model", "vocab.txt"})
    fs::copy_file(fs::path(o.work) / f, fs::path(o.out) / f, fs::copy_options::overwrite_existing);
}

// Cosine similarities of frame signatures to class mean signatures: the low end of those to the
// frame's own class and the high end of those to any other; the merge threshold lies between
// them. The ends are the 1st and 99th percentiles, not the extremes: a ball at the edge of the
// centre crop, a pixel or two at the largest frame sizes, is a black frame to any encoder.
double merge_threshold(const torch::Tensor& signatures, const FrameBank& bank) {
  auto sig = torch::nn::functional::normalize(signatures,
                                              torch::nn::functional::NormalizeFuncOptions().dim(1));
  std::vector<torch::Tensor> means;
  for (const auto& ids : bank.by_class)
    means.push_back(signatures.index({torch::tensor(ids, torch::kInt64)}).mean(0));
  auto m = torch::nn::functional::normalize(torch::stack(means),
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto cos = sig.matmul(m.t());  // [N, classes]
  auto own = cos.gather(1, bank.labels.unsqueeze(1)).squeeze(1);
  auto other = cos.scatter(1, bank.labels.unsqueeze(1), -2.0).amax(1);
  const double within = torch::quantile(own, 0.01).item<double>();
  const double across = torch::quantile(other, 0.99).item<double>();
  std::printf("merge threshold: own-class cosine >= %.4f, other-class cosine <= %.4f for 99 %% "
              "of the frames (extremes %.4f, %.4f)\n",
              within, across, own.min().item<double>(), other.max().item<double>());
  if (within <= across) std::printf("warning: the classes are not separable by cosine yet\n");
  return std::min(0.999, (within + across) / 2);
}

// The most segments a training stream has at `step` (see Options::short_steps).
int64_t curriculum_segments(const Options& o, int64_t step) {
  if (step < o.short_steps) return std::min<int64_t>(o.max_segments, 2);
  if (step < o.curriculum_steps)
    return std::min<int64_t>(o.max_segments, std::min<int64_t>(10, 3 + (step - o.short_steps) / 300));
  return std::min(o.max_segments, 10 + 5 * ((step - o.curriculum_steps) / 500));
}

// The rate at `step`: a 200-step warm-up, the rate set, then the cosine decay if one is set.
double learning_rate(const Options& o, int64_t step) {
  double rate = o.lr * std::min(1.0, (step + 1) / 200.0);
  if (o.decay_steps > 0 && step >= o.decay_start) {
    const double done = std::min(1.0, static_cast<double>(step - o.decay_start) / o.decay_steps);
    rate *= 0.05 + 0.95 * 0.5 * (1.0 + std::cos(M_PI * done));
  }
  return rate;
}

struct Clock {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// Each step allocates and frees the same few hundred MB of activations. glibc's defaults give
// blocks this large back to the kernel at once (mmap, trimming), so every step faults all its
// pages in again: about a third of a step's time, measured with perf. Keeping freed memory in
// the heap (no mmap, no trimming) makes the next step reuse it.
void keep_freed_memory() {
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  mallopt(M_TOP_PAD, 64 << 20);
}

// `share` kept for the categories a NAME,NAME... list names and 0 for the others; a name that
// is no category, or is `refused`, is an error of `option`.
std::vector<double> named_shares(const std::string& names, const std::vector<double>& share,
                                 const std::string& option, const Category* refused) {
  std::vector<double> out(share.size(), 0.0);
  std::stringstream list(names);
  for (std::string name; std::getline(list, name, ',');) {
    Category c;
    if (!category_from_name(name, c) || (refused && c == *refused))
      throw UsageError(option + ": '" + name + "' is not a category it takes");
    out[static_cast<size_t>(c)] = share[static_cast<size_t>(c)];
  }
  return out;
}

// What the examples of a run draw, from the command line; a bad list is a usage error here,
// before the frame bank is rendered or a step taken.
ExampleOptions example_options(const Options& o) {
  ExampleOptions eo;
  eo.streams = o.streams;
  eo.questions_per_stream = o.questions;
  eo.exact_streams = o.exact_streams;
  eo.exact_questions = o.exact_questions;
  eo.min_segments = o.min_segments;
  eo.long_streams = o.long_streams;
  eo.long_segments = o.long_segments;
  eo.marker_targets = o.marker_labels > 0;
  eo.split_share = o.split_share;
  eo.flicker_share = o.flicker_share;
  // Hard categories weigh more; off-topic questions are fewer. In Category's order: now,
  // on-screen, at, order, presence, first, last, duration, count, describe, off-topic.
  eo.category_weight = {1.0, 1.0, 2.0, 2.0, 1.0, 2.0, 2.0, 2.0, 2.0, 1.5, 0.5};
  eo.category_share = {1.0, 1.0, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5};
  static_assert(kNumCategories == 11, "one weight and share per category");
  if (!o.categories.empty())
    eo.category_share = named_shares(o.categories, eo.category_share, "--categories", nullptr);
  const std::vector<double> named = eo.category_share;  // what --categories leaves in
  std::stringstream shares(o.category_shares);
  for (std::string item; std::getline(shares, item, ',');) {
    const size_t eq = item.find('=');
    Category c;
    if (eq == std::string::npos || !category_from_name(item.substr(0, eq), c))
      throw UsageError("--category-shares wants NAME=X, not '" + item + "'");
    char* end = nullptr;
    const double x = std::strtod(item.c_str() + eq + 1, &end);
    if (*end != '\0' || !(x >= 0.0 && x <= 1000.0))
      throw UsageError("--category-shares: '" + item + "' needs a share from 0 to 1000");
    // A share would silently ask again what --categories left out.
    if (x > 0.0 && named[static_cast<int>(c)] == 0.0)
      throw UsageError("--category-shares: '" + item +
                       "' names a category --categories leaves out");
    eo.category_share[static_cast<int>(c)] = x;
  }

  eo.focus_streams = o.focus_streams;
  eo.focus_segments = o.focus_segments;
  const Category order = Category::Order;  // one segment cannot ask it
  eo.focus_share =
      named_shares(o.focus_categories, eo.category_share, "--focus-categories", &order);
  if (o.focus_streams > 0 &&
      std::all_of(eo.focus_share.begin(), eo.focus_share.end(), [](double x) { return x == 0; }))
    throw UsageError("--focus-categories names no category with a share above 0");
  return eo;
}

// Weight of the kept frames' feature error beside the classifier's loss in a continued vision
// phase. Set, not tuned: with it, the decoder's loss right after 600 encoder steps was where it
// had been before them (models/default/README.md, "The encoder run").
constexpr double kKeepFeaturesWeight = 4.0;

// The encoder's features of every bank frame [N, M, Cv], in chunks of 256 frames.
torch::Tensor bank_features(ModelModules& modules, const FrameBank& bank) {
  torch::NoGradGuard no_grad;
  const int64_t n = bank.pixels.size(0);
  std::vector<torch::Tensor> chunks;
  for (int64_t i = 0; i < n; i += 256)
    chunks.push_back(
        modules.vision->forward(bank.pixels.narrow(0, i, std::min<int64_t>(256, n - i))));
  return torch::cat(chunks);
}

// Phase 1: the vision encoder as a cosine classifier of its mean feature, `head` holding the
// class directions. Continued after phase 2 has begun (the decoder has learnt this encoder's
// features), it also holds the features of every bank frame the encoder already classifies
// right where they were, so that only the frames it gets wrong (e.g. of frame sizes added to
// the bank) move and the decoder stays valid.
void train_vision(const Options& o, ModelModules& modules, torch::Tensor& head,
                  const FrameBank& bank, Progress& progress) {
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  const int64_t N = bank.labels.size(0);
  torch::Tensor kept_features, kept;  // [N, M, Cv] and [N] bool, when continuing
  if (progress.step > 0) {
    torch::NoGradGuard no_grad;
    modules.vision->eval();
    kept_features = bank_features(modules, bank);
    auto cos = F::normalize(kept_features.mean(1), unit).matmul(F::normalize(head, unit).t());
    kept = cos.argmax(1).eq(bank.labels);
    std::printf("vision phase continued: %lld of %lld bank frames already classified right\n",
                static_cast<long long>(kept.sum().item<int64_t>()), static_cast<long long>(N));
  }
  head.set_requires_grad(true);
  std::vector<torch::Tensor> params = modules.vision->parameters();
  params.push_back(head);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.vision_lr).weight_decay(0.01));
  modules.vision->train();
  for (; progress.vision_step < o.vision_steps; ++progress.vision_step) {
    std::mt19937_64 rng(o.seed * 1000003 + static_cast<uint64_t>(progress.vision_step));
    std::vector<int64_t> ids;
    for (int i = 0; i < 64; ++i) ids.push_back(static_cast<int64_t>(rng() % N));
    auto idx = torch::tensor(ids, torch::kInt64);
    auto features = modules.vision->forward(bank.pixels.index({idx}));  // [B, M, Cv]
    auto cos = F::normalize(features.mean(1), unit).matmul(F::normalize(head, unit).t());
    // An additive cosine margin (CosFace) pulls each class together and pushes the others
    // away, so that one cosine threshold tells alike frames from a cut.
    auto labels = bank.labels.index({idx});
    auto margin = torch::zeros_like(cos).scatter_(1, labels.unsqueeze(1), 0.4);
    auto loss = F::cross_entropy((cos - margin) * 16.0, labels);
    if (kept.defined()) {
      // Squared error relative to the features' own power, over the kept frames of the batch.
      auto mask = kept.index({idx});
      auto target = kept_features.index({idx});
      auto err = (features - target).pow(2).mean({1, 2}) / target.pow(2).mean({1, 2});
      loss = loss + kKeepFeaturesWeight * (err * mask).sum() / mask.sum().clamp_min(1);
    }
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (progress.vision_step % 50 == 0)
      std::printf("vision step %lld loss %.4f\n", static_cast<long long>(progress.vision_step),
                  loss.item<double>());
  }
  head.set_requires_grad(false);
}

void train(const Options& o) {
  if (o.work.empty() || o.out.empty()) throw UsageError("train needs --work and --out");
  ExampleOptions eo = example_options(o);
  keep_freed_memory();
  torch::set_num_threads(static_cast<int>(o.threads));
  torch::manual_seed(o.seed);
  const fs::path work(o.work);
  SentencePieceTokenizer sp((work / "tokenizer.model").string());
  WordPieceTokenizer wp((work / "vocab.txt").string());
  nlohmann::json config_json;
  const ModelConfig config = training_config(o, sp, wp, config_json);
  ModelModules modules(config, /*num_query=*/4, torch::TensorOptions().dtype(torch::kFloat32));
  auto head = torch::empty({num_classes(), config.vision.hidden_size});
  NamedTensors all = modules.named_tensors();
  init_parameters(all);
  {
    torch::NoGradGuard no_grad;
    head.normal_(0.0, 0.02);
  }
  all.emplace_back("train.vision_head", head);
  const std::string ckpt = (work / "checkpoint").string();

  Progress progress;
  if (has_checkpoint(ckpt)) {
    progress = load_checkpoint(ckpt, all, nullptr);
    std::printf("resuming: vision step %lld, step %lld\n",
                static_cast<long long>(progress.vision_step), static_cast<long long>(progress.step));
  } else if (!o.grow_from.empty()) {
    progress = grow_from_checkpoint(o.grow_from, all);
    // The source's decoder learnt the source encoder's features and merge threshold: a grown
    // run keeps both, even where the source stopped its vision phase short of --vision-steps.
    progress.vision_step = std::max(progress.vision_step, o.vision_steps);
    std::printf("grown from %s (vision step %lld)\n", o.grow_from.c_str(),
                static_cast<long long>(progress.vision_step));
  }
  Clock clock;
  const double elapsed_before = progress.elapsed_s;
  auto out_of_time = [&] { return o.time_limit_s > 0 && clock.seconds() > o.time_limit_s; };

  FrameBank bank = load_or_render_frame_bank(config.vision.image_size, config.frame_fit,
                                             o.frames_per_class,
                                             (work / "frame_bank.safetensors").string());
  std::printf("frame bank: %lld frames\n", static_cast<long long>(bank.labels.size(0)));

  // Phase 1, or its continuation (--vision-steps raised) once phase 2 has begun.
  const bool encoder_tuned = progress.vision_step < o.vision_steps;
  if (encoder_tuned) train_vision(o, modules, head, bank, progress);
  modules.vision->eval();
  for (auto& p : modules.vision->parameters()) p.set_requires_grad(false);

  // Cached features of every bank frame (the encoder is frozen from here on).
  const torch::Tensor features = bank_features(modules, bank);
  progress.merge_threshold = merge_threshold(features.mean(1), bank);

  // Phase 2: token generator and LLM.
  std::vector<torch::Tensor> params = modules.tokens->parameters();
  for (const auto& p : modules.llm->parameters()) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(o.lr).weight_decay(0.01));
  if (has_checkpoint(ckpt) && progress.step > 0) load_optimizer(ckpt, opt);
  modules.tokens->train();
  modules.llm->train();

  ExampleSource src{&modules, &sp, &wp, &config, features, &bank.by_class};

  std::ofstream log((work / "loss.tsv").string(), std::ios::app);
  int64_t saved_at = -1;  // the step of this run's last checkpoint
  auto checkpoint = [&] {
    saved_at = progress.step;
    progress.elapsed_s = elapsed_before + clock.seconds();
    save_checkpoint(ckpt, all, &opt, progress);
    export_model(o, config_json, modules, progress);
    std::printf("checkpoint at step %lld (%.0f s of training)\n",
                static_cast<long long>(progress.step), progress.elapsed_s);
    std::fflush(stdout);
  };
  if (progress.step == 0 || encoder_tuned) checkpoint();  // vision phase and threshold are kept

  std::vector<double> cat_sum(kNumCategories, 0.0);
  std::vector<int64_t> cat_n(kNumCategories, 0);
  double loss_sum = 0, marker_sum = 0;
  int64_t loss_n = 0;
  double batch_s = 0;  // time spent making batches (the rest is the LLM's forward and backward)
  const int64_t log_every = 20;
  while (progress.step < o.steps && !out_of_time()) {
    std::mt19937_64 rng(o.seed * 7919 + static_cast<uint64_t>(progress.step) * 104729 + 17);
    eo.max_segments = std::max(eo.min_segments, curriculum_segments(o, progress.step));
    const double lr = learning_rate(o, progress.step);
    for (auto& g : opt.param_groups())
      static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

    Clock batch_clock;
    Batch batch = make_batch(src, eo, rng);
    batch_s += batch_clock.seconds();
    auto logits = modules.llm->forward(batch.embeds, batch.positions, batch.allowed);
    auto losses = question_losses(logits, batch);  // [Q]
    auto loss = (losses * batch.question_weights).sum() / batch.question_weights.sum();
    if (eo.marker_targets) {
      auto aux = marker_loss(logits, batch);
      marker_sum += aux.item<double>();
      loss = loss + o.marker_labels * aux;
    }
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
    ++progress.step;

    auto l = losses.detach();
    for (size_t b = 0; b < batch.categories.size(); ++b) {
      cat_sum[static_cast<int>(batch.categories[b])] += l[static_cast<int64_t>(b)].item<double>();
      ++cat_n[static_cast<int>(batch.categories[b])];
    }
    loss_sum += l.mean().item<double>();
    ++loss_n;
    if (progress.step % log_every == 0) {
      std::ostringstream line;
      line << progress.step << "\t" << loss_sum / loss_n << "\t" << eo.max_segments << "\t"
           << static_cast<int64_t>(elapsed_before + clock.seconds()) << "\t"
           << "batch_s=" << batch_s / loss_n;
      for (int c = 0; c < kNumCategories; ++c)
        line << "\t" << category_name(static_cast<Category>(c)) << "="
             << (cat_n[c] ? cat_sum[c] / cat_n[c] : 0.0);
      if (eo.marker_targets) line << "\tmarker=" << marker_sum / loss_n;
      log << line.str() << "\n";
      log.flush();
      std::printf("step %s\n", line.str().c_str());
      std::fflush(stdout);
      std::fill(cat_sum.begin(), cat_sum.end(), 0.0);
      std::fill(cat_n.begin(), cat_n.end(), 0);
      loss_sum = 0;
      marker_sum = 0;
      loss_n = 0;
      batch_s = 0;
    }
    if (progress.step % o.checkpoint_every == 0) checkpoint();
  }
  if (saved_at != progress.step) checkpoint();
}

}  // namespace

int main(int argc, char** argv) {
  return tool_main("llamavid-train", kUsage, argc, argv, kSpec, [](const CliArgs& args) {
    const Options o = parse(args);
    if (o.command == "corpus")
      write_corpus(o);
    else if (o.command == "answers")
      write_answers(o);
    else if (o.command == "train")
      train(o);
    else
      throw UsageError("unknown command " + o.command);
    return 0;
  });
}
