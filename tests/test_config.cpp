// config.json parsing: released keys, tiny-model objects, and clear errors for bad files.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "test_util.h"

using namespace llamavid;

namespace {

// The long-video release config.json (the keys that matter to the code).
const char* kLongVideo = R"({
  "architectures": ["LlavaLlamaAttForCausalLM"], "model_type": "llava",
  "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
  "rms_norm_eps": 1e-05, "vocab_size": 32000, "hidden_act": "silu",
  "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
  "mm_hidden_size": 1408, "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
  "mm_vision_select_feature": "patch", "mm_vision_tower": "./model_zoo/LAVIS/eva_vit_g.pth",
  "bert_type": "qformer_pretrain_freeze", "compress_type": "mean_concat", "num_qformer": 32,
  "max_token": 65536, "rope_scaling": {"type": "linear", "factor": 16.0},
  "torch_dtype": "bfloat16"})";

ModelConfig parse(const std::string& text) { return parse_config(text, "config.json"); }

std::string expect_error(const std::string& text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

}  // namespace

// The released long-video config selects the movie prompt, 64K tokens and released sizes.
TEST(Config, ReleasedLongVideo) {
  ModelConfig c = parse(kLongVideo);
  EXPECT_EQ(c.llm.hidden_size, 4096);
  EXPECT_EQ(c.llm.num_hidden_layers, 32);
  EXPECT_DOUBLE_EQ(c.llm.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(c.llm.rope_scaling_factor, 16.0);
  EXPECT_EQ(c.max_token, 65536);
  EXPECT_EQ(c.prompt_style, PromptStyle::Movie);
  EXPECT_EQ(c.compress, CompressType::Mean);
  EXPECT_EQ(c.content_tokens_per_frame(), 1);
  EXPECT_EQ(c.mm_projector_depth, 2);
  EXPECT_EQ(c.vision.hidden_size, 1408);
  EXPECT_EQ(c.vision.num_hidden_layers, 39);
  EXPECT_EQ(c.vision.num_tokens(), 257);
  EXPECT_EQ(c.qformer.vocab_size, 30523);
  EXPECT_EQ(c.qformer.num_hidden_layers, 12);
  EXPECT_EQ(c.time_markers, TimeMarkers::Start);
  EXPECT_EQ(c.merge_threshold, 0.0);
}

// llamavid's own keys choose the markers and the merge threshold.
TEST(Config, LlamavidKeys) {
  ModelConfig c = parse(R"({"llamavid_prompt": "movie", "llamavid_time_markers": "span",
                            "llamavid_merge_threshold": 0.95})");
  EXPECT_EQ(c.prompt_style, PromptStyle::Movie);
  EXPECT_EQ(c.time_markers, TimeMarkers::Span);
  EXPECT_DOUBLE_EQ(c.merge_threshold, 0.95);
  EXPECT_EQ(parse("{}").time_markers, TimeMarkers::None);
  EXPECT_NE(expect_error(R"({"llamavid_time_markers": "end"})").find("llamavid_time_markers"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"llamavid_merge_threshold": 2})").find("merge"), std::string::npos);
  EXPECT_NE(expect_error(R"({"llamavid_prompt": "film"})").find("llamavid_prompt"),
            std::string::npos);
  // Time anchors are off unless asked for, and need the movie layout's slots.
  EXPECT_FALSE(c.time_anchors);
  EXPECT_TRUE(parse(R"({"llamavid_prompt": "movie", "llamavid_time_anchors": true})").time_anchors);
  EXPECT_NE(expect_error(R"({"llamavid_prompt": "video", "llamavid_time_anchors": true})")
                .find("llamavid_time_anchors"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"llamavid_prompt": "movie", "llamavid_time_anchors": "yes"})")
                .find("llamavid_time_anchors"),
            std::string::npos);
  // So are class anchors.
  EXPECT_FALSE(c.class_anchors);
  EXPECT_TRUE(
      parse(R"({"llamavid_prompt": "movie", "llamavid_class_anchors": true})").class_anchors);
  EXPECT_NE(expect_error(R"({"llamavid_prompt": "video", "llamavid_class_anchors": true})")
                .find("llamavid_class_anchors"),
            std::string::npos);
}

// Frames are cropped, as every released checkpoint's are, unless llamavid_frame_fit says pad.
TEST(Config, FrameFitKey) {
  EXPECT_EQ(parse("{}").frame_fit, FrameFit::Crop);
  EXPECT_EQ(parse(R"({"llamavid_frame_fit": "crop"})").frame_fit, FrameFit::Crop);
  EXPECT_EQ(parse(R"({"llamavid_frame_fit": "pad"})").frame_fit, FrameFit::Pad);
  for (const char* bad : {R"({"llamavid_frame_fit": "letterbox"})", R"({"llamavid_frame_fit": 1})"})
    EXPECT_NE(expect_error(bad).find("llamavid_frame_fit"), std::string::npos) << bad;
}

// llamavid_context_mode names the mode `auto` serves a model in; without it (the released
// checkpoints) that is hybrid, and `auto` itself is no model's mode.
TEST(Config, ContextModeKey) {
  EXPECT_EQ(parse("{}").context_mode, ContextMode::Hybrid);
  EXPECT_EQ(parse(R"({"llamavid_context_mode": "standing"})").context_mode, ContextMode::Standing);
  EXPECT_EQ(parse(R"({"llamavid_context_mode": "exact"})").context_mode, ContextMode::Exact);
  for (const char* bad : {R"({"llamavid_context_mode": "auto"})", R"({"llamavid_context_mode": "x"})"})
    EXPECT_NE(expect_error(bad).find("llamavid_context_mode"), std::string::npos) << bad;
}

// Without rope scaling the short-video prompt is used; grid:N gives N^2 content tokens.
TEST(Config, ShortVideoAndGrid) {
  ModelConfig c = parse(R"({"hidden_size": 64, "num_attention_heads": 4,
    "compress_type": "grid:4", "max_position_embeddings": 2048})");
  EXPECT_EQ(c.prompt_style, PromptStyle::Video);
  EXPECT_EQ(c.compress, CompressType::Grid);
  EXPECT_EQ(c.content_tokens_per_frame(), 16);
  EXPECT_EQ(c.max_token, 2048);
  EXPECT_EQ(c.llm.num_key_value_heads, 4);
  // No compress_type: every patch becomes a content token.
  EXPECT_EQ(parse("{}").content_tokens_per_frame(), 256);
}

// vision_config / qformer_config shrink the towers; mm_hidden_size must follow the vision width.
TEST(Config, TinyTowers) {
  ModelConfig c = parse(R"({"mm_hidden_size": 32,
    "vision_config": {"image_size": 28, "patch_size": 7, "hidden_size": 32,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64},
    "qformer_config": {"hidden_size": 24, "num_hidden_layers": 3, "num_attention_heads": 2,
                       "intermediate_size": 48, "cross_attention_freq": 2, "vocab_size": 100,
                       "max_position_embeddings": 64, "max_text_length": 32}})");
  EXPECT_EQ(c.vision.grid(), 4);
  EXPECT_EQ(c.vision.num_tokens(), 17);
  EXPECT_EQ(c.qformer.hidden_size, 24);
  EXPECT_EQ(c.qformer.max_text_length, 32);
}

// Each malformed config names the problem.
TEST(Config, Errors) {
  EXPECT_NE(expect_error("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(expect_error("[1,2]").find("JSON object"), std::string::npos);
  EXPECT_NE(expect_error(R"({"hidden_size": "big"})").find("hidden_size"), std::string::npos);
  EXPECT_NE(expect_error(R"({"hidden_size": 100, "num_attention_heads": 3})").find("divisible"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"compress_type": "grid:5"})").find("grid"), std::string::npos);
  EXPECT_NE(expect_error(R"({"compress_type": "pool"})").find("compress_type"), std::string::npos);
  EXPECT_NE(expect_error(R"({"rope_scaling": {"type": "dynamic", "factor": 2}})").find("dynamic"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"mm_projector_type": "mlp2x_relu"})").find("mm_projector_type"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"mm_hidden_size": 1024})").find("mm_hidden_size"), std::string::npos);
  EXPECT_NE(expect_error(R"({"vision_config": {"image_size": 30}})").find("patch_size"),
            std::string::npos);
  EXPECT_NE(expect_error(R"({"hidden_act": "gelu"})").find("hidden_act"), std::string::npos);
}

// Sizes past sane bounds, and numbers no model can run with, are refused naming the key before
// anything is built.
TEST(Config, SaneBounds) {
  auto refused = [](const std::string& json, const std::string& key) {
    const std::string msg = expect_error(json);
    EXPECT_NE(msg.find(key), std::string::npos) << json << " -> " << msg;
  };
  refused(R"({"num_hidden_layers": 1000000})", "'num_hidden_layers' is 1000000, more than the 1024");
  refused(R"({"vision_config": {"num_hidden_layers": 5000}})", "'num_hidden_layers'");
  refused(R"({"qformer_config": {"num_attention_heads": 100000}})", "'num_attention_heads'");
  refused(R"({"vocab_size": 100000000})", "'vocab_size'");
  refused(R"({"mm_projector_type": "mlp1000x_gelu"})", "mm_projector_type");
  refused(R"({"rope_scaling": {"type": "linear", "factor": 1e308}})", "rope_scaling factor");
  refused(R"({"rms_norm_eps": -1e-5})", "'rms_norm_eps'");
  refused(R"({"vision_config": {"layer_norm_eps": 0}})", "'layer_norm_eps'");
  refused(R"({"rope_theta": 0})", "'rope_theta'");
  refused(R"({"max_token": 1000000000})", "'max_token'");
  refused(R"({"max_position_embeddings": 16000000, "rope_scaling": {"type": "linear", "factor": 16}})",
          "positions");
}

// A missing file is an error naming the path.
TEST(Config, MissingFile) {
  try {
    load_config("/nonexistent/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json"), std::string::npos);
  }
}
