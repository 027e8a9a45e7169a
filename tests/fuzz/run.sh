#!/usr/bin/env bash
# Runs every libFuzzer target of a -Dfuzzers=true build for a bounded time, two at a time.
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_EACH (default 60)] [TARGET...]
# Each target starts from its committed seeds and regressions (copied into BUILD_DIR/fuzz-work,
# so the committed corpora never change). A crash, leak, timeout or sanitizer report fails the
# run; the input is left as BUILD_DIR/fuzz-work/<target>/crash-* (or leak-*, timeout-*): add it
# to tests/fuzz/regressions/<target>/ with the fix, and the fuzz_<target> test replays it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$(cd "$1" && pwd)"
seconds="${2:-60}"
shift $(( $# >= 2 ? 2 : 1 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors torch_checkpoint config sentencepiece_model
                                     sentencepiece_text wordpiece_vocab wordpiece_text question)

asan_runtime="$(clang++ -print-file-name=libclang_rt.asan-x86_64.so)"
shared="$here/../../../shared/data"
# The real LLaMA / BERT vocabularies when the workspace has them; else the default model's.
[ -f "$shared/llama2-tokenizer/tokenizer.model" ] &&
  export LLAMAVID_FUZZ_SPM="$shared/llama2-tokenizer/tokenizer.model"
[ -f "$shared/bert-base-uncased/vocab.txt" ] &&
  export LLAMAVID_FUZZ_VOCAB="$shared/bert-base-uncased/vocab.txt"

# Longest input per target: file formats need room for a header and a few tensors.
max_len() {
  case "$1" in
    safetensors|torch_checkpoint|sentencepiece_model) echo 16384 ;;
    config|wordpiece_vocab) echo 4096 ;;
    *) echo 1024 ;;
  esac
}

run_one() {
  local t="$1" work="$build/fuzz-work/$1"
  rm -rf "$work" && mkdir -p "$work/corpus"
  for d in "$here/corpus/$t" "$here/regressions/$t"; do
    [ -d "$d" ] && cp "$d"/* "$work/corpus/"
  done
  # Same sanitizer settings as the asan test setup (tests/sanitizers/meson.build).
  (cd "$work" &&
    LD_PRELOAD="$asan_runtime" \
    ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_string_checks=1" \
    LSAN_OPTIONS="suppressions=$here/../sanitizers/lsan.supp" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$here/../sanitizers/ubsan.supp" \
    "$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
      -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" \
      corpus > "$work/log.txt" 2>&1)
}

# Waits for the fuzzer of target $2 (pid $1) and prints its outcome.
status=0
report() {
  local work="$build/fuzz-work/$2" result=OK
  wait "$1" || { result=FAIL; status=1; }
  echo "fuzz $2: $result, $(grep -m1 -o 'number_of_executed_units: *[0-9]*' "$work/log.txt" |
    grep -o '[0-9]*$') inputs run, corpus of $(ls "$work/corpus" | wc -l) files"
  [ "$result" = OK ] || tail -60 "$work/log.txt"
}

start=$(date +%s)
# Two at a time: CI machines have two cores.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pair=("${targets[@]:i:2}")
  pids=()
  for t in "${pair[@]}"; do
    [ -x "$build/tests/fuzz/fuzz-$t" ] || { echo "missing $build/tests/fuzz/fuzz-$t"; exit 1; }
    run_one "$t" &
    pids+=($!)
  done
  for k in "${!pair[@]}"; do report "${pids[$k]}" "${pair[$k]}"; done
done
echo "fuzzers took $(( $(date +%s) - start )) s"
exit $status
