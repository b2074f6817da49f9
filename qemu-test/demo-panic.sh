#!/usr/bin/env bash
# demo-panic.sh: run by demo.sh's gdb (`shell`) between the live part and the post-mortem part:
# crashes the guest through memprobe (sysrq c, the panicking task is tlpstub-memprobe) and
# returns once its serial console shows the end of the panic. gdb stays attached meanwhile:
# tlpstub serves the same RAM, now a panicked kernel's.
# Needs what demo.sh exports: GUEST_SERIAL GUEST_RAM GUEST_MEM_MB GUEST_QEMU_PID DEMO_T0.
set -euo pipefail
qemu_pid=${GUEST_QEMU_PID:-}
source "$(cd "$(dirname "$0")" && pwd)/lib.sh"
GUEST_QEMU_PID=$qemu_pid   # lib.sh starts with no guest
: "${GUEST_SERIAL:?} ${GUEST_RAM:?} ${GUEST_MEM_MB:?} ${GUEST_QEMU_PID:?} ${DEMO_T0:?}"
echo "==> [$(( $(date +%s) - DEMO_T0 )) s] panicking the guest: memprobe (pid $(guest_truth memprobe pid)) writes c to /proc/sysrq-trigger"
memprobe_panic 2>/dev/null
grep -a -m1 'Kernel panic' "$GUEST_SERIAL" | tr -d '\r' | sed 's/^/+ the guest says: /'
echo "==> [$(( $(date +%s) - DEMO_T0 )) s] guest panicked; the same gdb session reads it post mortem"
