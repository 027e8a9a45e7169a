"""A restart loses nothing: pipeline 1 (its own process) watches videotestsrc red for 20 s then
blue for 20 s with the default model, saves its memory and is killed (SIGKILL); pipeline 2, in a
new process, loads the memory in READY, watches green for 5 s, and is asked about the segments
shown before the kill ("What came before blue?": red). A third process runs pipeline 2 without
loading, as the control: the answers must come from the loaded memory, not from the model's
habits.

usage: test_restart.py SCRATCH_DIR [phase1|phase2 MEMORY_FILE [--no-load]]
"""
import os
import signal
import subprocess
import sys
import time
import unittest

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

CAPS = "video/x-raw,format=RGB,width=320,height=240,framerate=1/1"
# Questions the default model (step 59000) answers right about this stream (its card lists what it
# still gets wrong); "What came before blue?" can only be answered from the loaded memory.
QUESTIONS = ["What came before blue?", "How many times did red appear?",
             "When did red first appear?"]
TRUTH = {"What came before blue?": "red", "How many times did red appear?": "1",
         "When did red first appear?": "00:00:00"}


def element_messages(bus, name, count, timeout_s=120):
    """The next `count` element messages named `name` (others dropped), as structures."""
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        m = bus.timed_pop_filtered(Gst.SECOND, Gst.MessageType.ELEMENT | Gst.MessageType.ERROR)
        if m is None:
            continue
        if m.type == Gst.MessageType.ERROR:
            raise RuntimeError(str(m.parse_error()))
        s = m.get_structure()
        if s.get_name() == name:
            out.append(s)
    return out


def wait_eos(bus):
    m = bus.timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    if m is None or m.type != Gst.MessageType.EOS:
        raise RuntimeError("pipeline did not reach EOS: %s" % (m.parse_error() if m else "timeout"))


def phase1(path):
    """Red 0-20 s, blue 20-40 s; saves and waits to be killed."""
    p = Gst.parse_launch(
        "concat name=c ! llamavid name=l device=cpu ! fakesink "
        "videotestsrc pattern=red num-buffers=20 ! %s ! c. "
        "videotestsrc pattern=blue num-buffers=20 timestamp-offset=%d ! %s ! c."
        % (CAPS, 20 * Gst.SECOND, CAPS))
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    wait_eos(bus)
    l = p.get_by_name("l")
    assert l.emit("save-memory", path), "save-memory failed"
    print("SAVED %d" % l.get_property("memory-frames"), flush=True)
    while True:  # the parent kills this process
        time.sleep(1)


def phase2(path, load):
    """Green for 5 s after the saved memory (or none); prints each question's answer."""
    p = Gst.parse_launch(
        "videotestsrc pattern=green num-buffers=5 ! %s ! llamavid name=l device=cpu ! fakesink"
        % CAPS)
    l = p.get_by_name("l")
    bus = p.get_bus()
    p.set_state(Gst.State.READY)
    if load:
        assert l.emit("load-memory", path), "load-memory failed"
    p.set_state(Gst.State.PLAYING)
    wait_eos(bus)
    for q in QUESTIONS:
        l.emit("ask", q)
    for s in element_messages(bus, "llamavid-answer", len(QUESTIONS)):
        print("ANSWER %s => %s" % (s.get_string("question"), s.get_string("answer")), flush=True)
    p.set_state(Gst.State.NULL)


def run_phase2(scratch, path, load):
    out = subprocess.run([sys.executable, __file__, scratch, "phase2", path] +
                         ([] if load else ["--no-load"]),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    answers = {}
    for line in out.stdout.splitlines():
        if line.startswith("ANSWER "):
            q, a = line[len("ANSWER "):].split(" => ", 1)
            answers[q] = a
    return answers


class RestartTest(unittest.TestCase):
    def test_restart_answers_about_before_the_kill(self):
        scratch = sys.argv[1]
        os.makedirs(scratch, exist_ok=True)
        path = os.path.join(scratch, "memory.safetensors")
        if os.path.exists(path):
            os.remove(path)
        p1 = subprocess.Popen([sys.executable, __file__, scratch, "phase1", path],
                              stdout=subprocess.PIPE, text=True)
        line = p1.stdout.readline()
        p1.send_signal(signal.SIGKILL)
        p1.wait()
        p1.stdout.close()
        self.assertTrue(line.startswith("SAVED"), line)
        self.assertEqual(p1.returncode, -signal.SIGKILL)

        loaded = run_phase2(scratch, path, True)
        control = run_phase2(scratch, path, False)
        print("after the restart, with the memory:", loaded)
        print("without it (control):", control)
        self.assertEqual(loaded, TRUTH)
        # Without the memory there is no blue segment to answer about.
        self.assertNotEqual(control["What came before blue?"], "red")


if __name__ == "__main__":
    Gst.init(None)
    if len(sys.argv) > 2 and sys.argv[2] == "phase1":
        phase1(sys.argv[3])
    elif len(sys.argv) > 2 and sys.argv[2] == "phase2":
        phase2(sys.argv[3], "--no-load" not in sys.argv)
    else:
        unittest.main(argv=sys.argv[:1], verbosity=2)
