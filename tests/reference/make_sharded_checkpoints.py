"""Writes one state dict as HF-style sharded checkpoints: make_sharded_checkpoints.py DIR.

DIR/full.pt         the whole state dict (torch.save)
DIR/bin/            pytorch_model-0000{1,2}-of-00002.bin + pytorch_model.bin.index.json
DIR/st/             model-0000{1,2}-of-00002.safetensors + model.safetensors.index.json
DIR/plain/          the same two safetensors shards without an index
"""
import collections
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def state_dict():
    g = torch.Generator().manual_seed(1)
    sd = collections.OrderedDict()
    for i in range(3):
        sd[f"model.layers.{i}.weight"] = torch.randn(4, 3, generator=g).to(torch.bfloat16)
        sd[f"model.layers.{i}.bias"] = torch.randn(4, generator=g).to(torch.bfloat16)
    sd["model.position_ids"] = torch.arange(5).unsqueeze(0)
    sd["lm_head.weight"] = torch.randn(6, 4, generator=g)
    return sd


def shards(sd):
    names = list(sd)
    return [names[: len(names) // 2], names[len(names) // 2:]]


def write(directory, sd, pattern, index_name, save):
    os.makedirs(directory, exist_ok=True)
    weight_map = {}
    for i, names in enumerate(shards(sd)):
        file = pattern.format(i + 1)
        save(collections.OrderedDict((n, sd[n]) for n in names), os.path.join(directory, file))
        weight_map.update({n: file for n in names})
    if index_name:
        with open(os.path.join(directory, index_name), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)


def main(root):
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    sd = state_dict()
    torch.save(sd, os.path.join(root, "full.pt"))
    write(os.path.join(root, "bin"), sd, "pytorch_model-0000{}-of-00002.bin",
          "pytorch_model.bin.index.json", torch.save)
    write(os.path.join(root, "st"), sd, "model-0000{}-of-00002.safetensors",
          "model.safetensors.index.json", safetensors_io.save)
    write(os.path.join(root, "plain"), sd, "model-0000{}-of-00002.safetensors", None,
          safetensors_io.save)


if __name__ == "__main__":
    main(sys.argv[1])
