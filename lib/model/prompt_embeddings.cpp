#include "model/prompt_embeddings.h"

#include "core/error.h"
#include "text/time_marker.h"

namespace llamavid {

FrameLayout entry_layout(const std::vector<std::pair<int64_t, int64_t>>& spans_ns,
                         TimeMarkers marker_kind, int64_t slots_per_entry) {
  FrameLayout layout;
  layout.slots_per_frame = slots_per_entry;
  for (const auto& [start, end] : spans_ns)
    layout.text_after_frame.push_back(format_time_marker(marker_kind, start, end));
  return layout;
}

torch::Tensor entry_rows(const torch::Tensor& context, const torch::Tensor& content) {
  return torch::cat({context.unsqueeze(1), content}, 1).reshape({-1, content.size(2)});
}

torch::Tensor entry_rows(const torch::Tensor& context, const torch::Tensor& content,
                         const std::vector<size_t>& indexes) {
  if (indexes.empty()) return {};
  const auto idx = torch::tensor(std::vector<int64_t>(indexes.begin(), indexes.end()),
                                 torch::kInt64)
                       .to(content.device());
  return entry_rows(context.index_select(0, idx), content.index_select(0, idx));
}

torch::Tensor splice_visual(Llama& llm, const std::vector<int64_t>& prompt,
                            const torch::Tensor& visual, int64_t rows_per_slot) {
  const torch::Device device = llm->embed_tokens->weight.device();
  std::vector<torch::Tensor> pieces;
  std::vector<int64_t> text_run;
  int64_t next_visual = 0;
  auto flush_text = [&] {
    if (text_run.empty()) return;
    auto t = torch::tensor(text_run, torch::kInt64).unsqueeze(0).to(device);
    pieces.push_back(llm->embed(t).squeeze(0));
    text_run.clear();
  };
  for (int64_t id : prompt) {
    if (id != kImageTokenIndex) {
      text_run.push_back(id);
      continue;
    }
    flush_text();
    if (next_visual + rows_per_slot > visual.size(0))
      throw Error("prompt: more visual slots than the " + std::to_string(visual.size(0)) +
                  " visual tokens");
    pieces.push_back(visual.narrow(0, next_visual, rows_per_slot));
    next_visual += rows_per_slot;
  }
  flush_text();
  if (next_visual != visual.size(0))
    throw Error("prompt: " + std::to_string(next_visual) + " visual slots for " +
                std::to_string(visual.size(0)) + " visual tokens");
  return torch::cat(pieces, 0);
}

}  // namespace llamavid
