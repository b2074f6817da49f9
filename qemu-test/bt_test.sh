#!/usr/bin/env bash
# bt_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR]
#
# Kernel stack traces from memory (issue 9, `monitor bt`): with no vmlinux, tlpstub unwinds
# sleeping tasks with the kernel's own ORC tables and names the frames with kallsyms. Ground
# truth is the guest's own /proc/PID/stack for kthreadd, the probe shells and their sleep
# children (make-initramfs.sh section `stacks`), printed just before READY; the guest is
# paused right after, and those tasks do not wake in between. Compared by bt_compare.py.
# Then, in the same boot, a process's memory live and after a panic (memprobe_check.py):
# qemu-test/memprobe.c, built here with gcc -static and appended to the initramfs, prints its
# pid and the addresses of a known string and a counter; `monitor task PID` + `x/s`/`x/gx`
# read them while the guest is paused. The test then writes a magic word into the program's
# trigger (its physical address from the program's /proc/self/pagemap, written in the RAM
# file) and the program crashes the kernel through /proc/sysrq-trigger; after the panic the
# same reads, `monitor ps` (the last ps of the guest), `monitor dmesg` ("sysrq triggered
# crash") and `monitor bt PID` (the panicking task, stack scanned: sysrq_handle_crash), and
# that task as a gdb thread (rip/rsp from the scanned frame, rbp unavailable). Then a vmcore of
# the panicked guest (`monitor dump --level 31`): served back by `tlpstub --memory` it gives the
# panicked guest's ps and its panic in dmesg; with --vmlinux (the -dbg DWARF vmlinux) drgn lists
# the same processes and the guest's release, and crash's `log` shows the panic.
# Exit 77 when the tlpstub binary or gcc is missing (failures under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=() want_vmlinux=0
for a in "${TEST_ARGS[@]}"; do
  if [[ $a == --vmlinux ]]; then want_vmlinux=1; else rest+=("$a"); fi
done
initrd=
for ((i = 0; i < ${#rest[@]}; i++)); do [[ ${rest[i]} == --initrd ]] && initrd=${rest[i+1]}; done
[[ -n $initrd ]] || guest_die "need --initrd"
command -v gcc >/dev/null || test_skip "gcc missing (needed for memprobe.c)"

# ---- the initramfs: the base one + memprobe and its init step ------------------------------
build=$(mktemp -d "${TMPDIR:-/tmp}/tlpstub-bt.XXXXXX")
guest_on_exit "rm -rf '$build'"
[[ -f $initrd ]] || "$here/make-initramfs.sh" "$initrd"
memprobe_initrd "$initrd" "$build/initrd.cpio.gz" || guest_die "building memprobe failed"

guest_test_boot "${rest[@]}" --initrd "$build/initrd.cpio.gz"
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

# ---- memprobe: live, then after the panic it triggers ------------------------------------------
mp_pid=$(guest_truth memprobe pid)
[[ -n $mp_pid ]] || guest_die "no memprobe section on the serial console"
mp_reads() {  # the reads of the program's memory, then back to the kernel's space
  stub_gdb "$port" "monitor task $mp_pid" ==S== "x/s $(guest_truth memprobe string)" \
    ==C== "x/gx $(guest_truth memprobe counter)" "monitor task kernel" "$@" ==END== || true
}
mp_reads >"$tmp/live.log"
guest_resume
trigger_pa=$(guest_truth memprobe trigger_pa)
python3 - "$GUEST_RAM" "$(guest_ram_offset "$trigger_pa")" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:  # the guest's RAM: the program polls this word
    f.seek(int(sys.argv[2]))
    f.write(struct.pack("<Q", 0x7470616e69632121))
PY
guest_wait_ready 60 'end Kernel panic'
sleep 2
# The panicked task as a gdb thread: rip/rsp are the frame the stack scan of bt found.
mp_reads ==PS== "monitor ps --json" ==D== "monitor dmesg" ==BT== "monitor bt $mp_pid --json" \
  ==BTT== "monitor bt $mp_pid" \
  "python [t.switch() for t in gdb.selected_inferior().threads() if t.ptid[1] == $mp_pid]" \
  ==REGS== "p/x \$pc" "p/x \$sp" "p/x \$rbp" "info symbol \$pc" >"$tmp/panic.log"
harness seg BTT <"$tmp/panic.log" | sed 's/^/    /'
if python3 "$here/memprobe_check.py" --serial "$GUEST_SERIAL" --live "$tmp/live.log" \
     --panic "$tmp/panic.log" >"$tmp/memprobe.log" 2>&1; then
  pass "memprobe: its memory live and after the panic; ps, dmesg and bt of the panicked guest"
else
  fail "memprobe: see $tmp/memprobe.log"
fi
sed 's/^/    /' "$tmp/memprobe.log"

# ---- a vmcore of the panicked guest, for tlpstub --memory, drgn and crash ----------------------
# A name of its own: /dev/shm is shared by every test run on the machine (two runs of this test
# at once wrote one panic.vmcore, each under the other's stub).
pdump=$(dirname "$GUEST_RAM")/panic.$$.vmcore
guest_on_exit "rm -f '$pdump'"
stub_gdb "$port" "monitor dump $pdump --level 31" >"$tmp/pdump.out" 2>&1 || true
if grep -q '^wrote ' "$tmp/pdump.out" && [[ $(head -c 4 "$pdump" | od -An -c | tr -d ' ') == 177ELF ]]; then
  pass "monitor dump --level 31 of the panicked guest: $(du -h "$pdump" | cut -f1) on disk"
else
  fail "monitor dump of the panicked guest (see $tmp/pdump.out)"
fi
dport=$(free_port)
stub_start "$tlpstub" "$tmp/pdump-tlpstub.log" "$dport" --memory "$pdump"
stub_wait_recovered "$dport"
stub_gdb "$dport" ==PS== "monitor ps --json" ==D== "monitor dmesg" ==END== >"$tmp/pdump.log" 2>&1 || true
kill "$STUB_PID"; wait "$STUB_PID" 2>/dev/null || true
if python3 - "$tmp/panic.log" "$tmp/pdump.log" <<'PY'
import json, sys
def seg(path, name):
    lines, on = [], False
    for l in open(path).read().splitlines():
        if l.startswith("==") and l.endswith("=="):
            if on: break
            on = l == f"=={name}=="
        elif on: lines.append(l)
    return lines
def tasks(path):
    js = [l for l in seg(path, "PS") if l.startswith("{")]
    if not js: return None
    return sorted((t["pid"], t["tgid"], t["comm"], t["state"]) for t in json.loads(js[-1])["tasks"])
live, dump = tasks(sys.argv[1]), tasks(sys.argv[2])
bad = []
if not live or not dump: bad.append("no ps from the panicked guest or from its dump")
elif live != dump: bad.append(f"ps differs: {sorted(set(live) ^ set(dump))[:5]}")
else: print(f"ps from the dump = the panicked guest's ({len(dump)} tasks)")
if not any("sysrq triggered crash" in l for l in seg(sys.argv[2], "D")):
    bad.append("dmesg from the dump lacks 'sysrq triggered crash'")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
then pass "the panicked guest's dump served back: same ps, the panic in dmesg"
else fail "the panicked guest's dump served back (see $tmp/pdump.log)"; fi
if (( want_vmlinux )); then
  guest_dwarf_vmlinux "${rest[@]}"
  release=$(guest_truth sysinfo uname_r)
  # Debian's drgn runs under /usr/bin/python3 (a pyenv python3 first in PATH lacks it).
  drgn_bin=$(command -v /usr/bin/drgn drgn 2>/dev/null | head -n1 || true)
  [[ -n $drgn_bin ]] || test_skip "drgn missing (apt-get install python3-drgn)"
  "$drgn_bin" -q -c "$pdump" -s "$VMLINUX" "$here/vmcore_drgn.py" >"$tmp/pdrgn.out" 2>&1 || true
  awk '$1 == "task" && $2 == $3 {print $2}' "$tmp/pdrgn.out" | sort -n >"$tmp/pdrgn.pids"
  harness seg PS <"$tmp/pdump.log" | python3 -c 'import json,sys
o = json.loads([l for l in sys.stdin if l.startswith("{")][-1])
for t in o["tasks"]:
    if t["pid"] == t["tgid"] and not t["idle"]: print(t["pid"])' | sort -n >"$tmp/pps.pids"
  if grep -qx "release $release" "$tmp/pdrgn.out" && [[ -s $tmp/pdrgn.pids ]] &&
     cmp -s "$tmp/pdrgn.pids" "$tmp/pps.pids"; then
    pass "drgn on the panicked guest's dump: release $release, the same $(wc -l <"$tmp/pdrgn.pids") processes"
  else
    fail "drgn on the panicked guest's dump (see $tmp/pdrgn.out)"
  fi
  command -v crash >/dev/null || test_skip "crash missing (apt-get install crash)"
  printf 'log\nquit\n' | timeout 120 crash -s "$VMLINUX" "$pdump" >"$tmp/pcrash.out" 2>&1 || true
  if grep -q "sysrq triggered crash" "$tmp/pcrash.out"; then
    pass "crash on the panicked guest's dump: log shows the panic"
  else
    fail "crash's log of the panicked guest's dump (see $tmp/pcrash.out)"
  fi
fi

# ---- hostile memory: a corrupted copy of the panicked guest's RAM (hostile.py) ----------------
# The pid IDR with a pointer into nowhere and a cycle, a huge printk ring, memprobe's page
# table pointing to itself. Every command must end (gdb is killed after TGDB_TIMEOUT) with a
# partial result or a clear error, and the stub must still answer afterwards.
mp_pgd=$(harness seg PS <"$tmp/panic.log" | python3 -c '
import json, sys
d = json.loads([l for l in sys.stdin if l.startswith("{")][-1])
print(next(hex(t["pgd"]) if isinstance(t["pgd"], int) else t["pgd"] for t in d["tasks"] if t["pid"] == int(sys.argv[1])))
' "$mp_pid" 2>/dev/null) || guest_die "no page table of memprobe in monitor ps"
hostile=$(dirname "$GUEST_RAM")/hostile.$$.ram
guest_on_exit "rm -f '$hostile'"
cp "$GUEST_RAM" "$hostile"
python3 "$here/hostile.py" "$hostile" "$GUEST_SERIAL" "$mp_pid" "$mp_pgd" | sed 's/^/    hostile: /'
hport=$(free_port)
stub_start "$tlpstub" "$tmp/hostile-tlpstub.log" "$hport" --memory "$hostile" \
  $( (( GUEST_MAP_IDENTITY )) || echo --map "$GUEST_MAP")
stub_wait_recovered "$hport"
TGDB_TIMEOUT=120 stub_gdb "$hport" ==PS== "monitor ps --json" ==BT== "monitor bt all --json" \
  ==D== "monitor dmesg" ==T== "monitor task $mp_pid" ==S== "x/s $(guest_truth memprobe string)" \
  ==K== "monitor task kernel" ==V== "monitor version" ==END== >"$tmp/hostile.log" 2>&1 || true
if python3 - "$tmp/hostile.log" "$mp_pid" <<'PY'
import json, sys
out = open(sys.argv[1]).read()
def seg(name):
    lines, on = [], False
    for l in out.splitlines():
        if l.startswith("==") and l.endswith("=="):
            if on: break
            on = l == f"=={name}=="
        elif on: lines.append(l)
    return "\n".join(lines)
def last(name):
    js = [l for l in seg(name).splitlines() if l.startswith("{")]
    return json.loads(js[-1]) if js else None
bad = []
ps = last("PS")
if not ps: bad.append("monitor ps gave no result")
else:
    print(f"ps: {len(ps['tasks'])} tasks, complete {ps['complete']}; warnings: {ps['warnings'][:3]}")
    if ps["complete"] or not any("pid IDR" in w for w in ps["warnings"]):
        bad.append("monitor ps: no warning naming the broken pid IDR")
bt = last("BT")
if not bt: bad.append("monitor bt all gave no result")
else: print(f"bt all: {len(bt['tasks'])} tasks")
d = seg("D").strip()
print("dmesg:", d.splitlines()[0] if d else "(nothing)")
if "implausible sizes" not in d: bad.append("monitor dmesg: no error naming the ring's sizes")
print("task:", seg("T").strip()[:100], "| x/s:", seg("S").strip()[:100])
if "error" in seg("T"): bad.append("monitor task PID failed: the corrupted table was not walked")
if not seg("S").strip(): bad.append("x/s through the self-pointing table printed nothing")
if "Linux version" not in seg("V"): bad.append("the stub no longer answers monitor version")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
then pass "hostile memory: every command ended with a partial result or an error"
else fail "hostile memory (see $tmp/hostile.log)"; fi
test_summary
