#!/usr/bin/env bash
# Bounded libFuzzer runs for CI: every target in build-fuzz/ (fuzz/configure.sh, built) for
# SECONDS each, starting from a scratch copy of its repo corpus (libFuzzer first runs every
# corpus input, so this is the corpus replay too). Fails on any crash, sanitizer report,
# leak, input slower than 10 s, or RSS above 2 GiB; the input that did it is kept in
# build-fuzz/fuzz-artifacts/ and shown in hex.
#   fuzz/ci.sh [SECONDS] [TARGET...]     default: 5 s, every fuzz/*_fuzz.cpp
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-5}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in "$root"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
artifacts=$root/build-fuzz/fuzz-artifacts
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
rc=0
for name in "${targets[@]}"; do
  bin=$root/build-fuzz/fuzz/$name
  [[ -x $bin ]] || { echo "FAIL: $bin not built"; rc=1; continue; }
  work=$scratch/$name
  mkdir -p "$work"
  cp "$root/fuzz/corpus/$name"/* "$work"/
  log=$scratch/$name.log
  rm -f "$artifacts/$name"-*
  # -timeout: one input; -rss_limit_mb: the process (a bigger malloc is a failure too, as
  # -malloc_limit_mb defaults to it); the outer timeout only guards against libFuzzer itself
  # hanging. New inputs go to the scratch copy, never into the repo.
  if timeout $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
      "$work" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "== $name: ${seconds} s, ${runs:-?} runs, $(ls "$work" | wc -l) inputs in corpus, ok"
  else
    echo "== $name: FAILED"
    tail -n 60 "$log"
    for a in "$artifacts/$name"-*; do
      [[ -e $a ]] && { echo "-- $a:"; od -A x -t x1z "$a" | head -n 40; }
    done
    rc=1
  fi
done
exit $rc
