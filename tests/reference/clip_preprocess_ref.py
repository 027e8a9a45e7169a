"""Reference for lib/preprocess: CLIPImageProcessor's steps done with PIL, as LLaMA-VID runs them.

Writes random test images (PNG) of several sizes and aspect ratios, and the expected pixel
tensors [3, S, S] to <out>/expected.safetensors: "img_WxH" cropped (LLaMA-VID's video frames),
"pad_img_WxH" padded to a square with the mean colour first (its "pad" images).
usage: clip_preprocess_ref.py OUT_DIR SIZE
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def clip_preprocess(img, size):
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    img = img.resize((new_w, new_h), Image.BICUBIC)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    img = img.crop((left, top, left + size, top + size))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - MEAN) / STD
    return torch.from_numpy(x.transpose(2, 0, 1).copy())


def expand2square(img):
    """LLaMA-VID's process_images with image_aspect_ratio "pad"."""
    w, h = img.size
    if w == h:
        return img
    side = max(w, h)
    square = Image.new(img.mode, (side, side), tuple(int(x * 255) for x in MEAN))
    square.paste(img, ((side - w) // 2, (side - h) // 2))
    return square


def main():
    out, size = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(7)
    expected = {}
    # Smooth content plus noise: resampling differences show up on edges and gradients alike.
    for w, h in [(320, 240), (240, 320), (100, 60), (size, size), (17, 23), (640, 360)]:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1),
                         (xx + yy) % 64 * 4], axis=-1)
        noisy = base + rng.normal(0, 20, size=base.shape)
        pixels = np.clip(noisy, 0, 255).astype(np.uint8)
        name = f"img_{w}x{h}"
        Image.fromarray(pixels, "RGB").save(os.path.join(out, name + ".png"))
        expected[name] = clip_preprocess(Image.fromarray(pixels, "RGB"), size)
        expected["pad_" + name] = clip_preprocess(expand2square(Image.fromarray(pixels, "RGB")),
                                                  size)
    safetensors_io.save(expected, os.path.join(out, "expected.safetensors"))


if __name__ == "__main__":
    main()
