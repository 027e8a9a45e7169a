"""Plain-PyTorch reference of LLaMA-VID's token generation (llamavid.md sections 1 and 3).

Weights are a state dict with the released key names (prefix "model."). Run as a script to
write a tiny random fixture:

    token_generator_ref.py OUTDIR CONFIG_JSON [--frames T] [--tokens M] [--pad P] [--seed S]

OUTDIR/weights.safetensors  the weights (vlm_att_*, mm_projector, Q-Former)
OUTDIR/io.safetensors       features [T,M,Cv], input_ids [1,L], attention_mask [1,L],
                            prompt_features, content, text_queries, context, tokens
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_cli  # noqa: E402
import safetensors_io  # noqa: E402
from eva_ref import linear_weights, norm_weights, vision_config  # noqa: E402
from qformer_ref import qformer_config, qformer_forward, random_qformer_weights  # noqa: E402

PREFIX = "model."


def model_config(config):
    """The token-generation settings of a config.json dict."""
    vcfg = vision_config(config)
    projector = config.get("mm_projector_type", "mlp2x_gelu")
    depth = 1 if projector == "linear" else int(projector[len("mlp"):projector.index("x_gelu")])
    return dict(vision=vcfg, qformer=qformer_config(config),
                llm_hidden=config.get("hidden_size", 4096),
                mm_hidden=config.get("mm_hidden_size", vcfg["hidden_size"]),
                projector_depth=depth,
                select_feature=config.get("mm_vision_select_feature", "patch"),
                compress_type=config.get("compress_type"))


def prompt_features(features, mcfg):
    """Drop the first token only for select_feature 'patch' and an odd token count."""
    if mcfg["select_feature"] == "patch" and features.shape[1] % 2 == 1:
        return features[:, 1:]
    return features


def mm_projector(sd, x, mcfg, prefix=PREFIX):
    x = F.linear(x, sd[prefix + "mm_projector.0.weight"], sd[prefix + "mm_projector.0.bias"])
    for i in range(1, mcfg["projector_depth"]):
        p = f"{prefix}mm_projector.{2 * i}."
        x = F.linear(F.gelu(x), sd[p + "weight"], sd[p + "bias"])
    return x


def content_tokens(sd, x, mcfg, prefix=PREFIX):
    """x [T,N,Cv] -> [T,K,C]."""
    compress = mcfg["compress_type"]
    if compress is not None:
        if "grid" in compress:
            grid = int(compress.split("grid:")[-1])
            side = int(x.shape[1] ** 0.5)
            stride = side // grid
            x = x.reshape(x.shape[0], side, side, -1).permute(0, 3, 1, 2)
            x = F.avg_pool2d(x, kernel_size=stride, stride=stride, padding=0)
            x = x.permute(0, 2, 3, 1).flatten(1, 2)
        elif "mean" in compress:
            x = x.mean(dim=1, keepdim=True)
    return mm_projector(sd, x, mcfg, prefix)


def text_queries(sd, qformer_feats, input_ids, attention_mask, mcfg, prefix=PREFIX):
    """qformer_feats [T,N',Cv], input_ids / attention_mask [1,L] -> [T,Q,Cv]."""
    t = qformer_feats.shape[0]
    # vlm_att_ln: torch.nn.LayerNorm with its default eps 1e-5.
    image = F.layer_norm(qformer_feats, (qformer_feats.shape[-1],),
                         sd[prefix + "vlm_att_ln.weight"], sd[prefix + "vlm_att_ln.bias"], 1e-5)
    query = sd[prefix + "vlm_att_query"].expand(t, -1, -1)
    out = qformer_forward(sd, query, input_ids.expand(t, -1), attention_mask.expand(t, -1), image,
                          mcfg["qformer"], prefix + "vlm_att_encoder.bert.")
    return F.linear(out, sd[prefix + "vlm_att_projector.weight"],
                    sd[prefix + "vlm_att_projector.bias"])


def context_tokens(sd, text_q, x, prefix=PREFIX):
    """text_q [T,Q,Cv], x [T,N,Cv] -> [T,C]."""
    keys = F.linear(x, sd[prefix + "vlm_att_key_projector.weight"],
                    sd[prefix + "vlm_att_key_projector.bias"])
    scores = text_q @ keys.transpose(-1, -2) / (x.shape[-1] ** 0.5)
    ctx = (scores.softmax(-1) @ x).mean(1)
    return F.linear(ctx, sd[prefix + "vlm_att_val_projector.weight"],
                    sd[prefix + "vlm_att_val_projector.bias"])


def frame_tokens(sd, features, input_ids, attention_mask, mcfg, prefix=PREFIX):
    """features [T,M,Cv] (EVA output with CLS, or long-video features without) -> [T,1+K,C]."""
    x = prompt_features(features, mcfg)
    text_q = text_queries(sd, features, input_ids, attention_mask, mcfg, prefix)
    ctx = context_tokens(sd, text_q, x, prefix)
    return torch.cat([ctx[:, None], content_tokens(sd, x, mcfg, prefix)], dim=1)


def random_token_generator_weights(mcfg, num_query, gen, prefix=PREFIX):
    cv, hq, c = mcfg["mm_hidden"], mcfg["qformer"]["hidden_size"], mcfg["llm_hidden"]
    sd = random_qformer_weights(mcfg["qformer"], cv, gen, prefix + "vlm_att_encoder.bert.")
    sd[prefix + "vlm_att_query"] = torch.randn(1, num_query, hq, generator=gen)
    norm_weights(gen, sd, prefix + "vlm_att_ln", cv)
    linear_weights(gen, sd, prefix + "vlm_att_projector", hq, cv)
    linear_weights(gen, sd, prefix + "vlm_att_key_projector", cv, cv)
    linear_weights(gen, sd, prefix + "vlm_att_val_projector", cv, c)
    linear_weights(gen, sd, prefix + "mm_projector.0", cv, c)
    for i in range(1, mcfg["projector_depth"]):
        linear_weights(gen, sd, f"{prefix}mm_projector.{2 * i}", c, c)
    return sd


def main():
    args, config, gen = fixture_cli.fixture_args(
        ("--frames", dict(type=int, default=3)),
        ("--tokens", dict(type=int, required=True, help="feature tokens per frame")),
        ("--queries", dict(type=int, default=4)),
        ("--pad", dict(type=int, default=0, help="padded positions at the text end")))
    mcfg = model_config(config)
    sd = random_token_generator_weights(mcfg, args.queries, gen)

    length = 5 + args.pad
    input_ids = torch.randint(1, mcfg["qformer"]["vocab_size"], (1, length), generator=gen)
    attention_mask = (torch.arange(length) < 5).long()[None]
    input_ids = input_ids * attention_mask
    features = torch.randn(args.frames, args.tokens, mcfg["mm_hidden"], generator=gen)
    with torch.no_grad():
        x = prompt_features(features, mcfg)
        text_q = text_queries(sd, features, input_ids, attention_mask, mcfg)
        io = {"features": features, "input_ids": input_ids, "attention_mask": attention_mask,
              "prompt_features": x, "content": content_tokens(sd, x, mcfg),
              "text_queries": text_q, "context": context_tokens(sd, text_q, x),
              "tokens": frame_tokens(sd, features, input_ids, attention_mask, mcfg)}
    safetensors_io.save(sd, os.path.join(args.outdir, "weights.safetensors"))
    safetensors_io.save(io, os.path.join(args.outdir, "io.safetensors"))


if __name__ == "__main__":
    main()
