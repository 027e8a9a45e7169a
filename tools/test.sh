#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test, the default model's reduced evaluation
# included (suite "model"), then the sanitizer builds and the fuzzers (tools/sanitize.sh). This
# is what CI runs (.ci/run). LLAMAVID_SANITIZERS=0 leaves out the sanitizer part for a quicker
# local run; extra arguments go to the first `meson test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
start=$(date +%s)
meson test -C build --print-errorlogs --num-processes 2 "$@"
echo "tests took $(( $(date +%s) - start )) s"
if [ "${LLAMAVID_SANITIZERS:-1}" = 1 ]; then
  tools/sanitize.sh
fi
