// The released-size model (EVA-ViT-g 39 x 1408, BERT-base Q-Former, Vicuna-7B) built on the meta
// device: every tensor name and shape is the released checkpoint's, and nothing is allocated.
#include <gtest/gtest.h>

#include <map>

#include "core/config.h"
#include "model/model.h"

using namespace llamavid;

namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

// The tensor list of reference/llamavid.md section 5, written out independently of lib/.
Shapes released_tensor_list() {
  Shapes s;
  const int64_t C = 4096, F = 11008, V = 32000;
  s["model.embed_tokens.weight"] = {V, C};
  for (int i = 0; i < 32; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"})
      s[p + "self_attn." + n + ".weight"] = {C, C};
    s[p + "mlp.gate_proj.weight"] = {F, C};
    s[p + "mlp.up_proj.weight"] = {F, C};
    s[p + "mlp.down_proj.weight"] = {C, F};
    s[p + "input_layernorm.weight"] = {C};
    s[p + "post_attention_layernorm.weight"] = {C};
  }
  s["model.norm.weight"] = {C};
  s["lm_head.weight"] = {V, C};

  const int64_t Cv = 1408;
  s["model.mm_projector.0.weight"] = {C, Cv};
  s["model.mm_projector.0.bias"] = {C};
  s["model.mm_projector.2.weight"] = {C, C};
  s["model.mm_projector.2.bias"] = {C};

  const int64_t Hq = 768, Iq = 3072;
  s["model.vlm_att_query"] = {1, 32, Hq};
  s["model.vlm_att_ln.weight"] = {Cv};
  s["model.vlm_att_ln.bias"] = {Cv};
  s["model.vlm_att_projector.weight"] = {Cv, Hq};
  s["model.vlm_att_projector.bias"] = {Cv};
  s["model.vlm_att_key_projector.weight"] = {Cv, Cv};
  s["model.vlm_att_key_projector.bias"] = {Cv};
  s["model.vlm_att_val_projector.weight"] = {C, Cv};
  s["model.vlm_att_val_projector.bias"] = {C};
  const std::string bert = "model.vlm_att_encoder.bert.";
  s[bert + "embeddings.word_embeddings.weight"] = {30523, Hq};
  s[bert + "embeddings.position_embeddings.weight"] = {512, Hq};
  s[bert + "embeddings.LayerNorm.weight"] = {Hq};
  s[bert + "embeddings.LayerNorm.bias"] = {Hq};
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    s[name + ".weight"] = {out, in};
    s[name + ".bias"] = {out};
  };
  auto norm = [&](const std::string& name) {
    s[name + ".weight"] = {Hq};
    s[name + ".bias"] = {Hq};
  };
  for (int i = 0; i < 12; ++i) {
    const std::string p = bert + "encoder.layer." + std::to_string(i) + ".";
    for (const char* n : {"query", "key", "value"}) linear(p + "attention.self." + n, Hq, Hq);
    linear(p + "attention.output.dense", Hq, Hq);
    norm(p + "attention.output.LayerNorm");
    if (i % 2 == 0) {
      linear(p + "crossattention.self.query", Hq, Hq);
      linear(p + "crossattention.self.key", Hq, Cv);
      linear(p + "crossattention.self.value", Hq, Cv);
      linear(p + "crossattention.output.dense", Hq, Hq);
      norm(p + "crossattention.output.LayerNorm");
    }
    linear(p + "intermediate.dense", Iq, Hq);
    linear(p + "output.dense", Hq, Iq);
    norm(p + "output.LayerNorm");
    linear(p + "intermediate_query.dense", Iq, Hq);
    linear(p + "output_query.dense", Hq, Iq);
    norm(p + "output_query.LayerNorm");
  }

  const std::string eva = "model.vision_tower.vision_tower.";
  s[eva + "cls_token"] = {1, 1, Cv};
  s[eva + "pos_embed"] = {1, 257, Cv};
  s[eva + "patch_embed.proj.weight"] = {Cv, 3, 14, 14};
  s[eva + "patch_embed.proj.bias"] = {Cv};
  for (int i = 0; i < 39; ++i) {
    const std::string p = eva + "blocks." + std::to_string(i) + ".";
    for (const char* n : {"norm1", "norm2"}) {
      s[p + n + ".weight"] = {Cv};
      s[p + n + ".bias"] = {Cv};
    }
    s[p + "attn.qkv.weight"] = {3 * Cv, Cv};
    s[p + "attn.q_bias"] = {Cv};
    s[p + "attn.v_bias"] = {Cv};
    s[p + "attn.proj.weight"] = {Cv, Cv};
    s[p + "attn.proj.bias"] = {Cv};
    s[p + "mlp.fc1.weight"] = {6144, Cv};
    s[p + "mlp.fc1.bias"] = {6144};
    s[p + "mlp.fc2.weight"] = {Cv, 6144};
    s[p + "mlp.fc2.bias"] = {Cv};
  }
  return s;
}

// The released long-video config.json (the keys that size the model).
const char* kReleasedConfig = R"({
  "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
  "rms_norm_eps": 1e-05, "vocab_size": 32000, "mm_hidden_size": 1408,
  "mm_projector_type": "mlp2x_gelu", "compress_type": "mean_concat", "num_qformer": 32,
  "max_token": 65536, "rope_scaling": {"type": "linear", "factor": 16.0}})";

}  // namespace

// Names and shapes equal the released list; the total is the released 7.94e9 parameters.
TEST(ReleasedShapes, MatchReferenceList) {
  ModelConfig config = parse_config(kReleasedConfig, "config.json");
  ModelModules modules(config, /*num_query=*/32, torch::TensorOptions().device(torch::kMeta));
  Shapes want = released_tensor_list();
  Shapes got;
  int64_t total = 0;
  for (const auto& [name, tensor] : modules.named_tensors()) {
    EXPECT_TRUE(tensor.is_meta()) << name << " was allocated";
    got[name] = tensor.sizes().vec();
    total += tensor.numel();
  }
  for (const auto& [name, shape] : want) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << "missing " << name;
      continue;
    }
    EXPECT_EQ(it->second, shape) << name;
  }
  for (const auto& [name, shape] : got) EXPECT_TRUE(want.count(name)) << "unexpected " << name;
  EXPECT_EQ(got.size(), want.size());
  // 15.89 GB of bf16 shards = 7.94e9 parameters.
  EXPECT_NEAR(static_cast<double>(total), 7.94e9, 0.01e9);
  int64_t listed = 0;
  for (const auto& [name, shape] : want) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    listed += n;
  }
  EXPECT_EQ(total, listed);
}
