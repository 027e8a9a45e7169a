"""Smoke test of the default model's training tool on a tiny configuration: tokenizers from the
corpus (every answer word one piece), a few steps of packed standing-mode and exact-mode
sequences that lower the loss, a checkpoint that a second run resumes from, an
exported model directory that llamavid-eval loads and asks questions with.

usage: test_train_smoke.py LLAMAVID_TRAIN LLAMAVID_EVAL SOURCE_ROOT SCRATCH_DIR
"""
import os
import shutil
import subprocess
import sys


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(res.stdout)
    if res.returncode != 0:
        sys.exit("FAILED (exit %d): %s" % (res.returncode, " ".join(cmd)))
    return res.stdout


def losses(path):
    with open(path) as f:
        return [float(line.split("\t")[1]) for line in f if line.strip()]


def main():
    train, evaluate, root, scratch = sys.argv[1:5]
    shutil.rmtree(scratch, ignore_errors=True)
    work, out = os.path.join(scratch, "work"), os.path.join(scratch, "model")
    os.makedirs(work)
    run([train, "corpus", "--out", os.path.join(work, "corpus.txt")])
    run([train, "answers", "--out", os.path.join(work, "answers.txt")])
    with open(os.path.join(work, "answers.txt")) as f:
        answers = f.read().split("\n")
    assert "red ball" in answers and "yes" in answers, answers
    run([sys.executable, os.path.join(root, "tools", "train", "make_tokenizers.py"),
         os.path.join(work, "corpus.txt"), work, "--answers", os.path.join(work, "answers.txt")])
    common = [train, "train", "--work", work, "--out", out, "--seed", "3",
              "--config", os.path.join(root, "tests", "tools", "tiny_train_config.json"),
              "--vision-steps", "20", "--frames-per-class", "3", "--max-segments", "4",
              "--streams", "2", "--questions", "4", "--exact-streams", "1", "--exact-questions", "1",
              "--lr", "3e-3", "--checkpoint-every", "20"]

    # Training lowers the loss: the last logged values lie below the first ones.
    run(common + ["--steps", "100"])
    first = losses(os.path.join(work, "loss.tsv"))
    assert len(first) == 5, first
    assert sum(first[-2:]) / 2 < first[0] - 0.5, "the loss did not fall: %s" % first

    # A second run resumes from the checkpoint instead of starting over.
    log = run(common + ["--steps", "120"])
    assert "resuming: vision step 20, step 100" in log, log
    assert len(losses(os.path.join(work, "loss.tsv"))) == 6

    # The exported directory is a model the evaluation loads and questions.
    for f in ("config.json", "model.safetensors", "tokenizer.model", "vocab.txt"):
        assert os.path.isfile(os.path.join(out, f)), f
    report = run([evaluate, "--model", out, "--streams", "1", "--min-length", "60",
                  "--max-length", "60", "--questions", "10"])
    assert "| all |" in report, report
    print("OK")


if __name__ == "__main__":
    main()
