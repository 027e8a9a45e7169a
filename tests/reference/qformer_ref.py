"""Plain-PyTorch reference of LLaMA-VID's Q-Former (llamavid.md section 3), functional style.

Weights are a state dict with the released key names (prefix "model.vlm_att_encoder.bert.").
Run as a script to write a tiny random fixture:

    qformer_ref.py OUTDIR CONFIG_JSON [--seed S]

OUTDIR/weights.safetensors  the weights
OUTDIR/io.safetensors       query, input_ids, attention_mask (rows with padding),
                            image_feats, output
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_cli  # noqa: E402
import safetensors_io  # noqa: E402
from eva_ref import linear_weights, norm_weights, vision_config  # noqa: E402

PREFIX = "model.vlm_att_encoder.bert."


def qformer_config(config):
    """The Q-Former settings of a config.json dict (bert-base-uncased + LLaMA-VID defaults)."""
    q = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             intermediate_size=3072, cross_attention_freq=2, vocab_size=30523,
             max_position_embeddings=512, layer_norm_eps=1e-12)
    q.update(config.get("qformer_config") or {})
    return q


def _linear(sd, p, x):
    return F.linear(x, sd[p + "weight"], sd[p + "bias"])


def _layer_norm(sd, p, x, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[p + "weight"], sd[p + "bias"], eps)


def _attention(sd, p, x, kv, heads, additive_mask, eps):
    """BERT attention block p = "...attention." or "...crossattention.": post-LN residual."""
    b, nq, h = x.shape
    d = h // heads

    def split(t):
        return t.view(b, t.shape[1], heads, d).transpose(1, 2)

    q = split(_linear(sd, p + "self.query.", x))
    k = split(_linear(sd, p + "self.key.", kv))
    v = split(_linear(sd, p + "self.value.", kv))
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if additive_mask is not None:
        scores = scores + additive_mask
    ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, nq, h)
    return _layer_norm(sd, p + "output.LayerNorm.", _linear(sd, p + "output.dense.", ctx) + x,
                       eps)


def _feed_forward(sd, p, suffix, x, eps):
    h = F.gelu(_linear(sd, f"{p}intermediate{suffix}.dense.", x))
    return _layer_norm(sd, f"{p}output{suffix}.LayerNorm.",
                       _linear(sd, f"{p}output{suffix}.dense.", h) + x, eps)


def qformer_forward(sd, query, input_ids, attention_mask, image_feats, qcfg, prefix=PREFIX):
    """query [B,Q,H], input_ids [B,L], attention_mask [B,L], image_feats [B,N,Cw] -> [B,Q,H]."""
    p = prefix
    eps = qcfg["layer_norm_eps"]
    heads = qcfg["num_attention_heads"]
    nq, length = query.shape[1], input_ids.shape[1]
    # Text: word + absolute position embeddings (no token types); queries get no positions.
    text = (F.embedding(input_ids, sd[p + "embeddings.word_embeddings.weight"]) +
            sd[p + "embeddings.position_embeddings.weight"][:length])
    x = _layer_norm(sd, p + "embeddings.LayerNorm.", torch.cat([query, text], dim=1), eps)
    keep = torch.cat([torch.ones(query.shape[:2], dtype=x.dtype), attention_mask.to(x.dtype)], 1)
    mask = ((1.0 - keep) * -10000.0)[:, None, None, :]
    for i in range(qcfg["num_hidden_layers"]):
        lp = f"{p}encoder.layer.{i}."
        h = _attention(sd, lp + "attention.", x, x, heads, mask, eps)
        q = h[:, :nq]
        if i % qcfg["cross_attention_freq"] == 0:
            q = _attention(sd, lp + "crossattention.", q, image_feats, heads, None, eps)
        q = _feed_forward(sd, lp, "_query", q, eps)
        t = _feed_forward(sd, lp, "", h[:, nq:], eps)
        x = torch.cat([q, t], dim=1)
    return x[:, :nq]


def random_qformer_weights(qcfg, encoder_width, gen, prefix=PREFIX):
    h, f = qcfg["hidden_size"], qcfg["intermediate_size"]
    sd = {}
    sd[prefix + "embeddings.word_embeddings.weight"] = torch.randn(qcfg["vocab_size"], h,
                                                                   generator=gen)
    sd[prefix + "embeddings.position_embeddings.weight"] = 0.5 * torch.randn(
        qcfg["max_position_embeddings"], h, generator=gen)
    norm_weights(gen, sd, prefix + "embeddings.LayerNorm", h)

    def attention(p, kv_width):
        linear_weights(gen, sd, p + "self.query", h, h)
        linear_weights(gen, sd, p + "self.key", kv_width, h)
        linear_weights(gen, sd, p + "self.value", kv_width, h)
        linear_weights(gen, sd, p + "output.dense", h, h)
        norm_weights(gen, sd, p + "output.LayerNorm", h)

    for i in range(qcfg["num_hidden_layers"]):
        lp = f"{prefix}encoder.layer.{i}."
        attention(lp + "attention.", h)
        if i % qcfg["cross_attention_freq"] == 0:
            attention(lp + "crossattention.", encoder_width)
        for suffix in ("", "_query"):
            linear_weights(gen, sd, f"{lp}intermediate{suffix}.dense", h, f)
            linear_weights(gen, sd, f"{lp}output{suffix}.dense", f, h)
            norm_weights(gen, sd, f"{lp}output{suffix}.LayerNorm", h)
    return sd


def main():
    args, config, gen = fixture_cli.fixture_args()
    qcfg = qformer_config(config)
    width = vision_config(config)["hidden_size"]
    sd = random_qformer_weights(qcfg, width, gen)

    batch, num_query, length, n_image = 3, 4, 6, 5
    query = torch.randn(batch, num_query, qcfg["hidden_size"], generator=gen)
    input_ids = torch.randint(0, qcfg["vocab_size"], (batch, length), generator=gen)
    # Row 0 unpadded, rows 1 and 2 right-padded as BertTokenizer's padding='longest' does.
    lengths = torch.tensor([length, 4, 1])
    attention_mask = (torch.arange(length)[None] < lengths[:, None]).long()
    input_ids = input_ids * attention_mask
    image_feats = torch.randn(batch, n_image, width, generator=gen)
    with torch.no_grad():
        out = qformer_forward(sd, query, input_ids, attention_mask, image_feats, qcfg)
    safetensors_io.save(sd, os.path.join(args.outdir, "weights.safetensors"))
    safetensors_io.save({"query": query, "input_ids": input_ids,
                         "attention_mask": attention_mask, "image_feats": image_feats,
                         "output": out}, os.path.join(args.outdir, "io.safetensors"))


if __name__ == "__main__":
    main()
