"""Checks that a safetensors file written by the C++ writer holds exactly the tensors of a
torch.save file: check_safetensors.py WRITTEN.safetensors EXPECTED.pt. Exits 1 on a difference.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_torch_checkpoints  # noqa: E402,F401  (registers the extra dtypes)
import safetensors_io  # noqa: E402


def main(written, expected_path):
    got = safetensors_io.load(written)
    expected = torch.load(expected_path)
    ok = sorted(got) == sorted(expected)
    if not ok:
        print("names differ:", sorted(got), sorted(expected))
    for name, t in expected.items():
        g = got.get(name)
        if g is None or g.dtype != t.dtype or g.shape != t.shape or not torch.equal(g, t):
            print("tensor differs:", name)
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
