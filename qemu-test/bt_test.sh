#!/usr/bin/env bash
# bt_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Kernel stack traces from memory (issue 9, `monitor bt`): with no vmlinux, tlpstub unwinds
# sleeping tasks with the kernel's own ORC tables and names the frames with kallsyms. Ground
# truth is the guest's own /proc/PID/stack for kthreadd, the probe shells and their sleep
# children (make-initramfs.sh section `stacks`), printed just before READY; the guest is
# paused right after, and those tasks do not wake in between. Compared by bt_compare.py.
# Exit 77 when the tlpstub binary is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=("${TEST_ARGS[@]}")

guest_test_boot "${rest[@]}"
tmp=$GUEST_DIR
guest_truth stacks >"$tmp/stacks.txt"
[[ -s $tmp/stacks.txt ]] || guest_die "no stacks section: rebuild the initramfs"
guest_pause

port=$(free_port)
targs=(--memory "$GUEST_RAM")
(( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
stub_start "$tlpstub" "$tmp/tlpstub.log" "$port" "${targs[@]}"
t0=$SECONDS
while :; do
  out=$(stub_gdb "$port" "monitor info" || true)
  [[ $out == *"discovery: running"* || $out == *"recovering"* ]] || break
  (( SECONDS - t0 > 90 )) && { fail "symbols/types still not recovered after 90 s"; break; }
  sleep 0.5
done

pids=$(awk '/^pid / {print $2}' "$tmp/stacks.txt")
cmds=()
for p in $pids; do cmds+=("==P$p==" "monitor bt $p --json"); done
# stats around the first traces (the ORC tables read) and around one more (cached: not read)
out=$(stub_gdb "$port" ==S0== "monitor stats --json" "${cmds[@]}" ==S1== "monitor stats --json" \
        ==AGAIN== "monitor bt 2 --json" ==S2== "monitor stats --json" \
        ==ALL== "monitor bt all --json" ==TEXT== "monitor bt 2" ==END== || true)
echo "$out" >"$tmp/gdb.log"
: >"$tmp/bt.jsonl"
for p in $pids; do harness seg "P$p" <<<"$out" >>"$tmp/bt.jsonl"; done
harness seg ALL <<<"$out" >"$tmp/all.json"
for s in S0 S1 S2; do harness seg $s <<<"$out" >"$tmp/stats_$s.json"; done
harness seg TEXT <<<"$out" | sed 's/^/    /'

if python3 "$here/bt_compare.py" --stacks "$tmp/stacks.txt" --bt "$tmp/bt.jsonl" \
     --all "$tmp/all.json" --stats "$tmp/stats_S0.json" "$tmp/stats_S1.json" \
     "$tmp/stats_S2.json" >"$tmp/compare.log" 2>&1; then
  pass "monitor bt agrees with the guest's /proc/PID/stack"
else
  fail "monitor bt differs from the guest's /proc/PID/stack (see $tmp/compare.log)"
fi
sed 's/^/    /' "$tmp/compare.log"
test_summary
