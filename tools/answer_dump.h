// llamavid-ask --dump: the tensors behind an answer, written for inspection and parity checks.
#pragma once

#include <string>

#include "stream/session.h"

namespace llamavid {

// Writes DIR/tokens.safetensors: float32 `context` [T, D] and `content` [T, K, D] (the per-frame
// tokens in frame order, computed for the question) and int64 `answer_ids` [n] (without BOS and
// EOS). `answer` must have been made with keep_tensors.
void write_answer_dump(const std::string& dir, const Answer& answer);

}  // namespace llamavid
