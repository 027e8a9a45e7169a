"""Reduced evaluation of the shipped default model (models/default) through llamavid-eval:
held-out streams of 10 to 40 minutes at frame sizes and sampling rates beyond training, pushed
through the llamavid element in both context modes, 200 questions (about 18 per category), each
category of the default (standing) mode held to a threshold two questions under what the model
card reports for this command, so that a few answers flipped by another machine's float rounding
pass and a broken model does not. Then the same streams as real
files (--real-files: x264enc/mp4mux, vp8enc/webmmux, jpegenc/avimux, x264enc/matroskamux at
sizes never trained, portrait too, played through filesrc ! decodebin), standing mode, with
thresholds of their own.

usage: test_default_model_eval.py LLAMAVID_EVAL MODEL_DIR SCRATCH_DIR
"""
import os
import re
import subprocess
import sys

# Measured (step 17800 of the flicker run, models/default/README.md, --threads 1): now 100 %,
# on-screen 100, at 100, order 95, presence 100, first 100, last 90, duration 100, count 100,
# describe 93.3, off-topic 100 (20 questions a category, 15 for duration, count, describe and
# off-topic); thresholds two questions under.
THRESHOLDS = ("now=0.90,on-screen=0.90,at=0.90,order=0.85,presence=0.90,first=0.90,last=0.80,"
              "duration=0.85,count=0.85,describe=0.80,off-topic=0.85")
# Measured on the real files (the card): now 100 %, on-screen 100, at 100, order 100, presence
# 100, first 100, last 80, duration 100, count 100, describe 86.7, off-topic 100.
FILE_THRESHOLDS = ("now=0.90,on-screen=0.90,at=0.90,order=0.90,presence=0.90,first=0.90,"
                   "last=0.70,duration=0.85,count=0.85,describe=0.70,off-topic=0.85")


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
