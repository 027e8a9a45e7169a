#!/bin/sh
# Watches a live test pattern (no camera needed). Press Ctrl-C to stop: gst-launch-1.0 -e then
# sends EOS, the element answers QUESTION about everything it saw, and -m prints the
# llamavid-answer message.
#
# usage: testsrc.sh [PATTERN] [QUESTION] [PROPERTY=VALUE ...]
#   PATTERN is a videotestsrc pattern (default ball); PROPERTY=VALUE pairs are further llamavid
#   properties
set -eu
pattern=${1:-ball}
question=${2:-What is on screen?}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
exec gst-launch-1.0 -m -e \
  videotestsrc is-live=true pattern="$pattern" \
  ! video/x-raw,width=320,height=240,framerate=10/1 ! videoconvert \
  ! llamavid ask-at-eos="$question" "$@" \
  ! fakesink
