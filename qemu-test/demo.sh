#!/usr/bin/env bash
# The README's "run" command: installs what is needed, builds tlpstub, boots a Debian kernel in
# QEMU with its RAM in a shared file, serves that RAM through tlpsim (the software NetTLP
# adapter, 12 us latency, on 127.0.0.2), runs tlpstub against it over NetTLP with nothing
# known in advance (discovery finds the kernel, KASLR and the page table), and attaches gdb.
#
#   qemu-test/demo.sh [--kernel 6.1-cloud|6.12] [--cpu max|qemu64] [--interactive]
#
# Without --interactive gdb runs a fixed set of commands and exits; with it you get a gdb
# prompt on the live guest (quit gdb to end the demo; everything is cleaned up).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.1-cloud cpu=max interactive=0
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --interactive) interactive=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ -z ${TLPSTUB_DEMO_NO_BUILD:-} ]]; then
  "$root/.ci/deps"
  "$root/.ci/build" >/dev/null
fi
build=${TLPSTUB_BUILD:-$root/build}
source "$root/qemu-test/lib.sh"
initrd=$build/qemu-test/initrd.cpio.gz
[[ -f $initrd ]] || "$root/qemu-test/make-initramfs.sh" "$initrd" >/dev/null
guest_test_boot --kernel "$kernel" --cpu "$cpu" --cache "$build/qemu-cache" --initrd "$initrd"

# The software adapter serves the guest's RAM as DMA reads over UDP, like the FPGA would.
echo "+ tlpsim --memory $GUEST_RAM --map $GUEST_MAP --listen 127.0.0.2 --latency 12us"
"$build/transport/tlpsim" --memory "$GUEST_RAM" --map "$GUEST_MAP" --listen 127.0.0.2 \
  --latency 12us 2>"$GUEST_DIR/tlpsim.log" &
sim_pid=$!
guest_on_exit "kill $sim_pid"
port=$(free_port)
stub_args=(--nettlp 127.0.0.2 --local 127.0.0.1 --listen "127.0.0.1:$port")
echo "+ tlpstub ${stub_args[*]}"
"$build/app/tlpstub" "${stub_args[@]}" 2>"$GUEST_DIR/tlpstub.log" &
stub_pid=$!
guest_on_exit "kill $stub_pid"
t0=$SECONDS
until grep -qE "found |discovery failed" "$GUEST_DIR/tlpstub.log"; do
  kill -0 "$stub_pid" 2>/dev/null || { cat "$GUEST_DIR/tlpstub.log"; exit 1; }
  (( SECONDS - t0 > 60 )) && { echo "discovery did not finish in 60 s"; cat "$GUEST_DIR/tlpstub.log"; exit 1; }
  sleep 0.1
done
sed -n 's/^.* info //p' "$GUEST_DIR/tlpstub.log" | grep -E "^(found|gdb:)" | sed 's/^/+ tlpstub: /'

banner=$(guest_sym linux_banner)
init_task=$(guest_sym init_task)
echo "+ the guest says: $(guest_truth version)"
cmds=(
  "target remote 127.0.0.1:$port"
  "monitor help"
  "monitor info"
  "monitor version"
  "x/s $banner"
  "monitor v2p $banner"
  "x/8gx $init_task"
  "info registers cr3"
  "monitor phys on"
  "x/4gx 0x1000"
  "monitor phys off"
  "monitor stats"
)
gdb_args=(-nx -q -ex "set pagination off" -ex "set confirm off" -ex "set print elements 0")
for c in "${cmds[@]}"; do
  gdb_args+=(-ex "echo (gdb) $c\\n" -ex "$c")
done
if (( interactive )); then
  gdb "${gdb_args[@]}"
else
  gdb -batch "${gdb_args[@]}" </dev/null
fi
