"""Writes a tiny random model whose vision tower is deliberately slow (a 448-pixel input, 1024
patches, and a wider, deeper ViT: about 16 GFLOP a frame), for element tests that need the
encoder to fall behind a live 30 fps source. At 224 pixels (257 tokens, 2.8 GFLOP) a fast
many-core CI machine kept up with 30 fps and skipped nothing.

usage: make_slow_model.py OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import make_released_checkpoint as rc  # noqa: E402
import make_tiny_model  # noqa: E402

VISION = {"image_size": 448, "patch_size": 14, "hidden_size": 256, "num_hidden_layers": 6,
          "num_attention_heads": 4, "intermediate_size": 1024}


def slow_config(tiny_config):
    def config(sp, vocab, style):
        c = tiny_config(sp, vocab, style)
        c["vision_config"].update(VISION)
        c["mm_hidden_size"] = VISION["hidden_size"]
        return c
    return config


if __name__ == "__main__":
    rc.tiny_config = slow_config(rc.tiny_config)
    sys.argv = [sys.argv[0], sys.argv[1], "movie"]
    make_tiny_model.main()
