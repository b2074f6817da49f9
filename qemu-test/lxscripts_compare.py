#!/usr/bin/env python3
"""lxscripts_compare.py: the kernel's own gdb scripts (through tlpstub) against the guest.

  lxscripts_compare.py --serial SERIAL --lx-ps PS.txt --lx-dmesg DMESG.txt --lx-lsmod LSMOD.txt

Ground truth (make-initramfs.sh and lxscripts_test.sh's init step, on the serial console):
  (a) lx-ps prints "ADDRESS PID COMM" per task (every thread, walked from init_task). Below the
      pid of the guest's last `ps` (section pslast; it exited before the guest was paused), its
      pids are the guest's /proc task ids (section tids), and pid 0 (swapper/0) is listed.
  (b) lx-dmesg holds the guest's own dmesg line (section lxdmesg): the same text, at the same
      time to the microsecond (lx-dmesg rounds where the kernel truncates: 1 us apart at most).
  (c) lx-lsmod lists dummy at the address /proc/modules gives (section modules).
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for a in ("--serial", "--lx-ps", "--lx-dmesg", "--lx-lsmod"):
        ap.add_argument(a, required=True)
    o = ap.parse_args()
    t = harness.Truth(o.serial)
    fails = []

    # (a)
    rows = [l.split(None, 3) for l in t.section("pslast")[1:]]
    ps_pid = max(int(r[0]) for r in rows if len(r) == 4 and r[3].strip() == "ps")
    tids = {int(l) for l in t.section("tids") if l.strip().isdigit()}
    lx = {}
    for line in open(o.lx_ps):
        m = re.match(r"^\s*(0x[0-9a-f]+)\s+(\d+)\s+(.*)$", line)
        if m:
            lx[int(m.group(2))] = m.group(3).strip()
    want = {p for p in tids if p < ps_pid} | {0}
    got = {p for p in lx if p < ps_pid}
    if not lx:
        fails.append("lx-ps printed no task")
    if lx.get(0, "").split("/")[0] != "swapper":
        fails.append(f"lx-ps: pid 0 is {lx.get(0)!r}, want swapper/0")
    if got != want:
        fails.append(f"lx-ps pids below {ps_pid}: missing {sorted(want - got)}, "
                     f"extra {sorted(got - want)}")
    print(f"(a) lx-ps: {len(got)} tasks below ps's pid {ps_pid} against {len(want)} guest task "
          f"ids (+ pid 0); {len(lx)} in all")

    # (b) the same text at the same time. The kernel (and busybox dmesg, reading it) truncates
    # the timestamp to microseconds; lx-dmesg formats the seconds as a float with "{:12.6f}", which
    # rounds (scripts/gdb/linux/dmesg.py, 6.1): so the times may differ by 1 us.
    stamp = re.compile(r"^\[\s*(\d+)\.(\d{6})\]\s?(.*)$")

    def parse(l):
        m = stamp.match(l.strip())
        return (int(m.group(1)) * 10**6 + int(m.group(2)), m.group(3)) if m else None

    line = next((l.strip() for l in t.section("lxdmesg") if l.strip()), None)
    want = parse(line) if line else None
    dmesg = [p for p in (parse(l) for l in open(o.lx_dmesg)) if p]
    match = [d for d in dmesg if want and d[1] == want[1] and abs(d[0] - want[0]) <= 1]
    if want is None:
        fails.append(f"no parsable lxdmesg truth: {line!r}")
    elif not match:
        fails.append(f"lx-dmesg lacks the guest's line {line!r}")
    print(f"(b) lx-dmesg: {len(dmesg)} lines; the guest's {line!r} "
          f"{'found at %d.%06d' % divmod(match[0][0], 10**6) if match else 'NOT found'}")

    # (c)
    mod = next((l.split() for l in t.section("modules") if l.startswith("dummy ")), None)
    lsmod = {}
    for l in open(o.lx_lsmod):
        f = l.split()
        if len(f) >= 3 and f[0].startswith("0x"):
            lsmod[f[1]] = (int(f[0], 16), int(f[2]))
    if mod is None:
        fails.append("no dummy line in the guest's /proc/modules")
    elif "dummy" not in lsmod:
        fails.append(f"lx-lsmod does not list dummy: {sorted(lsmod)}")
    elif lsmod["dummy"][0] != int(mod[5], 16):
        fails.append(f"lx-lsmod: dummy at {lsmod['dummy'][0]:#x}, /proc/modules says {mod[5]}")
    print(f"(c) lx-lsmod: {sorted(lsmod)}; the guest's /proc/modules: {' '.join(mod or [])}")

    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
