// Fuzz target: arbitrary text as config.json. Parsing either fails with Error or yields a
// configuration whose derived sizes can be computed.
#include "core/config.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const llamavid::ModelConfig config = llamavid::parse_config(text, "fuzz/config.json");
    config.prompt_feature_count();
    config.content_tokens_per_frame();
  } catch (const llamavid::Error&) {
  }
  return 0;
}
