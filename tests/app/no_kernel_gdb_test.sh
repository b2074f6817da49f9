#!/usr/bin/env bash
# Stock gdb attaches to memory that holds no kernel (discovery fails), is told why, and can
# still read physical memory. With rip unavailable, gdb 13 would drop the connection at
# `target remote` ("PC register is not available").
# Usage: no_kernel_gdb_test.sh TLPSTUB_BIN
set -euo pipefail
source "$(dirname "$0")/clean_stop.sh"
tlpstub=$1
command -v gdb >/dev/null || { echo "FAIL: gdb not installed"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
printf 'tlpstub-no-kernel-marker' > "$tmp/ram.img"
truncate -s 16M "$tmp/ram.img"
"$tlpstub" --memory "$tmp/ram.img" --listen 127.0.0.1:0 >"$tmp/log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/log")
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || { echo "FAIL: tlpstub did not listen"; cat "$tmp/log"; exit 1; }
out=$(timeout 60 gdb -batch -nx -ex "target remote 127.0.0.1:$port" -ex 'monitor info' \
      -ex 'monitor phys on' -ex 'x/s 0' -ex 'info registers rsp' 2>&1)
echo "$out"
rc=0
check() { if grep -qF -- "$2" <<<"$out"; then echo "PASS: $1"; else echo "FAIL: $1 (no '$2')"; rc=1; fi; }
check "gdb stays attached and runs monitor commands" "discovery: failed"
check "physical reads work" '"tlpstub-no-kernel-marker"'
check "unknown registers are unavailable" "<unavailable>"
if grep -q "PC register is not available" <<<"$out"; then echo "FAIL: gdb refused the PC"; rc=1; fi
clean_stop "$pid" "$tmp/log" || rc=1
exit $rc
