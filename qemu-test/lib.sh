# qemu-test/lib.sh -- boot a Debian kernel in QEMU (TCG) with its RAM in a
# shared file, and read ground truth from it. Source it from bash:
#
#   source qemu-test/lib.sh
#   eval "$(qemu-test/fetch-kernel.sh 6.1-cloud "$CACHE")"   # VMLINUZ, SYSTEM_MAP, ...
#   guest_start --kernel "$VMLINUZ" --initrd initrd.cpio.gz --cpu max \
#               --system-map "$SYSTEM_MAP" [--mem 3G] [--panic] [--dir DIR]
#   guest_wait_ready 120
#   guest_truth version                # lines the guest printed between markers
#   guest_sym linux_banner             # runtime address (kallsyms, else System.map+slide)
#   guest_cr3                          # CR3 as QEMU sees it, 0x...
#   guest_ref_dump 0xADDR LEN OUT      # read through QEMU's own gdbstub
#   guest_ram_dump PHYS LEN OUT        # read the RAM file (honours the q35 map)
#   guest_stop                         # also run by the EXIT trap guest_start sets
#
# After guest_start these are set: GUEST_DIR GUEST_RAM GUEST_MEM_MB GUEST_MAP
# GUEST_GDB_PORT GUEST_QMP GUEST_SERIAL GUEST_QEMU_PID GUEST_CPU GUEST_SYSTEM_MAP
# GUEST_MAP_IDENTITY (1 when file offset == physical address) GUEST_RAM_EDGES (the
# first and last page of every RAM range, physical).
# GUEST_MAP is the `tlpstub --map` spec for the RAM file (identity for guests
# below 2816 MiB: "0:0:512M"; for 3 GiB on q35: "0:0:2G,4G:2G:1G").
# Extra cleanup for the EXIT trap: guest_on_exit 'kill $PID'.
# Ground truth, the q35 RAM layout and gdb driving live in harness.py (Python); the guest_*
# functions below are thin shell wrappers around it.

GUEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST_QEMU=${GUEST_QEMU:-qemu-system-x86_64}
GUEST_CLEANUP=()
GUEST_QEMU_PID=

guest_log() { echo "[guest $(date +%T)] $*" >&2; }
harness() { python3 "$GUEST_LIB_DIR/harness.py" "$@"; }
guest_die() { echo "[guest] ERROR: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel picks it; tiny race until bound).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Size with K/M/G suffix -> MiB.
guest__mib() {
  local s=${1^^}
  case "$s" in
    *G) echo $(( ${s%G} * 1024 )) ;;
    *M) echo $(( ${s%M} )) ;;
    *) guest_die "memory size '$1': use a M or G suffix" ;;
  esac
}

guest_on_exit() { GUEST_CLEANUP+=("$1"); }

guest__exit_trap() {
  local rc=$? c
  for c in "${GUEST_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  guest_stop
  return $rc
}

# guest_watch_pid PID [FILE]: if this shell dies without running its traps
# (SIGKILL, or a CTest timeout killing the process tree), kill PID and then
# delete FILE. The watchdog is double-forked into its own session so a tree
# kill misses it; it exits by itself within a second of PID ending.
guest_watch_pid() {
  ( setsid bash -c '
      parent=$1 pid=$2 file=$3
      while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null; sleep 1; kill -KILL "$pid" 2>/dev/null
      fi
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
      [[ -z $file ]] || rm -f "$file"
    ' guest-watchdog "$$" "$1" "${2:-}" & ) </dev/null >/dev/null 2>&1
}

guest_start() {
  local kernel= initrd= cpu=max mem=512M smp=1 dir= append= panic=0 ramdir=
  GUEST_SYSTEM_MAP=${GUEST_SYSTEM_MAP:-}
  while (($#)); do
    case "$1" in
      --kernel) kernel=$2; shift 2 ;;
      --initrd) initrd=$2; shift 2 ;;
      --cpu) cpu=$2; shift 2 ;;
      --mem) mem=$2; shift 2 ;;
      --smp) smp=$2; shift 2 ;;
      --dir) dir=$2; shift 2 ;;
      --append) append=$2; shift 2 ;;
      --panic) panic=1; shift ;;
      --system-map) GUEST_SYSTEM_MAP=$2; shift 2 ;;
      --ram-dir) ramdir=$2; shift 2 ;;
      *) guest_die "guest_start: unknown option $1" ;;
    esac
  done
  [[ -f $kernel ]] || guest_die "guest_start: kernel '$kernel' not found"
  [[ -f $initrd ]] || guest_die "guest_start: initrd '$initrd' not found"
  command -v "$GUEST_QEMU" >/dev/null || guest_die "$GUEST_QEMU not installed"
  [[ -n $GUEST_QEMU_PID ]] && guest_die "guest_start: a guest is already running"

  GUEST_CPU=$cpu
  GUEST_MEM_MB=$(guest__mib "$mem")
  local MAP IDENTITY EDGES
  eval "$(harness layout "$GUEST_MEM_MB")"
  GUEST_MAP=$MAP GUEST_MAP_IDENTITY=$IDENTITY GUEST_RAM_EDGES=$EDGES
  if [[ -z $dir ]]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-guest.XXXXXX"); fi
  mkdir -p "$dir"
  GUEST_DIR=$(cd "$dir" && pwd)
  # RAM on tmpfs when there is room: no disk writeback of guest memory.
  if [[ -z $ramdir ]]; then
    ramdir=$GUEST_DIR
    if [[ -d /dev/shm && -w /dev/shm ]]; then
      local avail
      avail=$(df -Pm /dev/shm | awk 'NR==2 {print $4}')
      (( avail > GUEST_MEM_MB + 256 )) && ramdir=/dev/shm
    fi
  fi
  GUEST_RAM=$(mktemp "$ramdir/tlpstub-ram.XXXXXX")
  GUEST_SERIAL=$GUEST_DIR/serial.log
  GUEST_QMP=$GUEST_DIR/qmp.sock
  local qlog=$GUEST_DIR/qemu.log
  local cmdline="console=ttyS0 panic=0 $append"
  (( panic )) && cmdline+=" tlpstub.panic=1"

  trap guest__exit_trap EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local try
  for try in 1 2 3; do
    GUEST_GDB_PORT=$(free_port)
    rm -f "$GUEST_SERIAL" "$GUEST_QMP"
    # -nodefaults: no NIC/VGA to probe (faster boot); the serial port is
    # explicit. panic=0 keeps a panicked kernel (and its RAM) around forever;
    # -no-reboot turns a triple fault into a QEMU exit instead of a reset.
    "$GUEST_QEMU" -nodefaults -no-user-config \
      -machine q35,memory-backend=ram -accel tcg -cpu "$cpu" -smp "$smp" -m "${GUEST_MEM_MB}M" \
      -object "memory-backend-file,id=ram,size=${GUEST_MEM_MB}M,mem-path=$GUEST_RAM,share=on" \
      -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
      -display none -serial "file:$GUEST_SERIAL" \
      -gdb "tcp:127.0.0.1:$GUEST_GDB_PORT" \
      -qmp "unix:$GUEST_QMP,server=on,wait=off" \
      -no-reboot </dev/null >"$qlog" 2>&1 &
    GUEST_QEMU_PID=$!
    local ramfile=$GUEST_RAM
    [[ -n ${GUEST_KEEP_RAM:-} ]] && ramfile=
    guest_watch_pid "$GUEST_QEMU_PID" "$ramfile"
    local i
    for i in $(seq 50); do
      [[ -S $GUEST_QMP ]] && break
      kill -0 "$GUEST_QEMU_PID" 2>/dev/null || break
      sleep 0.1
    done
    if [[ -S $GUEST_QMP ]] && kill -0 "$GUEST_QEMU_PID" 2>/dev/null; then
      guest_log "QEMU pid $GUEST_QEMU_PID cpu=$cpu mem=${GUEST_MEM_MB}M gdb=127.0.0.1:$GUEST_GDB_PORT ram=$GUEST_RAM dir=$GUEST_DIR"
      return 0
    fi
    wait "$GUEST_QEMU_PID" 2>/dev/null || true
    GUEST_QEMU_PID=
    if grep -qi 'address already in use' "$qlog"; then
      guest_log "port $GUEST_GDB_PORT taken, retrying"
      continue
    fi
    break
  done
  cat "$qlog" >&2
  guest_die "QEMU did not start (log above)"
}

guest_running() { [[ -n $GUEST_QEMU_PID ]] && kill -0 "$GUEST_QEMU_PID" 2>/dev/null; }

guest__fail_with_log() {
  echo "[guest] ERROR: $*" >&2
  echo "---- serial log tail ($GUEST_SERIAL) ----" >&2
  tail -n 40 "$GUEST_SERIAL" 2>/dev/null | tr -d '\r' >&2
  echo "---- qemu log ----" >&2
  cat "$GUEST_DIR/qemu.log" >&2 2>/dev/null || true
  exit 1
}

# guest_wait_ready [TIMEOUT_S] [MARKER]: wait for ==TLPSTUB-READY== (or MARKER).
guest_wait_ready() {
  local timeout=${1:-120} marker=${2:-==TLPSTUB-READY==} t0=$SECONDS
  while ! grep -q -- "$marker" "$GUEST_SERIAL" 2>/dev/null; do
    guest_running || guest__fail_with_log "QEMU exited before $marker"
    # In guest_test_boot: a kernel crash before the marker returns 1 (it boots once more).
    if (( ${GUEST_BOOT_CRASH_RETURNS:-0} )) &&
       grep -qE 'Oops:|Kernel panic - not syncing' "$GUEST_SERIAL" 2>/dev/null; then
      return 1
    fi
    (( SECONDS - t0 >= timeout )) && guest__fail_with_log "no $marker after ${timeout}s"
    sleep 0.2
  done
  guest_log "$marker after $(( SECONDS - t0 ))s"
}

guest_stop() {
  # Safe under `set -e` (it runs from the EXIT trap): every step may fail.
  local pid=$GUEST_QEMU_PID i
  if [[ -n $pid ]]; then
    if kill -0 "$pid" 2>/dev/null; then
      timeout 5 python3 "$GUEST_LIB_DIR/qmp.py" "$GUEST_QMP" quit >/dev/null 2>&1 || true
      for i in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -TERM "$pid" 2>/dev/null; then sleep 0.5; fi
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    GUEST_QEMU_PID=
  fi
  if [[ -n ${GUEST_RAM:-} && -z ${GUEST_KEEP_RAM:-} ]]; then rm -f "$GUEST_RAM" || true; fi
  return 0
}

# guest_hmp CMD...: run HMP commands (via QMP), print their output.
guest_hmp() { python3 "$GUEST_LIB_DIR/qmp.py" "$GUEST_QMP" "$@"; }
guest_pause()  { guest_hmp stop >/dev/null; }
guest_resume() { guest_hmp cont >/dev/null; }

# CR3 of vCPU 0 as QEMU sees it (raw: PCID/PTI bits included), e.g. 0x1a0e000.
# In the idle loop this is init_top_pgt or the last process's table, both of
# which map the kernel.
guest_cr3() {
  local out v
  out=$(guest_hmp "info registers") || return 1
  v=$(sed -n 's/.*CR3=\([0-9a-fA-F]*\).*/\1/p' <<<"$out" | head -n1)
  [[ -n $v ]] || { echo "guest_cr3: no CR3 in 'info registers'" >&2; return 1; }
  printf '0x%x\n' "$((16#$v))"
}

# guest_gva2gpa VA: translate through the vCPU's current page tables.
guest_gva2gpa() {
  local out
  out=$(guest_hmp "gva2gpa $1") || return 1
  sed -n 's/^gpa: *\(0x[0-9a-fA-F]*\).*/\1/p' <<<"$out" | head -n1 | grep . ||
    { echo "guest_gva2gpa $1: $out" >&2; return 1; }
}

# guest_truth SECTION [KEY]: the lines between ==TLPSTUB-BEGIN SECTION== and
# ==TLPSTUB-END SECTION==; with KEY, one value: guest_truth sysinfo uname_r,
# guest_truth kallsyms init_task (0x...). Empty output if absent.
guest_truth() { harness truth "$GUEST_SERIAL" "$@" 2>/dev/null || true; }

# guest_vmcoreinfo KEY: a value from the guest's VMCOREINFO, e.g.
# guest_vmcoreinfo 'SYMBOL(kallsyms_names)' or guest_vmcoreinfo 'NUMBER(phys_base)'.
# Printed as the kernel wrote it: SYMBOL/KERNELOFFSET hex without 0x,
# NUMBER/OFFSET/SIZE decimal.
guest_vmcoreinfo() { guest_truth vmcoreinfo "$1"; }

# guest_sym NAME: runtime address (0x...) of a kernel symbol: the guest's
# /proc/kallsyms lines first; then VMCOREINFO SYMBOL(NAME) (the kallsyms_*
# tables are never in /proc/kallsyms); else a real System.map + KASLR slide.
guest_sym() {
  harness sym "$GUEST_SERIAL" "$1" ${GUEST_SYSTEM_MAP:+--system-map "$GUEST_SYSTEM_MAP"}
}

# KASLR slide of the image as the kernel states it (VMCOREINFO KERNELOFFSET).
guest_kaslr_slide() { harness slide "$GUEST_SERIAL"; }

# phys_base (the kernel image's physical slide) from the guest's /proc/iomem:
# "Kernel code" starts at __pa_symbol(_text) (arch/x86/kernel/setup.c).
guest_phys_base() { harness phys-base "$GUEST_SERIAL"; }

# guest_kva2pa VA: physical address of a kernel-image VA (no page walk).
guest_kva2pa() { harness kva2pa "$GUEST_SERIAL" "$1"; }

# guest_ram_offset PHYS: offset of a physical address in the RAM file.
guest_ram_offset() { harness ram-offset "$GUEST_MEM_MB" "$1"; }

# guest_ram_dump PHYS LEN OUT: bytes of guest-physical memory from the RAM file.
guest_ram_dump() {
  local off
  off=$(guest_ram_offset "$1") || return 1
  dd if="$GUEST_RAM" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$off" count=$(( $2 )) status=none
}

# guest_gdb EX...: gdb -batch against QEMU's gdbstub, one -ex per argument.
# QEMU pauses the VM when gdb attaches and resumes it on detach (even if it
# was paused with HMP `stop`), so gdb `disconnect`s instead and the VM's run
# state is restored here: a paused VM stays paused (exact reference reads).
guest_gdb() {
  local was rc=0
  was=$(guest_hmp "info status" 2>/dev/null || true)
  harness gdb "$GUEST_GDB_PORT" "$@" disconnect || rc=$?
  if [[ $was == *running* ]]; then guest_resume || true; fi
  return $rc
}

# guest_ref_dump ADDR LEN OUT: reference read of virtual memory via QEMU's gdbstub.
guest_ref_dump() {
  local end
  end=$(printf '0x%x' $(( $1 + $2 )))
  rm -f "$3"
  guest_gdb "dump binary memory $3 $1 $end" >"$GUEST_DIR/ref_dump.log" 2>&1
  [[ -f $3 && $(stat -c %s "$3") -eq $(( $2 )) ]] ||
    { echo "guest_ref_dump $1 $2 failed:" >&2; cat "$GUEST_DIR/ref_dump.log" >&2; return 1; }
}

# ---- test helpers ---------------------------------------------------------

# guest_test_boot --kernel 6.1-cloud|6.12 --cpu max|qemu64 --cache DIR
#                 --initrd FILE [--workdir DIR] [--mem SIZE] [--panic] [--smp N]
#                 [--append "KERNEL ARGS"]   (e.g. "pti=on")
# Resolves the kernel from the cache (fetching it without -dbg if the fixture
# has not: a test that needs the System.map requires the qemu_map_* fixture),
# builds the initramfs if missing, boots and waits for READY.
# Leftover arguments are returned in GUEST_TEST_ARGS.
guest_test_boot() {
  local kernel= cpu=max cache= initrd= workdir= mem=512M panic=() append= smp=1
  GUEST_TEST_ARGS=()
  while (($#)); do
    case "$1" in
      --kernel) kernel=$2; shift 2 ;;
      --cpu) cpu=$2; shift 2 ;;
      --cache) cache=$2; shift 2 ;;
      --initrd) initrd=$2; shift 2 ;;
      --workdir) workdir=$2; shift 2 ;;
      --mem) mem=$2; shift 2 ;;
      --panic) panic=(--panic); shift ;;
      --append) append=$2; shift 2 ;;
      --smp) smp=$2; shift 2 ;;
      *) GUEST_TEST_ARGS+=("$1"); shift ;;
    esac
  done
  [[ -n $kernel && -n $cache && -n $initrd ]] || guest_die "guest_test_boot: need --kernel, --cache, --initrd"
  local info
  info=$("$GUEST_LIB_DIR/fetch-kernel.sh" --offline "$kernel" "$cache" 2>/dev/null) ||
    info=$("$GUEST_LIB_DIR/fetch-kernel.sh" --no-dbg "$kernel" "$cache") || guest_die "cannot fetch kernel $kernel"
  local VMLINUZ= SYSTEM_MAP= PACKAGE= VERSION= CONFIG=
  eval "$info"
  GUEST_KERNEL_PACKAGE=$PACKAGE GUEST_KERNEL_CONFIG=$CONFIG
  [[ -f $initrd ]] || "$GUEST_LIB_DIR/make-initramfs.sh" "$initrd" || guest_die "cannot build $initrd"
  [[ -n $workdir ]] && rm -rf "$workdir"
  guest_log "kernel $PACKAGE $VERSION, cpu $cpu, mem $mem, smp $smp"
  # A kernel that crashes while booting (seen once: a double fault in early boot under TCG,
  # -cpu max, at one KASLR slide) has not been read by anything yet: it says nothing about
  # tlpstub, so it is booted once more (its serial log kept as serial-bootcrash.log).
  local attempt
  for attempt in 1 2; do
    guest_start --kernel "$VMLINUZ" --initrd "$initrd" --cpu "$cpu" --mem "$mem" --smp "$smp" \
      ${SYSTEM_MAP:+--system-map "$SYSTEM_MAP"} ${workdir:+--dir "$workdir"} "${panic[@]}" \
      --append "$append"
    GUEST_BOOT_CRASH_RETURNS=1
    guest_wait_ready "${GUEST_READY_TIMEOUT:-150}" && break
    GUEST_BOOT_CRASH_RETURNS=0
    (( attempt == 2 )) && guest__fail_with_log "the guest kernel crashed before ==TLPSTUB-READY==, on both boots"
    guest_log "the guest kernel crashed before ==TLPSTUB-READY== (boot $attempt): booting again"
    grep -m 3 -E 'Oops:|Kernel panic - not syncing' "$GUEST_SERIAL" | tr -d '\r' >&2
    cp "$GUEST_SERIAL" "$GUEST_DIR/serial-bootcrash.log"
    guest_stop
    [[ -n ${GUEST_KEEP_RAM:-} ]] || rm -f "$GUEST_RAM"
  done
  GUEST_BOOT_CRASH_RETURNS=0
}

# Test bookkeeping: check NAME CONDITION-COMMAND... ; then test_summary.
TEST_PASS=0 TEST_FAIL=0
pass() { TEST_PASS=$((TEST_PASS + 1)); echo "PASS: $*"; }
fail() { TEST_FAIL=$((TEST_FAIL + 1)); echo "FAIL: $*"; }
# test_skip MESSAGE: exit 77 (CTest SKIP_RETURN_CODE), except under CI=true, where whatever is
# missing was to be installed: a skip there would make a green run that tested nothing.
# guest_dwarf_vmlinux ARGS...: sets VMLINUX to the -dbg package's DWARF vmlinux of the kernel
# that --kernel K --cache DIR among ARGS name (cached by fetch-kernel.sh --vmlinux, the fixture
# qemu_vmlinux_K); the test dies without it.
guest_dwarf_vmlinux() {
  local args=("$@") kname= cache= info i
  for ((i = 0; i < ${#args[@]}; i++)); do
    [[ ${args[i]} == --kernel ]] && kname=${args[i+1]}
    [[ ${args[i]} == --cache ]] && cache=${args[i+1]}
  done
  info=$("$GUEST_LIB_DIR/fetch-kernel.sh" --offline --vmlinux "$kname" "$cache" 2>/dev/null) ||
    guest_die "no DWARF vmlinux of $kname in the cache (fixture qemu_vmlinux_$kname)"
  VMLINUX=
  eval "$info"
  [[ -n $VMLINUX ]] || guest_die "fetch-kernel.sh named no vmlinux for $kname"
}
test_skip() {
  if [[ ${CI:-} == true ]]; then echo "FAIL: $* (CI=true: not a skip)"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
# test_take_tlpstub ARGS...: the common arguments of a tlpstub QEMU test. Sets TLPSTUB from
# --tlpstub BIN (a skip, i.e. a failure under CI=true, when it is not an executable) and
# TEST_ARGS to every other argument, for guest_test_boot.
test_take_tlpstub() {
  TLPSTUB= TEST_ARGS=()
  while (($#)); do
    case "$1" in
      --tlpstub) TLPSTUB=$2; shift 2 ;;
      *) TEST_ARGS+=("$1"); shift ;;
    esac
  done
  [[ -n $TLPSTUB && -x $TLPSTUB ]] || test_skip "tlpstub binary '${TLPSTUB:-<none>}' does not exist"
}
test_summary() {
  echo "$TEST_PASS passed, $TEST_FAIL failed"
  (( TEST_FAIL == 0 ))
}

# ---- a stub under test ----------------------------------------------------------
# wait_listening PORT PID LOG: returns once PID listens on 127.0.0.1:PORT; exits the test
# (printing LOG) if PID dies first or nothing listens within 60 s.
wait_listening() {
  local port=$1 pid=$2 log=$3 t0=$SECONDS
  until ss -Hltn "sport = :$port" | grep -q .; do
    kill -0 "$pid" 2>/dev/null || { echo "stub exited before listening:"; cat "$log"; exit 1; }
    (( SECONDS - t0 > 60 )) && { echo "stub not listening after 60 s:"; cat "$log"; exit 1; }
    sleep 0.1
  done
}

# stub_start BIN LOG PORT [ARGS...]: starts `BIN ARGS... --listen 127.0.0.1:PORT` with its
# output in LOG, stops it when the test exits (and if the test is killed: the watchdog also
# removes STUB_WATCH_FILE, if set), waits until it listens, and sets STUB_PID.
stub_start() {
  local bin=$1 log=$2 port=$3
  shift 3
  echo "$(basename "$bin") $* --listen 127.0.0.1:$port"
  "$bin" "$@" --listen "127.0.0.1:$port" </dev/null >"$log" 2>&1 &
  STUB_PID=$!
  guest_on_exit "kill $STUB_PID; wait $STUB_PID"
  guest_watch_pid "$STUB_PID" "${STUB_WATCH_FILE:-}"
  wait_listening "$port" "$STUB_PID" "$log"
}

# stub_gdb PORT EX...: stock gdb -batch attached to 127.0.0.1:PORT, running EX... in order
# (at most TGDB_TIMEOUT s, default 120); prints gdb's output. An EX written ==NAME== prints a
# marker line; cut the output with `harness seg NAME <<<"$out"`.
stub_gdb() { harness gdb "$1" --timeout "${TGDB_TIMEOUT:-120}" "${@:2}"; }

# stub_wait_recovered PORT [SECONDS]: polls `monitor info` until discovery has ended and kallsyms
# and types are no longer being recovered (each done or failed); records a failure after
# SECONDS (default 120). Prints how long it took.
stub_wait_recovered() {
  local port=$1 limit=${2:-120} t0=$SECONDS info
  while :; do
    info=$(stub_gdb "$port" "monitor info" || true)
    [[ $info == *"discovery: running"* || $info == *"recovering"* ||
       $info == *"types: not recovered"* || $info != *"kallsyms: "* ]] || break
    if (( SECONDS - t0 > limit )); then
      fail "kernel, symbols and types not recovered after $limit s"
      return 0
    fi
    sleep 0.5
  done
  echo "tlpstub: kernel, symbols and types after $(( SECONDS - t0 )) s"
}

# ---- tlpsim, the software NetTLP adapter ------------------------------------------
# NetTLP's UDP ports are fixed (0x3000 + tag on both sides), so two adapters (or two tlpstubs)
# on one address pair collide: the second cannot bind, or, worse, a tlpstub reads another
# test's adapter. Each test therefore takes a loopback pair whose ports nobody holds:
# 127.0.0.2/127.0.0.1 when free, else 127.N.0.2/127.N.0.1 (all of 127/8 is loopback).
nettlp_busy() {  # IP: is any UDP port 0x3000..0x30ff bound on IP (or on every address)?
  ss -Huln | awk -v ip="$1" '{ n = split($4, a, ":"); p = a[n]; h = substr($4, 1, length($4) - length(p) - 1)
    if ((h == ip || h == "0.0.0.0" || h == "*") && p >= 12288 && p <= 12543) busy = 1 }
    END { exit !busy }'
}
# nettlp_pair: sets SIM_IP (the adapter's address) and SIM_LOCAL_IP (tlpstub's --local) to a
# free pair; returns 1 if none of 31 tries is free.
nettlp_pair() {
  local n
  SIM_IP= SIM_LOCAL_IP=
  for n in 0 $(shuf -i 1-250 -n 30); do
    if ! nettlp_busy "127.$n.0.2" && ! nettlp_busy "127.$n.0.1"; then
      SIM_IP=127.$n.0.2 SIM_LOCAL_IP=127.$n.0.1
      return 0
    fi
  done
  return 1
}

# sim_start BIN LOG [ARGS...]: serves the guest's RAM file through tlpsim at 12 us latency
# (plus ARGS, e.g. --loss 0.05) on a free loopback pair (nettlp_pair), logging to LOG; waits
# until it has bound its ports, stops it when the test exits and sets SIM_PID, SIM_IP and
# SIM_LOCAL_IP. tlpstub then reads with --nettlp "$SIM_IP" --local "$SIM_LOCAL_IP".
sim_start() {
  local bin=$1 log=$2
  shift 2
  nettlp_pair || guest_die "no free loopback address pair for NetTLP"
  "$bin" --memory "$GUEST_RAM" --map "$GUEST_MAP" --listen "$SIM_IP" --latency 12us \
    "$@" </dev/null >"$log" 2>&1 &
  SIM_PID=$!
  guest_on_exit "kill $SIM_PID 2>/dev/null; wait $SIM_PID"
  guest_watch_pid "$SIM_PID"
  local i
  for (( i = 0; i < 100; i++ )); do
    ss -Huln | awk '{print $4}' | grep -qxF "$SIM_IP:12288" && return 0
    kill -0 "$SIM_PID" 2>/dev/null || guest_die "tlpsim did not start: $(tail -n 3 "$log")"
    sleep 0.1
  done
  guest_die "tlpsim did not bind $SIM_IP:12288 in 10 s"
}

# sim_check_no_writes LOG: stops tlpsim (it prints its counters on SIGTERM) and records a pass
# if it received no write TLP, a failure if it did or printed no counter line. Read-only by
# construction is checked here on every test that reads through tlpsim.
sim_check_no_writes() {
  local log=$1 viol
  kill "$SIM_PID" 2>/dev/null
  wait "$SIM_PID" 2>/dev/null || true
  viol=$(sed -n 's/^tlpsim: write violations: \([0-9]*\)$/\1/p' "$log" | tail -n 1)
  if [[ $viol == 0 ]]; then pass "tlpsim received no write TLP"
  else fail "tlpsim write violations: '${viol:-no counter line}': $(tail -n 3 "$log")"; fi
}

# ---- memprobe: a guest process that panics the kernel on request (qemu-test/memprobe.c) ------

# memprobe_initrd BASE_INITRD OUT: BASE_INITRD with tlpstub-memprobe (gcc -static) appended and
# started by init (it prints the `memprobe` section: its pid, and the physical address of the
# word it polls). Needs gcc and a static libc (libc6-dev).
memprobe_initrd() {
  local base=$1 out=$2 work
  work=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-memprobe.XXXXXX")
  mkdir -p "$work/root/bin" "$work/root/etc/tlpstub-init.d"
  gcc -O2 -static -o "$work/root/bin/tlpstub-memprobe" "$GUEST_LIB_DIR/memprobe.c" ||
    { rm -rf "$work"; return 1; }
  echo /bin/tlpstub-memprobe >"$work/root/etc/tlpstub-init.d/memprobe.sh"
  (cd "$work/root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) |
    gzip -n >"$work/memprobe.cpio.gz"
  cat "$base" "$work/memprobe.cpio.gz" >"$out"
  rm -rf "$work"
}

# memprobe_panic: writes the magic word into memprobe's trigger in the guest's RAM file; the
# program then writes `c` to /proc/sysrq-trigger (the panicking task is memprobe, in write()).
# Returns once the serial console shows the end of the panic message.
memprobe_panic() {
  local pa
  pa=$(guest_truth memprobe trigger_pa)
  [[ -n $pa && $pa != 0x0 ]] || guest_die "no memprobe trigger address on the serial console"
  python3 - "$GUEST_RAM" "$(guest_ram_offset "$pa")" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:  # the guest's RAM: the program polls this word
    f.seek(int(sys.argv[2]))
    f.write(struct.pack("<Q", 0x7470616e69632121))  # kMemprobeMagic in memprobe.c
PY
  guest_wait_ready 60 'end Kernel panic'
}
