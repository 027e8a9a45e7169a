// The tensors behind one answer, for inspection and parity checks (llamavid-ask --dump).
#pragma once

#include <torch/types.h>

namespace llamavid {

struct AnswerTensors {
  torch::Tensor context;  // [T, C] the question-guided token of each memory entry
  torch::Tensor content;  // [T, K, C]
};

}  // namespace llamavid
