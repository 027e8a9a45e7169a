// SentencePieceTokenizer: parity with python3-sentencepiece on a tiny LLaMA-style model trained
// at test time, the real LLaMA tokenizer's known encodings, decoding, streaming and errors.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "core/default_model.h"
#include "core/error.h"
#include "test_util.h"
#include "text/prompt.h"
#include "text/sentencepiece_tokenizer.h"

using namespace llamavid;
using nlohmann::json;

namespace {

// Texts whose encoding must match python3-sentencepiece (ids, then decode back).
const std::vector<std::string> kTexts = {
    "Hello world",
    "What is happening in this video?",
    "  leading and trailing spaces  ",
    " one leading space",
    "Héllo Wörld, café crème brûlée",
    "a\u0301 combining accent",
    "今天天气很好，我们去公园散步。",
    "東京タワー and 한국어",
    "emoji 🎬🙂 at the end 👍",
    "line one\nline two\n",
    "\n",
    "\ttab\tseparated",
    "digits 12345 and [01:23:45]",
    "</s> <s> <unk> as plain text",
    "a\u2581b written with the space symbol",
    "",
};

// Texts for tokenize_with_images: no image, one, adjacent, at start/end, text between.
const std::vector<std::string> kImageTexts = {
    "no image at all",
    "<image>\nWhat is happening in this video?",
    "USER: <image>\nWhat is this? ASSISTANT:",
    "<image><image>",
    "<image>",
    "text before<image>",
    "<image>text after",
    "a <image> b <image><image> c",
    "start.<image><image>[00:00:01]<image><image>[00:00:02]Now the movie end.\nWho?",
    "",
};

// Raw byte strings (hex), several not valid UTF-8: truncated, stray, surrogate, overlong, too big.
const std::vector<std::string> kHexTexts = {"6162ff6364", "e282", "41eda08042", "c0af",
                                            "f4908080", "e282ac", "2020", "f09f8eac0a", "ff"};

std::vector<std::string> corpus_lines() {
  std::ifstream in(test::source_dir() + "/golden/spm_corpus.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Id lists for decode: control, unknown and byte pieces (ids 0..258 in both models) mixed with
// any piece, drawn with a fixed seed.
std::vector<std::vector<int64_t>> decode_cases(int64_t vocab_size) {
  std::mt19937 rng(2024);
  std::vector<std::vector<int64_t>> cases;
  for (int n = 0; n < 300; ++n) {
    std::vector<int64_t> ids(1 + rng() % 10);
    for (int64_t& id : ids) {
      const unsigned kind = rng() % 6;
      id = kind < 2 ? 3 + rng() % 256 : kind == 2 ? rng() % 3 : rng() % vocab_size;
    }
    cases.push_back(ids);
  }
  return cases;
}

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

// Runs python3-sentencepiece on `model` for the given texts; returns its golden.json.
json python_goldens(const std::string& model, const std::string& dir,
                    const std::vector<std::string>& texts, int64_t vocab_size) {
  json strings = {{"encode", texts},
                  {"encode_hex", kHexTexts},
                  {"decode", decode_cases(vocab_size)},
                  {"images", kImageTexts}};
  test::write_file(dir + "/strings.json", strings.dump());
  test::run_python("sentencepiece_golden.py", "golden " + model + " " + dir + "/strings.json " +
                                                  dir + "/golden.json");
  std::ifstream in(dir + "/golden.json");
  return in ? json::parse(in) : json();
}

std::vector<int64_t> ids_of(const json& j) { return j.get<std::vector<int64_t>>(); }

// Checks every golden of `g` against `tokenizer`, and that decode(encode(text)) gives the text.
void expect_goldens(const SentencePieceTokenizer& tokenizer, const json& g) {
  EXPECT_EQ(tokenizer.vocab_size(), g["vocab_size"].get<int64_t>());
  EXPECT_EQ(tokenizer.bos_id(), g["bos"].get<int64_t>());
  EXPECT_EQ(tokenizer.eos_id(), g["eos"].get<int64_t>());
  EXPECT_EQ(tokenizer.unk_id(), g["unk"].get<int64_t>());
  for (const json& c : g["encode"]) {
    const std::string text = c["text"];
    const std::vector<int64_t> ids = tokenizer.encode(text);
    EXPECT_EQ(ids, ids_of(c["ids"])) << "encode: " << text;
    for (size_t i = 0; i < ids.size() && i < c["pieces"].size(); ++i) {
      EXPECT_EQ(tokenizer.id_to_piece(ids[i]), c["pieces"][i].get<std::string>());
    }
    EXPECT_EQ(tokenizer.decode(ids_of(c["ids"])), c["decoded"].get<std::string>())
        << "decode of: " << text;
    // A literal "▁" is a space to SentencePiece, so only texts without it come back as is.
    if (text.find("\u2581") == std::string::npos) {
      EXPECT_EQ(tokenizer.decode(ids), text);
    }
  }
  for (const json& c : g["encode_hex"]) {
    EXPECT_EQ(tokenizer.encode(hex_to_bytes(c["hex"])), ids_of(c["ids"]))
        << "encode of bytes " << c["hex"].get<std::string>();
  }
  for (const json& c : g["decode"]) {
    EXPECT_EQ(tokenizer.decode(ids_of(c["ids"])), c["text"].get<std::string>())
        << "decode of " << c["ids"].dump();
  }
  for (const json& c : g["images"]) {
    const std::string text = c["text"];
    EXPECT_EQ(tokenize_with_images(tokenizer, text), ids_of(c["ids"])) << "images: " << text;
  }
}

// Trains the tiny model and writes the Python goldens once for the whole suite.
class TinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::scratch_dir("sentencepiece");
    test::run_python("sentencepiece_golden.py", "train " + test::source_dir() +
                                                    "/golden/spm_corpus.txt " + model_path());
  }

  void SetUp() override {
    tokenizer_ = std::make_unique<SentencePieceTokenizer>(model_path());
  }

  static std::string model_path() { return dir_ + "/tiny.model"; }

  static std::string dir_;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
};

std::string TinyModel::dir_;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string llama_model_path() {
  const std::string data = test::shared_data_dir();
  return data.empty() ? "" : data + "/llama2-tokenizer/tokenizer.model";
}

std::unique_ptr<SentencePieceTokenizer> llama_tokenizer() {
  const std::string path = llama_model_path();
  return path.empty() ? nullptr : std::make_unique<SentencePieceTokenizer>(path);
}

#define SKIP_WITHOUT_LLAMA(tok)                                                        \
  if (!(tok)) GTEST_SKIP() << "../shared/data is absent: the real LLaMA tokenizer.model " \
                              "is needed for this test"

}  // namespace

// Encode, decode, pieces and image splicing match python3-sentencepiece on the tiny model,
// for the test texts and every corpus line; decode(encode(text)) gives the text back.
TEST_F(TinyModel, MatchesPython) {
  std::vector<std::string> texts = kTexts;
  for (const std::string& line : corpus_lines()) texts.push_back(line);
  const json g = python_goldens(model_path(), dir_, texts, tokenizer_->vocab_size());
  ASSERT_FALSE(g.is_null()) << "the reference script wrote no golden.json in " << dir_;
  ASSERT_EQ(g["encode"].size(), texts.size());
  ASSERT_EQ(g["images"].size(), kImageTexts.size());
  expect_goldens(*tokenizer_, g);
}

// The shipped default model's tokenizer (answer words as single pieces that hold "▁" inside,
// whole-number pieces) encodes questions, answers and prompts as python3-sentencepiece does.
TEST(DefaultModelTokenizer, MatchesPython) {
  const std::string model = default_model_dir() + "/tokenizer.model";
  const std::string dir = test::scratch_dir("spm_default");
  SentencePieceTokenizer tokenizer(model);
  std::vector<std::string> texts = kTexts;
  for (const char* label : {"red ball", "white ball", "white", "zone-plate", "smpte75", "yes",
                            "no", "checkers", "pinwheel"}) {
    const std::string l = label;
    for (const std::string& t :
         {l, "Did " + l + " appear?", "What came before " + l + "?", "snow, " + l + ", black",
          l + " ball", "When did " + l + " first appear? ASSISTANT: 00:01:02",
          "[00:00:03-00:12:59, 00:12:56]" + l + "Now the movie end.\nHow many times did " + l +
              " appear?"})
      texts.push_back(t);
  }
  const json g = python_goldens(model, dir, texts, tokenizer.vocab_size());
  ASSERT_FALSE(g.is_null()) << "the reference script wrote no golden.json in " << dir;
  ASSERT_EQ(g["encode"].size(), texts.size());
  expect_goldens(tokenizer, g);
}

// Adjacent "<image>" give consecutive -200 with one BOS in front and nothing between.
TEST_F(TinyModel, AdjacentImagesAreConsecutive) {
  const std::vector<int64_t> expected = {tokenizer_->bos_id(), kImageTokenIndex,
                                         kImageTokenIndex};
  EXPECT_EQ(tokenize_with_images(*tokenizer_, "<image><image>"), expected);
}

// decode drops BOS and EOS, as a generated answer should read.
TEST_F(TinyModel, DecodeSkipsBosEos) {
  std::vector<int64_t> ids = tokenizer_->encode("Hello world");
  const std::string plain = tokenizer_->decode(ids);
  ids.insert(ids.begin(), tokenizer_->bos_id());
  ids.push_back(tokenizer_->eos_id());
  EXPECT_EQ(tokenizer_->decode(ids), plain);
}

// Ids outside the vocabulary are an error naming the id, not a crash.
TEST_F(TinyModel, OutOfRangeIdThrows) {
  const int64_t bad = tokenizer_->vocab_size();
  EXPECT_NE(error_of([&] { tokenizer_->decode({bad}); }).find(std::to_string(bad)),
            std::string::npos);
  EXPECT_THROW(tokenizer_->id_to_piece(-1), Error);
  EXPECT_THROW(tokenizer_->decode({kImageTokenIndex}), Error);
}

// Byte-fallback pieces decode to the characters they spell: the text comes back whole.
TEST_F(TinyModel, DecodeJoinsByteFallbackCharacters) {
  const std::string text = "emoji 🎬🙂 and café, done";
  EXPECT_EQ(tokenizer_->decode(tokenizer_->encode(text)), text);
}

// The 4-byte emoji appears once its last byte piece is there; before, each byte of the
// unfinished character reads as U+FFFD.
TEST_F(TinyModel, DecodeShowsCharacterWhenComplete) {
  std::vector<int64_t> ids = tokenizer_->encode("🎬");
  // Dummy-prefix piece, then the emoji's 4 byte pieces (it is not in the training corpus).
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(tokenizer_->decode(ids), "🎬");
  ids.pop_back();
  EXPECT_EQ(tokenizer_->decode(ids), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

// A missing model file is an Error naming the path.
TEST(SentencePiece, MissingFileThrows) {
  const std::string path = test::scratch_dir("sentencepiece_missing") + "/nope.model";
  const std::string message = error_of([&] { SentencePieceTokenizer tokenizer(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// A corrupt model file is an Error naming the path.
TEST(SentencePiece, CorruptFileThrows) {
  const std::string path = test::scratch_dir("sentencepiece_corrupt") + "/corrupt.model";
  test::write_file(path, "this is not a sentencepiece model\n");
  const std::string message = error_of([&] { SentencePieceTokenizer tokenizer(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// A model file cut short is an Error naming the path, not a crash.
TEST_F(TinyModel, TruncatedFileThrows) {
  const std::string bytes = test::read_file(model_path());
  const std::string path = test::scratch_dir("sentencepiece_truncated") + "/cut.model";
  test::write_file(path, bytes.substr(0, bytes.size() / 2));
  const std::string message = error_of([&] { SentencePieceTokenizer tokenizer(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// A model that is not LLaMA-style (spm_train defaults: unigram, NFKC) is refused clearly.
TEST(SentencePiece, UnsupportedModelThrows) {
  const std::string path = test::scratch_dir("sentencepiece_unigram") + "/unigram.model";
  test::run_python("sentencepiece_golden.py",
                   "train_unigram " + test::source_dir() + "/golden/spm_corpus.txt " + path);
  const std::string message = error_of([&] { SentencePieceTokenizer tokenizer(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("not supported"), std::string::npos) << message;
}

// The real LLaMA tokenizer matches python3-sentencepiece on the test texts, the corpus lines,
// invalid UTF-8, random id lists and image splicing.
TEST(LlamaTokenizer, MatchesPython) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  std::vector<std::string> texts = kTexts;
  for (const std::string& line : corpus_lines()) texts.push_back(line);
  const std::string dir = test::scratch_dir("sentencepiece_llama");
  const json g = python_goldens(llama_model_path(), dir, texts, tok->vocab_size());
  ASSERT_FALSE(g.is_null()) << "the reference script wrote no golden.json in " << dir;
  expect_goldens(*tok, g);
}

// The real LLaMA tokenizer: vocabulary and special ids of the released checkpoints.
TEST(LlamaTokenizer, SpecialIds) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->unk_id(), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->id_to_piece(13), "<0x0A>");
}

// The real LLaMA tokenizer: the known encodings of data/README.md.
TEST(LlamaTokenizer, KnownEncodings) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  EXPECT_EQ(tok->encode("\n"), (std::vector<int64_t>{29871, 13}));
  EXPECT_EQ(tok->encode("A chat between a curious user and an artificial intelligence "
                        "assistant. USER:"),
            (std::vector<int64_t>{319, 13563, 1546, 263, 12758, 1404, 322, 385, 23116, 21082,
                                  20255, 29889, 3148, 1001, 29901}));
}

// The real LLaMA tokenizer: a chunk after "<image>" starts with the dummy-prefix piece 29871.
TEST(LlamaTokenizer, ImageChunkKeepsDummyPrefix) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  // Values from python3-sentencepiece on the same model: "\nWhat is happening?" after the slot.
  EXPECT_EQ(tokenize_with_images(*tok, "<image>\nWhat is happening?"),
            (std::vector<int64_t>{1, -200, 29871, 13, 5618, 338, 10464, 29973}));
}

// The real LLaMA tokenizer: the byte pieces of an emoji decode to the emoji, and an answer cut
// inside it shows U+FFFD for each byte it has.
TEST(LlamaTokenizer, DecodesEmojiBytes) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  // "café 🎬" = ▁c afé ▁ <0xF0> <0x9F> <0x8E> <0xAC>
  std::vector<int64_t> ids = {274, 28059, 29871, 243, 162, 145, 175};
  EXPECT_EQ(tok->encode("café 🎬"), ids);
  EXPECT_EQ(tok->decode(ids), "café 🎬");
  ids.pop_back();
  EXPECT_EQ(tok->decode(ids), "café \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}
