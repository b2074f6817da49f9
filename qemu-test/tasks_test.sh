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

# The gdbinit and its Python package (issue 10): `gdb -x gdbinit` connects to $TLPSTUB by
# itself, tlp-ps prints monitor ps, tlpstub.tasks() returns the same tasks as monitor ps --json
# (compared above with the guest), and the README's example script prints stacks.
cat >"$tmp/api.py" <<'PY'
import json
import tlpstub
rows = [{"pid": t.pid, "tgid": t.tgid, "ppid": t.ppid, "state": t.state, "comm": t.comm,
         "task": t.task} for t in tlpstub.tasks()]
json.dump(rows, open("@OUT@", "w"))
PY
sed -i "s|@OUT@|$tmp/api.json|" "$tmp/api.py"
out=$(cd "$tmp" && TLPSTUB=127.0.0.1:$port TLP_STATE=S timeout 120 gdb -batch -nx \
        -x "$here/../gdbinit" -ex "tlp-ps tlpstub-probe" -ex "source $tmp/api.py" \
        -ex "source $here/../python/examples/dstate.py" </dev/null 2>&1 || true)
echo "$out" >"$tmp/gdbinit.log"
grep -qE "^ *[0-9]+ +[0-9]+ +[A-Z].* tlpstub-probe" <<<"$out" &&
  pass "gdb -x gdbinit connected by itself and tlp-ps lists tlpstub-probe" ||
  fail "tlp-ps through the gdbinit: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
if python3 - "$tmp/ps.json" "$tmp/api.json" <<'PY'
import json, sys
ps = json.load(open(sys.argv[1]))["tasks"]
want = sorted((t["pid"], t["tgid"], t["ppid"], t["state"], t["comm"], int(t["task"], 16)) for t in ps)
got = sorted((t["pid"], t["tgid"], t["ppid"], t["state"], t["comm"], t["task"])
             for t in json.load(open(sys.argv[2])))
sys.exit(0 if got == want and len(got) > 10 else f"{len(got)} tasks from tlpstub.tasks(), "
         f"{len(want)} from monitor ps --json; first difference: "
         f"{next((a, b) for a, b in zip(got + [None] * len(want), want + [None] * len(got)) if a != b)}")
PY
then pass "tlpstub.tasks() in gdb's Python equals monitor ps --json ($(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tasks"]))' "$tmp/ps.json") tasks)"
else fail "tlpstub.tasks() differs from monitor ps --json"
fi
grep -qE "^[0-9]+ tasks in state S" <<<"$out" && grep -qE "^  #0 +0x[0-9a-f]+ [a-z_]" <<<"$out" &&
  pass "python/examples/dstate.py printed tasks with named stack frames" ||
  fail "dstate.py: $(grep -A3 "tasks in state" <<<"$out" | head -4 | tr '\n' ' ')"
test_summary
