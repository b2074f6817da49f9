#!/usr/bin/env bash
# Real fuzzing with libFuzzer: builds the fuzz targets with clang++-19 in build-fuzz/ and runs
# each for SECONDS (default 60) on its corpus copy. New interesting inputs stay in build-fuzz/;
# copy the few worth keeping into fuzz/corpus/NAME/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
cmake -S "$here" -B "$here/build-fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++-19 \
  -DTLPSTUB_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$here/build-fuzz" -j2
for src in "$here"/fuzz/*_fuzz.cpp; do
  name=$(basename "$src" .cpp)
  work="$here/build-fuzz/corpus-$name"
  mkdir -p "$work"
  cp -n "$here/fuzz/corpus/$name"/* "$work"/ 2>/dev/null || true
  "$here/build-fuzz/fuzz/$name" -max_total_time="$seconds" -max_len=4096 "$work"
done
