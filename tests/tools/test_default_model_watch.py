"""A standing question answered by the shipped default model (models/default) on a scripted
file: black 20 s, SMPTE bars 30 s, black 15 s, snow 25 s at 2 fps (MJPEG in AVI, 320x240),
through `gst-launch-1.0 -m filesrc ! decodebin ! videoconvert ! llamavid
watches="<\"Is the screen black?\">" ! fakesink`. The alerts must be exactly yes (the baseline),
no, yes, no, each with `since` within 3 s of its cut, all before the pipeline's EOS.

usage: test_default_model_watch.py MODEL_DIR SCRATCH_DIR
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pipelines"))
import media_util  # noqa: E402

SCENES = [("black", 20), ("smpte", 30), ("black", 15), ("snow", 25)]
WANT = [("yes", 0), ("no", 20), ("yes", 50), ("no", 65)]  # answer, cut in seconds
ALERT_RE = re.compile(r'llamavid-alert, .*?answer=\(string\)(\S+), previous=\(string\)(\S*), '
                      r'since=\(guint64\)(\d+)')


def main():
    model, scratch = sys.argv[1:3]
    os.makedirs(scratch, exist_ok=True)
    path = media_util.make_scenes(os.path.join(scratch, "scripted.avi"), SCENES, fps=2,
                                  width=320, height=240)
    cmd = ["gst-launch-1.0", "-m", "filesrc", "location=" + path, "!", "decodebin", "!",
           "videoconvert", "!", "llamavid", "model=" + model, "device=cpu",
           # gst-launch-1.0 joins its arguments into one description: the quotes must reach it.
           'watches="<\\"Is the screen black?\\">"', "!", "fakesink"]
    print("$", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        sys.exit(1)
    alerts = [(m.group(1), m.group(2), int(m.group(3))) for m in ALERT_RE.finditer(r.stdout)]
    print("alerts (answer, previous, since ns):", alerts)
    ok = len(alerts) == len(WANT) and r.stdout.rfind("llamavid-alert") < r.stdout.find("Got EOS")
    for (answer, _, since), (want, cut) in zip(alerts, WANT):
        ok = ok and answer == want and abs(since / 1e9 - cut) <= 3
    if not ok:
        print("want exactly", WANT, "(answer, cut s), since within 3 s of each cut")
        sys.exit(1)


if __name__ == "__main__":
    main()
