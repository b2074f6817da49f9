#!/usr/bin/env bash
# bench/load_bench.sh [--clients 16] [--seconds 60] [--kernel 6.12] [--stub BIN] [--build DIR]
# Issue 12's load: N stock gdb clients at once against one tlpstub reading a paused 512 MiB
# guest through tlpsim (12 us), for S seconds. Each client takes turns: a random physical
# read (1..16384 bytes) checked against the guest's RAM file, `monitor ps`, `monitor bt all`,
# the two compared with the replies one client got before the load (taken twice, to show
# they are stable). Prints per-client counts, tlpstub's RSS before, during and after the
# load, and fails on any wrong byte, failed read, differing reply or monitor error. --stub
# runs another tlpstub binary, e.g. build-fuzz/app/tlpstub (clang ASan+UBSan, from
# fuzz/configure.sh or ./.ci/sanitize): a report aborts tlpstub during the load, and the bench
# then stops it with SIGTERM and fails unless it exits 0 with no report in its log (so a leak,
# found only at exit, fails it too).
# Not part of CTest (a minute of 16 gdb processes); figures go into README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.12 build=$root/build clients=16 seconds=60 stub=
while (($#)); do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --kernel) kernel=$2; shift 2 ;;
    --stub) stub=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
stub=${stub:-$build/app/tlpstub}
for b in "$stub" "$build/transport/tlpsim"; do
  [[ -x $b ]] || { echo "build $b first"; exit 1; }
done
command -v gdb >/dev/null || { echo "gdb is needed"; exit 1; }
source "$root/qemu-test/lib.sh"
guest_test_boot --kernel "$kernel" --cpu max --cache "$build/qemu-cache" \
  --initrd "$build/qemu-test/initrd.cpio.gz" >/dev/null 2>&1
guest_pause
tmp=$GUEST_DIR
# A loopback pair of its own (the QEMU tests use 127.0.0.2).
net=127.0.$((100 + $$ % 100))
"$build/transport/tlpsim" --memory "$GUEST_RAM" --map "$GUEST_MAP" --listen "$net.2" \
  --latency 12us </dev/null >"$tmp/tlpsim.log" 2>&1 &
spid=$!
guest_on_exit "kill $spid 2>/dev/null; wait $spid"
port=$(free_port)
# The options of ./.ci/sanitize; a normal build ignores them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
stub_start "$stub" "$tmp/tlpstub.log" "$port" --nettlp "$net.2" --local "$net.1" >/dev/null
stub_wait_recovered "$port" 300
rss() { sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$STUB_PID/status"; }

# The reference replies (phys mode on, as the clients have it), twice: they must agree.
ref() {
  gdb -batch -nx -ex "set sysroot $tmp/no-sysroot" -ex "target remote 127.0.0.1:$port" \
    -ex 'monitor phys on' -ex "python open('$1', 'w').write(gdb.execute('monitor $2', to_string=True))" \
    >/dev/null 2>&1
}
ref "$tmp/ref-ps" ps && ref "$tmp/ref-bt" "bt all" && ref "$tmp/ref-ps2" ps && ref "$tmp/ref-bt2" "bt all"
cmp -s "$tmp/ref-ps" "$tmp/ref-ps2" && cmp -s "$tmp/ref-bt" "$tmp/ref-bt2" ||
  { echo "FAIL: monitor ps / bt all differ between two quiet runs"; exit 1; }
echo "reference: monitor ps $(wc -l <"$tmp/ref-ps") lines, monitor bt all $(wc -l <"$tmp/ref-bt") lines"
echo "tlpstub RSS before the load: $(rss)"

pids=()
for ((i = 1; i <= clients; ++i)); do
  RAM=$GUEST_RAM MAP=$GUEST_MAP DURATION=$seconds REF_PS=$tmp/ref-ps REF_BT=$tmp/ref-bt \
  OUT=$tmp/client$i SEED=$i \
    timeout $((seconds + 120)) gdb -batch -nx -ex "set sysroot $tmp/no-sysroot" \
      -ex "target remote 127.0.0.1:$port" -ex "source $root/bench/load_client.py" \
      >"$tmp/client$i.log" 2>&1 &
  pids+=($!)
done
t0=$SECONDS
sleep $((seconds / 2))
echo "tlpstub RSS at $((SECONDS - t0)) s: $(rss)"
for p in "${pids[@]}"; do wait "$p" || true; done
echo "tlpstub RSS after $((SECONDS - t0)) s, all clients done: $(rss)"
rc=0
for ((i = 1; i <= clients; ++i)); do
  if [[ ! -s $tmp/client$i ]]; then
    echo "client $i: FAIL: no result"; tail -5 "$tmp/client$i.log"; rc=1; continue
  fi
  line=$(cat "$tmp/client$i")
  echo "client $i: $line"
  [[ $line =~ read_err=0\ read_wrong=0\ ps_ok=[1-9][0-9]*\ ps_diff=0\ bt_ok=[1-9][0-9]*\ bt_diff=0\ monitor_err=0 &&
     $line =~ read_ok=[1-9] ]] || rc=1
done
results=()
for ((i = 1; i <= clients; ++i)); do [[ -s $tmp/client$i ]] && results+=("$tmp/client$i"); done
((${#results[@]})) && awk '{for (i = 1; i <= NF; ++i) {split($i, kv, "="); s[kv[1]] += kv[2]}}
     END {for (k in s) printf "%s=%d ", k, s[k]; print ""}' "${results[@]}" | sed 's/^/total: /'
for d in "$tmp"/client*.diff-*; do
  [[ -e $d ]] || continue
  echo "== $(basename "$d") (first lines; the reference is $tmp/ref-*)"; head -20 "$d"; rc=1
done
if kill -0 "$STUB_PID" 2>/dev/null; then
  # Stopped the way a user stops it, so that a sanitizer's exit checks (leaks) run too.
  kill -TERM "$STUB_PID" || true
  for ((w = 0; w < 600; ++w)); do kill -0 "$STUB_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$STUB_PID" 2>/dev/null && { echo "FAIL: tlpstub still running 60 s after SIGTERM"; kill -KILL "$STUB_PID"; rc=1; }
  src=0; wait "$STUB_PID" || src=$?
  ((src == 0)) || { echo "FAIL: tlpstub exited with status $src after SIGTERM"; rc=1; }
else
  src=0; wait "$STUB_PID" || src=$?
  echo "FAIL: tlpstub died during the load (status $src)"; rc=1
fi
if grep -Eq 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$tmp/tlpstub.log"; then
  echo "FAIL: sanitizer report in tlpstub's log:"
  grep -E -m1 -A40 'ERROR: [A-Za-z]+Sanitizer|runtime error:' "$tmp/tlpstub.log"; rc=1
elif ((rc)); then
  tail -30 "$tmp/tlpstub.log"
fi
kill "$spid"; wait "$spid" 2>/dev/null || true
grep -q 'write violations: 0$' "$tmp/tlpsim.log" || { echo "FAIL: write TLPs"; rc=1; }
((rc == 0)) && echo "PASS: $clients clients x $seconds s: every read and reply correct" ||
  echo "FAIL"
exit $rc
