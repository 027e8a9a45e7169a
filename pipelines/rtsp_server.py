#!/usr/bin/python3
"""A small RTSP server for trying llamavid on a live H.264 stream without a camera.

Serves a videotestsrc pattern, encoded by x264enc (tune=zerolatency), at
rtsp://ADDRESS:PORT/PATH and stops by itself after --duration seconds. Once it listens it prints
the stream's URI on stdout (one line), which is how tests learn the port when they ask for
--port 0 (any free port).

usage: rtsp_server.py [--port N] [--address A] [--path /NAME] [--duration SECONDS]
                      [--pattern NAME] [--width W] [--height H] [--fps N]
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description="Serve a test pattern as H.264 over RTSP.")
    p.add_argument("--port", type=int, default=8554, help="TCP port, 0 for any free one")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--path", default="/test", help="mount point, e.g. /test")
    p.add_argument("--duration", type=float, default=60.0,
                   help="seconds after which the server stops by itself")
    p.add_argument("--pattern", default="ball", help="videotestsrc pattern")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=10)
    args = p.parse_args()
    if not args.path.startswith("/"):
        p.error("--path must start with /")
    if args.duration <= 0:
        p.error("--duration must be positive")
    return args


def main():
    args = parse_args()
    Gst.init(None)
    # A keyframe every second so a client that joins late starts decoding quickly.
    launch = ("( videotestsrc is-live=true pattern={pattern} "
              "! video/x-raw,width={width},height={height},framerate={fps}/1 "
              "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
              "! rtph264pay name=pay0 pt=96 config-interval=1 )").format(**vars(args))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)

    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("rtsp_server.py: cannot listen on %s:%d" % (args.address, args.port),
              file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    GLib.timeout_add(int(args.duration * 1000), loop.quit)
    print("rtsp://%s:%d%s" % (args.address, server.get_bound_port(), args.path), flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
