#!/usr/bin/env bash
# bench/rsp_throughput.sh [--kernel 6.1-cloud] [--cpu max] [--build DIR] [--mib 16] [--runs 3]
#
# End-to-end gdb memory-read throughput: stock gdb `dump binary memory` of N MiB of the
# guest's direct map (kernel virtual addresses, so every page goes through the software walk)
#   1. through tlpstub with its default PacketSize,
#   2. through tlpstub with --packet-size 4096 (QEMU 7.2's PacketSize),
#   3. through QEMU's own gdbstub on the same guest,
#   4. the ceiling: the same gdb against tlpstub's RSP server serving the bytes of (1) from a
#      buffer (bench/rsp_ceiling_server: no walk, no transport), i.e. what gdb 13's hex `m`
#      path allows here.
# The guest is paused during the runs, so all three read the same bytes (checked).
# Prints the median time of each and the ratios against (2) and (3), measured in this run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/qemu-test/lib.sh"

kernel=6.1-cloud cpu=max build=$root/build mib=16 runs=3
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --mib) mib=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
tlpstub=$build/app/tlpstub
[[ -x $tlpstub ]] || { echo "build tlpstub first ($tlpstub)"; exit 1; }
initrd=$build/qemu-test/initrd.cpio.gz
guest_test_boot --kernel "$kernel" --cpu "$cpu" --cache "$build/qemu-cache" --initrd "$initrd"
tmp=$GUEST_DIR

# Start of the direct map: the value of page_offset_base (randomized by KASLR).
pob_addr=$(guest_sym page_offset_base)
pob=$(guest_gdb "x/gx $pob_addr" 2>/dev/null | awk -F'\t' '/^0x[0-9a-f]+:/ {print $2; exit}')
[[ $pob == 0x* ]] || guest_die "cannot read page_offset_base"
start=$(printf '0x%x' $(( pob + 0x1000000 )))  # 16 MiB into RAM: populated, not firmware
end=$(printf '0x%x' $(( start + mib * 1048576 )))
cr3=$(guest_cr3)
guest_pause

# time_dumps PORT NAME [EX...]: `runs` timed gdb dumps of [start, end) into out-NAME.bin,
# one line of seconds each.
time_dumps() {
  local port=$1 name=$2 t0 t1
  shift 2
  for ((i = 0; i < runs; i++)); do
    t0=$(date +%s.%N)
    gdb -batch -nx -ex "target remote 127.0.0.1:$port" \
      -ex "dump binary memory $tmp/out-$name.bin $start $end" "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    calc "$t1 - $t0"
  done
}

run_tlpstub() {  # packet-size -> prints seconds per run
  local ps=$1 port pid
  port=$(free_port)
  "$tlpstub" --memory "$GUEST_RAM" --cr3 "$cr3" --listen "127.0.0.1:$port" --packet-size "$ps" \
    >"$tmp/tlpstub-$ps.log" 2>&1 &
  pid=$!
  until ss -Hltn "sport = :$port" | grep -q .; do sleep 0.05; done
  time_dumps "$port" "$ps"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_qemu() {
  time_dumps "$GUEST_GDB_PORT" qemu -ex disconnect
  guest_pause
}

run_ceiling() {
  local port pid log=$tmp/ceiling.log
  "$build/bench/rsp_ceiling_server" --packet-size 0x20000 --file "$tmp/out-0x20000.bin" \
    --base "$start" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || guest_die "rsp_ceiling_server did not start: $(cat "$log")"
  time_dumps "$port" ceiling
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

calc() { awk "BEGIN { printf \"%.6f\\n\", $1 }"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

big=$(run_tlpstub 0x20000 | median)
small=$(run_tlpstub 4096 | median)
qemu=$(run_qemu | median)
[[ -x $build/bench/rsp_ceiling_server ]] || guest_die "build bench/rsp_ceiling_server first"
ceiling=$(run_ceiling | median)
for f in 4096 qemu ceiling; do
  cmp -s "$tmp/out-0x20000.bin" "$tmp/out-$f.bin" || guest_die "read through $f differs"
done
mbps() { calc "$mib / $1"; }
printf 'gdb dump of %d MiB of kernel virtual memory (%s, -cpu %s), median of %d runs:\n' \
  "$mib" "$kernel" "$cpu" "$runs"
printf '  tlpstub PacketSize 0x20000: %6.3f s  %7.1f MiB/s\n' "$big" "$(mbps "$big")"
printf '  tlpstub PacketSize 0x1000:  %6.3f s  %7.1f MiB/s\n' "$small" "$(mbps "$small")"
printf '  QEMU 7.2 gdbstub:           %6.3f s  %7.1f MiB/s\n' "$qemu" "$(mbps "$qemu")"
printf '  ceiling (same bytes from a buffer, no walk, no transport): %6.3f s  %7.1f MiB/s\n' \
  "$ceiling" "$(mbps "$ceiling")"
printf '  tlpstub at PacketSize 0x20000 reaches %.0f%% of the ceiling\n' \
  "$(calc "100 * $ceiling / $big")"
printf '  ratio large/4 KiB PacketSize: %.1fx; tlpstub/QEMU gdbstub: %.1fx\n' \
  "$(calc "$small / $big")" "$(calc "$qemu / $big")"
