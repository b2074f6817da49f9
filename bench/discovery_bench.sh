#!/usr/bin/env bash
# bench/discovery_bench.sh [--kernel 6.12] [--cpu max] [--build DIR]
# Boots a 512 MiB and a 3 GiB guest in turn, pauses each, and runs discovery_bench on its RAM
# file through an in-process tlpsim at 12 us latency: both discovery paths and the whole-RAM
# read they replace, measured in the same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.12 cpu=max build=$root/build
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench=$build/bench/discovery_bench
[[ -x $bench ]] || { echo "build discovery_bench first ($bench)"; exit 1; }
for mem in 512M 3G; do
  (
    source "$root/qemu-test/lib.sh"
    guest_test_boot --kernel "$kernel" --cpu "$cpu" --mem "$mem" --cache "$build/qemu-cache" \
      --initrd "$build/qemu-test/initrd.cpio.gz" >/dev/null 2>&1
    guest_pause
    echo "== $kernel -cpu $cpu, $mem guest (map $GUEST_MAP)"
    "$bench" --memory "$GUEST_RAM" --map "$GUEST_MAP" --latency 12 2>/dev/null
  )
done
