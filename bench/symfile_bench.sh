#!/usr/bin/env bash
# bench/symfile_bench.sh [--kernel 6.12] [--cpu max] [--runs N] [--build DIR]
# Time from `target remote` to the first typed `p init_task.comm` with no vmlinux (gdb loads
# the ELF tlpstub writes from kallsyms + BTF, through qXfer:exec-file and vFile:), tlpstub
# reading a paused guest through tlpsim at 12 us; and the size of that ELF. Each row is one
# fresh gdb process (wall time, gdb start-up included):
#   attach+print  target remote, then p init_task.comm (the whole user-visible wait)
#   attach        target remote alone (file transfer and symbol reading included)
#   no file       target remote with a sysroot where the file is absent (no transfer)
# so "attach - no file" is what serving the symbol file costs. Goal (issue 10): under 3 s in
# all, of which the file transfer under 1 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.12 cpu=max build=$root/build runs=3
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for b in app/tlpstub transport/tlpsim; do
  [[ -x $build/$b ]] || { echo "build $b first ($build/$b)"; exit 1; }
done
source "$root/qemu-test/lib.sh"
guest_test_boot --kernel "$kernel" --cpu "$cpu" --cache "$build/qemu-cache" \
  --initrd "$build/qemu-test/initrd.cpio.gz" >/dev/null 2>&1
guest_pause
tmp=$GUEST_DIR
sim_start "$build/transport/tlpsim" "$tmp/tlpsim.log"
port=$(free_port)
stub_start "$build/app/tlpstub" "$tmp/tlpstub.log" "$port" --nettlp "$SIM_IP" --local "$SIM_LOCAL_IP" \
  >/dev/null
stub_wait_recovered "$port" >/dev/null
# The file is written once per kernel, in the background after types: wait for it.
until grep -q "symbol file /tlpstub" "$tmp/tlpstub.log"; do sleep 0.2; done

ms() { date +%s%3N; }
timed() {  # timed ARGS...: gdb -batch ARGS; prints milliseconds; output in $tmp/bench.out
  local t0
  t0=$(ms)
  gdb -batch -nx "$@" >"$tmp/bench.out" 2>&1 || true
  echo $(( $(ms) - t0 ))
}
echo "== $kernel -cpu $cpu guest (paused), tlpstub through tlpsim at 12 us"
grep -o "symbol file /tlpstub.*" "$tmp/tlpstub.log" | sed 's/^/   /'
for ((r = 1; r <= runs; ++r)); do
  full=$(timed -ex "target remote 127.0.0.1:$port" -ex "p init_task.comm")
  grep -q '"swapper/0' "$tmp/bench.out" || { echo "p init_task.comm failed:"; cat "$tmp/bench.out"; exit 1; }
  attach=$(timed -ex "target remote 127.0.0.1:$port")
  nofile=$(timed -ex "set sysroot $tmp/empty-sysroot" -ex "target remote 127.0.0.1:$port")
  printf '   run %d: attach+print %5d ms   attach %5d ms   no file %5d ms   serving the file %5d ms\n' \
    "$r" "$full" "$attach" "$nofile" $(( attach - nofile ))
done
