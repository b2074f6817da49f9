#!/usr/bin/env python3
"""bt_compare.py: `monitor bt PID --json` against the guest's own /proc/PID/stack.

  bt_compare.py --stacks STACKS.txt --bt BT.jsonl --all ALL.json --stats S0 S1 S2

STACKS.txt is the `stacks` section of make-initramfs.sh: "pid N" then the kernel's lines
"[<0>] do_wait+0x15b/0x2a0". BT.jsonl holds one `monitor bt PID --json` object per line.
/proc/PID/stack leaves out frames in the scheduler's and the locks' own text
(kernel/stacktrace.c, in_sched_functions), which tlpstub flags "sched": those are dropped
before comparing. Checks, per pid: the same function names in the same order, and a trace
that ended cleanly; at least three pids compared. `monitor bt all --json` must list every
task, with frames for each sleeping one and for a task running on a CPU only a stack scan, and no
warning about the ORC tables. `monitor stats --json` before the first traces (S0), after
them (S1) and after one more (S2): the tables are read by the first, not again.
"""
import argparse
import json
import re
import sys


def guest_stacks(path):
    out, cur = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith("pid "):
            cur = int(line.split()[1])
            out[cur] = []
        elif cur is not None and (m := re.match(r"\[<[0-9a-f]+>\] ([^+\s]+)", line)):
            out[cur].append(m.group(1))
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("--stacks", "--bt", "--all"):
        ap.add_argument(a, required=True)
    ap.add_argument("--stats", nargs=3, required=True)
    o = ap.parse_args()
    guest = guest_stacks(o.stacks)
    fails, compared = [], 0
    for line in open(o.bt):
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        for t in d["tasks"]:
            pid = t["pid"]
            if pid not in guest:
                continue
            ours = [f["function"] for f in t["frames"] if not f["sched"]]
            theirs = guest[pid]
            status = "same" if ours == theirs else "DIFFERENT"
            print(f"pid {pid} ({t['comm']}): {len(theirs)} frames in /proc, {len(ours)} "
                  f"unwound ({len(t['frames'])} with sched), {status}; end: {t['end']}")
            if ours != theirs:
                fails.append(f"pid {pid}: guest {theirs} != tlpstub {ours}")
            elif not t["complete"]:
                fails.append(f"pid {pid}: trace did not end cleanly: {t['end']}")
            if not theirs:
                fails.append(f"pid {pid}: the guest printed no stack")
            compared += 1
    if compared < 3:
        fails.append(f"only {compared} pids compared (want >= 3 of {sorted(guest)})")

    text = open(o.all).read().strip()
    d = json.loads(text[text.index("{"):])
    tasks = d["tasks"]
    running = [t for t in tasks if t["running_on"] is not None]
    sleeping = [t for t in tasks if t["running_on"] is None]
    with_frames = [t for t in sleeping if t["frames"]]
    clean = [t for t in sleeping if t["complete"]]
    print(f"bt all: {len(tasks)} tasks, {len(running)} running, {len(with_frames)} of "
          f"{len(sleeping)} sleeping with frames, {len(clean)} ended cleanly; orc: {d['orc']}")
    for w in d["warnings"]:  # orc_lookup or BTF disagreeing with the table or the release
        fails.append(f"warning: {w}")
    for t in running:  # no saved frame: a stack scan, said so, or nothing
        if t["frames"] and t["frames"][0]["method"] != "stack scan":
            fails.append(f"running task {t['pid']} got frames not marked as a stack scan")
        print(f"  running: pid {t['pid']} {t['comm']}: {len(t['frames'])} frames; {t['end']}")
    if len(with_frames) != len(sleeping):
        fails.append("sleeping tasks without frames: " +
                     ", ".join(f"{t['pid']} ({t['end']})" for t in sleeping if not t["frames"]))
    for t in sleeping:
        if not t["complete"]:
            print(f"  not clean: pid {t['pid']} {t['comm']}: {t['end']}")
    # The ORC tables (4-byte address + 6-byte entry each) are read by the first traces only.
    def read_bytes(path):
        text = open(path).read()
        return json.loads(text[text.index("{"):])["reads"]["bytes"]
    s0, s1, s2 = (read_bytes(p) for p in o.stats)
    m = re.match(r"(\d+) entries", d["orc"])
    table = 10 * int(m.group(1)) if m else 0
    print(f"bytes read: {s1 - s0} by the first traces, {s2 - s1} by one more; ORC tables "
          f"{table} bytes")
    if not table or s1 - s0 < table or s2 - s1 >= table // 2:
        fails.append("the ORC tables were not read once and then reused")
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
