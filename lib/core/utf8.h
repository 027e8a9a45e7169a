// UTF-8 validity as SentencePiece decodes it: no truncated sequence, no overlong form, no
// surrogate, nothing above U+10FFFF. Questions are checked with it, the tokenizer decodes with
// it and every text the element or a tool emits passes through make_valid_utf8.
#pragma once

#include <cstddef>
#include <string>

namespace llamavid {

// Length (1 to 4) of the valid character starting at s[i], or 0 when the bytes there are not one.
size_t utf8_char_length(const std::string& s, size_t i);
bool is_valid_utf8(const std::string& s);
// `s` with each byte that starts no valid character replaced by U+FFFD.
std::string make_valid_utf8(const std::string& s);
// `s` with each byte that starts no valid character written as "\xNN" (hex): error texts show
// the bytes of a bad file this way, valid UTF-8 and still telling which bytes they were.
std::string escape_invalid_utf8(const std::string& s);

// At most `max_chars` bytes of `text`, cut at a character boundary, with "..." when cut, and
// invalid UTF-8 bytes as U+FFFD: error messages must be valid UTF-8.
std::string excerpt(const std::string& text, size_t max_chars = 80);

// ASCII white space only (bytes of multi-byte characters are never white space): questions,
// subtitles and answers are trimmed and tested for blankness with these.
bool is_blank(const std::string& s);
std::string trim(const std::string& s);

}  // namespace llamavid
