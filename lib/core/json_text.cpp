#include "core/json_text.h"

#include <algorithm>

#include "core/error.h"
#include "core/utf8.h"

namespace llamavid {

void check_json_depth(std::string_view text, const std::string& origin) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw Error(origin + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels (at byte " + std::to_string(i) + ")");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
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

}  // namespace llamavid
