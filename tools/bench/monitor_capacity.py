#!/usr/bin/python3
"""How many 1 fps RTSP cameras one machine holds with llamavid-monitor and the default model
without skipping frames (docs/scaling.md).

Runs mosquitto on a free local port and, in this process, one RTSP server (gst-rtsp-server) with
a live 1 fps H.264 test pattern per camera (320x240, patterns in turn, moving ones included so
the memories keep growing). Each trial starts llamavid-monitor with N cameras, waits until every
camera plays, lets them run --seconds while asking every camera "What is on screen?" every
--ask-every seconds (P/all/ask), and reads the retained statuses at the start and the end of
that window: a trial holds when every camera kept playing, none skipped a frame in the window
(`frames-skipped`: the element's skips and the monitor's hand-over drops), each memory grew by
the window's length (it kept up with real time), and every question was answered. Between
trials the machine settles (load average below 2.5, at most 2 min). The cameras' MQTT sessions
are persistent: a camera that took part in an earlier, larger trial gets the questions asked
meanwhile when it comes back, and answers them too. N doubles from
--start until a trial fails (or --max), then the boundary is bisected. Prints one line per
trial and the answer; --json prints the trials as JSON too.

usage: monitor_capacity.py LLAMAVID_MONITOR [--seconds 60] [--ask-every 10] [--start 1]
                           [--max 256] [--step 1] [--json]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PATTERNS = ["ball", "smpte", "snow", "pinwheel", "red", "checkers-8", "spokes", "blue"]
PREFIX = "bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    sys.exit("monitor_capacity.py: nothing listens on port %d" % port)


def rtsp_server(count):
    """Serves /cam0 .. /cam{count-1}; returns the base URI."""
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    for i in range(count):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            "( videotestsrc is-live=true pattern=%s ! video/x-raw,width=320,height=240,"
            "framerate=1/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=1 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )" % PATTERNS[i % len(PATTERNS)])
        factory.set_shared(True)
        server.get_mount_points().add_factory("/cam%d" % i, factory)
    server.attach(None)
    threading.Thread(target=GLib.MainLoop().run, daemon=True).start()
    return "rtsp://127.0.0.1:%d" % server.get_bound_port()


def statuses(port, n):
    """The retained status of each of the n cameras, by name."""
    out = subprocess.run(["mosquitto_sub", "-p", str(port), "-t", PREFIX + "/+/status", "-v",
                          "-C", str(n), "-W", "10"], capture_output=True, text=True, timeout=20)
    result = {}
    for line in out.stdout.splitlines():
        topic, _, payload = line.partition(" ")
        result[topic.split("/")[1]] = json.loads(payload)
    return result


def trial(monitor, base, port, n, seconds, ask_every, workdir):
    cams = ["--camera=cam%d=%s/cam%d" % (i, base, i) for i in range(n)]
    log = open(os.path.join(workdir, "monitor-%d.log" % n), "w")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([monitor, "--broker", "127.0.0.1:%d" % port, "--topic-prefix", PREFIX,
                             "--device", "cpu"] + cams, stdout=log, stderr=log, env=env)
    answers = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-t", PREFIX + "/+/answer"],
                               stdout=subprocess.PIPE, text=True)
    got = []
    threading.Thread(target=lambda: got.extend(json.loads(l) for l in answers.stdout),
                     daemon=True).start()
    result = {"cameras": n, "holds": False}
    try:
        deadline = time.monotonic() + 60 + n
        while True:
            s = statuses(port, n)
            if len(s) == n and all(v["state"] == "playing" for v in s.values()):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                result["why"] = "not every camera played"
                return result
            time.sleep(2)
        time.sleep(6)  # a status published after the first frames
        before = statuses(port, n)
        window_start = time.monotonic()
        load_before = os.getloadavg()[0]
        asked = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", PREFIX + "/all/ask",
                            "-m", "What is on screen?"], check=True)
            asked += n
            time.sleep(ask_every)
        time.sleep(6)  # the last status of the window, the last answers
        after = statuses(port, n)
        elapsed = time.monotonic() - window_start
        skipped = sum(after[c]["frames-skipped"] - before[c]["frames-skipped"] for c in after)
        grown = min(after[c]["memory-end"] - before[c]["memory-end"] for c in after) / 1e9
        playing = all(v["state"] == "playing" for v in after.values()) and len(after) == n
        latencies = [a["latency"] / 1e6 for a in got if a.get("type") == "answer"]
        result.update({
            "skipped": skipped, "window_s": round(elapsed, 1),
            "min_memory_growth_s": round(grown, 1), "asked": asked,
            "answered": len(latencies),
            "median_answer_ms": round(statistics.median(latencies), 1) if latencies else None,
            "max_answer_ms": round(max(latencies), 1) if latencies else None,
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]})
        # Statuses come every 5 s: a memory that keeps up grows by the window within that.
        kept_up = grown >= elapsed - 7
        result["holds"] = playing and skipped == 0 and kept_up and len(latencies) >= asked
        if not result["holds"]:
            result["why"] = ("frames skipped" if skipped else "a camera stopped playing"
                             if not playing else "memory fell behind real time" if not kept_up
                             else "questions unanswered")
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        answers.terminate()
        answers.wait()
        log.close()
        settle()


def settle(limit_s=120):
    """Waits until the machine is about as busy as before the trial (load average below 2.5)."""
    deadline = time.monotonic() + limit_s
    while os.getloadavg()[0] > 2.5 and time.monotonic() < deadline:
        time.sleep(5)


def main():
    p = argparse.ArgumentParser(description="Cameras per machine for llamavid-monitor.")
    p.add_argument("monitor", help="the llamavid-monitor executable")
    p.add_argument("--seconds", type=int, default=60, help="length of each trial's window")
    p.add_argument("--ask-every", type=float, default=10, help="seconds between questions")
    p.add_argument("--start", type=int, default=1, help="cameras of the first trial")
    p.add_argument("--max", type=int, default=256, help="most cameras tried")
    p.add_argument("--step", type=int, default=1,
                   help="bisecting stops when held and failing counts are this close")
    p.add_argument("--json", action="store_true", help="print the trials as JSON at the end")
    args = p.parse_args()
    Gst.init(None)
    workdir = tempfile.mkdtemp(prefix="monitor-capacity-")
    port = free_port()
    with open(os.path.join(workdir, "mosquitto.conf"), "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\nlog_dest none\n"
                "max_queued_messages 100000\n" % port)
    broker = subprocess.Popen(["mosquitto", "-c", os.path.join(workdir, "mosquitto.conf")])
    wait_port(port)
    base = rtsp_server(args.max)
    trials = []

    def run(n):
        r = trial(args.monitor, base, port, n, args.seconds, args.ask_every, workdir)
        trials.append(r)
        print(json.dumps(r), flush=True)
        return r["holds"]

    try:
        good, bad, n = 0, None, args.start
        while n <= args.max:
            if not run(n):
                bad = n
                break
            good, n = n, n * 2
        while bad is not None and bad - good > args.step:
            mid = (good + bad) // 2
            if run(mid):
                good = mid
            else:
                bad = mid
        print("cameras held: %d%s (1 fps, %d s windows, a question to each every %g s)" % (
            good, "" if bad else " or more", args.seconds, args.ask_every))
        if args.json:
            print(json.dumps({"held": good, "first_failing": bad, "trials": trials}, indent=1))
    finally:
        broker.terminate()
        broker.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
