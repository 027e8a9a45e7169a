"""The command line of the reference fixture writers: OUTDIR CONFIG [--seed S] and their own
options. One place, so that every reference reads its config and seeds its weights alike."""

import argparse
import json

import torch


def fixture_args(*options):
    """options: (flag, argparse keyword arguments) pairs. Returns (args, the config.json as a
    dict, a torch.Generator seeded with --seed)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("config")
    ap.add_argument("--seed", type=int, default=0)
    for flag, kwargs in options:
        ap.add_argument(flag, **kwargs)
    args = ap.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    return args, config, torch.Generator().manual_seed(args.seed)
