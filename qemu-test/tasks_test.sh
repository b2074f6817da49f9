#!/usr/bin/env bash
# tasks_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Linux tasks from memory (issue 9): tlpstub, from nothing but the RAM file, lists the guest's
# tasks, serves them as gdb threads and gives each sleeping task the registers of its switch
# frame. Ground truth is what the guest printed just before READY (make-initramfs.sh sections
# pslast, tids, textsyms); the guest is paused with QMP right after, so both see one moment.
# The comparison is tasks_compare.py. Exit 77 when the tlpstub binary is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=("${TEST_ARGS[@]}")

guest_test_boot "${rest[@]}"
tmp=$GUEST_DIR
[[ -n $(guest_truth pslast) ]] || guest_die "no pslast section: rebuild the initramfs"
guest_pause

port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
stub_wait_recovered "$port"

out=$(stub_gdb "$port" ==P== "monitor ps --json" ==T== "monitor ps --threads --json" \
        ==TEXT== "monitor ps" ==I== "info threads" ==A== "thread apply all p/x \$pc" ==END== || true)
echo "$out" >"$tmp/gdb.log"
harness seg P <<<"$out" >"$tmp/ps.json"
harness seg T <<<"$out" >"$tmp/threads.json"
harness seg I <<<"$out" >"$tmp/info_threads.txt"
harness seg A <<<"$out" >"$tmp/apply.txt"
harness seg TEXT <<<"$out" | sed -n 1,12p | sed 's/^/    /'
sed -n 1,6p "$tmp/info_threads.txt" | sed 's/^/    /'

if python3 "$here/tasks_compare.py" --serial "$GUEST_SERIAL" --ps "$tmp/ps.json" \
     --threads "$tmp/threads.json" --info-threads "$tmp/info_threads.txt" \
     --regs "$tmp/apply.txt" >"$tmp/compare.log" 2>&1; then
  pass "tlpstub's tasks, threads and switch frames agree with the guest"
else
  fail "tlpstub's tasks differ from the guest's (see $tmp/compare.log)"
fi
sed 's/^/    /' "$tmp/compare.log"
test_summary
