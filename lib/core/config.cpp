#include "core/config.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json_text.h"
#include "core/small_file.h"

namespace llamavid {

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw Error(origin + ": " + what);
}

// Reads an optional integer key; a present key of the wrong type is an error.
void read_int(const json& j, const char* key, int64_t& out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number_integer()) fail(origin, std::string("key '") + key + "' must be an integer");
  out = it->get<int64_t>();
}

// Sane bounds, far above any released or conceivable LLaMA-VID, so that a hostile config cannot
// make the loader build a million layers before the weights are looked at.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 1024;
constexpr int64_t kMaxWidth = 1 << 16;         // hidden sizes
constexpr int64_t kMaxFfnWidth = 1 << 18;      // intermediate sizes
constexpr int64_t kMaxVocab = 1 << 22;
constexpr int64_t kMaxPositions = 1 << 24;     // max_position_embeddings, max_token
constexpr int64_t kMaxImageSize = 4096;
constexpr int64_t kMaxTextLength = 1 << 16;    // the Q-Former's
constexpr int64_t kMaxProjectorDepth = 64;
constexpr double kMaxRopeFactor = 1024;
constexpr double kMaxRopeTheta = 1e12;

// A positive integer key, at most `max`.
void read_positive(const json& j, const char* key, int64_t& out, const std::string& origin,
                   int64_t max) {
  read_int(j, key, out, origin);
  if (out <= 0) fail(origin, std::string("key '") + key + "' must be positive");
  if (out > max)
    fail(origin, std::string("key '") + key + "' is " + std::to_string(out) + ", more than the " +
                     std::to_string(max) + " a model may have");
}

void read_double(const json& j, const char* key, double& out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number()) fail(origin, std::string("key '") + key + "' must be a number");
  out = it->get<double>();
  if (!std::isfinite(out)) fail(origin, std::string("key '") + key + "' must be finite");
}

// A number key in (low, high] (an epsilon, a RoPE base).
void read_in_range(const json& j, const char* key, double& out, double low, double high,
                   const std::string& origin) {
  read_double(j, key, out, origin);
  if (!(out > low && out <= high))
    fail(origin, std::string("key '") + key + "' must be above " + std::to_string(low) +
                     " and at most " + std::to_string(high) + ", not " + std::to_string(out));
}

void read_string(const json& j, const char* key, std::string& out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_string()) fail(origin, std::string("key '") + key + "' must be a string");
  out = it->get<std::string>();
}

void read_bool(const json& j, const char* key, bool& out, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_boolean()) fail(origin, std::string("key '") + key + "' must be true or false");
  out = it->get<bool>();
}

const json& object_or_empty(const json& j, const char* key, const std::string& origin) {
  static const json empty = json::object();
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return empty;
  if (!it->is_object()) fail(origin, std::string("key '") + key + "' must be an object");
  return *it;
}

void check_heads(int64_t hidden, int64_t heads, const char* what, const std::string& origin) {
  if (hidden % heads != 0)
    fail(origin, std::string(what) + ": hidden_size " + std::to_string(hidden) +
                     " is not divisible by num_attention_heads " + std::to_string(heads));
}

VisionConfig parse_vision(const json& j, const std::string& origin) {
  VisionConfig v;
  read_positive(j, "image_size", v.image_size, origin, kMaxImageSize);
  read_positive(j, "patch_size", v.patch_size, origin, kMaxImageSize);
  read_positive(j, "hidden_size", v.hidden_size, origin, kMaxWidth);
  read_positive(j, "num_hidden_layers", v.num_hidden_layers, origin, kMaxLayers);
  read_positive(j, "num_attention_heads", v.num_attention_heads, origin, kMaxHeads);
  read_positive(j, "intermediate_size", v.intermediate_size, origin, kMaxFfnWidth);
  read_in_range(j, "layer_norm_eps", v.layer_norm_eps, 0.0, 1.0, origin);
  if (v.image_size % v.patch_size != 0)
    fail(origin, "vision_config: image_size " + std::to_string(v.image_size) +
                     " is not a multiple of patch_size " + std::to_string(v.patch_size));
  check_heads(v.hidden_size, v.num_attention_heads, "vision_config", origin);
  return v;
}

QFormerConfig parse_qformer(const json& j, const std::string& origin) {
  QFormerConfig q;
  read_positive(j, "hidden_size", q.hidden_size, origin, kMaxWidth);
  read_positive(j, "num_hidden_layers", q.num_hidden_layers, origin, kMaxLayers);
  read_positive(j, "num_attention_heads", q.num_attention_heads, origin, kMaxHeads);
  read_positive(j, "intermediate_size", q.intermediate_size, origin, kMaxFfnWidth);
  read_positive(j, "cross_attention_freq", q.cross_attention_freq, origin, kMaxLayers);
  read_positive(j, "vocab_size", q.vocab_size, origin, kMaxVocab);
  read_positive(j, "max_position_embeddings", q.max_position_embeddings, origin, kMaxTextLength);
  read_positive(j, "max_text_length", q.max_text_length, origin, kMaxTextLength);
  read_in_range(j, "layer_norm_eps", q.layer_norm_eps, 0.0, 1.0, origin);
  check_heads(q.hidden_size, q.num_attention_heads, "qformer_config", origin);
  if (q.max_text_length > q.max_position_embeddings)
    fail(origin, "qformer_config: max_text_length exceeds max_position_embeddings");
  return q;
}

LlamaConfig parse_llama(const json& j, const std::string& origin) {
  LlamaConfig l;
  read_positive(j, "vocab_size", l.vocab_size, origin, kMaxVocab);
  read_positive(j, "hidden_size", l.hidden_size, origin, kMaxWidth);
  read_positive(j, "intermediate_size", l.intermediate_size, origin, kMaxFfnWidth);
  read_positive(j, "num_hidden_layers", l.num_hidden_layers, origin, kMaxLayers);
  read_positive(j, "num_attention_heads", l.num_attention_heads, origin, kMaxHeads);
  l.num_key_value_heads = l.num_attention_heads;
  read_positive(j, "num_key_value_heads", l.num_key_value_heads, origin, kMaxHeads);
  read_positive(j, "max_position_embeddings", l.max_position_embeddings, origin, kMaxPositions);
  read_in_range(j, "rms_norm_eps", l.rms_norm_eps, 0.0, 1.0, origin);
  read_in_range(j, "rope_theta", l.rope_theta, 1.0, kMaxRopeTheta, origin);
  read_bool(j, "tie_word_embeddings", l.tie_word_embeddings, origin);
  read_int(j, "bos_token_id", l.bos_token_id, origin);
  read_int(j, "eos_token_id", l.eos_token_id, origin);
  read_int(j, "pad_token_id", l.pad_token_id, origin);
  check_heads(l.hidden_size, l.num_attention_heads, "config", origin);
  if (l.num_attention_heads % l.num_key_value_heads != 0)
    fail(origin, "num_attention_heads must be a multiple of num_key_value_heads");
  if (l.head_dim() % 2 != 0) fail(origin, "the LLaMA head dimension must be even (RoPE)");

  std::string act = "silu";
  read_string(j, "hidden_act", act, origin);
  if (act != "silu") fail(origin, "hidden_act '" + act + "' is not supported (LLaMA uses silu)");

  auto rs = j.find("rope_scaling");
  if (rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) fail(origin, "rope_scaling must be an object or null");
    std::string type;
    read_string(*rs, "type", type, origin);
    if (type != "linear")
      fail(origin, "rope_scaling type '" + type + "' is not supported (only 'linear')");
    read_double(*rs, "factor", l.rope_scaling_factor, origin);
    if (!(l.rope_scaling_factor >= 1.0 && l.rope_scaling_factor <= kMaxRopeFactor))
      fail(origin, "rope_scaling factor must be in [1, " + std::to_string(kMaxRopeFactor) +
                       "], not " + std::to_string(l.rope_scaling_factor));
  }
  return l;
}

}  // namespace

int64_t ModelConfig::prompt_feature_count() const {
  const int64_t n = vision.num_tokens();
  return (mm_vision_select_feature == "patch" && n % 2 == 1) ? n - 1 : n;
}

int64_t ModelConfig::content_tokens_per_frame() const {
  switch (compress) {
    case CompressType::Mean: return 1;
    case CompressType::Grid: return compress_grid * compress_grid;
    case CompressType::None: break;
  }
  return prompt_feature_count();
}

const char* time_markers_name(TimeMarkers markers) {
  switch (markers) {
    case TimeMarkers::Start:
      return "start";
    case TimeMarkers::Span:
      return "span";
    case TimeMarkers::None:
      break;
  }
  return "none";
}

bool parse_time_markers(const std::string& name, TimeMarkers& out) {
  if (name == "none") out = TimeMarkers::None;
  else if (name == "start") out = TimeMarkers::Start;
  else if (name == "span") out = TimeMarkers::Span;
  else return false;
  return true;
}

const char* context_mode_name(ContextMode mode) {
  switch (mode) {
    case ContextMode::Exact:
      return "exact";
    case ContextMode::Hybrid:
      return "hybrid";
    case ContextMode::Auto:
      return "auto";
    case ContextMode::Standing:
      break;
  }
  return "standing";
}

bool parse_context_mode(const std::string& name, ContextMode& out) {
  for (ContextMode m : {ContextMode::Standing, ContextMode::Exact, ContextMode::Hybrid,
                        ContextMode::Auto}) {
    if (name == context_mode_name(m)) {
      out = m;
      return true;
    }
  }
  return false;
}

ModelConfig parse_config(const std::string& json_text, const std::string& origin) {
  check_json_depth(json_text, origin);
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail(origin, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(origin, "the top level must be a JSON object");

  ModelConfig c;
  c.llm = parse_llama(j, origin);
  c.vision = parse_vision(object_or_empty(j, "vision_config", origin), origin);
  c.qformer = parse_qformer(object_or_empty(j, "qformer_config", origin), origin);

  c.mm_hidden_size = c.vision.hidden_size;
  read_positive(j, "mm_hidden_size", c.mm_hidden_size, origin, kMaxWidth);
  if (c.mm_hidden_size != c.vision.hidden_size)
    fail(origin, "mm_hidden_size " + std::to_string(c.mm_hidden_size) +
                     " differs from the vision hidden_size " +
                     std::to_string(c.vision.hidden_size));

  read_string(j, "mm_projector_type", c.mm_projector_type, origin);
  if (c.mm_projector_type == "linear") {
    c.mm_projector_depth = 1;
  } else {
    int depth = 0;
    char tail[16] = {0};
    if (std::sscanf(c.mm_projector_type.c_str(), "mlp%dx_gel%15s", &depth, tail) != 2 ||
        std::string(tail) != "u" || depth < 1 || depth > kMaxProjectorDepth)
      fail(origin, "mm_projector_type '" + c.mm_projector_type +
                       "' is not supported (use 'linear' or 'mlpNx_gelu')");
    c.mm_projector_depth = depth;
  }

  read_string(j, "mm_vision_select_feature", c.mm_vision_select_feature, origin);
  if (c.mm_vision_select_feature != "patch" && c.mm_vision_select_feature != "cls_patch")
    fail(origin, "mm_vision_select_feature must be 'patch' or 'cls_patch'");

  std::string compress;
  read_string(j, "compress_type", compress, origin);
  if (compress.empty()) {
    c.compress = CompressType::None;
  } else if (compress.find("mean") != std::string::npos) {
    c.compress = CompressType::Mean;
  } else if (compress.rfind("grid:", 0) == 0) {
    c.compress = CompressType::Grid;
    try {
      c.compress_grid = std::stoll(compress.substr(5));
    } catch (const std::exception&) {
      fail(origin, "compress_type '" + compress + "': N of grid:N is not a number");
    }
    int64_t g = c.vision.grid();
    if (c.prompt_feature_count() != c.vision.num_patches())
      fail(origin, "compress_type '" + compress + "' needs the CLS token dropped, which happens "
                   "only with mm_vision_select_feature 'patch' and an even patch grid");
    if (c.compress_grid < 2 || g % c.compress_grid != 0)
      fail(origin, "compress_type '" + compress + "': N must divide the patch grid " +
                       std::to_string(g));
  } else {
    fail(origin, "compress_type '" + compress + "' is not supported");
  }

  // The long-video checkpoint is the one trained with extended positions.
  int64_t max_token = 0;
  read_int(j, "max_token", max_token, origin);
  if (max_token < 0 || max_token > kMaxPositions)
    fail(origin, "key 'max_token' must be in [0, " + std::to_string(kMaxPositions) + "]");
  bool long_video = c.llm.rope_scaling_factor > 1.0 ||
                    (max_token > c.llm.max_position_embeddings);
  c.prompt_style = long_video ? PromptStyle::Movie : PromptStyle::Video;
  std::string style;
  read_string(j, "llamavid_prompt", style, origin);
  if (style == "video") c.prompt_style = PromptStyle::Video;
  else if (style == "movie") c.prompt_style = PromptStyle::Movie;
  else if (!style.empty()) fail(origin, "llamavid_prompt must be 'video' or 'movie'");

  c.time_markers = c.prompt_style == PromptStyle::Movie ? TimeMarkers::Start : TimeMarkers::None;
  std::string markers;
  read_string(j, "llamavid_time_markers", markers, origin);
  if (!markers.empty() && !parse_time_markers(markers, c.time_markers))
    fail(origin, "llamavid_time_markers must be 'none', 'start' or 'span'");
  read_bool(j, "llamavid_time_anchors", c.time_anchors, origin);
  if (c.time_anchors && c.prompt_style != PromptStyle::Movie)
    fail(origin, "llamavid_time_anchors needs the movie prompt (llamavid_prompt 'movie')");
  read_bool(j, "llamavid_class_anchors", c.class_anchors, origin);
  if (c.class_anchors && c.prompt_style != PromptStyle::Movie)
    fail(origin, "llamavid_class_anchors needs the movie prompt (llamavid_prompt 'movie')");
  std::string fit;
  read_string(j, "llamavid_frame_fit", fit, origin);
  if (fit == "pad") c.frame_fit = FrameFit::Pad;
  else if (!fit.empty() && fit != "crop")
    fail(origin, "llamavid_frame_fit must be 'crop' or 'pad'");
  read_double(j, "llamavid_merge_threshold", c.merge_threshold, origin);
  if (c.merge_threshold < 0.0 || c.merge_threshold > 1.0)
    fail(origin, "llamavid_merge_threshold must be in [0, 1]");
  std::string mode;
  read_string(j, "llamavid_context_mode", mode, origin);
  if (!mode.empty() && (!parse_context_mode(mode, c.context_mode) || c.context_mode == ContextMode::Auto))
    fail(origin, "llamavid_context_mode must be 'standing', 'exact' or 'hybrid'");

  double scaled = static_cast<double>(c.llm.max_position_embeddings) * c.llm.rope_scaling_factor;
  c.max_token = max_token > 0 ? max_token : static_cast<int64_t>(std::llround(scaled));
  if (c.max_token > kMaxPositions)
    fail(origin, "max_position_embeddings times the rope_scaling factor is " +
                     std::to_string(c.max_token) + " positions, more than " +
                     std::to_string(kMaxPositions));
  return c;
}

ModelConfig load_config(const std::string& path) {
  return parse_config(read_small_file(path, kMaxConfigBytes, "the model configuration"), path);
}

}  // namespace llamavid
