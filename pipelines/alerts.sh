#!/bin/sh
# Standing questions on a file or a live source: the element evaluates each QUESTION as the
# stream goes and posts a llamavid-alert message whenever its answer changes; gst-launch-1.0 -m
# prints them. On a file the run ends at the file's end (a change still waiting for its
# confirmation alerts then); on a live source (rtsp://..., v4l2:///dev/video0) press Ctrl-C.
#
# usage: alerts.sh FILE|URI [QUESTION ...]
#   QUESTION defaults to "Is the screen black?" and "Is snow on screen?". Further llamavid
#   properties go in LLAMAVID_PROPERTIES, e.g. LLAMAVID_PROPERTIES="watch-confirm=3 model=/m"
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 FILE|URI [QUESTION ...]" >&2
  exit 2
fi
source=$1
shift
case "$source" in
  *://*) uri=$source ;;
  /*) uri="file://$source" ;;
  *) uri="file://$PWD/$source" ;;
esac
[ $# -gt 0 ] || set -- "Is the screen black?" "Is snow on screen?"
# The watches property, a GstValueArray of strings: watches="<\"Q1\", \"Q2\">" as gst-launch-1.0
# reads it (it joins its arguments into one description, so the quotes must reach it).
# Double quotes and backslashes would end that quoting: they are dropped (in the shell itself,
# so that the script runs no other program before gst-launch-1.0).
without_quotes() {
  rest=$1
  clean=
  while [ -n "$rest" ]; do
    c=${rest%"${rest#?}"}
    rest=${rest#?}
    case $c in
      '"' | '\') ;;
      *) clean=$clean$c ;;
    esac
  done
}
watches=""
for q in "$@"; do
  without_quotes "$q"
  watches="${watches:+$watches, }\\\"$clean\\\""
done
# shellcheck disable=SC2086  # LLAMAVID_PROPERTIES holds several PROPERTY=VALUE words
exec gst-launch-1.0 -m -e \
  uridecodebin uri="$uri" ! videoconvert \
  ! llamavid "watches=\"<$watches>\"" ${LLAMAVID_PROPERTIES:-} \
  ! fakesink
