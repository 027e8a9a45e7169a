#include "answer_dump.h"

#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "stream/answer_tensors.h"

namespace llamavid {

void write_answer_dump(const std::string& dir, const Answer& answer) {
  if (!answer.tensors) throw Error("--dump: the answer kept no tensors");
  std::filesystem::create_directories(dir);
  auto ids = torch::tensor(answer.ids, torch::kInt64);
  save_safetensors(dir + "/tokens.safetensors",
                   {{"context", answer.tensors->context},
                    {"content", answer.tensors->content},
                    {"answer_ids", ids},
                    {"prompt_ids", torch::tensor(answer.tensors->prompt_ids, torch::kInt64)}});
}

}  // namespace llamavid
