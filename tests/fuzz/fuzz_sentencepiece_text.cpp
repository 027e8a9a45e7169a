// Fuzz target: arbitrary bytes as text for the real SentencePiece model (the default model's
// tokenizer.model, or $LLAMAVID_FUZZ_SPM): ids stay in the vocabulary and streamed decoding
// equals decoding at once.
#include "fuzz_util.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llamavid::SentencePieceTokenizer tokenizer(
      llamavid::fuzz::model_file("LLAMAVID_FUZZ_SPM", "tokenizer.model"));
  llamavid::fuzz::check_sentencepiece(tokenizer,
                                      std::string(reinterpret_cast<const char*>(data), size));
  return 0;
}
