#!/usr/bin/env bash
# deb_test.sh BUILD_DIR: builds the .deb with CPack from a built tree, unpacks it with
# `dpkg-deb -x` into a temporary directory (no system change) and runs what it installed:
# tlpstub --version, tlpsim --version, and gdb -x on the installed gdbinit, which must find the
# installed Python package (not the repository's) and define the tlp-* commands.
set -euo pipefail
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

(cd "$tmp" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$(ls "$tmp"/out/tlpstub_*.deb)
echo "package: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libspdlog libfmt libpcap libcapstone; do
  [[ $depends == *"$lib"* ]] && pass "Depends names $lib" || fail "Depends lacks $lib: $depends"
done
dpkg-deb -x "$deb" "$tmp/root"
want=$(grep -m1 '^CMAKE_PROJECT_VERSION:' "$build/CMakeCache.txt" | cut -d= -f2)
for b in tlpstub tlpsim; do
  got=$("$tmp/root/usr/bin/$b" --version 2>&1 || true)
  [[ $got == "$b $want" ]] && pass "installed $b --version: $got" ||
    fail "installed $b --version: '$got', want '$b $want'"
done
out=$(cd "$tmp" && env -u TLPSTUB_PYTHON TLPSTUB=none gdb -batch -nx \
        -x "$tmp/root/usr/share/tlpstub/gdbinit" -ex "help tlp-ps" \
        -ex "python import tlpstub; print('from', tlpstub.__file__)" </dev/null 2>&1 || true)
grep -q "^List the target's tasks" <<<"$out" && grep -q "^from $tmp/root/usr/share/tlpstub/python/" <<<"$out" &&
  pass "installed gdbinit loads the installed Python package and defines tlp-ps" ||
  fail "installed gdbinit: $(tr '\n' ' ' <<<"$out")"
(( fails == 0 )) || { echo "$fails failed"; exit 1; }
