"""The launch lines and applications of pipelines/ against the llamavid element (found on
GST_PLUGIN_PATH), with a tiny random model: gst-launch-1.0 -m on an H.264 MP4 file, the launch
scripts (alerts.sh on a file and on a live RTSP stream too), an RTSP stream from rtsp_server.py,
and monitor.py answering questions typed on stdin and printing alerts. Answers are arbitrary
text; the tests check that each arrives, with its fields.

usage: test_pipelines.py SCRATCH_DIR
"""
import glob
import os
import queue
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import media_util  # noqa: E402

SCRATCH = sys.argv[1]
MODEL = os.path.join(SCRATCH, "tiny_model")
PIPELINES = media_util.PIPELINES
PROPS = ["model=" + MODEL, "device=cpu", "max-new-tokens=4"]
# gst-launch-1.0 -m prints each element message as "Got message #N from element "NAME"
# (element): STRUCTURE".
ANSWER_RE = re.compile(
    r'Got message #\d+ from element "([^"]+)" \(element\): (llamavid-answer, .*)')
ANSWER_FIELDS = {"id": "guint64", "question": "string", "answer": "string",
                 "stream-time": "guint64", "memory-start": "guint64", "memory-end": "guint64",
                 "frames": "uint", "latency": "guint64"}
MONITOR_LINE_RE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] (.*)$")


def setUpModule():
    os.makedirs(SCRATCH, exist_ok=True)
    media_util.make_tiny_model(MODEL)


def answers_in(output):
    """The llamavid-answer structures gst-launch-1.0 -m printed, as (element, structure)."""
    return [m.groups() for m in ANSWER_RE.finditer(output)]


def interrupt_after(cmd, seconds, timeout=30, env=None):
    """Runs a live gst-launch-1.0 -e line, sends Ctrl-C `seconds` after the pipeline runs,
    returns (rc, output). gst-launch-1.0 handles Ctrl-C only once its main loop runs (it prints
    "New clock" there); a slow start (a sanitizer build, a loaded machine) would otherwise take
    the signal's default action and die."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env)
    lines = media_util.LineReader(p.stdout)
    out = []
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("New clock") for line in out):
            line = lines.next(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                break  # exited before running: its output says why
            out.append(line)
        time.sleep(seconds)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=timeout)
        out += lines.rest()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, "\n".join(out)


class FileLaunch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mp4 = media_util.make_mp4(os.path.join(SCRATCH, "ball.mp4"), seconds=3)

    # gst-launch-1.0 -m with ask-at-eos prints one llamavid-answer with every field of the
    # contract and its type, before the pipeline's EOS.
    def test_gst_launch_ask_at_eos(self):
        r = subprocess.run(
            ["gst-launch-1.0", "-m", "filesrc", "location=" + self.mp4, "!", "qtdemux", "!",
             "h264parse", "!", "avdec_h264", "!", "videoconvert", "!", "llamavid"] + PROPS
            + ["ask-at-eos=What is on screen?", "!", "fakesink"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        answers = answers_in(r.stdout)
        self.assertEqual(len(answers), 1, r.stdout)
        structure = answers[0][1]
        for field, gtype in ANSWER_FIELDS.items():
            self.assertRegex(structure, r"\b%s=\(%s\)" % (re.escape(field), gtype))
        self.assertIn('question=(string)"What\\ is\\ on\\ screen\\?"', structure)
        self.assertLess(r.stdout.index("llamavid-answer"), r.stdout.index("Got EOS"))
        # 3 s of video: the answer speaks about the last sampled second.
        stream_time = int(re.search(r"stream-time=\(guint64\)(\d+)", structure).group(1))
        self.assertEqual(stream_time, 2 * 10**9)

    # file.sh answers at the end of the file.
    def test_file_sh(self):
        r = subprocess.run([os.path.join(PIPELINES, "file.sh"), self.mp4, "What happens?"]
                           + PROPS, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(answers_in(r.stdout)), 1, r.stdout)

    # file.sh without arguments prints its usage and exits 2.
    def test_file_sh_usage(self):
        r = subprocess.run([os.path.join(PIPELINES, "file.sh")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)


ALERT_RE = re.compile(
    r'Got message #\d+ from element "([^"]+)" \(element\): (llamavid-alert, .*)')
ALERT_FIELDS = {"watch-id": "guint64", "question": "string", "answer": "string",
                "previous": "string", "since": "guint64", "previous-since": "guint64",
                "stream-time": "guint64", "latency": "guint64"}


class Alerts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scenes = media_util.make_scenes(
            os.path.join(SCRATCH, "scenes.avi"),
            [("black", 4), ("white", 4), ("snow", 4), ("smpte", 4), ("black", 4)])

    def env(self):
        return dict(os.environ, LLAMAVID_PROPERTIES=" ".join(PROPS))

    # alerts.sh on a file: gst-launch-1.0 -m prints every llamavid-alert with the contract's
    # fields, for the questions given (quotes in a question are dropped, not a syntax error).
    def test_alerts_sh_file(self):
        r = subprocess.run([os.path.join(PIPELINES, "alerts.sh"), self.scenes,
                            "What is on screen?", 'Is it "black"?'],
                           capture_output=True, text=True, timeout=120, env=self.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        alerts = [m.group(2) for m in ALERT_RE.finditer(r.stdout)]
        self.assertGreaterEqual(len(alerts), 1, r.stdout)  # the tiny model's answers change
        for structure in alerts:
            for field, gtype in ALERT_FIELDS.items():
                self.assertRegex(structure, r"\b%s=\(%s\)" % (re.escape(field), gtype))
        questions = set(re.search(r'question=\(string\)"([^"]*)"', a).group(1) for a in alerts)
        self.assertLessEqual(questions, {"What\\ is\\ on\\ screen\\?", "Is\\ it\\ black\\?"})
        self.assertLess(r.stdout.rindex("llamavid-alert"), r.stdout.index("Got EOS"))

    # alerts.sh on a live RTSP stream until Ctrl-C: the element runs its watches (the default
    # questions) on the live source and the run ends cleanly.
    def test_alerts_sh_live(self):
        with media_util.RtspServer(duration=30) as server:
            p_env = self.env()
            rc, out = interrupt_after([os.path.join(PIPELINES, "alerts.sh"), server.uri], 4,
                                      env=p_env)
        self.assertEqual(rc, 0, out)
        self.assertNotIn("erroneous pipeline", out)

    # monitor.py --watch prints the alerts as "[hh:mm:ss] ALERT QUESTION: PREVIOUS -> ANSWER",
    # and a "watch: QUESTION" line adds one while the pipeline plays; the end of stdin does not
    # end a run with watches (the end of the file does).
    def test_monitor_watch(self):
        description = ("filesrc location=%s ! decodebin ! videoconvert ! llamavid %s ! fakesink"
                       % (self.scenes, " ".join(PROPS)))
        r = subprocess.run(monitor_cmd(description, "--watch", "What is on screen?"),
                           input="watch: Is the screen white?\n", capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertGreaterEqual(len(lines), 1, r.stdout)
        for line in lines:
            m = MONITOR_LINE_RE.match(line)
            self.assertIsNotNone(m, line)
            self.assertRegex(m.group(4), r"^ALERT (What is on screen\?|Is the screen white\?): "
                                         r".* -> .*$")


class LiveLaunch(unittest.TestCase):
    # testsrc.sh: Ctrl-C sends EOS (-e) and the element answers what it saw before exiting.
    def test_testsrc_sh(self):
        rc, out = interrupt_after([os.path.join(PIPELINES, "testsrc.sh"), "smpte",
                                   "What is on screen?"] + PROPS, 3)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(answers_in(out)), 1, out)

    # rtsp.sh on rtsp_server.py's stream: Ctrl-C, then one answer.
    def test_rtsp_sh(self):
        with media_util.RtspServer(duration=30) as server:
            rc, out = interrupt_after([os.path.join(PIPELINES, "rtsp.sh"), server.uri,
                                       "What happened?"] + PROPS, 4)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(answers_in(out)), 1, out)

    # webcam.sh is valid sh; without a camera it says so and exits 1, with one it answers.
    def test_webcam_sh(self):
        script = os.path.join(PIPELINES, "webcam.sh")
        self.assertEqual(subprocess.run(["sh", "-n", script]).returncode, 0)
        cameras = sorted(glob.glob("/dev/video*"))
        if not cameras:
            r = subprocess.run([script, "/dev/video-none", "q"] + PROPS, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn("no camera", r.stderr)
            return
        rc, out = interrupt_after([script, cameras[0], "What is in front of the camera?"]
                                  + PROPS, 3)
        self.assertEqual(rc, 0, out)
        self.assertEqual(len(answers_in(out)), 1, out)


def monitor_cmd(description, *args):
    return [sys.executable, os.path.join(PIPELINES, "monitor.py"), "--timeout", "60"] + \
        list(args) + [description]


class Monitor(unittest.TestCase):
    def run_questions(self, description, questions, answers_per_question=1, args=(), wait=2.0):
        """Types each question after the video has played `wait` seconds, and returns the
        answer lines, each read before stdin closes."""
        lines = []
        with media_util.Interactive(monitor_cmd(description, *args)) as p:
            time.sleep(wait)
            for q in questions:
                p.type(q)
                for _ in range(answers_per_question):
                    try:
                        line = p.next(timeout=20)
                    except queue.Empty:
                        self.fail("no answer to %r while the video plays" % q)
                    if line is None:
                        self.fail("monitor.py ended early: " + p.stderr())
                    lines.append(line)
            if p.finish() != 0:
                self.fail("monitor.py exited with %d: %s" % (p.proc.returncode, p.stderr()))
        return lines

    # Questions typed on stdin are answered while a live test source plays, each printed with
    # the stream time it speaks about; times do not go back.
    def test_testsrc_questions(self):
        lines = self.run_questions(
            "videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=48,"
            "framerate=10/1 ! videoconvert ! llamavid %s ! fakesink" % " ".join(PROPS),
            ["What is on screen?", "What moves?"])
        times = []
        for line in lines:
            m = MONITOR_LINE_RE.match(line)
            self.assertIsNotNone(m, line)
            times.append(int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)))
        self.assertLessEqual(times[0], times[1])

    # A question typed as the pipeline starts waits for a frame in memory instead of failing.
    def test_question_at_start(self):
        lines = self.run_questions(
            "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=10/1 "
            "! videoconvert ! llamavid %s ! fakesink" % " ".join(PROPS), ["What is on screen?"],
            wait=0)
        self.assertRegex(lines[0], MONITOR_LINE_RE)

    # With two llamavid elements every question is answered by both, each line naming its
    # element; --element asks only the one named.
    def test_two_elements(self):
        description = (
            "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=10/1 "
            "! videoconvert ! tee name=t "
            "t. ! queue ! llamavid name=left %s ! fakesink "
            "t. ! queue ! llamavid name=right %s ! fakesink" % (" ".join(PROPS), " ".join(PROPS)))
        lines = self.run_questions(description, ["What is on screen?"], answers_per_question=2)
        names = sorted(MONITOR_LINE_RE.match(line).group(4).split(":")[0] for line in lines)
        self.assertEqual(names, ["left", "right"])
        lines = self.run_questions(description, ["What is on screen?"], args=["--element", "right"])
        self.assertEqual(MONITOR_LINE_RE.match(lines[0]).group(4).split(":")[0], "right")

    # The RTSP stream in monitor.py: rtspsrc ! rtph264depay ! avdec_h264 ! videoconvert !
    # llamavid ! fakesink answers questions typed on stdin.
    def test_rtsp_questions(self):
        with media_util.RtspServer(duration=30) as server:
            lines = self.run_questions(
                "rtspsrc location=%s ! rtph264depay ! avdec_h264 ! videoconvert ! llamavid %s "
                "! fakesink" % (server.uri, " ".join(PROPS)), ["What is on screen?", "Now?"])
        self.assertEqual(len(lines), 2)
        for line in lines:
            self.assertRegex(line, MONITOR_LINE_RE)

    # A pipeline without a llamavid element is refused with exit 2.
    def test_no_llamavid(self):
        p = subprocess.Popen(monitor_cmd("videotestsrc ! fakesink"), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = p.communicate("", timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no llamavid element", err)


class Demo(unittest.TestCase):
    # demo.py (the README's main job) plays its 11-minute script and answers every question.
    def test_demo_answers_every_question(self):
        r = subprocess.run([sys.executable, os.path.join(PIPELINES, "demo.py"), "--model", MODEL,
                            "--width", "160", "--height", "120"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stream script (00:11:00 in all)", r.stdout)
        self.assertEqual(r.stdout.count("\nQ: "), 11)
        self.assertEqual(r.stdout.count("\nA: "), 11)
        self.assertRegex(r.stdout, r"\(script: checkers: (right|wrong)\)")
        self.assertRegex(r.stdout, r"\n\d+ of 11 answers match the script\n")


class RtspServer(unittest.TestCase):
    # rtsp_server.py stops by itself after --duration seconds.
    def test_stops_by_itself(self):
        start = time.monotonic()
        server = media_util.RtspServer(duration=1)
        self.assertEqual(server.proc.wait(timeout=15), 0)
        server.close()
        self.assertLess(time.monotonic() - start, 15)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:])  # then optional test names
