#!/bin/sh
# Answers QUESTION about an H.264 MP4 file when the file ends: the element asks at EOS and
# gst-launch-1.0 -m prints its llamavid-answer message.
#
# usage: file.sh FILE [QUESTION] [PROPERTY=VALUE ...]
#   PROPERTY=VALUE pairs are further llamavid properties, e.g. model=/path/to/model sample-fps=2
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 FILE [QUESTION] [PROPERTY=VALUE ...]" >&2
  exit 2
fi
file=$1
question=${2:-What is on screen?}
shift
[ $# -gt 0 ] && shift
exec gst-launch-1.0 -m \
  filesrc location="$file" ! qtdemux name=demux \
  demux.video_0 ! queue ! h264parse ! avdec_h264 ! videoconvert \
  ! llamavid ask-at-eos="$question" "$@" \
  ! fakesink
