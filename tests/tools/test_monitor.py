"""llamavid-monitor against a real mosquitto on 127.0.0.1 and two RTSP cameras (gst-rtsp-server),
with the default model: camera a shows snow, camera b red.

1. Questions on P/a/ask and P/all/ask get their answers, with their ids, on P/NAME/answer; the
   alert of a's configured watch arrives on P/a/alert; the retained P/NAME/status says playing.
2. a's RTSP server stops for 10 s and comes back showing blue: a's status goes reconnecting, then
   playing with reconnects 1, the timeline goes on across the gap, and "Did snow appear?" is
   answered yes about what came before the cut (b, never snowy, says no).
   b's server is stopped (SIGSTOP): with no frame for 10 s the camera is reconnected.
3. The monitor is killed (SIGKILL): the last wills mark both cameras offline; started again with
   the same --state-dir, it answers the same question right from the restored memory.
4. The broker stops for 5 s: answers to questions asked just before arrive after the
   reconnection, each exactly once.
5. Bad config files, duplicate names, bad URIs and an unreachable broker are errors at start.
6. SIGTERM stops the monitor with exit status 0, its cameras' statuses saying stopped.

usage: test_monitor.py LLAMAVID_MONITOR SCRATCH_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pipelines"))
import media_util  # noqa: E402

sys.path.insert(0, os.path.join(media_util.SOURCE_ROOT, "tools", "bench"))
from monitor_capacity import free_port, wait_port  # noqa: E402

MONITOR = None
SCRATCH = None
PREFIX = "llamavid"
SNOW_WATCH = "Is snow on screen?"


class Broker:
    """mosquitto on 127.0.0.1:port, persistent (its sessions survive a restart)."""

    def __init__(self, port, folder):
        self.port = port
        self.conf = os.path.join(folder, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                    "persistence_location %s/\nlog_dest none\n" % (port, folder))
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # saves the persistent sessions
            self.proc.wait(timeout=10)


class Camera:
    """pipelines/rtsp_server.py on a fixed port, so that it can be stopped and started again."""

    def __init__(self, port, pattern):
        self.port = port
        self.proc = None
        self.start(pattern)

    def start(self, pattern):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(media_util.PIPELINES, "rtsp_server.py"),
             "--port", str(self.port), "--pattern", pattern, "--duration", "900", "--fps", "5",
             "--width", "320", "--height", "240"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.uri = self.proc.stdout.readline().strip()
        if not self.uri.startswith("rtsp://"):
            raise RuntimeError("rtsp_server.py did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc.stdout.close()


class Subscriber:
    """mosquitto_sub on P/#, a persistent QoS 1 session: every message with the time it came."""

    def __init__(self, port):
        self.port = port
        self.messages = []  # (time, topic, payload)
        self.cond = threading.Condition()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-t", PREFIX + "/#", "-v",
             "-q", "1", "-c", "-i", "llamavid-test-subscriber"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            topic, _, payload = line.rstrip("\n").partition(" ")
            with self.cond:
                self.messages.append((time.monotonic(), topic, payload))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.messages)

    def wait(self, topic, pred=lambda j: True, since=0, timeout=60):
        """The first JSON payload on `topic` from message `since` on that `pred` accepts."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for _, t, payload in self.messages[since:]:
                    if t == topic:
                        j = json.loads(payload)
                        if pred(j):
                            return j
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("nothing on %s within %d s; got %s" % (
                        topic, timeout, [m[1:] for m in self.messages[since:]][-10:]))
                self.cond.wait(left)

    def all(self, topic, since=0):
        with self.cond:
            return [(at, json.loads(p)) for at, t, p in self.messages[since:] if t == topic]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def publish(port, topic, payload):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", topic,
                    "-m", payload], check=True, timeout=10)


def retained(port, topic):
    out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                          "-C", "1", "-W", "5"], capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout)


def topic(camera, what):
    return "%s/%s/%s" % (PREFIX, camera, what)


class MonitorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        shutil.rmtree(SCRATCH, ignore_errors=True)
        os.makedirs(SCRATCH)
        cls.port = free_port()
        cls.broker = Broker(cls.port, SCRATCH)
        cls.cam_a = Camera(free_port(), "snow")
        cls.cam_b = Camera(free_port(), "red")
        cls.sub = Subscriber(cls.port)
        cls.state_dir = os.path.join(SCRATCH, "state")
        cls.config = os.path.join(SCRATCH, "monitor.json")
        with open(cls.config, "w") as f:
            json.dump({"broker": "127.0.0.1:%d" % cls.port, "topic-prefix": PREFIX,
                       "cameras": [{"name": "a", "uri": cls.cam_a.uri, "watches": [SNOW_WATCH]},
                                   {"name": "b", "uri": cls.cam_b.uri}]}, f)
        cls.monitor = None
        cls.start_monitor()

    @classmethod
    def start_monitor(cls):
        if cls.monitor:
            cls.monitor_log.close()
        cls.monitor_log = open(os.path.join(SCRATCH, "monitor.log"), "a")
        cls.monitor = subprocess.Popen(
            [MONITOR, "--config", cls.config, "--state-dir", cls.state_dir,
             "--autosave-interval", "2", "--device", "cpu"],
            stdout=cls.monitor_log, stderr=cls.monitor_log)

    @classmethod
    def tearDownClass(cls):
        if cls.monitor and cls.monitor.poll() is None:
            cls.monitor.terminate()
            cls.monitor.wait(timeout=30)
        cls.monitor_log.close()
        for p in (cls.sub, cls.cam_a, cls.cam_b, cls.broker):
            p.stop()

    def ask(self, camera, question, qid):
        publish(self.port, topic(camera, "ask"), json.dumps({"question": question, "id": qid}))

    def answer(self, camera, qid, since, timeout=60):
        return self.sub.wait(topic(camera, "answer"), lambda j: j.get("id") == qid, since, timeout)

    def playing(self, camera, since, timeout=60, reconnects=None):
        return self.sub.wait(topic(camera, "status"), lambda j: j["state"] == "playing" and (
            reconnects is None or j["reconnects"] == reconnects), since, timeout)

    def test_1_questions_answers_alerts_status(self):
        self.playing("a", 0)
        self.playing("b", 0)
        time.sleep(6)  # some seconds of stream in memory
        mark = self.sub.mark()
        self.ask("a", "What is on screen?", 101)
        publish(self.port, PREFIX + "/all/ask", json.dumps({"question": "What is on screen?",
                                                            "id": 102}))
        a = self.answer("a", 101, mark)
        self.assertEqual(a["type"], "answer")
        self.assertEqual(a["answer"], "snow")
        self.assertEqual(self.answer("a", 102, mark)["answer"], "snow")
        self.assertEqual(self.answer("b", 102, mark)["answer"], "red")
        # A plain-text question gets the next id the element gives.
        publish(self.port, topic("b", "ask"), "Is the screen red?")
        plain = self.sub.wait(topic("b", "answer"), lambda j: j["question"] == "Is the screen red?",
                              mark)
        self.assertGreater(plain["id"], 0)
        alert = self.sub.wait(topic("a", "alert"), lambda j: j["question"] == SNOW_WATCH)
        self.assertEqual(alert["answer"].lower().rstrip("."), "yes")
        for cam in ("a", "b"):
            status = retained(self.port, topic(cam, "status"))
            self.assertEqual(status["state"], "playing")
            self.assertGreater(status["frames"], 0)
            for key in ("memory-start", "memory-end", "frames-skipped", "reconnects"):
                self.assertIn(key, status)

    def test_2_camera_restart(self):
        self.playing("a", 0)
        time.sleep(2)
        mark = self.sub.mark()
        end_before = max(j["memory-end"] for _, j in self.sub.all(topic("a", "status")))
        self.cam_a.stop()
        self.sub.wait(topic("a", "status"), lambda j: j["state"] == "reconnecting", mark, 20)
        time.sleep(10)
        self.cam_a.start("blue")
        back = self.playing("a", mark, timeout=60, reconnects=1)
        self.assertEqual(back["reconnects"], 1)
        time.sleep(4)  # blue in memory too
        mark = self.sub.mark()
        self.ask("a", "What is on screen?", 201)
        self.ask("a", "Did snow appear?", 202)
        self.ask("b", "Did snow appear?", 203)
        self.assertEqual(self.answer("a", 201, mark)["answer"], "blue")
        snow = self.answer("a", 202, mark)
        self.assertEqual(snow["answer"], "yes")
        # The timeline goes on across the 10 s cut: the memory ends well after it did before.
        self.assertGreater(snow["memory-end"], end_before + 10 * 10**9)
        self.assertEqual(self.answer("b", 203, mark)["answer"], "no")

    def test_2b_stalled_camera(self):
        self.playing("b", 0)
        mark = self.sub.mark()
        self.cam_b.proc.send_signal(signal.SIGSTOP)  # the connection stays open, frames stop
        try:
            self.sub.wait(topic("b", "status"), lambda j: j["state"] == "reconnecting", mark, 30)
        finally:
            self.cam_b.proc.send_signal(signal.SIGCONT)
        self.playing("b", mark, timeout=60, reconnects=1)

    def test_3_monitor_killed_and_restored(self):
        time.sleep(3)  # an autosave (every 2 s of stream) after the blue frames
        mark = self.sub.mark()
        self.monitor.send_signal(signal.SIGKILL)
        self.monitor.wait(timeout=10)
        for cam in ("a", "b"):
            self.sub.wait(topic(cam, "status"), lambda j: j["state"] == "offline", mark, 20)
            self.assertEqual(retained(self.port, topic(cam, "status"))["state"], "offline")
        self.assertTrue(os.path.exists(os.path.join(self.state_dir, "a.memory")))
        type(self).start_monitor()
        self.playing("a", mark)
        self.playing("b", mark)
        mark = self.sub.mark()
        self.ask("a", "Did snow appear?", 301)
        self.ask("b", "Did snow appear?", 302)
        self.assertEqual(self.answer("a", 301, mark)["answer"], "yes")
        self.assertEqual(self.answer("b", 302, mark)["answer"], "no")

    def test_4_broker_restart(self):
        self.playing("a", 0)
        mark = self.sub.mark()
        # 100 questions to every camera at once, then the broker stops: they are answered one
        # after the other, most while the broker is away.
        ids = list(range(1001, 1101))
        lines = "".join(json.dumps({"question": "What is on screen?", "id": qid}) + "\n"
                        for qid in ids)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
                        "-t", PREFIX + "/all/ask", "-l"], input=lines, text=True, check=True,
                       timeout=30)
        self.broker.stop()
        stopped_at = time.monotonic()
        time.sleep(5)
        self.broker.start()
        if self.sub.proc.poll() is not None:  # mosquitto_sub gave up: its session goes on
            self.sub.start()
        for cam in ("a", "b"):
            for qid in ids:
                self.answer(cam, qid, mark, timeout=90)
        time.sleep(3)  # anything sent twice would have come by now
        late = 0
        for cam in ("a", "b"):
            answers = self.sub.all(topic(cam, "answer"), mark)
            for qid in ids:
                got = [at for at, j in answers if j.get("id") == qid]
                self.assertEqual(len(got), 1, "answer %d of %s came %d times" % (qid, cam, len(got)))
                late += got[0] > stopped_at
        print("%d of %d answers came after the broker stopped" % (late, 2 * len(ids)), flush=True)
        self.assertGreater(late, 0, "every answer came before the broker stopped: nothing tested")

    def test_5_bad_configs(self):
        def run(*args, config=None):
            argv = [MONITOR] + list(args)
            if config is not None:
                path = os.path.join(SCRATCH, "bad.json")
                with open(path, "w") as f:
                    f.write(config)
                argv += ["--config", path]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            return r.stderr

        self.assertIn("not valid JSON", run(config="{\"cameras\": ["))
        self.assertIn("given twice", run(config=json.dumps(
            {"cameras": [{"name": "x", "uri": "rtsp://h/a"}, {"name": "x", "uri": "rtsp://h/b"}]})))
        self.assertIn("unknown key", run(config=json.dumps({"cameraz": []})))
        self.assertIn("may hold only letters", run("--camera", "a/b=rtsp://h/a"))
        self.assertIn("no installed GStreamer source reads 'nosuch://'",
                      run("--camera", "x=nosuch://h/a"))
        self.assertIn("no such file", run("--camera", "x=/nonexistent/clip.mp4"))
        dead = free_port()
        self.assertIn("cannot reach the MQTT broker 127.0.0.1:%d" % dead,
                      run("--camera", "x=rtsp://127.0.0.1:1/a", "--broker", "127.0.0.1:%d" % dead))
        self.assertIn("either --config FILE or --camera", run())

    def test_6_sigterm_stops_cleanly(self):
        self.monitor.terminate()
        self.assertEqual(self.monitor.wait(timeout=60), 0)
        for cam in ("a", "b"):
            status = retained(self.port, topic(cam, "status"))
            self.assertEqual(status["state"], "stopped")
            self.assertGreater(status["frames"], 0)


if __name__ == "__main__":
    MONITOR, SCRATCH = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
