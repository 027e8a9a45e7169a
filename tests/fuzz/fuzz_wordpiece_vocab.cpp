// Fuzz target: arbitrary bytes as a WordPiece vocab.txt. Loading either fails with Error or
// gives a tokenizer whose encodings of sample text are well formed.
#include "core/error.h"
#include "fuzz_util.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llamavid::fuzz::MemoryFile file(data, size);
  try {
    const llamavid::WordPieceTokenizer tokenizer(file.path());
    for (const char* text : {"What is on screen?", "Caf\xC3\xA9 na\xC3\xAFve \xE4\xB8\xAD\xE6\x96\x87!",
                             "unaffable ##x [CLS] [DEC]", ""})
      llamavid::fuzz::check_wordpiece(tokenizer, text, 8);
  } catch (const llamavid::Error&) {
  }
  return 0;
}
