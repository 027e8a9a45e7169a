// Question ids. An asker may choose one (it is kept); 0 takes the next free id, which is always
// past every id given or chosen, so no id is given twice. One counter serves a whole element's
// life: the analyzers it makes one after another and the questions it refuses while it has none.
#pragma once

#include <cstdint>
#include <mutex>

namespace llamavid {

class QuestionIds {
 public:
  // `requested` when it is not 0, else the next free id.
  uint64_t assign(uint64_t requested);

 private:
  std::mutex mutex_;
  uint64_t next_ = 1;
};

}  // namespace llamavid
