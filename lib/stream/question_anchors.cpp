#include "stream/question_anchors.h"

#include "core/error.h"
#include "stream/class_anchors.h"
#include "stream/time_anchors.h"
#include "text/time_marker.h"

namespace llamavid {

QuestionAnchors question_anchors(const ModelConfig& config, TimeMarkers markers,
                                 const std::string& question,
                                 const std::vector<std::pair<int64_t, int64_t>>& spans_ns,
                                 const std::vector<std::string>& captions) {
  QuestionAnchors out;
  if (config.time_anchors) {
    out.entries = time_anchor_entries(question, spans_ns);
    out.texts.assign(out.entries.size(), "");
  }
  if (config.class_anchors) {
    if (captions.size() != spans_ns.size())
      throw Error("class anchors: " + std::to_string(captions.size()) + " captions for " +
                  std::to_string(spans_ns.size()) + " entries");
    for (const ClassRun& run : class_anchor_runs(question, captions)) {
      out.entries.push_back(run.first);
      const std::string span =
          format_time_marker(markers, spans_ns[run.first].first, spans_ns[run.last].second);
      out.texts.push_back(span + (span.empty() ? "" : " ") + std::to_string(run.number));
    }
  }
  return out;
}

size_t max_anchor_entries(const ModelConfig& config) {
  return (config.time_anchors ? kMaxAnchorEntries : 0) + max_class_runs(config);
}

size_t max_class_runs(const ModelConfig& config) {
  return config.class_anchors ? kMaxClassRuns : 0;
}

}  // namespace llamavid
