#include "core/error_text.h"

#include <c10/util/Exception.h>

#include "core/utf8.h"

namespace llamavid {

std::string error_text(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = torch_error ? torch_error->what_without_backtrace() : e.what();
  // libtorch's message ends with its source location and a line break; one line reads better.
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) text = "unknown error";
  return escape_invalid_utf8(text);
}

}  // namespace llamavid
