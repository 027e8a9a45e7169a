"""Smoke test of the default model's training tool on a tiny configuration: tokenizers from the
corpus (every answer word one piece), a few steps of packed standing-mode and exact-mode
sequences that lower the loss, a checkpoint that a second run resumes from, an
exported model directory that llamavid-eval loads and asks questions with, and a deeper model
grown from the checkpoint that answers exactly as it did.

usage: test_train_smoke.py LLAMAVID_TRAIN LLAMAVID_EVAL SOURCE_ROOT SCRATCH_DIR
"""
import json
import os
import re
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

    # A second run resumes from the checkpoint instead of starting over (with other category
    # shares, a bad one refused before anything runs, the markers' auxiliary loss, split and
    # flickering segments and a focus stream).
    bad = subprocess.run(common + ["--steps", "120", "--category-shares", "at=many"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "at=many" in bad.stdout, bad.stdout
    bad = subprocess.run(common + ["--steps", "120", "--split-share", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "--split-share" in bad.stdout, bad.stdout
    bad = subprocess.run(common + ["--steps", "120", "--flicker-share", "-0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "--flicker-share" in bad.stdout, bad.stdout
    bad = subprocess.run(common + ["--steps", "120", "--focus-streams", "1",
                                   "--focus-categories", "duration,order"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "'order'" in bad.stdout, bad.stdout
    bad = subprocess.run(common + ["--steps", "120", "--categories", "at",
                                   "--category-shares", "at=2,now=1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bad.returncode == 2 and "'now=1'" in bad.stdout, bad.stdout
    log = run(common + ["--steps", "120", "--category-shares", "at=3,now=0.5",
                        "--marker-labels", "0.5", "--split-share", "0.5", "--flicker-share", "1",
                        "--focus-streams", "1",
                        "--focus-categories", "duration,first"])
    assert "resuming: vision step 20, step 100" in log, log
    assert "rendering it again" not in log, "the cached frame bank was not reused"
    assert "\tmarker=" in log, "no marker loss logged with --marker-labels"
    assert len(losses(os.path.join(work, "loss.tsv"))) == 6

    # Raising --vision-steps on a run past phase 1 trains the encoder on (holding the features
    # of the frames it already classifies right) and keeps the decoder as it was.
    params = os.path.join(work, "checkpoint", "params.safetensors")

    def stored(name):  # the tensor's bytes in the checkpoint (safetensors layout)
        with open(params, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            begin, end = json.loads(f.read(size))[name]["data_offsets"]
            f.seek(8 + size + begin)
            return f.read(end - begin)
    with open(params, "rb") as f:
        names = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    vision = next(n for n in names if n.startswith("model.vision_tower."))
    llm = next(n for n in names if n.startswith("model.layers."))
    before = stored(vision), stored(llm)
    log = run(common + ["--steps", "120", "--vision-steps", "30", "--vision-lr", "1e-3"])
    assert re.search(r"vision phase continued: \d+ of \d+ bank frames", log), log
    assert log.count("checkpoint at step 120") == 1, log
    with open(os.path.join(work, "checkpoint", "progress.json")) as f:
        assert json.load(f)["vision_step"] == 30
    assert stored(vision) != before[0], "the encoder did not train on"
    assert stored(llm) == before[1], "the decoder changed in the vision phase"

    # The exported directory is a model the evaluation loads and questions.
    for f in ("config.json", "model.safetensors", "tokenizer.model", "vocab.txt"):
        assert os.path.isfile(os.path.join(out, f)), f
    report = run([evaluate, "--model", out, "--streams", "1", "--min-length", "60",
                  "--max-length", "60", "--questions", "10"])
    assert "| all |" in report, report

    # A model with twice the decoder layers grown from that checkpoint answers every question
    # as the checkpoint did (the new layers add nothing before they train), and its run skips
    # the vision phase and starts at step 0.
    config = os.path.join(root, "tests", "tools", "tiny_train_config.json")
    with open(config) as f:
        deep = json.load(f)
    deep["num_hidden_layers"] *= 2
    grown_work, grown_out = os.path.join(scratch, "grown_work"), os.path.join(scratch, "grown")
    os.makedirs(grown_work)
    for f in ("tokenizer.model", "vocab.txt", "frame_bank.safetensors"):
        shutil.copy(os.path.join(work, f), grown_work)
    deep_config = os.path.join(scratch, "deep_config.json")
    with open(deep_config, "w") as f:
        json.dump(deep, f)
    log = run([train, "train", "--work", grown_work, "--out", grown_out, "--seed", "3",
               "--config", deep_config, "--grow-from", os.path.join(work, "checkpoint"),
               "--frames-per-class", "3", "--steps", "0"])
    # (The checkpoint stopped its vision phase at step 20, under the default --vision-steps.)
    assert "grown from" in log and not re.search(r"vision step \d+ loss", log), log
    with open(os.path.join(grown_out, "config.json")) as f:
        assert json.load(f)["num_hidden_layers"] == deep["num_hidden_layers"]

    def answers(model):
        path = os.path.join(scratch, os.path.basename(model) + ".jsonl")
        run([evaluate, "--model", model, "--streams", "2", "--min-length", "60",
             "--max-length", "120", "--questions", "22", "--context-mode", "standing",
             "--json", path])
        with open(path) as f:
            return [json.loads(line)["answer"] for line in f if line.strip()]
    before = answers(out)
    assert len(before) == 44, before
    assert answers(grown_out) == before
    print("OK")


if __name__ == "__main__":
    main()
