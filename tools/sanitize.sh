#!/usr/bin/env bash
# The sanitizer and fuzzing part of CI (tools/test.sh runs it after the normal suite; see
# docs/testing.md). Builds with clang from Debian 12:
#   build-asan  AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer targets:
#               every test (setup "asan"), then every fuzzer for FUZZ_SECONDS (default 30) each;
#   build-tsan  ThreadSanitizer, only what the threaded tests need: the stream analyzer's tests
#               (and the element's with LLAMAVID_TSAN_ELEMENT=1; setup "tsan").
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
runtime_dir="$(dirname "$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)")"

# Optimised like the release build, with line tables for the reports and asserts kept. Shared
# sanitizer runtime (found through the rpath): the tests preload it into uninstrumented hosts.
if [ ! -f build-asan/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-asan --buildtype=release -Db_ndebug=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzers=true \
    -Dcpp_args="-gline-tables-only -fno-omit-frame-pointer" \
    -Dcpp_link_args="-shared-libsan -Wl,-rpath,$runtime_dir"
fi
ninja -C build-asan
echo "asan build took $(( $(date +%s) - start )) s"
meson test -C build-asan --setup asan --no-rebuild --print-errorlogs --num-processes 2 \
  --no-suite model
echo "asan tests done at $(( $(date +%s) - start )) s"
tests/fuzz/run.sh build-asan "${FUZZ_SECONDS:-30}"

if [ ! -f build-tsan/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-tsan --buildtype=release -Db_ndebug=false \
    -Db_sanitize=thread -Db_lundef=false \
    -Dcpp_args="-gline-tables-only -fno-omit-frame-pointer"
fi
# The element's tests under TSan report synchronisation inside Debian's uninstrumented GLib and
# GStreamer that TSan cannot see (docs/testing.md): opt in with LLAMAVID_TSAN_ELEMENT=1.
tsan_targets=(tests/test_stream_analyzer)
tsan_tests=(stream_analyzer)
if [ "${LLAMAVID_TSAN_ELEMENT:-0}" = 1 ]; then
  tsan_targets+=(gst-plugin/libgstllamavid.so tests/test_element tests/test_element_persistence
                 tests/test_element_load)
  tsan_tests+=(element element_persistence element_load)
fi
ninja -C build-tsan "${tsan_targets[@]}"
meson test -C build-tsan --setup tsan --no-rebuild --print-errorlogs "${tsan_tests[@]}"
echo "sanitizers and fuzzers took $(( $(date +%s) - start )) s"
