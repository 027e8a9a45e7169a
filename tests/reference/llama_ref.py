"""Plain functional LLaMA (transformers 4.31 semantics) for parity tests.

Written from the facts in shared/reference/llamavid.md section 4: RMSNorm in fp32, rotary
embedding with the rotate_half convention and linear scaling (positions divided by the factor),
grouped-query attention by repeating K/V heads, SiLU MLP, fp32 softmax, optional tied
embeddings. Weights are a state dict with the released key names (model.embed_tokens.weight,
model.layers.{i}.self_attn.q_proj.weight, ..., lm_head.weight), so a whole-model reference can
pass its own state dict. Every forward recomputes the full sequence: no cache, on purpose.

Run as a script: llama_ref.py OUTDIR writes one directory per case (base, gqa, rope_scaling,
tied) holding config.json, weights.safetensors and io.safetensors (ids, logits, gen_prompt,
gen_ids, and the packed layout of ids: packed_positions, packed_allowed, packed_logits).
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def rms_norm(x, weight, eps):
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def rope_cos_sin(positions, head_dim, theta, factor, dtype):
    """cos, sin [L, head_dim] for integer positions [L]."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    t = positions.float() / factor
    freqs = torch.einsum("i,j->ij", t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope_factor(cfg):
    scaling = cfg.get("rope_scaling")
    if not scaling:
        return 1.0
    assert scaling["type"] == "linear"
    return float(scaling["factor"])


def attention(sd, prefix, cfg, x, cos, sin, allowed=None):
    b, n, c = x.shape
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    d = c // heads
    q = (x @ sd[prefix + "q_proj.weight"].T).view(b, n, heads, d).transpose(1, 2)
    k = (x @ sd[prefix + "k_proj.weight"].T).view(b, n, kv_heads, d).transpose(1, 2)
    v = (x @ sd[prefix + "v_proj.weight"].T).view(b, n, kv_heads, d).transpose(1, 2)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    # Query head h reads kv head h // (heads // kv_heads).
    k = k.repeat_interleave(heads // kv_heads, dim=1)
    v = v.repeat_interleave(heads // kv_heads, dim=1)
    scores = q @ k.transpose(2, 3) / math.sqrt(d)
    if allowed is None:
        allowed = torch.ones(n, n, dtype=torch.bool).tril()
    else:
        allowed = allowed.unsqueeze(1)  # [B, 1, L, L]: the same for every head
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    out = (probs @ v).transpose(1, 2).reshape(b, n, c)
    return out @ sd[prefix + "o_proj.weight"].T


def mlp(sd, prefix, x):
    gate = x @ sd[prefix + "gate_proj.weight"].T
    up = x @ sd[prefix + "up_proj.weight"].T
    return (torch.nn.functional.silu(gate) * up) @ sd[prefix + "down_proj.weight"].T


def embed(sd, ids):
    """ids [B, L] int64 -> [B, L, C]"""
    return sd["model.embed_tokens.weight"][ids]


def logits(sd, cfg, embeds, positions=None, allowed=None):
    """embeds [B, L, C] -> fp32 logits [B, L, V]. By default causal at positions 0..L-1; a packed
    sequence gives its positions [B, L] and which keys each query sees, allowed [B, L, L] bool."""
    n = embeds.shape[1]
    d = cfg["hidden_size"] // cfg["num_attention_heads"]
    theta, factor = cfg.get("rope_theta", 10000.0), rope_factor(cfg)
    if positions is None:
        cos, sin = rope_cos_sin(torch.arange(n), d, theta, factor, embeds.dtype)
    else:
        tables = [rope_cos_sin(row, d, theta, factor, embeds.dtype) for row in positions]
        cos = torch.stack([t[0] for t in tables]).unsqueeze(1)  # [B, 1, L, D]
        sin = torch.stack([t[1] for t in tables]).unsqueeze(1)
    eps = cfg["rms_norm_eps"]
    h = embeds
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = h + attention(sd, p + "self_attn.", cfg, rms_norm(h, sd[p + "input_layernorm.weight"],
                                                                eps), cos, sin, allowed)
        h = h + mlp(sd, p + "mlp.", rms_norm(h, sd[p + "post_attention_layernorm.weight"], eps))
    h = rms_norm(h, sd["model.norm.weight"], eps)
    head = sd["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else sd[
        "lm_head.weight"]
    return (h @ head.T).float()


def greedy_generate(sd, cfg, embeds, max_new_tokens, eos_token_id):
    """Greedy ids after the prompt embeds [1, L, C], without EOS; also the smallest gap
    between the best and second-best logit over the steps (how robust the argmax is)."""
    ids = []
    min_gap = float("inf")
    for _ in range(max_new_tokens):
        last = logits(sd, cfg, embeds)[0, -1]
        top = torch.topk(last, 2).values
        min_gap = min(min_gap, float(top[0] - top[1]))
        nxt = int(last.argmax())
        if nxt == eos_token_id:
            break
        ids.append(nxt)
        embeds = torch.cat([embeds, embed(sd, torch.tensor([[nxt]]))], dim=1)
    return ids, min_gap


def random_weights(cfg, gen):
    """Weights scaled by 1/sqrt(fan_in) so activations and logits stay O(1)."""
    c = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg["num_key_value_heads"] * (c // heads)
    inter = cfg["intermediate_size"]
    vocab = cfg["vocab_size"]

    def linear(out_f, in_f):
        return torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)

    def norm():
        return 1.0 + 0.1 * torch.randn(c, generator=gen)

    sd = {"model.embed_tokens.weight": torch.randn(vocab, c, generator=gen)}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        sd[p + "self_attn.q_proj.weight"] = linear(c, c)
        sd[p + "self_attn.k_proj.weight"] = linear(kv, c)
        sd[p + "self_attn.v_proj.weight"] = linear(kv, c)
        sd[p + "self_attn.o_proj.weight"] = linear(c, c)
        sd[p + "mlp.gate_proj.weight"] = linear(inter, c)
        sd[p + "mlp.up_proj.weight"] = linear(inter, c)
        sd[p + "mlp.down_proj.weight"] = linear(c, inter)
        sd[p + "input_layernorm.weight"] = norm()
        sd[p + "post_attention_layernorm.weight"] = norm()
    sd["model.norm.weight"] = norm()
    if not cfg["tie_word_embeddings"]:
        # Larger than 1/sqrt(C) so greedy choices are clear-cut.
        sd["lm_head.weight"] = 4.0 * linear(vocab, c)
    return sd


BASE = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "vocab_size": 96, "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 256,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
}

# name -> (seed, config changes). Seeds chosen so that greedy generation is clear-cut and
# stops at EOS in two cases (gqa, rope_scaling).
CASES = {
    "base": (108, {}),
    "gqa": (100, {"num_attention_heads": 8, "num_key_value_heads": 2, "rope_theta": 500.0,
                  "rms_norm_eps": 1e-6, "num_hidden_layers": 3}),
    "rope_scaling": (111, {"rope_scaling": {"type": "linear", "factor": 4.0}}),
    "tied": (100, {"tie_word_embeddings": True}),
}


def packed_layout(batch, prefix, blocks):
    """Positions [B, L] and allowed [B, L, L] of one prefix followed by question blocks of the
    given sizes: the prefix is causal, each block sees the prefix and itself (causally), and its
    positions restart right after the prefix, as the trainer packs several questions about one
    memory into one sequence."""
    n = prefix + sum(blocks)
    positions = list(range(prefix))
    allowed = torch.zeros(n, n, dtype=torch.bool)
    allowed[:prefix, :prefix] = torch.ones(prefix, prefix, dtype=torch.bool).tril()
    start = prefix
    for size in blocks:
        positions += range(prefix, prefix + size)
        allowed[start:start + size, :prefix] = True
        allowed[start:start + size, start:start + size] = torch.ones(size, size,
                                                                     dtype=torch.bool).tril()
        start += size
    return (torch.tensor(positions).expand(batch, n).contiguous(),
            allowed.expand(batch, n, n).contiguous())


def write_case(outdir, name):
    seed, changes = CASES[name]
    cfg = dict(BASE, **changes)
    gen = torch.Generator().manual_seed(seed)
    sd = random_weights(cfg, gen)
    ids = torch.randint(3, cfg["vocab_size"], (2, 24), generator=gen)
    gen_prompt = torch.randint(3, cfg["vocab_size"], (1, 9), generator=gen)
    with torch.no_grad():
        out = logits(sd, cfg, embed(sd, ids))
        packed_positions, packed_allowed = packed_layout(2, 10, [5, 4, 5])
        packed = logits(sd, cfg, embed(sd, ids), packed_positions, packed_allowed)
        gen_ids, min_gap = greedy_generate(sd, cfg, embed(sd, gen_prompt), 12,
                                           cfg["eos_token_id"])
    if min_gap < 1e-3:
        raise SystemExit("case %s: greedy choice within %g of a tie; pick another seed" %
                         (name, min_gap))
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    safetensors_io.save(sd, os.path.join(d, "weights.safetensors"))
    safetensors_io.save({"ids": ids, "logits": out, "gen_prompt": gen_prompt,
                         "packed_positions": packed_positions,
                         "packed_allowed": packed_allowed.to(torch.int64), "packed_logits": packed,
                         "gen_ids": torch.tensor(gen_ids, dtype=torch.int64)},
                        os.path.join(d, "io.safetensors"))


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: llama_ref.py OUTDIR")
    torch.set_num_threads(1)
    for name in CASES:
        write_case(sys.argv[1], name)


if __name__ == "__main__":
    main()
