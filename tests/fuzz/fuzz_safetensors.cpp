// Fuzz target: arbitrary bytes as a .safetensors file. Opening either fails with Error or
// yields tensors whose every byte can be read.
#include <torch/torch.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  llamavid::fuzz::MemoryFile file(data, size);
  std::shared_ptr<llamavid::SafetensorsFile> st;
  try {
    st = llamavid::SafetensorsFile::open(file.path());
  } catch (const llamavid::Error&) {
    return 0;
  }
  for (const std::string& name : st->names()) {
    torch::Tensor t = st->tensor(name);  // [shape...] of the stored dtype
    if (t.sizes().vec() != st->shape(name) || t.scalar_type() != st->dtype(name))
      llamavid::fuzz::fail("tensor '" + name + "' differs from its header entry");
    t.clone();  // reads every element
  }
  return 0;
}
