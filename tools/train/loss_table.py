"""Prints a training run's per-category loss curve (loss.tsv written by llamavid-train) as the
Markdown table the model card keeps: one row per EVERY steps, each the mean of the logged values
in that window. A step logged twice (a run stopped between two checkpoints and resumed from the
earlier one) counts once, the later line.

usage: loss_table.py LOSS_TSV [EVERY] [FIRST_STEP]
"""
import sys

CATEGORIES = ["now", "on-screen", "at", "order", "presence", "first", "last", "duration",
              "count", "describe", "off-topic"]


def read(path):
    rows = {}
    with open(path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                continue
            values = dict(c.split("=", 1) for c in cols[4:] if "=" in c)
            rows[int(cols[0])] = (int(cols[2]), int(cols[3]), values)
    return [(step,) + rows[step] for step in sorted(rows)]


def main():
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    rows = [r for r in read(sys.argv[1]) if r[0] > first]
    print("| step | most entries | minutes | " + " | ".join(CATEGORIES) + " |")
    print("|---" * (len(CATEGORIES) + 3) + "|")
    window = []
    for row in rows:
        window.append(row)
        if row[0] % every == 0 or row is rows[-1]:
            step, entries, seconds = row[0], row[1], row[2]
            means = []
            for c in CATEGORIES:
                v = [float(r[3][c]) for r in window if c in r[3]]
                means.append("%.2f" % (sum(v) / len(v)) if v else "")
            print("| %d | %d | %d | %s |" % (step, entries, seconds // 60, " | ".join(means)))
            window = []


if __name__ == "__main__":
    main()
