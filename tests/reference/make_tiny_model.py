"""Writes a tiny random llamavid model directory (config.json, model.safetensors, tokenizer.model,
vocab.txt) for tests that need a working model but not a particular answer.

usage: make_tiny_model.py OUT_DIR [video|movie] [--seed N] [--time-anchors]
                         [--class-anchors]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import eva_ref  # noqa: E402
import llama_ref  # noqa: E402
import make_released_checkpoint as rc  # noqa: E402
import safetensors_io  # noqa: E402
import token_generator_ref as tg  # noqa: E402


def main():
    out = sys.argv[1]
    style = sys.argv[2] if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else "movie"
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    os.makedirs(out, exist_ok=True)
    sp, vocab = rc.write_tokenizers(out)
    config = rc.tiny_config(sp, vocab, style)
    if "--time-anchors" in sys.argv:  # questions read their times' entries again
        config["llamavid_time_anchors"] = True
    if "--class-anchors" in sys.argv:  # questions read the runs of the captions they name
        config["llamavid_class_anchors"] = True
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    gen = torch.Generator().manual_seed(seed)
    mcfg = tg.model_config(config)
    sd = eva_ref.random_eva_weights(mcfg["vision"], gen)
    sd.update(tg.random_token_generator_weights(mcfg, 4, gen))
    sd.update(llama_ref.random_weights(config, gen))
    safetensors_io.save(sd, os.path.join(out, "model.safetensors"))


if __name__ == "__main__":
    main()
