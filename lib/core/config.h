// Model configuration: the config.json of a model directory (released LLaMA-VID keys plus the
// optional `vision_config` / `qformer_config` objects that allow smaller models of the same
// architecture). Free of libtorch so that any file may include it.
#pragma once

#include <cstdint>
#include <string>

namespace llamavid {

// EVA-ViT (LAVIS create_eva_vit_g defaults).
struct VisionConfig {
  int64_t image_size = 224;
  int64_t patch_size = 14;
  int64_t hidden_size = 1408;
  int64_t num_hidden_layers = 39;
  int64_t num_attention_heads = 16;
  int64_t intermediate_size = 6144;
  double layer_norm_eps = 1e-6;

  int64_t grid() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t num_tokens() const { return num_patches() + 1; }  // + CLS
};

// Q-Former: BERT with cross-attention (bert-base-uncased defaults). `vocab_size` counts the
// rows of the word embedding, i.e. after LLaMA-VID appended "[DEC]" (30522 + 1).
struct QFormerConfig {
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t cross_attention_freq = 2;
  int64_t vocab_size = 30523;
  int64_t max_position_embeddings = 512;
  double layer_norm_eps = 1e-12;
  // BertTokenizer max_length used by LLaMA-VID (left truncation).
  int64_t max_text_length = 256;
};

// LLaMA decoder (Vicuna-7B-v1.5 defaults).
struct LlamaConfig {
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t max_position_embeddings = 4096;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  // Linear RoPE scaling: position ids are divided by this factor (1 = none).
  double rope_scaling_factor = 1.0;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;
  int64_t pad_token_id = 0;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// How the content token(s) of a frame are made from its patch features.
enum class CompressType {
  None,  // every patch through mm_projector
  Mean,  // "mean" / "mean_concat": one token, the mean over patches
  Grid,  // "grid:N": N x N average-pooled tokens
};

// Which prompt layout the checkpoint was trained with.
enum class PromptStyle {
  Video,  // vicuna_v1, one <image> block holding every frame's tokens
  Movie,  // long-video checkpoint: "<image><image>" per frame inside the movie wrapper
};

// Text after each memory entry in the movie layout, where LLaMA-VID puts subtitles.
enum class TimeMarkers {
  None,
  Start,  // "[01:02:03]": when the entry starts
  Span,   // "[01:02:03-01:05:00, 00:02:57]": start, end (last frame) and end - start
};

// How a frame of any aspect ratio becomes the encoder's square image.
enum class FrameFit {
  Crop,  // shortest edge to the image size, centre crop: LLaMA-VID's video frames
  Pad,   // padded to a square with the CLIP mean colour first (LLaMA-VID's "pad" image
         // preprocessing, expand2square): nothing of the frame is cut off
};

// How each memory entry's context token is made (SessionOptions::context_mode, the element's
// `context-mode`); the model's config names the mode `Auto` serves it in.
enum class ContextMode {
  // Once at ingest, from the standing prompt; the LLM KV cache over the memory's prompt is
  // extended as frames arrive, so a question prefills only its own tokens and answer latency
  // does not grow with the memory (docs/benchmarks.md).
  Standing,
  // From each question, as LLaMA-VID does: the features are kept and every context token and
  // the whole prompt are recomputed per question.
  Exact,
  // From each question for the entries of the last hybrid_window_ns of stream, from the
  // standing prompt (in the prefilled KV cache) for the older ones: a question costs the
  // window, not the hours held, and a clip inside the window is answered as LLaMA-VID does.
  Hybrid,
  // The model's own (ModelConfig::context_mode).
  Auto,
};

struct ModelConfig {
  VisionConfig vision;
  QFormerConfig qformer;
  LlamaConfig llm;

  int64_t mm_hidden_size = 1408;
  // mm_projector_type: "linear" or "mlpNx_gelu"; mlp_depth is N (1 for linear).
  std::string mm_projector_type = "mlp2x_gelu";
  int64_t mm_projector_depth = 2;
  std::string mm_vision_select_feature = "patch";
  CompressType compress = CompressType::Mean;
  int64_t compress_grid = 0;  // N of "grid:N"
  // Total token budget the LLM was trained for (max_token, else max_position_embeddings
  // times the RoPE scaling factor).
  int64_t max_token = 4096;
  PromptStyle prompt_style = PromptStyle::Video;
  // llamavid's own keys: the markers the model reads (llamavid_time_markers: none, start, span;
  // default start for the movie layout, none otherwise) and the cosine similarity above which
  // alike frames merge into one memory entry (llamavid_merge_threshold; 0: never).
  TimeMarkers time_markers = TimeMarkers::None;
  double merge_threshold = 0.0;
  // How frames are fitted to the encoder's square (llamavid_frame_fit: crop or pad; default
  // crop, as every released checkpoint's video frames are).
  FrameFit frame_fit = FrameFit::Crop;
  // Whether each question is followed by the visual tokens of the entries its clock times name
  // (llamavid_time_anchors, default false; stream/time_anchors.h).
  bool time_anchors = false;
  // Whether each question is followed by the runs of entries whose captions it names, with
  // their spans and numbers (llamavid_class_anchors, default false; stream/class_anchors.h).
  bool class_anchors = false;
  // The mode ContextMode::Auto serves the model in (llamavid_context_mode: standing, exact or
  // hybrid). Absent, as in the released checkpoints, which were trained on question-guided
  // context tokens: hybrid, so that what the window holds is answered as LLaMA-VID answers it.
  ContextMode context_mode = ContextMode::Hybrid;

  // Features per frame that context and content tokens are made from: LLaMA-VID drops the
  // first (CLS) token only when mm_vision_select_feature is "patch" and the count is odd.
  int64_t prompt_feature_count() const;
  // Content tokens per frame (1 for mean, N^2 for grid, every prompt feature for none).
  int64_t content_tokens_per_frame() const;
};

// "none", "start", "span" -> TimeMarkers; false for anything else.
bool parse_time_markers(const std::string& name, TimeMarkers& out);
// The name parse_time_markers reads.
const char* time_markers_name(TimeMarkers markers);

// "standing", "exact", "hybrid", "auto" -> ContextMode; false for anything else.
bool parse_context_mode(const std::string& name, ContextMode& out);
// The name parse_context_mode reads.
const char* context_mode_name(ContextMode mode);

// Parses config.json text. `origin` names the file in error messages.
ModelConfig parse_config(const std::string& json_text, const std::string& origin);
// Reads and parses a config.json file.
ModelConfig load_config(const std::string& path);

}  // namespace llamavid
