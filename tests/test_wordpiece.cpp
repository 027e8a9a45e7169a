// WordPieceTokenizer: hand-derived goldens on the real bert-base-uncased vocabulary, left
// truncation, [DEC], and behaviour on a tiny vocabulary written by the test.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_util.h"
#include "text/wordpiece_tokenizer.h"

using namespace llamavid;

namespace {

struct GoldenCase {
  std::string name;
  std::string text;
  int64_t max_length = 256;
  std::vector<int64_t> ids;
};

// Reads tests/golden/wordpiece_bert_base_uncased.txt (format described in the file).
std::vector<GoldenCase> read_goldens() {
  const std::string path = test::source_dir() + "/golden/wordpiece_bert_base_uncased.txt";
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(": ");
    const std::string key = line.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : line.substr(colon + 2);
    if (key == "name") {
      cases.push_back(GoldenCase{value, "", 256, {}});
    } else if (cases.empty()) {
      ADD_FAILURE() << path << ": '" << line << "' before the first name:";
    } else if (key == "text") {
      cases.back().text = nlohmann::json::parse(value).get<std::string>();
    } else if (key == "max_length") {
      cases.back().max_length = std::stoll(value);
    } else if (key == "ids") {
      std::istringstream ids(value);
      for (int64_t id; ids >> id;) cases.back().ids.push_back(id);
    } else {
      ADD_FAILURE() << path << ": unknown line '" << line << "'";
    }
  }
  return cases;
}

std::string bert_vocab() {
  const std::string data = test::shared_data_dir();
  return data.empty() ? "" : data + "/bert-base-uncased/vocab.txt";
}

#define SKIP_WITHOUT_BERT(path)                                                           \
  if ((path).empty()) GTEST_SKIP() << "../shared/data is absent: the real bert-base-uncased " \
                                      "vocab.txt is needed for this test"

// A vocabulary of a few lines, ids = line numbers.
std::string tiny_vocab(const std::string& name, const std::vector<std::string>& tokens) {
  std::string text;
  for (const std::string& t : tokens) text += t + "\n";
  const std::string path = test::scratch_dir(name) + "/vocab.txt";
  test::write_file(path, text);
  return path;
}

const std::vector<std::string> kTinyTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                              "un",    "##aff", "##able", "aff",  "##a",
                                              "a",     "##b",   "able",   ".",    "##ff"};

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Every hand-derived case of the golden file.
TEST(WordPieceBert, Goldens) {
  const std::string vocab = bert_vocab();
  SKIP_WITHOUT_BERT(vocab);
  const WordPieceTokenizer tokenizer(vocab);
  const std::vector<GoldenCase> cases = read_goldens();
  ASSERT_GE(cases.size(), 20u);
  for (const GoldenCase& c : cases) {
    EXPECT_EQ(tokenizer.encode(c.text, c.max_length), c.ids) << "case: " << c.name;
  }
}

// Random mixed-script strings give the ids of a plain-Python BertTokenizer (Python's own
// Unicode tables), with default and small max_length.
TEST(WordPieceBert, MatchesPythonReference) {
  const std::string vocab = bert_vocab();
  SKIP_WITHOUT_BERT(vocab);
  const std::string out = test::scratch_dir("wordpiece_ref") + "/cases.json";
  test::run_python("wordpiece_ref.py", vocab + " " + out);
  std::ifstream in(out);
  ASSERT_TRUE(in) << "the reference script wrote no " << out;
  const nlohmann::json cases = nlohmann::json::parse(in)["cases"];
  ASSERT_EQ(cases.size(), 400u);
  const WordPieceTokenizer tokenizer(vocab);
  for (const nlohmann::json& c : cases) {
    const std::string text = c["text"];
    EXPECT_EQ(tokenizer.encode(text, c["max_length"].get<int64_t>()),
              c["ids"].get<std::vector<int64_t>>())
        << "text: " << nlohmann::json(text).dump();
  }
}

// The real vocabulary: 30522 lines plus [DEC] = 30522, and BERT's special ids.
TEST(WordPieceBert, VocabularyAndSpecialIds) {
  const std::string vocab = bert_vocab();
  SKIP_WITHOUT_BERT(vocab);
  const WordPieceTokenizer tokenizer(vocab);
  EXPECT_EQ(tokenizer.vocab_size(), QFormerConfig().vocab_size);
  EXPECT_EQ(tokenizer.dec_id(), 30522);
  EXPECT_EQ(tokenizer.id_to_token(30522), "[DEC]");
  EXPECT_EQ(tokenizer.cls_id(), 101);
  EXPECT_EQ(tokenizer.sep_id(), 102);
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.unk_id(), 100);
}

// Default max_length 256 truncates on the left: the end of a long question survives.
TEST(WordPieceBert, DefaultTruncationKeepsEnd) {
  const std::string vocab = bert_vocab();
  SKIP_WITHOUT_BERT(vocab);
  const WordPieceTokenizer tokenizer(vocab);
  std::string text;
  for (int i = 0; i < 150; ++i) text += "one ";
  for (int i = 0; i < 150; ++i) text += "two ";
  const std::vector<int64_t> ids = tokenizer.encode(text);
  ASSERT_EQ(ids.size(), 256u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  // 300 words, 254 kept: the first 46 "one" (2028) are gone, all 150 "two" (2048) stay.
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2028), 104);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2048), 150);
  EXPECT_EQ(ids[254], 2048);
}

// [DEC] is appended as the id after the last line.
TEST(WordPieceTiny, DecAppended) {
  const WordPieceTokenizer tokenizer(tiny_vocab("wordpiece_dec", kTinyTokens));
  EXPECT_EQ(tokenizer.vocab_size(), static_cast<int64_t>(kTinyTokens.size()) + 1);
  EXPECT_EQ(tokenizer.dec_id(), static_cast<int64_t>(kTinyTokens.size()));
  EXPECT_EQ(tokenizer.token_to_id("[DEC]"), tokenizer.dec_id());
}

// Greedy longest match first: "unaffable" -> un ##aff ##able.
TEST(WordPieceTiny, GreedyLongestMatch) {
  const WordPieceTokenizer tokenizer(tiny_vocab("wordpiece_greedy", kTinyTokens));
  EXPECT_EQ(tokenizer.tokenize("unaffable"),
            (std::vector<std::string>{"un", "##aff", "##able"}));
  EXPECT_EQ(tokenizer.encode("unaffable."), (std::vector<int64_t>{2, 5, 6, 7, 13, 3}));
}

// A word with any unmatched remainder becomes a single [UNK], not partial pieces.
TEST(WordPieceTiny, UnmatchedWordIsOneUnk) {
  const WordPieceTokenizer tokenizer(tiny_vocab("wordpiece_unk", kTinyTokens));
  EXPECT_EQ(tokenizer.tokenize("unaffz able"), (std::vector<std::string>{"[UNK]", "able"}));
}

// An id outside the vocabulary is an error; an unknown token maps to [UNK].
TEST(WordPieceTiny, IdLookups) {
  const WordPieceTokenizer tokenizer(tiny_vocab("wordpiece_ids", kTinyTokens));
  EXPECT_EQ(tokenizer.id_to_token(5), "un");
  EXPECT_EQ(tokenizer.token_to_id("zebra"), tokenizer.unk_id());
  EXPECT_THROW(tokenizer.id_to_token(tokenizer.vocab_size()), Error);
  EXPECT_THROW(tokenizer.id_to_token(-1), Error);
}

// max_length below 2 cannot hold [CLS] and [SEP].
TEST(WordPieceTiny, TooSmallMaxLengthThrows) {
  const WordPieceTokenizer tokenizer(tiny_vocab("wordpiece_maxlen", kTinyTokens));
  EXPECT_THROW(tokenizer.encode("a", 1), Error);
  EXPECT_EQ(tokenizer.encode("a a a", 2), (std::vector<int64_t>{2, 3}));
}

// A missing vocabulary file is an Error naming the path.
TEST(WordPieceTiny, MissingFileThrows) {
  const std::string path = test::scratch_dir("wordpiece_missing") + "/vocab.txt";
  EXPECT_NE(error_of([&] { WordPieceTokenizer t(path); }).find(path), std::string::npos);
}

// A vocabulary without BERT's special tokens is an Error naming the path and the token.
TEST(WordPieceTiny, VocabWithoutSpecialsThrows) {
  const std::string path = tiny_vocab("wordpiece_nospecial", {"[PAD]", "hello", "world"});
  const std::string message = error_of([&] { WordPieceTokenizer t(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("[CLS]"), std::string::npos) << message;
}
