#!/bin/sh
# Watches a V4L2 camera. Press Ctrl-C to stop: gst-launch-1.0 -e then sends EOS, the element
# answers QUESTION about everything it saw, and -m prints the llamavid-answer message.
#
# usage: webcam.sh [DEVICE] [QUESTION] [PROPERTY=VALUE ...]
#   DEVICE defaults to /dev/video0; PROPERTY=VALUE pairs are further llamavid properties
set -eu
device=${1:-/dev/video0}
question=${2:-What happened in front of the camera?}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
if [ ! -e "$device" ]; then
  echo "$0: no camera at $device" >&2
  exit 1
fi
exec gst-launch-1.0 -m -e \
  v4l2src device="$device" ! videoconvert \
  ! llamavid ask-at-eos="$question" "$@" \
  ! fakesink
