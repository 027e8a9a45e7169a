"""Reduced evaluation of the shipped default model (models/default) through llamavid-eval:
held-out streams of 10 to 40 minutes at frame sizes and sampling rates beyond training, pushed
through the llamavid element in both context modes, 200 questions (about 18 per category), each
category of the default (standing) mode held to a threshold two questions under what the model
card reports for this command, so that a few answers flipped by another machine's float rounding
pass and a broken model does not. Categories the model does not yet answer (at, duration and
describe, 5-20 %) have no threshold to hold. Then the same streams as real
files (--real-files: x264enc/mp4mux, vp8enc/webmmux, jpegenc/avimux, x264enc/matroskamux at
sizes never trained, portrait too, played through filesrc ! decodebin), standing mode, with
thresholds of their own.

usage: test_default_model_eval.py LLAMAVID_EVAL MODEL_DIR SCRATCH_DIR
"""
import os
import re
import subprocess
import sys

# Measured (step 13000 of the grown run, models/default/README.md, --threads 1): now 75 %,
# on-screen 90, order 95, presence 80, first 85, last 85, count 100, off-topic 93.3 (20 questions
# a category, 15 for count and off-topic); at (5 %), duration and describe (13-20 %) have none.
THRESHOLDS = ("now=0.65,on-screen=0.80,order=0.85,presence=0.70,first=0.75,last=0.75,"
              "count=0.85,off-topic=0.80")
# Measured on the real files (the card): now 95 %, on-screen 100, order 100, presence 80,
# first 85, last 70, count 100, off-topic 93.3.
FILE_THRESHOLDS = ("now=0.85,on-screen=0.90,order=0.90,presence=0.70,first=0.75,last=0.60,"
                   "count=0.85,off-topic=0.80")


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(res.stdout)
    return res


def main():
    evaluate, model, scratch = sys.argv[1:4]
    common = [evaluate, "--model", model, "--seed", "7", "--streams", "5", "--min-length", "600",
              "--max-length", "2400", "--questions", "40", "--threads", "2"]
    res = run(common + ["--check", THRESHOLDS])
    # Both context modes are evaluated and compared (issue 5), whatever the thresholds say.
    header = "| category | questions | standing correct | standing accuracy | exact correct |"
    if header not in res.stdout or "| standing - exact |" not in res.stdout:
        print("the table lacks a column per context mode and their difference")
        sys.exit(1)
    # The table by memory groups the first mode's questions: every question in one group.
    total = re.search(r"^\| all \| (\d+) \|", res.stdout, re.M)
    grouped = re.findall(r"^\| (?:[\d+-]+ entries|segments split) \| \d+ \|.* \((\d+)\) \|$",
                         res.stdout.split("by memory (standing mode)")[-1], re.M)
    if not total or not grouped or sum(map(int, grouped)) != int(total.group(1)):
        print("the table by memory does not account for every question")
        sys.exit(1)
    os.makedirs(scratch, exist_ok=True)
    files = run(common + ["--context-mode", "standing", "--real-files", scratch,
                          "--check", FILE_THRESHOLDS])
    for written in ("x264enc/mp4mux", "vp8enc/webmmux", "jpegenc/avimux", "x264enc/matroskamux"):
        if written not in files.stdout:
            print("no stream was written with " + written)
            sys.exit(1)
    sys.exit(res.returncode or files.returncode)


if __name__ == "__main__":
    main()
