#!/usr/bin/env python3
"""tasks_compare.py: tlpstub's tasks against the guest's own, printed on its serial console.

  tasks_compare.py --serial SERIAL --ps PS.json --threads THREADS.json --info-threads TXT
                   --regs APPLY.txt      (gdb's `thread apply all p/x $pc`)

Ground truth (make-initramfs.sh): the `pslast` section (busybox `ps -o pid,ppid,stat,comm`),
the `tids` section (every task id in /proc), `textsyms` (__schedule and __switch_to_asm with
the next text symbol above each), sysinfo nproc. The guest is paused after printing them;
only tasks started after `ps` (higher pids) may differ, so both sides are cut at ps's pid.
  (a) `monitor ps --json`: the same processes, each with the same ppid, state letter and
      comm (/proc shows a kworker's comm with its workqueue appended: "kworker/0:1-events")
  (b) `info threads`: one gdb thread per task: the guest's task ids, plus one idle task per
      CPU (thread ids 2^30 + cpu), and as many threads as `monitor ps --threads` lists
  (c) `thread apply all p/x $pc`: the pc of every sleeping task (S, D, I, not running on a
      CPU) lies in __schedule or __switch_to_asm
"""
import argparse
import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness  # noqa: E402

IDLE_BASE = 1 << 30


def main():
    ap = argparse.ArgumentParser()
    for a in ("--serial", "--ps", "--threads", "--info-threads", "--regs"):
        ap.add_argument(a, required=True)
    o = ap.parse_args()
    t = harness.Truth(o.serial)
    fails = []

    rows = [l.split(None, 3) for l in t.section("pslast")[1:]]
    guest = {int(r[0]): (int(r[1]), r[2][0], r[3].strip()) for r in rows if len(r) == 4}
    ps_pid = max(p for p, g in guest.items() if g[2] == "ps")
    ps_parent = guest[ps_pid][0]
    guest = {p: g for p, g in guest.items() if p < ps_pid}
    ps = json.load(open(o.ps))
    ours = {x["pid"]: (x["ppid"], x["state"], x["comm"]) for x in ps["tasks"] if x["pid"] < ps_pid}
    if ps.get("warnings"):
        print("tlpstub warnings:", ps["warnings"])
    for pid in sorted(set(guest) | set(ours)):
        g, m = guest.get(pid), ours.get(pid)
        if g is None or m is None:
            fails.append(f"pid {pid}: guest {g}, tlpstub {m}")
            continue
        comm_ok = g[2] == m[2] or (m[2].startswith("kworker/") and g[2].startswith(m[2] + "-"))
        # A task runnable when ps read it (R), or ps's own parent (it runs around the fork),
        # may be asleep by the pause: the one state that can change in between.
        state_ok = g[1] == m[1] or g[1] == "R" or pid == ps_parent
        if g[1] != m[1] and state_ok:
            print(f"    note: pid {pid} state {g[1]} at ps, {m[1]} at the pause (tolerated)")
        if g[0] != m[0] or not state_ok or not comm_ok:
            fails.append(f"pid {pid}: guest ppid/state/comm {g}, tlpstub {m}")
    print(f"(a) {len(guest)} processes below ps's pid {ps_pid} compared, method {ps['method']}, "
          f"{ps['batches']} batches")

    tids = {int(x) for x in t.section("tids") if x.strip().isdigit()}
    tids = {x for x in tids if x < ps_pid}
    nproc = int(t.keyed("sysinfo", "nproc"))
    text = open(o.info_threads).read()
    ids = [int(x) for x in re.findall(r"Thread (\d+)", text)]
    ours_t = {x for x in ids if x < ps_pid}
    idle = [x for x in ids if x >= IDLE_BASE]
    every = json.load(open(o.threads))["tasks"]
    if ours_t != tids:
        fails.append(f"threads: guest has {sorted(tids - ours_t)} not in gdb, gdb has "
                     f"{sorted(ours_t - tids)} not in the guest")
    if len(idle) < nproc:
        fails.append(f"threads: {len(idle)} idle tasks for {nproc} CPUs")
    if len(ids) != len(every):
        fails.append(f"info threads shows {len(ids)} threads, monitor ps --threads {len(every)}")
    print(f"(b) {len(ids)} gdb threads ({len(tids)} guest tasks below pid {ps_pid}, "
          f"{len(idle)} idle), monitor ps --threads {len(every)}")

    ranges = {}
    for line in t.section("textsyms"):
        f = line.split()
        if len(f) == 3:
            ranges[f[0]] = (int(f[1], 16), int(f[2], 16))
    if set(ranges) != {"__schedule", "__switch_to_asm"}:
        fails.append(f"textsyms section incomplete: {ranges}")
    state = {x["pid"]: x for x in every if not x["idle"]}
    checked = 0
    apply = open(o.regs).read()
    for m in re.finditer(r"^Thread \d+ \(Thread (\d+).*\):\n\$\d+ = (0x[0-9a-f]+|<unavailable>)",
                         apply, re.M):
        pid, pc = int(m[1]), m[2]
        x = state.get(pid)
        if x is None or x["state"] not in "SDI" or x["running_on"] is not None:
            continue
        checked += 1
        where = [s for s, (lo, hi) in ranges.items()
                 if pc != "<unavailable>" and lo <= int(pc, 16) < hi]
        if not where:
            fails.append(f"pid {pid} ({x['state']} {x['comm']}): saved rip {pc} not in "
                         f"__schedule/__switch_to_asm")
    if checked < 3:
        fails.append(f"only {checked} sleeping tasks' registers checked")
    print(f"(c) {checked} sleeping tasks: saved rip within __schedule/__switch_to_asm")

    for f in fails:
        print("MISMATCH:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
