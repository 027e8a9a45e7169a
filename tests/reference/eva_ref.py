"""Plain-PyTorch reference of LLaMA-VID's EVA-ViT (llamavid.md section 2), functional style.

Weights are a state dict with the released key names (prefix
"model.vision_tower.vision_tower."). Run as a script to write a tiny random fixture:

    eva_ref.py OUTDIR CONFIG_JSON [--batch B] [--checkpoint-grid G] [--seed S]

OUTDIR/weights.safetensors  the weights (pos_embed on grid G when given, else the config grid)
OUTDIR/io.safetensors       pixels, pos_embed_interpolated (to the config grid), output
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_cli  # noqa: E402
import safetensors_io  # noqa: E402

PREFIX = "model.vision_tower.vision_tower."


def vision_config(config):
    """The vision settings of a config.json dict (LAVIS eva_vit_g defaults)."""
    v = dict(image_size=224, patch_size=14, hidden_size=1408, num_hidden_layers=39,
             num_attention_heads=16, intermediate_size=6144, layer_norm_eps=1e-6)
    v.update(config.get("vision_config") or {})
    return v


def interpolate_pos_embed(pos_embed, new_grid):
    """[1, 1+G*G, C] -> [1, 1+new_grid^2, C]: CLS kept, grid resized bicubically in fp32."""
    c = pos_embed.shape[-1]
    grid = int(round(math.sqrt(pos_embed.shape[1] - 1)))
    if grid == new_grid:
        return pos_embed
    rows = pos_embed[:, 1:].float().reshape(1, grid, grid, c).permute(0, 3, 1, 2)
    rows = F.interpolate(rows, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
    rows = rows.permute(0, 2, 3, 1).flatten(1, 2).to(pos_embed.dtype)
    return torch.cat([pos_embed[:, :1], rows], dim=1)


def _attention(sd, p, x, heads):
    b, n, c = x.shape
    # Effective qkv bias: q_bias, zeros for k, v_bias.
    bias = torch.cat([sd[p + "q_bias"], torch.zeros_like(sd[p + "v_bias"]), sd[p + "v_bias"]])
    qkv = F.linear(x, sd[p + "qkv.weight"], bias)
    qkv = qkv.reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
    out = (attn @ v).transpose(1, 2).reshape(b, n, c)
    return F.linear(out, sd[p + "proj.weight"], sd[p + "proj.bias"])


def _layer_norm(sd, p, x, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[p + "weight"], sd[p + "bias"], eps)


def eva_forward(sd, pixels, vcfg, prefix=PREFIX):
    """pixels [B,3,S,S] -> [B,1+P,C]: CLS first, no final norm."""
    p = prefix
    x = F.conv2d(pixels, sd[p + "patch_embed.proj.weight"], sd[p + "patch_embed.proj.bias"],
                 stride=vcfg["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd[p + "cls_token"].expand(x.shape[0], -1, -1), x], dim=1)
    x = x + sd[p + "pos_embed"]
    eps = vcfg["layer_norm_eps"]
    for i in range(vcfg["num_hidden_layers"]):
        b = f"{p}blocks.{i}."
        x = x + _attention(sd, b + "attn.", _layer_norm(sd, b + "norm1.", x, eps),
                           vcfg["num_attention_heads"])
        h = _layer_norm(sd, b + "norm2.", x, eps)
        h = F.gelu(F.linear(h, sd[b + "mlp.fc1.weight"], sd[b + "mlp.fc1.bias"]))
        x = x + F.linear(h, sd[b + "mlp.fc2.weight"], sd[b + "mlp.fc2.bias"])
    return x


# ---- tiny random weights -----------------------------------------------------------------

def linear_weights(gen, sd, name, n_in, n_out, bias=True):
    """Weights ~ N(0, 1/n_in) so activations stay O(1); small biases."""
    sd[name + ".weight"] = torch.randn(n_out, n_in, generator=gen) / math.sqrt(n_in)
    if bias:
        sd[name + ".bias"] = 0.05 * torch.randn(n_out, generator=gen)


def norm_weights(gen, sd, name, dim):
    sd[name + ".weight"] = 1.0 + 0.1 * torch.randn(dim, generator=gen)
    sd[name + ".bias"] = 0.05 * torch.randn(dim, generator=gen)


def random_eva_weights(vcfg, gen, pos_grid=None, prefix=PREFIX):
    c, f, ps = vcfg["hidden_size"], vcfg["intermediate_size"], vcfg["patch_size"]
    grid = pos_grid or vcfg["image_size"] // ps
    sd = {}
    sd[prefix + "cls_token"] = 0.5 * torch.randn(1, 1, c, generator=gen)
    sd[prefix + "pos_embed"] = 0.5 * torch.randn(1, 1 + grid * grid, c, generator=gen)
    sd[prefix + "patch_embed.proj.weight"] = (torch.randn(c, 3, ps, ps, generator=gen) /
                                              math.sqrt(3 * ps * ps))
    sd[prefix + "patch_embed.proj.bias"] = 0.05 * torch.randn(c, generator=gen)
    for i in range(vcfg["num_hidden_layers"]):
        b = f"{prefix}blocks.{i}."
        norm_weights(gen, sd, b + "norm1", c)
        norm_weights(gen, sd, b + "norm2", c)
        linear_weights(gen, sd, b + "attn.qkv", c, 3 * c, bias=False)
        sd[b + "attn.q_bias"] = 0.05 * torch.randn(c, generator=gen)
        sd[b + "attn.v_bias"] = 0.05 * torch.randn(c, generator=gen)
        linear_weights(gen, sd, b + "attn.proj", c, c)
        linear_weights(gen, sd, b + "mlp.fc1", c, f)
        linear_weights(gen, sd, b + "mlp.fc2", f, c)
    return sd


def main():
    args, config, gen = fixture_cli.fixture_args(("--batch", dict(type=int, default=2)),
                                                 ("--checkpoint-grid", dict(type=int, default=0)))
    vcfg = vision_config(config)
    grid = vcfg["image_size"] // vcfg["patch_size"]
    sd = random_eva_weights(vcfg, gen, pos_grid=args.checkpoint_grid or grid)
    s = vcfg["image_size"]
    pixels = torch.randn(args.batch, 3, s, s, generator=gen)

    model_sd = dict(sd)
    pos = interpolate_pos_embed(sd[PREFIX + "pos_embed"], grid)
    model_sd[PREFIX + "pos_embed"] = pos
    with torch.no_grad():
        out = eva_forward(model_sd, pixels, vcfg)
    safetensors_io.save(sd, os.path.join(args.outdir, "weights.safetensors"))
    safetensors_io.save({"pixels": pixels, "pos_embed_interpolated": pos, "output": out},
                        os.path.join(args.outdir, "io.safetensors"))


if __name__ == "__main__":
    main()
