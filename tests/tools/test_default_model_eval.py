"""Reduced evaluation of the shipped default model (models/default) through llamavid-eval:
held-out streams of 10 to 40 minutes at frame sizes and sampling rates beyond training, pushed
through the llamavid element in both context modes, 100 questions, each category of the default
(standing) mode held to a threshold a few points under the model card's targets.

usage: test_default_model_eval.py LLAMAVID_EVAL MODEL_DIR
"""
import subprocess
import sys

THRESHOLDS = "now=0.92,at=0.86,order=0.86,presence=0.86,first=0.75,count=0.75,duration=0.75"


def main():
    evaluate, model = sys.argv[1:3]
    cmd = [evaluate, "--model", model, "--seed", "7", "--streams", "5", "--min-length", "600",
           "--max-length", "2400", "--questions", "20", "--threads", "2", "--check", THRESHOLDS]
    print("$", " ".join(cmd), flush=True)
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(res.stdout)
    # Both context modes are evaluated and compared (issue 5), whatever the thresholds say.
    header = "| category | questions | standing correct | standing accuracy | exact correct |"
    if header not in res.stdout or "| standing - exact |" not in res.stdout:
        print("the table lacks a column per context mode and their difference")
        sys.exit(1)
    sys.exit(res.returncode)


if __name__ == "__main__":
    main()
