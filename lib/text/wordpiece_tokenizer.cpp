#include "text/wordpiece_tokenizer.h"

#include <algorithm>
#include <array>
#include <sstream>

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "core/error.h"
#include "core/small_file.h"

namespace llamavid {

namespace {

// Written literally in a question they stay whole, as HF's added / never-split tokens.
const std::array<std::string, 6> kSpecialTokens = {"[CLS]", "[SEP]", "[PAD]",
                                                   "[MASK]", "[UNK]", "[DEC]"};
// BERT maps a word longer than this (in code points) to [UNK] outright.
constexpr size_t kMaxCharsPerWord = 100;

bool in_category(UChar32 c, uint32_t mask) { return (U_GET_GC_MASK(c) & mask) != 0; }

// BERT's _is_control: every C* category except tab, newline and carriage return.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return in_category(c, U_GC_C_MASK);
}

// BERT's _is_whitespace.
bool is_whitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || in_category(c, U_GC_ZS_MASK);
}

// Python's str.isspace, which whitespace_tokenize's str.split() uses: bidi class WS, B or S,
// or category Zs (this also splits on U+2028 / U+2029, which cleaning keeps).
bool is_python_space(UChar32 c) {
  const UCharDirection d = u_charDirection(c);
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR || d == U_SEGMENT_SEPARATOR ||
         in_category(c, U_GC_ZS_MASK);
}

// BERT's _is_punctuation: all non-alphanumeric ASCII, plus every P* category.
bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  return in_category(c, U_GC_P_MASK);
}

// BERT's _is_chinese_char: the CJK Unified Ideographs blocks, exactly BERT's ranges.
bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

const icu::Normalizer2& normalizer(bool compose) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = compose ? icu::Normalizer2::getNFCInstance(status)
                                      : icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU Unicode normalization data unavailable: ") +
                u_errorName(status));
  }
  return *n;
}

icu::UnicodeString normalize(const icu::UnicodeString& s, bool compose) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out = normalizer(compose).normalize(s, status);
  if (U_FAILURE(status)) {
    throw Error(std::string("ICU Unicode normalization failed: ") + u_errorName(status));
  }
  return out;
}

// Steps of HF's tokenize before the BasicTokenizer splits on whitespace: lower-casing one code
// point at a time (HF lower-cases non-special text with a per-character regex, so no
// final-sigma context), then _clean_text, then spaces around CJK ideographs, then NFC.
icu::UnicodeString prepare(const std::string& chunk) {
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(chunk);
  icu::UnicodeString out;
  for (int32_t i = 0; i < in.length();) {
    const UChar32 c = in.char32At(i);
    i += U16_LENGTH(c);
    icu::UnicodeString lower(c);
    lower.toLower(icu::Locale::getRoot());
    for (int32_t j = 0; j < lower.length();) {
      const UChar32 l = lower.char32At(j);
      j += U16_LENGTH(l);
      if (l == 0 || l == 0xFFFD || is_control(l)) continue;
      if (is_whitespace(l)) {
        out.append(static_cast<UChar32>(' '));
      } else if (is_cjk(l)) {
        out.append(static_cast<UChar32>(' ')).append(l).append(static_cast<UChar32>(' '));
      } else {
        out.append(l);
      }
    }
  }
  return normalize(out, true);
}

// One whitespace-separated word -> accent-stripped pieces split at punctuation.
void split_word(const icu::UnicodeString& word, std::vector<std::u32string>& out) {
  const icu::UnicodeString decomposed = normalize(word, false);
  std::u32string current;
  for (int32_t i = 0; i < decomposed.length();) {
    const UChar32 c = decomposed.char32At(i);
    i += U16_LENGTH(c);
    if (in_category(c, U_GC_MN_MASK)) continue;
    if (is_punctuation(c)) {
      if (!current.empty()) out.push_back(std::move(current));
      current.clear();
      out.push_back(std::u32string(1, static_cast<char32_t>(c)));
    } else {
      current += static_cast<char32_t>(c);
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
}

// BERT's BasicTokenizer on text free of special tokens.
std::vector<std::u32string> basic_tokenize(const std::string& chunk) {
  const icu::UnicodeString text = prepare(chunk);
  std::vector<std::u32string> words;
  icu::UnicodeString word;
  for (int32_t i = 0; i <= text.length();) {
    const bool end = i == text.length();
    const UChar32 c = end ? 0 : text.char32At(i);
    if (end || is_python_space(c)) {
      if (!word.isEmpty()) split_word(word, words);
      word.remove();
      if (end) break;
    } else {
      word.append(c);
    }
    i += U16_LENGTH(c);
  }
  return words;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(const std::string& vocab_path) : path_(vocab_path) {
  std::istringstream in(read_small_file(vocab_path, kMaxVocabBytes, "the WordPiece vocabulary"));
  std::string line;
  while (std::getline(in, line)) {
    // As HF's load_vocab: a repeated token keeps its last line number.
    ids_[line] = static_cast<int64_t>(tokens_.size());
    tokens_.push_back(line);
  }
  cls_id_ = required_id("[CLS]");
  sep_id_ = required_id("[SEP]");
  pad_id_ = required_id("[PAD]");
  unk_id_ = required_id("[UNK]");
  required_id("[MASK]");
  // LLaMA-VID adds "[DEC]" as bos_token; HF appends it only when the vocabulary lacks it.
  auto dec = ids_.find("[DEC]");
  if (dec == ids_.end()) {
    dec_id_ = static_cast<int64_t>(tokens_.size());
    ids_["[DEC]"] = dec_id_;
    tokens_.push_back("[DEC]");
  } else {
    dec_id_ = dec->second;
  }
}

int64_t WordPieceTokenizer::required_id(const std::string& token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) {
    throw Error("WordPiece vocabulary '" + path_ + "' has no " + token +
                " token (expected a BERT vocab.txt)");
  }
  return it->second;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    // The earliest special token in the rest of the text ends the current plain chunk.
    size_t found = std::string::npos;
    const std::string* special = nullptr;
    for (const std::string& s : kSpecialTokens) {
      const size_t at = text.find(s, pos);
      if (at < found) {
        found = at;
        special = &s;
      }
    }
    const size_t chunk_end = special ? found : text.size();
    for (const std::u32string& word : basic_tokenize(text.substr(pos, chunk_end - pos))) {
      wordpiece(word, out);
    }
    if (!special) break;
    out.push_back(*special);
    pos = found + special->size();
  }
  return out;
}

void WordPieceTokenizer::wordpiece(const std::u32string& word,
                                   std::vector<std::string>& out) const {
  if (word.size() > kMaxCharsPerWord) {
    out.push_back("[UNK]");
    return;
  }
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < word.size()) {
    // Longest vocabulary entry starting at `start`; continuations carry the "##" prefix.
    bool matched = false;
    for (size_t end = word.size(); end > start; --end) {
      std::string candidate = start > 0 ? "##" : "";
      for (size_t k = start; k < end; ++k) append_utf8(candidate, word[k]);
      if (ids_.count(candidate)) {
        pieces.push_back(std::move(candidate));
        start = end;
        matched = true;
        break;
      }
    }
    if (!matched) {
      out.push_back("[UNK]");
      return;
    }
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& text,
                                                int64_t max_length) const {
  if (max_length < 2) {
    throw Error("WordPiece max_length " + std::to_string(max_length) +
                " is too small: [CLS] and [SEP] need 2");
  }
  const std::vector<std::string> tokens = tokenize(text);
  const size_t keep = std::min(tokens.size(), static_cast<size_t>(max_length - 2));
  std::vector<int64_t> ids;
  ids.reserve(keep + 2);
  ids.push_back(cls_id_);
  for (size_t i = tokens.size() - keep; i < tokens.size(); ++i) {
    ids.push_back(token_to_id(tokens[i]));
  }
  ids.push_back(sep_id_);
  return ids;
}

int64_t WordPieceTokenizer::token_to_id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? unk_id_ : it->second;
}

const std::string& WordPieceTokenizer::id_to_token(int64_t id) const {
  if (id < 0 || id >= vocab_size()) {
    throw Error("WordPiece id " + std::to_string(id) + " is outside the vocabulary of '" +
                path_ + "' (0.." + std::to_string(vocab_size() - 1) + ")");
  }
  return tokens_[static_cast<size_t>(id)];
}

}  // namespace llamavid
