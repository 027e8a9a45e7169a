// The text of any exception as users see it (element messages, tool output): valid UTF-8 (the
// bytes of a bad file shown as "\xNN", escape_invalid_utf8), no libtorch backtrace
// (c10::Error's what() carries one, tens of lines of C++ frames), and never empty.
#pragma once

#include <exception>
#include <string>

namespace llamavid {

std::string error_text(const std::exception& e);

}  // namespace llamavid
