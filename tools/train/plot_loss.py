"""Draws the loss curve of a training run (loss.tsv written by llamavid-train) as a PNG, with
PIL only (no matplotlib on the build machines).

usage: plot_loss.py LOSS_TSV OUT_PNG
"""
import math
import sys

from PIL import Image, ImageDraw

W, H, M = 800, 420, 60


def main():
    steps, losses = [], []
    with open(sys.argv[1]) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2:
                steps.append(int(cols[0]))
                losses.append(float(cols[1]))
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([M, M // 2, W - M // 2, H - M], outline="black")
    d.text((M, 8), "llamavid default model: training loss (log scale) against step", fill="black")
    if steps:
        lo = math.log10(max(min(losses), 1e-4))
        hi = math.log10(max(max(losses), 1e-4))
        if hi - lo < 1e-6:
            hi = lo + 1
        x0, x1 = M, W - M // 2
        y0, y1 = H - M, M // 2
        smax = max(steps[-1], 1)

        def xy(s, v):
            x = x0 + (x1 - x0) * s / smax
            y = y0 + (y1 - y0) * (math.log10(max(v, 1e-4)) - lo) / (hi - lo)
            return x, y

        d.line([xy(s, v) for s, v in zip(steps, losses)], fill=(30, 90, 200), width=2)
        for frac in (0.0, 0.5, 1.0):
            v = 10 ** (lo + (hi - lo) * frac)
            _, y = xy(0, v)
            d.text((4, y - 6), "%.3g" % v, fill="black")
        d.text((x0, y0 + 8), "0", fill="black")
        d.text((x1 - 40, y0 + 8), str(smax), fill="black")
    img.save(sys.argv[2])


if __name__ == "__main__":
    main()
