#!/usr/bin/env bash
# bench/discovery_bench.sh [--kernel 6.12] [--cpu max] [--mem "512M 3G"] [--runs N]
#                          [--loss P] [--stats] [--progress] [--no-full-read] [--build DIR]
# Boots each guest size in turn (512 MiB and 3 GiB by default), pauses it, and runs
# discovery_bench on its RAM file through an in-process tlpsim at 12 us latency: both discovery
# paths and the whole-RAM read they replace, measured in the same run. With --loss P the same
# guest is then discovered again through a tlpsim that loses P of the datagrams both ways (the
# lossy rows; compare them with the clean rows just above). --runs N repeats each discovery
# with a new client; --stats prints the NetTLP counters and round-trip histogram of each run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.12 cpu=max build=$root/build mems="512M 3G" runs=1 loss= extra=()
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --mem) mems=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --stats) extra+=(--stats); shift ;;
    --progress) extra+=(--progress); shift ;;
    --no-full-read) extra+=(--no-full-read); shift ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench=$build/bench/discovery_bench
[[ -x $bench ]] || { echo "build discovery_bench first ($bench)"; exit 1; }
for mem in $mems; do
  (
    source "$root/qemu-test/lib.sh"
    guest_test_boot --kernel "$kernel" --cpu "$cpu" --mem "$mem" --cache "$build/qemu-cache" \
      --initrd "$build/qemu-test/initrd.cpio.gz" >/dev/null 2>&1
    guest_pause
    echo "== $kernel -cpu $cpu, $mem guest (map $GUEST_MAP), clean link"
    "$bench" --memory "$GUEST_RAM" --map "$GUEST_MAP" --latency 12 --runs "$runs" \
      "${extra[@]}" 2>/dev/null
    if [[ -n $loss ]]; then
      echo "== $kernel -cpu $cpu, $mem guest, $loss datagram loss"
      "$bench" --memory "$GUEST_RAM" --map "$GUEST_MAP" --latency 12 --runs "$runs" \
        --loss "$loss" --no-full-read "${extra[@]}" 2>/dev/null
    fi
  )
done
