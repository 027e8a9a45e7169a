#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the demo: a scripted stream of test
# patterns (about 11 minutes of stream time, run faster than real time) watched by the llamavid
# element with the shipped default model, then questions of several kinds, answered and printed.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
export GST_PLUGIN_PATH="$PWD/build/gst-plugin"
exec /usr/bin/python3 pipelines/demo.py "$@"
