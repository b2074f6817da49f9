#!/usr/bin/env bash
# Configures build-fuzz/: clang++-19 with ASan+UBSan and libFuzzer's coverage instrumentation
# in every library (-DTLPSTUB_FUZZ=ON), unity build, warnings as errors, tests included. Shared
# by fuzz/run.sh (long fuzzing), fuzz/ci.sh and .ci/sanitize (tests and bounded fuzzing in CI),
# so that one build serves all three.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cxx=${FUZZ_CXX:-clang++-19}
if ! command -v "$cxx" >/dev/null; then
  # Not a skip, in CI or anywhere: without it nothing here can be built.
  echo "FAIL: $cxx not found (Debian: apt-get install clang-19 libclang-rt-19-dev)" >&2
  exit 1
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# No benchmarks and no QEMU tests: nothing runs them here.
cmake -S "$root" -B "$root/build-fuzz" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTLPSTUB_UNITY_BUILD=ON -DTLPSTUB_WERROR=ON \
  -DTLPSTUB_FUZZ=ON -DBUILD_TESTING=ON -DTLPSTUB_QEMU_TESTS=OFF -DCMAKE_DISABLE_FIND_PACKAGE_benchmark=ON \
  "${launcher[@]}" >/dev/null
