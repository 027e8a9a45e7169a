// Invariants the tokenizer fuzz targets check on whatever a loaded tokenizer produces.
#pragma once

#include <string>

#include "text/sentencepiece_tokenizer.h"
#include "text/wordpiece_tokenizer.h"

namespace llamavid::fuzz {

// Encodes `text`, then checks every id lies in the vocabulary and that decoding them gives
// valid UTF-8.
void check_sentencepiece(const SentencePieceTokenizer& tokenizer, const std::string& text);

// Encodes `text` with `max_length` and checks [CLS] ... [SEP], the length limit and every id.
void check_wordpiece(const WordPieceTokenizer& tokenizer, const std::string& text,
                     int64_t max_length);

}  // namespace llamavid::fuzz
