#!/usr/bin/env bash
# One stock gdb session through tlpstub --nettlp and tlpsim on a faulty link: loss, reordering,
# duplicates, 200 ms stalls, then the adapter hangs, resumes, dies and restarts with its state
# reset (the schedule is in faulty_link_gdb.py). Every read is checked against the RAM file:
# correct bytes or a clear error ("Cannot access memory"), never wrong bytes; reads work again
# by themselves once the adapter is back; the session survives it all; no write TLP reached
# either adapter process.
# Usage: faulty_link_gdb_test.sh TLPSTUB_BIN TLPSIM_BIN
set -euo pipefail
source "$(dirname "$0")/clean_stop.sh"
tlpstub=$1 tlpsim=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v gdb >/dev/null || { echo "FAIL: gdb not installed"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL: python3 not installed"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  [[ -s $tmp/sim2.pid ]] && pids+=("$(cat "$tmp/sim2.pid")")
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# Random bytes: a read landing at the wrong place cannot match by accident.
head -c 16M /dev/urandom >"$tmp/ram.img"
# A loopback pair of our own (ctest may run NetTLP tests side by side; both ends bind 0x3000+).
net=127.$((1 + $$ % 250)).251
sim_cmd=("$tlpsim" --memory "$tmp/ram.img" --listen "$net.2" --latency 12us --loss 0.05
         --reorder 0.05 --duplicate 0.05 --stall 200ms --stall-every 1s)
"${sim_cmd[@]}" >"$tmp/sim1.log" 2>&1 &
sim1=$!
pids+=("$sim1")
"$tlpstub" --nettlp "$net.2" --local "$net.1" --ram-size 16M --listen 127.0.0.1:0 \
  >"$tmp/stub.log" 2>&1 &
stub=$!
pids+=("$stub")
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$tmp/stub.log")
  [[ -n $port ]] && break
  sleep 0.05
done
[[ -n $port ]] || { echo "FAIL: tlpstub did not listen"; cat "$tmp/stub.log"; exit 1; }
# Discovery finds no kernel in random bytes; wait until it has given up, so that the schedule
# below meets plain reads.
for _ in $(seq 100); do
  grep -q 'discovery' "$tmp/stub.log" && grep -qi 'fail\|no kernel' "$tmp/stub.log" && break
  sleep 0.1
done
export IMG=$tmp/ram.img SIM_PID=$sim1 SIM2_PIDFILE=$tmp/sim2.pid SIM2_LOG=$tmp/sim2.log \
       RESULT=$tmp/result
SIM_CMD=$(printf '%s\0' "${sim_cmd[@]}" | tr '\0' '\001')
export SIM_CMD
timeout 120 gdb -batch -nx -ex 'set remotetimeout 2' -ex "target remote 127.0.0.1:$port" \
  -ex "source $here/faulty_link_gdb.py" >"$tmp/gdb.log" 2>&1 || true
cat "$tmp/gdb.log"
[[ -s $tmp/result ]] || { echo "FAIL: the gdb script did not finish"; tail -20 "$tmp/stub.log"; exit 1; }
cat "$tmp/result"
rc=0
check() { if grep -qE -- "$2" "$tmp/result"; then echo "PASS: $1"; else echo "FAIL: $1"; rc=1; fi; }
check "no read returned wrong bytes" '^wrong 0$'
check "reads on the lossy, stalling link succeed" '^phase lossy: [1-9][0-9]* ok'
check "reads fail while the adapter hangs" '^phase hang: [0-9]+ ok, [1-9][0-9]* error'
check "reads fail while the adapter is gone" '^phase kill: [0-9]+ ok, [1-9][0-9]* error'
check "reads come back after the adapter resumes" '^phase resume: [1-9][0-9]* ok'
check "reads come back after the adapter restarts" '^phase restart: [1-9][0-9]* ok'
check "2 s after the restart, reads fail no more than on the lossy link" '^settled reads [1-9][0-9]*, not ok [0-9]+, recovered True$'
check "the session survives (monitor stats and a read at the end)" '^final read ok True$'
# Each adapter process reports its write-TLP count when it ends.
[[ -s $tmp/sim2.pid ]] && kill "$(cat "$tmp/sim2.pid")" 2>/dev/null
sleep 0.5
for log in "$tmp/sim1.log" "$tmp/sim2.log"; do
  if grep -q 'write violations: 0$' "$log"; then
    echo "PASS: no write TLP reached $(basename "$log" .log)"
  else
    echo "FAIL: $(basename "$log" .log) did not report zero write TLPs"; tail -3 "$log"; rc=1
  fi
done
clean_stop "$stub" "$tmp/stub.log" || rc=1
exit $rc
