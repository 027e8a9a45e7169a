#include "stream/question_ids.h"

#include <algorithm>

namespace llamavid {

uint64_t QuestionIds::assign(uint64_t requested) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = requested ? requested : next_;
  next_ = std::max(next_, id + 1);
  return id;
}

}  // namespace llamavid
