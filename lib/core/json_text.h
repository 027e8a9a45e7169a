// Checks on untrusted JSON text (safetensors headers, config.json, shard indexes) before it is
// parsed. nlohmann's parser and destructor do not recurse, but dump() does: a header nesting an
// array 100,000 deep overflowed the stack in the error path that printed it. Nothing deeper than
// kMaxJsonDepth is parsed at all, and error messages quote JSON through excerpt() (core/utf8.h).
#pragma once

#include <string>
#include <string_view>

namespace llamavid {

// Deeper than any file of ours needs (a config nests 3 levels, a safetensors header 3).
constexpr int kMaxJsonDepth = 64;

// Throws Error("<origin>: JSON nested deeper than 64 levels ...") when arrays and objects in
// `text` (outside strings) nest deeper than kMaxJsonDepth. Malformed JSON is left to the parser.
void check_json_depth(std::string_view text, const std::string& origin);

}  // namespace llamavid
