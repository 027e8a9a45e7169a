"""llamavid-bench on the tiny test model with tiny settings: its --json output parses and holds
every figure the benchmark page reports, and its text output prints them. Timings are not
checked (benchmarks are never timed tests).

usage: test_bench.py LLAMAVID_BENCH SOURCE_ROOT SCRATCH_DIR
"""
import json
import os
import shutil
import subprocess
import sys


def run(cmd):
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    print(res.stderr)
    if res.returncode != 0:
        print(res.stdout)
        sys.exit("FAILED (exit %d): %s" % (res.returncode, " ".join(cmd)))
    return res.stdout


def check(condition, what):
    if not condition:
        sys.exit("FAILED: " + what)


def main():
    bench, root, scratch = sys.argv[1:4]
    shutil.rmtree(scratch, ignore_errors=True)
    model = os.path.join(scratch, "model")
    run(["/usr/bin/python3", os.path.join(root, "tests", "reference", "make_tiny_model.py"),
         model, "movie"])
    tiny = ["--model", model, "--hours", "0.01,0.02", "--cap-hours", "0.03", "--repeats", "1",
            "--max-new-tokens", "3", "--width", "64", "--height", "48", "--batch", "4"]

    r = json.loads(run([bench] + tiny + ["--json"]))
    check(r["machine"]["fp32_peak_gflops"] > 0, "an fp32 matmul peak")
    check(r["frames_per_s"] > 0 and r["frames_per_cpu_s"] > 0, "frames/s tokenized")
    check(r["encoder"]["gflops"] > 0 and 0 < r["encoder"]["of_peak"], "encoder GFLOP/s vs peak")
    # The tiny model names no mode: auto is hybrid, so the hybrid run is the one measured.
    check("hybrid" not in r, "no second hybrid run when the mode measured is hybrid")
    s = json.loads(run([bench] + tiny + ["--json", "--context-mode", "standing",
                                         "--no-llamavid-way"]))
    check("llamavid_way" not in s, "--no-llamavid-way leaves the comparison out of the JSON")
    r["hybrid"] = s["hybrid"]
    for key in ("latency", "llamavid_way", "hybrid"):
        hours = [p["hours"] for p in r[key]]
        check(hours == [0.01, 0.02], "%s at every hour asked: %s" % (key, hours))
        for p in r[key]:
            check(0 < p["first_token_ms"] <= p["full_answer_ms"], "%s latencies: %s" % (key, p))
            check(p["entries"] > 0 and p["rss_bytes"] > 0, "%s memory: %s" % (key, p))
    check(r["memory"]["cap_held"] and r["memory"]["cap_hours"] == 0.03, "the cap check over 0.03 h")
    check(r["memory"]["max_memory_bytes_seen"] <= r["config"]["max_memory_bytes"], "bytes held")
    rel = r["released"]
    check(rel["kv_cache_bytes_per_token"] == 32 * 2 * 4096 * 2, "7B fp16 KV bytes per token")
    check(rel["tokens_per_frame"] == 2, "2 tokens per frame in the released long-video model")

    text = run([bench] + tiny + ["--no-llamavid-way", "--context-mode", "exact"])
    for words in ("sampled frames/s", "of fp32 peak", "first token ms", "MB per hour of stream",
                  "never exceeded", "KV cache"):
        check(words in text, "the text output names '%s'" % words)
    check("LLaMA-VID way" not in text, "--no-llamavid-way leaves the comparison out")

    res = subprocess.run([bench, "--hours", "x"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    check(res.returncode == 2 and "--hours" in res.stderr, "a bad --hours is a usage error")
    print("OK")


if __name__ == "__main__":
    main()
