"""Media for the pipeline and tool tests: a tiny random model, an H.264 MP4 file, an RTSP server
on a free local port, and a reader for the lines a running process prints."""
import os
import queue
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PIPELINES = os.path.join(SOURCE_ROOT, "pipelines")
REFERENCE = os.path.join(SOURCE_ROOT, "tests", "reference")


def make_tiny_model(out, style="movie"):
    """A tiny random model directory (answers are arbitrary text)."""
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        subprocess.run([sys.executable, os.path.join(REFERENCE, "make_tiny_model.py"), out, style],
                       check=True, timeout=300)
    return out


def make_mp4(path, seconds=3, fps=10, pattern="ball", width=64, height=48):
    """An H.264 MP4 file of a videotestsrc pattern."""
    subprocess.run(
        ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=%d" % (seconds * fps),
         "pattern=" + pattern, "!",
         "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1" % (width, height, fps), "!",
         "x264enc", "!", "mp4mux", "!", "filesink", "location=" + path],
        check=True, timeout=60, capture_output=True)
    return path


def make_scenes(path, scenes, fps=2, width=64, height=48):
    """An MJPEG AVI file of videotestsrc scenes one after the other: `scenes` is a list of
    (pattern, seconds)."""
    args = ["gst-launch-1.0", "-q", "concat", "name=c", "!", "videoconvert", "!", "jpegenc", "!",
            "avimux", "!", "filesink", "location=" + path]
    for pattern, seconds in scenes:
        args += ["videotestsrc", "pattern=" + pattern, "num-buffers=%d" % (seconds * fps), "!",
                 "video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1" % (width, height, fps),
                 "!", "c."]
    subprocess.run(args, check=True, timeout=120, capture_output=True)
    return path


def make_audio_only(path):
    """An Ogg Vorbis file: no video stream at all."""
    subprocess.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=20", "!", "audioconvert",
                    "!", "vorbisenc", "!", "oggmux", "!", "filesink", "location=" + path],
                   check=True, timeout=60, capture_output=True)
    return path


def make_mp4_with_audio(path, seconds=3, fps=10):
    """An MP4 file with an H.264 video stream and an AAC audio stream."""
    subprocess.run(
        ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=%d" % (seconds * fps), "!",
         "video/x-raw,format=I420,width=64,height=48,framerate=%d/1" % fps, "!", "x264enc", "!",
         "mux.", "audiotestsrc", "num-buffers=%d" % (seconds * 43), "!", "audioconvert", "!",
         "avenc_aac", "!", "mp4mux", "name=mux", "!", "filesink", "location=" + path],
        check=True, timeout=60, capture_output=True)
    return path


class RtspServer:
    """pipelines/rtsp_server.py on a free 127.0.0.1 port; `uri` is the stream to open."""

    def __init__(self, duration=60, fps=10):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(PIPELINES, "rtsp_server.py"), "--port", "0",
             "--duration", str(duration), "--fps", str(fps), "--width", "64", "--height", "48"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.uri = self.proc.stdout.readline().strip()
        if not self.uri.startswith("rtsp://"):
            self.close()
            raise RuntimeError("rtsp_server.py did not start: " + self.proc.stderr.read())

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LineReader:
    """Collects a process's stdout lines on a thread, so a test can wait for each with a
    deadline while the process keeps running."""

    def __init__(self, stream):
        self.stream = stream
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def next(self, timeout):
        """The next line, or None at end of output; queue.Empty after `timeout` seconds."""
        return self.lines.get(timeout=timeout)

    def rest(self):
        """Every line still to come, once the process has closed its output."""
        self.join()
        lines = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return lines  # the end was read already
            if line is None:
                return lines
            lines.append(line)

    def join(self):
        """Waits for the end of output (the process has ended) and closes the stream."""
        self.thread.join(timeout=10)
        self.stream.close()


class Interactive:
    """A process typed lines on stdin while it runs, its stdout lines read with deadlines. As a
    context manager: leaving it ends the process, whatever the test did."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.out = LineReader(self.proc.stdout)

    def __enter__(self):
        return self

    def type(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next(self, timeout):
        """The next stdout line, None at end of output; queue.Empty after `timeout` seconds."""
        return self.out.next(timeout)

    def finish(self, timeout=20):
        """Closes stdin and returns the exit status."""
        self.proc.stdin.close()
        return self.proc.wait(timeout=timeout)

    def stderr(self):
        return self.proc.stderr.read()

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.join()
        self.proc.stderr.close()
        return False
