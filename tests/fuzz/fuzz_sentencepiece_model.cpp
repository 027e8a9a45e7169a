// Fuzz target: arbitrary bytes as a SentencePiece tokenizer.model. Loading either fails with
// Error or gives a tokenizer that encodes and decodes sample text within its vocabulary.
#include "core/error.h"
#include "fuzz_util.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llamavid::fuzz::MemoryFile file(data, size);
  try {
    const llamavid::SentencePieceTokenizer tokenizer(file.path());
    for (const char* text : {"What is on screen?", "  two  spaces\tand\nlines ",
                             "caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 </s> <0x41> 12345", ""})
      llamavid::fuzz::check_sentencepiece(tokenizer, text);
  } catch (const llamavid::Error&) {
  }
  return 0;
}
