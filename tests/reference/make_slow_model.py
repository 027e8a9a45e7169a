"""Writes a tiny random model whose vision tower is deliberately slow, for element tests that
need the encoder to fall behind a live source: a wider, deeper ViT at 224 pixels (257 tokens,
about 2.8 GFLOP a frame), or with `--slower` at 448 pixels (1025 tokens, about 16 GFLOP).

The 224-pixel model is for watches: with it, the encoder and three watches' rounds together
fall behind 30 fps, and rounds are skipped; a slower encoder makes new entries, and so rounds,
too rare to fall behind. The 448-pixel one is for skipped frames: a fast many-core CI machine
kept up with 30 fps at 224 pixels and skipped none.

usage: make_slow_model.py OUT_DIR [--slower]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import make_released_checkpoint as rc  # noqa: E402
import make_tiny_model  # noqa: E402

VISION = {"image_size": 224, "patch_size": 14, "hidden_size": 256, "num_hidden_layers": 6,
          "num_attention_heads": 4, "intermediate_size": 1024}


def slow_config(tiny_config):
    def config(sp, vocab, style):
        c = tiny_config(sp, vocab, style)
        c["vision_config"].update(VISION)
        c["mm_hidden_size"] = VISION["hidden_size"]
        return c
    return config


if __name__ == "__main__":
    if "--slower" in sys.argv[2:]:
        VISION["image_size"] = 448
    rc.tiny_config = slow_config(rc.tiny_config)
    sys.argv = [sys.argv[0], sys.argv[1], "movie"]
    make_tiny_model.main()
