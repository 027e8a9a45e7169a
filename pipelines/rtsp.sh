#!/bin/sh
# Watches an RTSP camera (H.264). Press Ctrl-C to stop: gst-launch-1.0 -e then sends EOS, the
# element answers QUESTION about everything it saw, and -m prints the llamavid-answer message.
#
# usage: rtsp.sh URI [QUESTION] [PROPERTY=VALUE ...]
#   URI: rtsp://host:port/path; PROPERTY=VALUE pairs are further llamavid properties
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 URI [QUESTION] [PROPERTY=VALUE ...]" >&2
  exit 2
fi
uri=$1
question=${2:-What happened on camera?}
shift
[ $# -gt 0 ] && shift
exec gst-launch-1.0 -m -e \
  rtspsrc location="$uri" latency=200 ! rtph264depay ! h264parse ! avdec_h264 ! videoconvert \
  ! llamavid ask-at-eos="$question" "$@" \
  ! fakesink
