// SentencePieceTokenizer: parity with python3-sentencepiece on a tiny LLaMA-style model trained
// at test time, the real LLaMA tokenizer's known encodings, decoding, streaming and errors.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "error.h"
#include "prompt.h"
#include "sentencepiece_tokenizer.h"
#include "test_util.h"

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

std::string model_path_in(const std::string& dir) { return dir + "/tiny.model"; }

// Trains the tiny model and writes the Python goldens once for the whole suite.
class TinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::scratch_dir("sentencepiece");
    json strings = {{"encode", kTexts}, {"images", kImageTexts}};
    test::write_file(dir_ + "/strings.json", strings.dump());
    test::run_python("sentencepiece_golden.py",
                     test::source_dir() + "/golden/spm_corpus.txt " + dir_ + "/strings.json " +
                         dir_);
    std::ifstream in(dir_ + "/golden.json");
    if (in) golden_ = json::parse(in);
  }

  void SetUp() override {
    ASSERT_FALSE(golden_.is_null()) << "the reference script wrote no golden.json in " << dir_;
    tokenizer_ = std::make_unique<SentencePieceTokenizer>(model_path_in(dir_));
  }

  static std::string dir_;
  static json golden_;
  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
};

std::string TinyModel::dir_;
json TinyModel::golden_;

std::vector<int64_t> ids_of(const json& j) { return j.get<std::vector<int64_t>>(); }

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::unique_ptr<SentencePieceTokenizer> llama_tokenizer() {
  const std::string data = test::shared_data_dir();
  if (data.empty()) return nullptr;
  return std::make_unique<SentencePieceTokenizer>(data + "/llama2-tokenizer/tokenizer.model");
}

#define SKIP_WITHOUT_LLAMA(tok)                                                        \
  if (!(tok)) GTEST_SKIP() << "../shared/data is absent: the real LLaMA tokenizer.model " \
                              "is needed for this test"

}  // namespace

// Vocabulary size and special ids match the Python processor.
TEST_F(TinyModel, SpecialIds) {
  EXPECT_EQ(tokenizer_->vocab_size(), golden_["vocab_size"].get<int64_t>());
  EXPECT_EQ(tokenizer_->bos_id(), golden_["bos"].get<int64_t>());
  EXPECT_EQ(tokenizer_->eos_id(), golden_["eos"].get<int64_t>());
  EXPECT_EQ(tokenizer_->unk_id(), golden_["unk"].get<int64_t>());
}

// encode gives python3-sentencepiece's ids for every text (no BOS, dummy prefix).
TEST_F(TinyModel, EncodeMatchesPython) {
  ASSERT_EQ(golden_["encode"].size(), kTexts.size());
  for (const json& g : golden_["encode"]) {
    const std::string text = g["text"];
    EXPECT_EQ(tokenizer_->encode(text), ids_of(g["ids"])) << "text: " << text;
  }
}

// id_to_piece gives python3-sentencepiece's pieces.
TEST_F(TinyModel, PiecesMatchPython) {
  for (const json& g : golden_["encode"]) {
    const std::vector<int64_t> ids = ids_of(g["ids"]);
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(tokenizer_->id_to_piece(ids[i]), g["pieces"][i].get<std::string>())
          << "text: " << g["text"].get<std::string>();
    }
  }
}

// decode matches Python and gives back the original text (byte fallback loses nothing).
TEST_F(TinyModel, DecodeRoundTrip) {
  for (const json& g : golden_["encode"]) {
    const std::string text = g["text"];
    const std::string decoded = tokenizer_->decode(ids_of(g["ids"]));
    EXPECT_EQ(decoded, g["decoded"].get<std::string>()) << "text: " << text;
    EXPECT_EQ(decoded, text);
  }
}

// tokenize_with_images matches LLaVA's tokenizer_image_token written in Python.
TEST_F(TinyModel, ImageSplicingMatchesPython) {
  ASSERT_EQ(golden_["images"].size(), kImageTexts.size());
  for (const json& g : golden_["images"]) {
    const std::string text = g["text"];
    EXPECT_EQ(tokenize_with_images(*tokenizer_, text), ids_of(g["ids"])) << "text: " << text;
  }
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

// Streaming pieces join to the full decode and never carry half a character.
TEST_F(TinyModel, StreamingDecodeHoldsSplitCharacters) {
  const std::string text = "emoji 🎬🙂 and café, done";
  const std::vector<int64_t> ids = tokenizer_->encode(text);
  StreamingDecoder stream(*tokenizer_);
  std::string joined;
  for (int64_t id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "piece carries U+FFFD";
    joined += piece;
  }
  joined += stream.finish();
  EXPECT_EQ(joined, text);
  EXPECT_EQ(stream.ids(), ids);
}

// The 4-byte emoji appears only once its last byte piece arrives.
TEST_F(TinyModel, StreamingDecodeEmitsCharacterWhenComplete) {
  std::vector<int64_t> ids = tokenizer_->encode("🎬");
  // Dummy-prefix piece, then the emoji's 4 byte pieces (it is not in the training corpus).
  ASSERT_GE(ids.size(), 4u);
  StreamingDecoder stream(*tokenizer_);
  std::string out;
  for (size_t i = 0; i + 1 < ids.size(); ++i) out += stream.push(ids[i]);
  EXPECT_EQ(out, "");
  EXPECT_EQ(stream.push(ids.back()), "🎬");
  EXPECT_EQ(stream.finish(), "");
}

// An answer cut inside a character still yields everything at finish, as a full decode.
TEST_F(TinyModel, StreamingFinishFlushesIncompleteCharacter) {
  std::vector<int64_t> ids = tokenizer_->encode("ok 🎬");
  ids.pop_back();  // drop the emoji's last byte piece
  StreamingDecoder stream(*tokenizer_);
  std::string out;
  for (int64_t id : ids) out += stream.push(id);
  EXPECT_EQ(out, "ok ");
  EXPECT_EQ(out + stream.finish(), tokenizer_->decode(ids));
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

// The real LLaMA tokenizer: streamed byte pieces of an emoji decode to the emoji.
TEST(LlamaTokenizer, StreamsEmoji) {
  auto tok = llama_tokenizer();
  SKIP_WITHOUT_LLAMA(tok);
  // "café 🎬" = ▁c afé ▁ <0xF0> <0x9F> <0x8E> <0xAC>
  const std::vector<int64_t> ids = {274, 28059, 29871, 243, 162, 145, 175};
  EXPECT_EQ(tok->encode("café 🎬"), ids);
  StreamingDecoder stream(*tok);
  std::vector<std::string> pieces;
  for (int64_t id : ids) pieces.push_back(stream.push(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{"c", "afé", " ", "", "", "", "🎬"}));
}
