#!/usr/bin/env bash
# The README's "run" command: installs what is needed, builds tlpstub, boots a Debian kernel in
# QEMU with its RAM in a shared file, serves that RAM through tlpsim (the software NetTLP
# adapter, 12 us latency, on 127.0.0.2 or another free loopback address), runs tlpstub against
# it over NetTLP with nothing known in advance (discovery finds the kernel, KASLR and the page table), and attaches gdb.
#
#   qemu-test/demo.sh [--kernel 6.1-cloud|6.12] [--cpu max|qemu64] [--interactive]
#
# gdb shows the live guest (monitor info, ps, info threads, p init_task.comm with no vmlinux,
# monitor bt of a sleeping task, monitor dmesg), then the guest panics (sysrq c, from
# qemu-test/memprobe.c, built with gcc -static into the initramfs) and the same gdb session
# shows monitor ps, monitor bt of the panicking task and writes a vmcore with monitor dump
# (to $build/demo.vmcore, kept: open it with drgn or crash).
# Without --interactive gdb runs those commands and the demo exits 0 only if gdb printed the
# guest's own /proc/version through tlpstub, monitor ps its processes, p init_task.comm
# "swapper/0", monitor bt of the panicking task sysrq_handle_crash, and the vmcore was written;
# with it the same commands run and you are left at the gdb prompt on the panicked guest
# (quit gdb to end the demo; everything is cleaned up).
# It fetches only the kernel package (no -dbg: the guest prints its own symbols) and builds only
# tlpstub and tlpsim. TLPSTUB_BUILD=DIR builds elsewhere (default build/, kernels in
# DIR/qemu-cache); TLPSTUB_DEMO_NO_BUILD=1 skips installing and building (ctest's qemu_demo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kernel=6.1-cloud cpu=max interactive=0
while (($#)); do
  case "$1" in
    --kernel) kernel=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    --interactive) interactive=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# Wall-clock seconds since the start, on every progress line (demo-panic.sh prints them too).
export DEMO_T0=$(date +%s)
step() { echo "==> [$(( $(date +%s) - DEMO_T0 )) s] $*"; }
build=${TLPSTUB_BUILD:-$root/build}   # kernel cache and initramfs; tests share them
bin=$build                            # where tlpstub and tlpsim are
source "$root/qemu-test/lib.sh"
initrd=$build/qemu-test/initrd.cpio.gz
mkdir -p "$build"
fetch_env=$build/demo-fetch.env fetch_log=$build/demo-fetch.log
fetch() {
  [[ -f $initrd ]] || "$root/qemu-test/make-initramfs.sh" "$initrd" >/dev/null
  "$root/qemu-test/fetch-kernel.sh" --no-dbg "$kernel" "$build/qemu-cache" >"$fetch_env"
}
if [[ -z ${TLPSTUB_DEMO_NO_BUILD:-} ]]; then
  step "installing what is missing (.ci/deps)"
  "$root/.ci/deps"
  # The download is network-bound and the build CPU-bound: do both at once.
  step "fetching Debian's $kernel kernel package into $build/qemu-cache (once), in the background"
  fetch 2>"$fetch_log" &
  fetch_pid=$!
  # The demo's own binaries, in $build/demo: optimized (-O1) but without debug info, which on
  # 2 cores builds in about two thirds of the time of the tests' RelWithDebInfo (-O2 -g)
  # configuration in $build; a user who wants both pays for each once.
  bin=$build/demo
  step "building tlpstub and tlpsim in $bin (about a minute on 2 cores the first time)"
  cmake -S "$root" -B "$bin" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DTLPSTUB_UNITY_BUILD=ON -DBUILD_TESTING=OFF >/dev/null
  # One progress line, rewritten in place; anything else (a compiler error) is printed as is.
  cmake --build "$bin" -j2 --target tlpstub tlpsim 2>&1 |
    awk '/^\[[0-9]+\/[0-9]+\]/ {printf "\r    %s ", $1; fflush(); next} {print} END {print ""}'
  wait "$fetch_pid" || { cat "$fetch_log" >&2; echo "demo.sh: fetching the kernel failed" >&2; exit 1; }
else
  step "fetching Debian's $kernel kernel package into $build/qemu-cache (once)"
  fetch 2>"$fetch_log" || { cat "$fetch_log" >&2; exit 1; }
fi
eval "$(cat "$fetch_env")"
# The base initramfs plus memprobe, the process that panics the guest when the demo asks.
command -v gcc >/dev/null || { echo "demo.sh: gcc missing (apt-get install gcc)" >&2; exit 1; }
demo_initrd=$build/qemu-test/demo-initrd.cpio.gz
memprobe_initrd "$initrd" "$demo_initrd" || { echo "demo.sh: building memprobe failed" >&2; exit 1; }
step "booting $PACKAGE in QEMU (TCG, -cpu $cpu, 512 MiB, KASLR on): 10-60 s"
guest_test_boot --kernel "$kernel" --cpu "$cpu" --cache "$build/qemu-cache" --initrd "$demo_initrd"
step "guest up"

# The software adapter serves the guest's RAM as DMA reads over UDP, like the FPGA would.
# On a free loopback address pair (lib.sh's sim_start; another adapter on the same ports
# would be read instead).
echo "+ tlpsim --memory $GUEST_RAM --map $GUEST_MAP --latency 12us (on a free loopback address)"
sim_start "$bin/transport/tlpsim" "$GUEST_DIR/tlpsim.log"
echo "+ tlpsim listens on $SIM_IP"
port=$(free_port)
stub_args=(--nettlp "$SIM_IP" --local "$SIM_LOCAL_IP" --listen "127.0.0.1:$port")
echo "+ tlpstub ${stub_args[*]}"
"$bin/app/tlpstub" "${stub_args[@]}" 2>"$GUEST_DIR/tlpstub.log" &
stub_pid=$!
guest_on_exit "kill $stub_pid"
t0=$SECONDS
step "tlpstub discovers the kernel over NetTLP"
# Discovery, then symbols (kallsyms) and types (BTF) in the background: `monitor ps` needs all,
# and a bare `target remote` then loads the symbol file tlpstub writes from them (no vmlinux).
# The symbol file (kallsyms + BTF as ELF/DWARF) that gdb loads over vFile is written after them.
until grep -qE "symbol file |discovery failed" "$GUEST_DIR/tlpstub.log"; do
  kill -0 "$stub_pid" 2>/dev/null || { cat "$GUEST_DIR/tlpstub.log"; exit 1; }
  (( SECONDS - t0 > 60 )) && { echo "discovery did not finish in 60 s"; cat "$GUEST_DIR/tlpstub.log"; exit 1; }
  sleep 0.1
done
sed -n 's/^.* info //p' "$GUEST_DIR/tlpstub.log" | grep -E "^(found|gdb:)" | sed 's/^/+ tlpstub: /'

banner=$(guest_sym linux_banner)
mp_pid=$(guest_truth memprobe pid)
[[ -n $mp_pid ]] || { echo "demo.sh: no memprobe section on the guest's console" >&2; exit 1; }
vmcore=$build/demo.vmcore
rm -f "$vmcore"
export GUEST_SERIAL GUEST_RAM GUEST_MEM_MB GUEST_QEMU_PID  # for demo-panic.sh
init_task=$(guest_sym init_task)
echo "+ the guest says: $(guest_truth version)"
cmds=(
  "target remote 127.0.0.1:$port"
  "monitor help"
  "monitor info"
  "monitor version"
  "monitor ps"
  "info threads"
  "p init_task.comm"
  "ptype struct list_head"
  "monitor bt 1"
  "monitor dmesg -n 5"
  "x/s $banner"
  "monitor v2p $banner"
  "x/8gx $init_task"
  "info registers cr3"
  "monitor phys on"
  "x/4gx 0x1000"
  "monitor phys off"
  "monitor stats"
  # The guest panics (demo-panic.sh); gdb stays attached and reads the panicked kernel.
  "shell $root/qemu-test/demo-panic.sh"
  "monitor ps"
  "monitor bt $mp_pid"
  "monitor dmesg -n 4"
  "shell echo '==> ['\$(( \$(date +%s) - $DEMO_T0 ))' s] writing a vmcore of the panicked guest (progress every 0.5 s)'"
  # --level 31 as kdump-tools' default (makedumpfile -d 31): free, cache and user pages left out.
  "monitor dump $vmcore --level 31"
  "shell echo \"+ $vmcore: \$(du -h --apparent-size $vmcore | cut -f1) (\$(du -h $vmcore | cut -f1) on disk; zero, free, cache and user pages are holes)\""
)
gdb_args=(-nx -q -ex "set pagination off" -ex "set confirm off" -ex "set print elements 0")
for c in "${cmds[@]}"; do
  # The demo's own steps (`shell ...`) print their progress line instead of the command.
  [[ $c == shell\ * ]] || gdb_args+=(-ex "echo (gdb) $c\\n")
  gdb_args+=(-ex "$c")
done
step "gdb: the live guest, then its panic"
if (( interactive )); then
  gdb "${gdb_args[@]}"
  exit 0
fi
gdb -batch "${gdb_args[@]}" </dev/null 2>&1 | tee "$GUEST_DIR/gdb.log"
# The point of the demo: gdb read the guest's own banner through tlpstub.
want="\"$(guest_truth version)\\n\""
if ! grep -qF -- "$want" "$GUEST_DIR/gdb.log"; then
  echo "demo.sh: FAILED: gdb did not print the guest's /proc/version ($want)" >&2
  exit 1
fi
# And `monitor ps` listed the processes the guest's init started (comm tlpstub-probe).
if ! grep -qE "^ *[0-9]+ +[0-9]+ +[A-Z].* tlpstub-probe" "$GUEST_DIR/gdb.log"; then
  echo "demo.sh: FAILED: monitor ps did not list the guest's tlpstub-probe processes" >&2
  exit 1
fi
# And gdb, given no file, typed init_task from the symbol file tlpstub served.
if ! grep -qF '= "swapper/0' "$GUEST_DIR/gdb.log"; then
  echo "demo.sh: FAILED: p init_task.comm did not print \"swapper/0\" (no symbol file?)" >&2
  exit 1
fi
# After the panic: the panicking task's stack shows the sysrq crash handler.
if ! grep -qE '^ *#[0-9]+ .*sysrq_handle_crash' "$GUEST_DIR/gdb.log"; then
  echo "demo.sh: FAILED: monitor bt $mp_pid (the panicking task) did not show sysrq_handle_crash" >&2
  exit 1
fi
# And the vmcore was written: an ELF core.
if [[ $(head -c 4 "$vmcore" 2>/dev/null | od -An -c | tr -d ' ') != '177ELF' ]]; then
  echo "demo.sh: FAILED: monitor dump did not write an ELF vmcore to $vmcore" >&2
  exit 1
fi
step "done: x/s linux_banner printed the guest's /proc/version; monitor ps listed its tasks; p init_task.comm typed with no vmlinux; after the panic monitor bt showed sysrq_handle_crash and $vmcore was written (drgn -c $vmcore, crash VMLINUX $vmcore)"
