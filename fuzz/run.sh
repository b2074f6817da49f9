#!/usr/bin/env bash
# Real fuzzing with libFuzzer: builds the fuzz targets with clang++-19 in build-fuzz/ (every
# library instrumented: -fsanitize=fuzzer-no-link,address,undefined; fuzz/configure.sh, the
# same build as CI's .ci/sanitize --ci) and runs each for SECONDS (default 60) on a copy of its
# corpus, kept between runs. (CI's short bounded runs: fuzz/ci.sh.)
#   fuzz/run.sh [SECONDS] [TARGET...]        e.g. fuzz/run.sh 3600 printk_fuzz orc_fuzz
# FUZZ_MAX_LEN (default 4096) bounds input sizes; FUZZ_JOBS (default 1) runs that many
# fuzzing processes per target in parallel (a long run on a big machine: FUZZ_JOBS=8).
# New interesting inputs stay in build-fuzz/corpus-NAME/; a crash leaves crash-* in the
# current directory. Copy the few inputs worth keeping into fuzz/corpus/NAME/ (the replay
# tests in CTest run them on every build).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
"$here/fuzz/configure.sh"
targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in "$here"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi
cmake --build "$here/build-fuzz" -j2 --target "${targets[@]}"
jobs=()
# -jobs writes fuzz-N.log files instead of the terminal: only when asked for.
(( ${FUZZ_JOBS:-1} > 1 )) && jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
for name in "${targets[@]}"; do
  work="$here/build-fuzz/corpus-$name"
  mkdir -p "$work"
  cp -n "$here/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
  echo "== $name: $seconds s"
  "$here/build-fuzz/fuzz/$name" -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-4096}" \
    "${jobs[@]}" "$work"
done
