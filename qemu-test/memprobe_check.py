#!/usr/bin/env python3
"""memprobe_check.py: a process's memory, live and after the panic, against what it printed.

  memprobe_check.py --serial SERIAL --live LIVE.log --panic PANIC.log

Ground truth (serial console): the `memprobe` section of qemu-test/memprobe.c (pid=, string=,
counter=, text=), its `==TLPSTUB-MEMPROBE-CRASH counter=N==` line just before it wrote 'c' to
/proc/sysrq-trigger, and the `pslast` section (busybox ps, the last before READY).
LIVE.log / PANIC.log: gdb output cut by markers S (x/s of the string), C (x/gx of the counter);
PANIC.log also PS (monitor ps --json), D (monitor dmesg), BT (monitor bt PID --json), REGS (p/x $pc,
$sp, $rbp of the panicked task's thread).
Checks:
  live   x/s reads the program's string; x/gx a counter in [1, N]
  panic  x/s the same string; the counter is N exactly (frozen by the panic)
         monitor ps: every pslast process but ps itself, same comm; panic_cpu set; the
         program's task marked panicking
         monitor dmesg: "sysrq triggered crash"
         monitor bt PID: a stack-scanned trace of the panicked task, ended cleanly, holding
         sysrq_handle_crash, and outward of it write_sysrq_trigger then ksys_write
"""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def xs(log):
    m = re.search(r'^0x[0-9a-f]+[^:]*:\s+"(.*)"$', harness.seg(log, "S"), re.M)
    return m.group(1) if m else None


def xgx(log):
    m = re.search(r"^0x[0-9a-f]+[^:]*:\s+(0x[0-9a-f]+)$", harness.seg(log, "C"), re.M)
    return int(m.group(1), 16) if m else None


def last_json(text):
    lines = [l for l in text.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def main():
    ap = argparse.ArgumentParser()
    for a in ("--serial", "--live", "--panic"):
        ap.add_argument(a, required=True)
    o = ap.parse_args()
    t = harness.Truth(o.serial)
    fails = []
    pid, text = int(t.keyed("memprobe", "pid")), t.keyed("memprobe", "text")
    m = re.search(r"==TLPSTUB-MEMPROBE-CRASH counter=(\d+)==", open(o.serial, errors="replace").read())
    final = int(m.group(1)) if m else None
    if final is None:
        fails.append("the program never printed its crash line")
    live, panic = open(o.live).read(), open(o.panic).read()

    s, c = xs(live), xgx(live)
    print(f"live: pid {pid}, x/s {s!r}, counter {c} (final {final})")
    if s != text:
        fails.append(f"live x/s read {s!r}, the program holds {text!r}")
    if c is None or final is None or not 1 <= c <= final:
        fails.append(f"live counter {c} not in [1, {final}]")

    s, c = xs(panic), xgx(panic)
    print(f"after the panic: x/s {s!r}, counter {c}")
    if s != text:
        fails.append(f"after the panic x/s read {s!r}, the program holds {text!r}")
    if c != final:
        fails.append(f"after the panic the counter reads {c}, the program printed {final}")

    ps = last_json(harness.seg(panic, "PS"))
    if not ps:
        fails.append("monitor ps --json printed nothing")
    else:
        rows = [l.split(None, 3) for l in t.section("pslast")[1:]]
        guest = {int(r[0]): r[3].strip() for r in rows if len(r) == 4 and r[3].strip() != "ps"}
        ours = {x["pid"]: x for x in ps["tasks"] if not x["idle"]}
        # /proc shows a kworker's comm with its workqueue appended ("kworker/0:1-events",
        # cut by busybox): the same as tasks_compare.py tolerates.
        def same(p):
            m = ours[p]["comm"]
            return guest[p] == m or (m.startswith("kworker/") and guest[p].startswith(m + "-"))
        missing = [p for p in guest if p not in ours or not same(p)]
        print(f"ps: {len(guest)} processes of the last guest ps, {len(ours)} listed after the "
              f"panic, panic_cpu {ps['panic_cpu']}, warnings {ps['warnings']}")
        if missing:
            fails.append("not listed after the panic (or another comm): " +
                         ", ".join(f"{p} {guest[p]}" for p in missing))
        if ps["panic_cpu"] is None:
            fails.append("monitor ps: panic_cpu not found")
        me = ours.get(pid)
        if not me or not me["panicking"]:
            fails.append(f"the program's task is not marked panicking: {me}")
        others = [x["pid"] for x in ps["tasks"] if x["panicking"] and x["pid"] != pid]
        if others:
            fails.append(f"other tasks marked panicking: {others}")

    if "sysrq triggered crash" not in harness.seg(panic, "D"):
        fails.append("monitor dmesg has no 'sysrq triggered crash'")

    bt = last_json(harness.seg(panic, "BT"))
    tasks = bt["tasks"] if bt else []
    if len(tasks) != 1:
        fails.append(f"monitor bt {pid}: {len(tasks)} tasks")
    else:
        tr = tasks[0]
        names = [f["function"] for f in tr["frames"]]
        print(f"bt {pid}: {names}; end: {tr['end']}")
        want = ["sysrq_handle_crash", "write_sysrq_trigger", "ksys_write"]
        pos = [names.index(w) if w in names else -1 for w in want]
        if -1 in pos or pos != sorted(pos):
            fails.append(f"bt lacks {want} in this order")
        if not tr["panicking"] or not tr["complete"]:
            fails.append(f"bt: panicking {tr['panicking']}, complete {tr['complete']}")
        if not tr["frames"] or tr["frames"][0]["method"] != "stack scan":
            fails.append("bt: the first frame was not found by the stack scan")
        # Its thread registers: rip and rsp of that scanned frame, rbp unknown.
        regs = harness.seg(panic, "REGS")
        vals = re.findall(r"^\$\d+ = (\S+)", regs, re.M)
        print(f"thread {pid} registers (pc sp rbp): {vals}")
        def num(v):  # JSON addresses are hex strings
            return int(v, 16) if isinstance(v, str) else v
        f0 = tr["frames"][0] if tr["frames"] else None
        if f0 and (len(vals) != 3 or int(vals[0], 16) != num(f0["ip"]) or
                   int(vals[1], 16) != num(f0["sp"]) or "unavailable" not in vals[2]):
            fails.append(f"thread {pid}: pc/sp/rbp {vals}, not the scanned frame "
                         f"{f0['ip']}/{f0['sp']} and <unavailable>")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
