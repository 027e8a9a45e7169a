"""llamavid-ask --video on an H.264 MP4 file and on a live RTSP stream, through the llamavid
element (found on GST_PLUGIN_PATH), with a tiny random model: the answers are arbitrary text, so
the tests check the mechanics (one answer line per question, exit codes, timings, the dump,
--json, --watch and the progress on stderr).

usage: test_ask_video.py LLAMAVID_ASK SCRATCH_DIR
"""
import json
import os
import pty
import queue
import signal
import subprocess
import sys
import time
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pipelines"))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import media_util  # noqa: E402
import safetensors_io  # noqa: E402

ASK, SCRATCH = sys.argv[1:3]
MODEL = os.path.join(SCRATCH, "tiny_model")
QUESTION = "What is on screen?"


def ask(*args, timeout=120, stdin=None):
    return subprocess.run([ASK, "--model", MODEL, "--device", "cpu", "--max-new-tokens", "4"]
                          + list(args), capture_output=True, text=True, timeout=timeout,
                          input=stdin)


def finish(p, timeout):
    """(stdout, stderr) of a running llamavid-ask, killed when it outlives `timeout`."""
    try:
        return p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def setUpModule():
    os.makedirs(SCRATCH, exist_ok=True)
    media_util.make_tiny_model(MODEL)


class VideoFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mp4 = media_util.make_mp4(os.path.join(SCRATCH, "ball.mp4"), seconds=3)

    # A file is answered at its end: one line on stdout, exit 0.
    def test_file_answer(self):
        r = ask("--video", self.mp4, QUESTION)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)

    # A file:// URI is taken as it is and gives the same (greedy) answer as the path.
    def test_file_uri_same_answer(self):
        by_path = ask("--video", self.mp4, QUESTION)
        by_uri = ask("--video", "file://" + os.path.abspath(self.mp4), QUESTION)
        self.assertEqual(by_uri.returncode, 0, by_uri.stderr)
        self.assertEqual(by_uri.stdout, by_path.stdout)

    # --dump writes the per-frame tokens: one entry per sampled second at most, [T, D] and
    # [T, K, D], and the answer ids, with the same answer the element gives.
    def test_dump(self):
        out = os.path.join(SCRATCH, "dump")
        r = ask("--video", self.mp4, "--dump", out, QUESTION)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = safetensors_io.load(os.path.join(out, "tokens.safetensors"))
        context, content, ids = t["context"], t["content"], t["answer_ids"]
        self.assertEqual(context.dim(), 2)
        self.assertEqual(content.dim(), 3)
        self.assertEqual(context.shape[0], content.shape[0])
        self.assertEqual(context.shape[1], content.shape[2])
        self.assertTrue(1 <= context.shape[0] <= 3, context.shape)
        self.assertLessEqual(ids.numel(), 4)
        self.assertEqual(r.stdout, ask("--video", self.mp4, QUESTION).stdout)

    # --sample-fps reaches the sampling: 3 frames per second hold more entries than 1.
    def test_sample_fps(self):
        counts = []
        for fps in ("1", "3"):
            out = os.path.join(SCRATCH, "dump_fps" + fps)
            r = ask("--video", self.mp4, "--sample-fps", fps, "--dump", out, QUESTION)
            self.assertEqual(r.returncode, 0, r.stderr)
            counts.append(safetensors_io.load(os.path.join(out, "tokens.safetensors"))
                          ["context"].shape[0])
        self.assertLess(counts[0], counts[1])

    # Sampling with a seed is reproducible.
    def test_seeded_sampling_repeats(self):
        runs = [ask("--video", self.mp4, "--temperature", "1.0", "--seed", "7", QUESTION)
                for _ in range(2)]
        self.assertEqual(runs[0].returncode, 0, runs[0].stderr)
        self.assertEqual(runs[0].stdout, runs[1].stdout)

    # A file with an audio stream besides the video is answered like one without.
    def test_file_with_audio(self):
        mp4 = media_util.make_mp4_with_audio(os.path.join(SCRATCH, "with_audio.mp4"))
        r = ask("--video", mp4, QUESTION)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)

    # Interactive on a file: each stdin line gets one answer line, in order, then the question
    # given on the command line is answered at the end of the file.
    def test_file_interactive(self):
        r = ask("-i", "--video", self.mp4, QUESTION, stdin="first?\n\nsecond?\n", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 3, r.stdout)


ANSWER_FIELDS = ["type", "id", "question", "answer", "stream-time", "memory-start", "memory-end",
                 "frames", "latency"]
ALERT_FIELDS = ["type", "watch-id", "question", "answer", "previous", "since", "previous-since",
                "stream-time", "latency"]


def clock(ns):
    s, ms = divmod(ns // 1000000, 1000)
    return "%02d:%02d:%02d.%03d" % (s // 3600, s // 60 % 60, s % 60, ms)


class JsonAndWatches(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scenes = media_util.make_scenes(
            os.path.join(SCRATCH, "scenes.avi"),
            [("black", 4), ("white", 4), ("snow", 4), ("smpte", 4), ("black", 4)])

    # --json: each line is one object with the llamavid-answer message's fields, in order.
    def test_json_answer(self):
        r = ask("--json", "--video", self.scenes, QUESTION)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        obj = json.loads(lines[0])
        self.assertEqual(list(obj), ANSWER_FIELDS)
        self.assertEqual(obj["type"], "answer")
        self.assertEqual(obj["question"], QUESTION)
        self.assertEqual(obj["answer"], ask("--video", self.scenes, QUESTION).stdout.strip())
        self.assertEqual(obj["memory-start"], 0)
        self.assertGreaterEqual(obj["stream-time"], 18 * 10**9)

    # --watch prints each alert as it fires, "HH:MM:SS.mmm  QUESTION: PREVIOUS -> ANSWER", then
    # the answer; with --json the same alerts as objects. The tiny model's answers change with
    # the scenes, so alerts come.
    def test_watch_alerts(self):
        watches = ["What is on screen?", "Is the screen black?"]
        args = sum((["--watch", w] for w in watches), []) + ["--video", self.scenes, QUESTION]
        plain = ask(*args)
        as_json = ask("--json", *args)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertEqual(as_json.returncode, 0, as_json.stderr)
        objects = [json.loads(line) for line in as_json.stdout.splitlines()]
        alerts = [o for o in objects if o["type"] == "alert"]
        self.assertGreaterEqual(len(alerts), 1, as_json.stdout)
        self.assertEqual(objects[-1]["type"], "answer")  # the question's answer comes last
        for a in alerts:
            self.assertEqual(list(a), ALERT_FIELDS)
            self.assertIn(a["question"], watches)
            self.assertLessEqual(a["since"], a["stream-time"])
        want = ["%s  %s: %s -> %s" % (clock(a["since"]), a["question"], a["previous"], a["answer"])
                for a in alerts]
        self.assertEqual(plain.stdout.splitlines()[:-1], want)
        self.assertEqual(plain.stdout.splitlines()[-1], objects[-1]["answer"])

    # With --watch the question may be left out: only alerts are printed.
    def test_watch_only(self):
        r = ask("--json", "--watch", "What is on screen?", "--video", self.scenes)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(all(json.loads(l)["type"] == "alert" for l in r.stdout.splitlines()))

    # A watch the element refuses is an error, exit 1.
    def test_bad_watch(self):
        r = ask("--watch", "", "--video", self.scenes, QUESTION)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("cannot watch", r.stderr)

    def test_usage(self):
        for args in (["--json", "--image", "x.png", "q"], ["--watch", "q", "--image", "x.png", "q"],
                     ["--json", "--video", "x.mp4", "--dump", "d", "q"]):
            self.assertEqual(ask(*args).returncode, 2, args)


class Progress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.long = media_util.make_scenes(os.path.join(SCRATCH, "ten_minutes.avi"),
                                          [("smpte", 300), ("snow", 300)], fps=1)

    # On a terminal, a 10-minute file shows position / duration as it is read (lines redrawn
    # with \r), then a last line; the answer still goes alone to stdout.
    def test_progress_on_a_terminal(self):
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen([ASK, "--model", MODEL, "--device", "cpu", "--max-new-tokens",
                                  "4", "--video", self.long, QUESTION],
                                 stdout=subprocess.PIPE, stderr=slave, text=True)
            os.close(slave)
            slave = None
            err = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the tool closed the terminal's last writer
                    break
                if not chunk:
                    break
                err += chunk
            with p.stdout:
                out = p.stdout.read()
            self.assertEqual(p.wait(timeout=300), 0, err)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
        err = err.decode()
        updates = [u for u in err.split("\r") if " / 00:10:00 (" in u]
        self.assertGreaterEqual(len(updates), 1, err)
        self.assertIn("read 00:09:59 of video in", err)
        self.assertEqual(len(out.splitlines()), 1, out)

    # Not a terminal: only the last line.
    def test_progress_in_a_log(self):
        r = ask("--video", self.long, QUESTION, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\r", r.stderr)
        self.assertRegex(r.stderr, r"^llamavid-ask: read 00:09:59 of video in [0-9.]+ s "
                                   r"\(600 frames sampled, 0 skipped\)\n$")


class HybridWindow(unittest.TestCase):
    # A clip longer than the hybrid window: the entries of its last 3 s get the question's
    # context tokens (those of the exact mode), the older ones the standing prompt's, and the
    # element answers what the session behind --dump answers over exactly those tokens
    # (tests/test_session.cpp checks that answer against a full prefill of them).
    def test_window_is_question_guided(self):
        mp4 = media_util.make_mp4(os.path.join(SCRATCH, "hybrid.mp4"), seconds=8)
        question = "Where is the ball now?"  # not the standing prompt
        dumps, lines = {}, {}
        for mode in ("standing", "exact", "hybrid"):
            out = os.path.join(SCRATCH, "dump_" + mode)
            r = ask("--video", mp4, "--context-mode", mode, "--hybrid-window", "3",
                    "--dump", out, question)
            self.assertEqual(r.returncode, 0, r.stderr)
            dumps[mode] = safetensors_io.load(os.path.join(out, "tokens.safetensors"))["context"]
            lines[mode] = r.stdout
        hybrid, standing, exact = dumps["hybrid"], dumps["standing"], dumps["exact"]
        self.assertEqual(hybrid.shape[0], 8)  # one entry a second, 0 s to 7 s
        old, new = slice(0, 4), slice(4, 8)   # the window: entries ending at 4 s or later
        self.assertTrue(torch.allclose(hybrid[old], standing[old], rtol=0, atol=1e-6))
        self.assertTrue(torch.allclose(hybrid[new], exact[new], rtol=1e-5, atol=1e-6))
        self.assertFalse(torch.allclose(hybrid[new], standing[new], rtol=1e-5, atol=1e-6))
        element = ask("--video", mp4, "--context-mode", "hybrid", "--hybrid-window", "3", question)
        self.assertEqual(element.returncode, 0, element.stderr)
        self.assertEqual(element.stdout, lines["hybrid"])


class Errors(unittest.TestCase):
    # A missing file is named on stderr with a non-zero exit.
    def test_missing_file(self):
        r = ask("--video", os.path.join(SCRATCH, "nothing.mp4"), QUESTION)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nothing.mp4", r.stderr)
        self.assertEqual(r.stdout, "")

    # A URI no element can open fails with a non-zero exit.
    def test_bad_uri(self):
        r = ask("--video", "nosuchscheme://host/stream", QUESTION)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nosuchscheme", r.stderr)

    # A file that is not a video fails with a non-zero exit.
    def test_not_a_video(self):
        path = os.path.join(SCRATCH, "not_a_video.mp4")
        with open(path, "w") as f:
            f.write("hello\n" * 100)
        r = ask("--video", path, QUESTION)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")

    # A file without a video stream says so.
    def test_no_video_stream(self):
        ogg = media_util.make_audio_only(os.path.join(SCRATCH, "tone.ogg"))
        r = ask("--video", ogg, QUESTION)
        self.assertEqual(r.returncode, 1)
        self.assertIn("tone.ogg: no video stream", r.stderr)

    # A missing model directory is named by the element's error.
    def test_missing_model(self):
        mp4 = media_util.make_mp4(os.path.join(SCRATCH, "short.mp4"), seconds=1)
        r = subprocess.run([ASK, "--model", os.path.join(SCRATCH, "no_model"), "--video", mp4,
                            QUESTION], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no_model", r.stderr)

    # A question the element refuses (longer than the model accepts) is a llamavid-error: its
    # reason on stderr, exit 1.
    def test_question_too_long(self):
        mp4 = media_util.make_mp4(os.path.join(SCRATCH, "short.mp4"), seconds=1)
        r = ask("--video", mp4, "word " * 3000)
        self.assertEqual(r.returncode, 1)
        self.assertIn("long", r.stderr)
        self.assertEqual(r.stdout, "")

    # Usage errors exit 2: no question, a bad number, --dump with --interactive, a context mode
    # that does not exist.
    def test_usage(self):
        for args in (["--video", "x.mp4"], ["--video", "x.mp4", "--sample-fps", "fast", "q"],
                     ["--video", "x.mp4", "-i", "--dump", "d", "q"],
                     ["--video", "x.mp4", "--context-mode", "fast", "q"]):
            r = ask(*args)
            self.assertEqual(r.returncode, 2, args)


class LiveRtsp(unittest.TestCase):
    def setUp(self):
        self.server = media_util.RtspServer(duration=60)

    def tearDown(self):
        self.server.close()

    # On a live source the question is asked after --after seconds of stream: one line, exit 0,
    # not before those seconds and not long after.
    def test_after(self):
        start = time.monotonic()
        r = ask("--after", "5", "--video", self.server.uri, QUESTION, timeout=60)
        took = time.monotonic() - start
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertGreaterEqual(took, 5.0)
        self.assertLess(took, 30.0)

    # --dump on a live source: tokens of the frames seen in the first seconds.
    def test_after_dump(self):
        out = os.path.join(SCRATCH, "dump_live")
        r = ask("--after", "2", "--video", self.server.uri, "--dump", out, QUESTION, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        t = safetensors_io.load(os.path.join(out, "tokens.safetensors"))
        self.assertGreaterEqual(t["context"].shape[0], 1)

    # Interactive on a live source: each line typed while the video plays is answered as it
    # arrives (before stdin closes), in order; closing stdin ends the run with exit 0.
    def test_interactive(self):
        cmd = [ASK, "--model", MODEL, "--device", "cpu", "--max-new-tokens", "4", "-i",
               "--video", self.server.uri]
        with media_util.Interactive(cmd) as p:
            time.sleep(3)  # frames reach the memory
            for question in ("what is on screen?", "and now?"):
                p.type(question)
                try:
                    self.assertIsNotNone(p.next(timeout=20), "no answer to " + question)
                except queue.Empty:
                    self.fail("no answer to %r while the video plays" % question)
            if p.finish() != 0:
                self.fail("llamavid-ask exited with %d: %s" % (p.proc.returncode, p.stderr()))
            self.assertIsNone(p.next(timeout=5))  # nothing more after the two answers

    # The camera goes away before --after (the RTSP server stops): the question is still
    # answered about what was seen (one line on stdout), the error goes to stderr, exit 1.
    def test_failing_source_answers_what_was_seen(self):
        p = subprocess.Popen([ASK, "--model", MODEL, "--device", "cpu", "--max-new-tokens", "4",
                              "--after", "60", "--video", self.server.uri, QUESTION],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        self.server.proc.kill()
        out, err = finish(p, 90)
        self.assertEqual(p.returncode, 1, err)
        self.assertEqual(len(out.splitlines()), 1, out + err)
        self.assertIn("llamavid-ask: ", err)

    # Ctrl-C before --after ends the stream (EOS), and the question is answered about what was
    # seen: one line, exit 0.
    def test_interrupt_answers_early(self):
        p = subprocess.Popen([ASK, "--model", MODEL, "--device", "cpu", "--max-new-tokens", "4",
                              "--after", "60", "--video", self.server.uri, QUESTION],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        p.send_signal(signal.SIGINT)
        out, err = finish(p, 20)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(len(out.splitlines()), 1, out)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])  # then optional test names
