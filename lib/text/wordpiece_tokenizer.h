// The Q-Former's text tokenizer: bert-base-uncased's BertTokenizer (lower-casing, accent
// stripping, punctuation and CJK splitting, greedy WordPiece) with LLaMA-VID's "[DEC]" token
// appended and truncation on the left. Thread-safety: immutable after loading; encode may be
// called from several threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"

namespace llamavid {

class WordPieceTokenizer {
 public:
  // Loads vocab.txt (one token per line, id = line number) and appends "[DEC]" as the next id.
  // A missing file, or one lacking [CLS], [SEP], [PAD], [MASK] or [UNK], throws Error.
  explicit WordPieceTokenizer(const std::string& vocab_path);

  // Text -> [CLS] ids... [SEP]. When longer than `max_length` (>= 2), the oldest tokens are
  // dropped (truncation_side "left"), keeping [CLS] and [SEP].
  std::vector<int64_t> encode(const std::string& text,
                              int64_t max_length = QFormerConfig().max_text_length) const;
  // Text -> WordPiece tokens, without [CLS]/[SEP] and without truncation.
  std::vector<std::string> tokenize(const std::string& text) const;

  // Id of a token, or [UNK]'s id when the vocabulary lacks it.
  int64_t token_to_id(const std::string& token) const;
  // Token of an id; an id outside the vocabulary throws Error.
  const std::string& id_to_token(int64_t id) const;
  // Entries including "[DEC]" (30523 for bert-base-uncased).
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t dec_id() const { return dec_id_; }

 private:
  // WordPiece of one basic token (greedy longest match first, "##" continuations).
  void wordpiece(const std::u32string& word, std::vector<std::string>& out) const;
  int64_t required_id(const std::string& token) const;

  std::string path_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  int64_t cls_id_ = 0, sep_id_ = 0, pad_id_ = 0, unk_id_ = 0, dec_id_ = 0;
};

}  // namespace llamavid
