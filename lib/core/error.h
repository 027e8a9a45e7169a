// The one exception type of libllamavid. Messages are written for users: they say which file,
// tensor or value was wrong and what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace llamavid {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace llamavid
