#include "core/utf8.h"

#include <algorithm>
#include <cctype>

namespace llamavid {

size_t utf8_char_length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto trail = [&](size_t k) { return (byte(k) & 0xC0) == 0x80; };
  const auto scalar = [](char32_t c) { return c < 0xD800 || (c >= 0xE000 && c <= 0x10FFFF); };
  const size_t left = s.size() - i;
  const unsigned char c0 = byte(0);
  if (c0 < 0x80) return 1;
  if (left >= 2 && (c0 & 0xE0) == 0xC0) {
    const char32_t c = ((c0 & 0x1Fu) << 6) | (byte(1) & 0x3Fu);
    if (trail(1) && c >= 0x80 && scalar(c)) return 2;
  } else if (left >= 3 && (c0 & 0xF0) == 0xE0) {
    const char32_t c = ((c0 & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu);
    if (trail(1) && trail(2) && c >= 0x800 && scalar(c)) return 3;
  } else if (left >= 4 && (c0 & 0xF8) == 0xF0) {
    const char32_t c = ((c0 & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) |
                       ((byte(2) & 0x3Fu) << 6) | (byte(3) & 0x3Fu);
    if (trail(1) && trail(2) && trail(3) && c >= 0x10000 && scalar(c)) return 4;
  }
  return 0;
}

bool is_valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

// `s` with `replace(byte)` in place of each byte that starts no valid character.
template <typename Replace>
std::string replace_invalid(const std::string& s, Replace replace) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_length(s, i);
    if (n == 0) {
      out += replace(static_cast<unsigned char>(s[i]));
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

std::string make_valid_utf8(const std::string& s) {
  return replace_invalid(s, [](unsigned char) { return std::string("\xEF\xBF\xBD"); });
}

std::string escape_invalid_utf8(const std::string& s) {
  return replace_invalid(s, [](unsigned char byte) {
    const char* hex = "0123456789ABCDEF";
    return std::string("\\x") + hex[byte >> 4] + hex[byte & 15];
  });
}

std::string excerpt(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return make_valid_utf8(text);
  size_t end = 0;
  while (end < max_chars) {
    const size_t n = std::max<size_t>(utf8_char_length(text, end), 1);
    if (end + n > max_chars) break;
    end += n;
  }
  return make_valid_utf8(text.substr(0, end)) + "...";
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace llamavid
