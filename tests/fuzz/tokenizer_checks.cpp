#include "tokenizer_checks.h"

#include "core/utf8.h"
#include "fuzz_util.h"

namespace llamavid::fuzz {

void check_sentencepiece(const SentencePieceTokenizer& tokenizer, const std::string& text) {
  const std::vector<int64_t> ids = tokenizer.encode(text);
  for (int64_t id : ids)
    if (id < 0 || id >= tokenizer.vocab_size())
      fail("SentencePiece id " + std::to_string(id) + " outside the vocabulary");
  const std::string whole = tokenizer.decode(ids);
  if (!is_valid_utf8(whole)) fail("decode gave invalid UTF-8: '" + whole + "'");
}

void check_wordpiece(const WordPieceTokenizer& tokenizer, const std::string& text,
                     int64_t max_length) {
  const std::vector<int64_t> ids = tokenizer.encode(text, max_length);
  if (ids.size() < 2 || static_cast<int64_t>(ids.size()) > max_length)
    fail("WordPiece encode gave " + std::to_string(ids.size()) + " ids for max_length " +
         std::to_string(max_length));
  if (ids.front() != tokenizer.cls_id() || ids.back() != tokenizer.sep_id())
    fail("WordPiece encode does not start with [CLS] and end with [SEP]");
  for (int64_t id : ids) tokenizer.id_to_token(id);  // Error if outside the vocabulary
  for (const std::string& token : tokenizer.tokenize(text))
    if (token.empty()) fail("WordPiece produced an empty token");
}

}  // namespace llamavid::fuzz
