#!/usr/bin/python3
"""A scripted broadcast stream answered by the default model: the project's demo.

A videotestsrc changes pattern on a script (about 11 minutes of stream time, run as fast as the
machine goes), a llamavid element watches it, and when the last frame has gone in, questions of
several kinds are asked through the `ask` action signal. They are answered in order before EOS
leaves the element; each answer is printed beside what the script says is true, marked right or
wrong by the rules of the model card's evaluation (times within 5 s, durations within 10 %).

usage: demo.py [--model DIR] [--width W] [--height H]
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

FPS = 2
# (videotestsrc pattern, label the default model answers with, seconds)
SCRIPT = [
    ("smpte", "smpte", 95),
    ("ball", "white ball", 80),
    ("snow", "snow", 60),
    ("black", "black", 45),
    ("red", "red", 120),
    ("checkers-8", "checkers", 70),
    ("smpte", "smpte", 100),
    ("pinwheel", "pinwheel", 90),
]


def clock(seconds):
    return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


def starts():
    t, out = 0, []
    for pattern, label, length in SCRIPT:
        out.append((t, pattern, label, length))
        t += length
    return out


def seconds(text):
    """hh:mm:ss (or mm:ss, or ss) as seconds; None if it is not a time."""
    parts = text.strip().rstrip(".").split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    value = 0
    for p in parts:
        value = value * 60 + int(p)
    return value


def normalise(text):
    return " ".join(text.lower().strip().rstrip(".?!").split())


def matches(question, answer, truth):
    """Whether `answer` agrees with the script, as llamavid-eval scores it."""
    if question.startswith("Who is"):  # off the world: anything but a claim about the screen
        return normalise(answer) == normalise(OFF_TOPIC_ANSWER)
    if question.startswith("How long"):
        got, want = seconds(answer), seconds(truth)
        return got is not None and abs(got - want) <= max(0.1 * want, 1.5)
    if question.startswith("When did"):
        got = seconds(answer)
        return got is not None and abs(got - seconds(truth)) <= 5
    return normalise(answer) == normalise(truth)


OFF_TOPIC_ANSWER = "I can only answer about what was on screen."


def questions():
    """(question, what the script says) pairs, one or more per category."""
    segs = starts()
    end = segs[-1][0] + segs[-1][3]
    return [
        ("What is on screen?", segs[-1][2]),
        ("What was on screen at %s?" % clock(segs[2][0] + 20), segs[2][2]),
        ("What came after red?", "checkers"),
        ("What came before black?", "snow"),
        ("Did green appear?", "no"),
        ("Did snow appear?", "yes"),
        ("When did pinwheel first appear?", clock(segs[7][0])),
        ("How long was red on screen?", clock(segs[4][3])),
        ("How many times did smpte appear?", "2"),
        ("What was on screen between %s and %s?" % (clock(segs[1][0] + 10), clock(segs[3][0] + 10)),
         ", ".join(s[2] for s in segs[1:4])),
        ("Who is the president?", OFF_TOPIC_ANSWER),
    ], end


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: the shipped default model)")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    args = ap.parse_args()

    Gst.init(None)
    qs, total = questions()
    pipeline = Gst.parse_launch(
        "videotestsrc name=src num-buffers=%d ! video/x-raw,format=RGB,width=%d,height=%d,"
        "framerate=%d/1 ! llamavid name=lv sample-fps=1 ! fakesink sync=false"
        % (total * FPS, args.width, args.height, FPS))
    src, lv = pipeline.get_by_name("src"), pipeline.get_by_name("lv")
    if args.model:
        lv.set_property("model", args.model)
    segs = starts()

    # Switch the pattern by stream time; ask every question once the last frame is out.
    def on_buffer(pad, info):
        t = info.get_buffer().pts // Gst.SECOND
        current = [s for s in segs if s[0] <= t][-1]
        src.set_property("pattern", current[1])
        if info.get_buffer().pts // (Gst.SECOND // FPS) == total * FPS - 1:
            for q, _ in qs:
                lv.emit("ask", q)
        return Gst.PadProbeReturn.OK

    src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_buffer)

    print("stream script (%s in all):" % clock(total))
    for t, _, label, length in segs:
        print("  %s  %-10s %s" % (clock(t), label, clock(length)))
    print()

    loop = GLib.MainLoop()
    answers = []
    failed = []

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() == "llamavid-answer":
                answers.append((s.get_value("question"), s.get_value("answer")))
            elif s.get_name() == "llamavid-error":
                failed.append((s.get_value("question"), s.get_value("reason")))
        elif msg.type == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print("error: %s (%s)" % (err.message, debug), file=sys.stderr)
            failed.append(("pipeline", err.message))
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipeline.set_state(Gst.State.PLAYING)
    loop.run()
    pipeline.set_state(Gst.State.NULL)

    truth = dict(qs)
    right = 0
    for q, a in answers:
        ok = matches(q, a, truth[q])
        right += ok
        print("Q: %s\nA: %s\n   (script: %s: %s)" % (q, a, truth[q], "right" if ok else "wrong"))
    print("\n%d of %d answers match the script" % (right, len(answers)))
    for q, reason in failed:
        print("error for %r: %s" % (q, reason), file=sys.stderr)
    return 1 if failed or len(answers) != len(qs) else 0


if __name__ == "__main__":
    sys.exit(main())
