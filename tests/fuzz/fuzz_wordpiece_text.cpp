// Fuzz target: arbitrary bytes as text for the real WordPiece vocabulary (the default model's
// vocab.txt, or $LLAMAVID_FUZZ_VOCAB). The first byte picks max_length (2..257).
#include "fuzz_util.h"
#include "tokenizer_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const llamavid::WordPieceTokenizer tokenizer(
      llamavid::fuzz::model_file("LLAMAVID_FUZZ_VOCAB", "vocab.txt"));
  if (size == 0) return 0;
  const int64_t max_length = 2 + data[0];
  llamavid::fuzz::check_wordpiece(
      tokenizer, std::string(reinterpret_cast<const char*>(data) + 1, size - 1), max_length);
  return 0;
}
