#!/usr/bin/env bash
# bench/tasks_bench.sh [--kernel 6.12] [--cpu max] [--threads N] [--mem 512M] [--runs N]
#                      [--build DIR] [--save FILE]
# Boots a guest, optionally with one extra program running N threads (bench/spawn_threads.c,
# built static and appended to the initramfs as /bin/tlpstub-threads; the kernel reads
# concatenated cpio archives), pauses it and runs tasks_bench on its RAM file through an
# in-process tlpsim at 12 us: the pid IDR walk of `monitor ps` against a one-read-at-a-time
# walk of the tasks list, in the same run. --save FILE keeps a copy of the paused guest's RAM
# (FILE) and its memory map (FILE.map), so tasks_bench can be re-run on it without a boot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.12 cpu=max build=$root/build mem=512M runs=3 threads=0 save=
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
bench=$build/bench/tasks_bench
[[ -x $bench ]] || { echo "build tasks_bench first ($bench)"; exit 1; }
initrd=$build/qemu-test/initrd.cpio.gz
[[ -f $initrd ]] || "$root/qemu-test/make-initramfs.sh" "$initrd"
append=
if (( threads > 0 )); then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/root/bin"
  gcc -O2 -static -pthread "$root/bench/spawn_threads.c" -o "$work/root/bin/tlpstub-threads"
  (cd "$work/root" && echo bin/tlpstub-threads | cpio -o -H newc --quiet -R 0:0) | gzip -n >"$work/extra.gz"
  cat "$initrd" "$work/extra.gz" >"$work/initrd.cpio.gz"
  initrd=$work/initrd.cpio.gz
  append="tlpstub.threads=$threads"
fi
(
  source "$root/qemu-test/lib.sh"
  guest_test_boot --kernel "$kernel" --cpu "$cpu" --mem "$mem" --cache "$build/qemu-cache" \
    --initrd "$initrd" ${append:+--append "$append"} >/dev/null 2>&1
  if (( threads > 0 )); then guest_wait_ready 300 "==TLPSTUB-THREADS" >/dev/null 2>&1; fi
  guest_pause
  echo "== $kernel -cpu $cpu, $mem guest, $(grep -a -o '==TLPSTUB-THREADS [0-9]*' "$GUEST_SERIAL" || echo 'no extra') threads"
  if [[ -n $save ]]; then cp "$GUEST_RAM" "$save" && echo "$GUEST_MAP" >"$save.map"; fi
  "$bench" --memory "$GUEST_RAM" --map "$GUEST_MAP" --latency 12 --runs "$runs" 2>/dev/null
)
