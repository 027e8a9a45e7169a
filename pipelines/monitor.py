#!/usr/bin/python3
"""Runs a pipeline holding llamavid elements, answers questions typed on stdin and prints the
alerts of standing questions.

Each line read from stdin is one question, except a line "watch: QUESTION", which adds
QUESTION as a standing question (the `watch` action signal) while the pipeline plays. It is posted on the pipeline's bus as a
`llamavid-ask` application message, which every llamavid element of the pipeline (or only the
one named by --element) takes as a question; questions typed before those elements hold a frame
wait until they do. Every `llamavid-answer` message is printed on
stdout as `[hh:mm:ss] ANSWER` (the stream time the answer speaks about), prefixed by the
element's name when the pipeline holds several llamavid elements; every `llamavid-alert` as
`[hh:mm:ss] ALERT QUESTION: PREVIOUS -> ANSWER` (the time is the alert's `since`); every
`llamavid-error` goes to stderr. End of stdin ends the run once the questions asked so far are
answered, unless there are watches (then the run goes on to the end of the stream or Ctrl-C);
end of stream ends it too. Exit status: 0, or 1 after a pipeline error or a question that got an
error.

usage: monitor.py [--element NAME] [--timeout SECONDS] [--watch QUESTION ...]
                  'PIPELINE DESCRIPTION'
example:
  monitor.py --watch "Is the screen black?" \
      'videotestsrc is-live=true pattern=ball ! videoconvert ! llamavid ! fakesink'
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, GObject, Gst  # noqa: E402

# Ids this application gives its questions start here, far above the element's own counter,
# so an answer can be matched to the question that asked for it.
FIRST_ID = 1 << 40


def uint64_value(value):
    # Structure.set_value would guess gint for a Python int; the contract's id is a guint64.
    v = GObject.Value(GObject.TYPE_UINT64)
    v.set_uint64(value)
    return v


def format_time(ns):
    s = max(ns, 0) // Gst.SECOND
    return "%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def llamavid_elements(pipeline):
    found = []
    it = pipeline.iterate_recurse()
    while True:
        res, elem = it.next()
        if res == Gst.IteratorResult.RESYNC:
            it.resync()
            found.clear()
            continue
        if res != Gst.IteratorResult.OK:
            break
        factory = elem.get_factory()
        if factory is not None and factory.get_name() == "llamavid":
            found.append(elem)
    return found


class Monitor:
    def __init__(self, pipeline, elements, element_name):
        self.pipeline = pipeline
        self.element_name = element_name
        self.several = len(elements) > 1  # answers then name their element
        self.targets = [e for e in elements if e.get_name() == element_name] if element_name \
            else elements
        self.expected = len(self.targets)
        self.held = []  # questions typed before every target held a frame
        self.loop = GLib.MainLoop()
        self.next_id = FIRST_ID
        self.pending = {}  # id -> answers or errors still due
        self.stdin_open = True
        self.partial = b""  # stdin bytes after the last newline
        self.status = 0
        self.watching = False  # a watch keeps the run going after the end of stdin

    def watch(self, question):
        for e in self.targets:
            if e.emit("watch", question) == 0:
                print("monitor.py: %s: cannot watch %r" % (e.get_name(), question),
                      file=sys.stderr)
                self.status = 1
            else:
                self.watching = True

    def ask(self, question):
        if self.held or not self.targets_ready():
            self.held.append(question)
        else:
            self.post(question)

    def targets_ready(self):
        return all(e.get_property("memory-frames") > 0 for e in self.targets)

    def on_tick(self):
        if self.held and self.targets_ready():
            for question in self.held:
                self.post(question)
            self.held = []
        return True

    def post(self, question):
        s = Gst.Structure.new_empty("llamavid-ask")
        s.set_value("question", question)
        s.set_value("id", uint64_value(self.next_id))
        if self.element_name:
            s.set_value("element", self.element_name)
        self.pending[self.next_id] = self.expected
        self.next_id += 1
        self.pipeline.post_message(Gst.Message.new_application(self.pipeline, s))

    def settle(self, qid):
        if qid in self.pending:
            self.pending[qid] -= 1
            if self.pending[qid] == 0:
                del self.pending[qid]
        self.maybe_finish()

    def maybe_finish(self):
        if not self.stdin_open and not self.pending and not self.held and not self.watching:
            self.loop.quit()

    def on_stdin(self, fd, condition):
        data = os.read(fd, 65536) if condition & GLib.IO_IN else b""
        if data:
            self.partial += data
            *lines, self.partial = self.partial.split(b"\n")
            for line in lines:
                question = line.rstrip(b"\r").decode("utf-8", errors="replace")
                if question.startswith("watch:"):
                    self.watch(question[len("watch:"):].strip())
                elif question.strip():
                    self.ask(question)
            return True
        if self.partial.strip():
            self.ask(self.partial.decode("utf-8", errors="replace"))
        self.stdin_open = False
        self.maybe_finish()
        return False

    def on_message(self, bus, msg):
        t = msg.type
        if t == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            name = s.get_name() if s else ""
            if name == "llamavid-answer":
                prefix = msg.src.get_name() + ": " if self.several else ""
                _, stream_time = s.get_uint64("stream-time")
                _, qid = s.get_uint64("id")
                text = s.get_string("answer").replace("\n", " ")
                print("[%s] %s%s" % (format_time(stream_time), prefix, text), flush=True)
                self.settle(qid)
            elif name == "llamavid-alert":
                prefix = msg.src.get_name() + ": " if self.several else ""
                _, since = s.get_uint64("since")
                print("[%s] %sALERT %s: %s -> %s" % (
                    format_time(since), prefix, s.get_string("question"),
                    s.get_string("previous").replace("\n", " "),
                    s.get_string("answer").replace("\n", " ")), flush=True)
            elif name == "llamavid-error":
                _, qid = s.get_uint64("id")
                print("monitor.py: %s: question %r: %s" % (msg.src.get_name(),
                      s.get_string("question"), s.get_string("reason")), file=sys.stderr)
                self.status = 1
                self.settle(qid)
        elif t == Gst.MessageType.ERROR:
            err, debug = msg.parse_error()
            print("monitor.py: %s: %s\n%s" % (msg.src.get_name(), err.message, debug or ""),
                  file=sys.stderr)
            self.status = 1
            self.loop.quit()
        elif t == Gst.MessageType.EOS:
            self.loop.quit()

    def on_timeout(self):
        print("monitor.py: stopped after --timeout with %d question(s) unanswered"
              % len(self.pending), file=sys.stderr)
        self.status = 1
        self.loop.quit()
        return False


def main():
    p = argparse.ArgumentParser(description="Ask llamavid elements questions from stdin.")
    p.add_argument("--element", help="ask only the llamavid element of this name")
    p.add_argument("--timeout", type=float, default=0,
                   help="stop after this many seconds (0: no limit)")
    p.add_argument("--watch", action="append", default=[], metavar="QUESTION",
                   help="a standing question whose alerts are printed (repeatable)")
    p.add_argument("pipeline", nargs="+", help="pipeline description, as for gst-launch-1.0")
    args = p.parse_args()

    Gst.init(None)
    try:
        pipeline = Gst.parse_launch(" ".join(args.pipeline))
    except GLib.Error as e:
        print("monitor.py: bad pipeline: %s" % e.message, file=sys.stderr)
        return 2
    if not isinstance(pipeline, Gst.Pipeline):
        wrapper = Gst.Pipeline.new(None)
        wrapper.add(pipeline)
        pipeline = wrapper
    elements = llamavid_elements(pipeline)
    if not elements or (args.element and args.element not in [e.get_name() for e in elements]):
        print("monitor.py: the pipeline holds no llamavid element%s"
              % (" named " + args.element if args.element else ""), file=sys.stderr)
        return 2

    monitor = Monitor(pipeline, elements, args.element)
    for question in args.watch:
        monitor.watch(question)
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", monitor.on_message)
    GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(),
                          GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, monitor.on_stdin)
    GLib.timeout_add(100, monitor.on_tick)
    if args.timeout > 0:
        GLib.timeout_add(int(args.timeout * 1000), monitor.on_timeout)

    if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        # The element says why on the bus (e.g. the model directory is missing).
        msg = bus.pop_filtered(Gst.MessageType.ERROR)
        if msg:
            monitor.on_message(bus, msg)
        else:
            print("monitor.py: the pipeline cannot start", file=sys.stderr)
        pipeline.set_state(Gst.State.NULL)
        return 1
    try:
        monitor.loop.run()
    except KeyboardInterrupt:
        pass
    pipeline.set_state(Gst.State.NULL)
    bus.remove_signal_watch()
    return monitor.status


if __name__ == "__main__":
    sys.exit(main())
