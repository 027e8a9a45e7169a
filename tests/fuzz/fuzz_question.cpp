// Fuzz target: arbitrary bytes as a question to a Session of the default model (or
// $LLAMAVID_FUZZ_MODEL) holding two frames. validate() and answer() either refuse the question
// with QuestionError or answer it.
#include <vector>

#include "fuzz_util.h"
#include "model/model.h"
#include "stream/session.h"

namespace {

llamavid::Session& session() {
  static llamavid::Session* s = [] {
    llamavid::SessionOptions options;
    options.max_new_tokens = 3;  // the question path, not generation, is under test
    auto* created = new llamavid::Session(llamavid::Model::load(llamavid::fuzz::model_dir()),
                                          options);
    static std::vector<uint8_t> red(32 * 32 * 3), blue(32 * 32 * 3);
    for (size_t i = 0; i < red.size(); i += 3) red[i] = blue[i + 2] = 255;
    std::vector<llamavid::Frame> frames(2);
    for (int k = 0; k < 2; ++k) {
      frames[k].width = frames[k].height = 32;
      frames[k].planes[0] = k == 0 ? red.data() : blue.data();
      frames[k].strides[0] = 32 * 3;
      frames[k].pts_ns = k * 1000000000LL;
    }
    created->add_frames(frames);
    return created;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string question(reinterpret_cast<const char*>(data), size);
  try {
    session().validate(question);
  } catch (const llamavid::QuestionError&) {
    return 0;
  }
  try {
    session().answer(question);
  } catch (const llamavid::QuestionError&) {
  }
  return 0;
}
