// Fuzz target: arbitrary bytes as a torch.save file (zip + restricted unpickler). Reading either
// fails with Error or yields tensors whose every element can be read.
#include <torch/torch.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "io/torch_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llamavid::fuzz::MemoryFile file(data, size);
  std::map<std::string, torch::Tensor> tensors;
  try {
    tensors = llamavid::read_torch_checkpoint(file.path());
  } catch (const llamavid::Error&) {
    return 0;
  }
  for (const auto& [name, t] : tensors) t.clone();  // [sizes...]: reads every element
  return 0;
}
