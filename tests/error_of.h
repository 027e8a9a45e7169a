// error_of for the lib/ tests: the message of the llamavid::Error a call throws.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.h"

namespace llamavid::test {

// "" (and a test failure) when `f` throws no llamavid::Error.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no llamavid::Error was thrown";
  return "";
}

}  // namespace llamavid::test
