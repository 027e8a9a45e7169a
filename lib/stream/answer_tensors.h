// The tensors behind one answer, for inspection and parity checks (llamavid-ask --dump).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace llamavid {

struct AnswerTensors {
  torch::Tensor context;  // [T, C] each memory entry's context token (question-guided or standing)
  torch::Tensor content;  // [T, K, C]
  torch::Tensor first_logits;  // [V] fp32: what the first answer token was chosen from
  // The prompt the LLM read, kImageTokenIndex where visual rows went (build_prompt_ids').
  std::vector<int64_t> prompt_ids;
  // Each entry's caption, which class anchors match the question against ("" without them).
  std::vector<std::string> captions;
};

}  // namespace llamavid
