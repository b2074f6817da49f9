#!/usr/bin/env python3
"""vmcore_level_check.py: a `--level` dump against the guest's RAM file (identity-mapped, 512 MiB).

  cmds --ps PS.json
      prints the gdb commands (one per line) whose answers name the pages that must be in the
      dump: `monitor v2p --json` of each task_struct, of each page of its kernel stack
      (task_struct.stack, THREAD_SIZE 16 KiB on x86-64).
  check --dump DUMP --ram RAM --serial LOG --v2p OUT --ps PS.json
      every page of the dump is either the RAM file's page or a hole (zeros); and no page known
      to be live is a hole where RAM has data: the kernel image ("Kernel code/rodata/data/bss"
      of the guest's /proc/iomem), each translated page above, every page-table page those
      walks went through, and each process's top-level table (pgd, physical, from ps).
      Image pages that are all 0xcc are not live: the kernel freed them to the buddy allocator
      (free_init_pages poisons with POISON_FREE_INITMEM, include/linux/poison.h; e.g. 6.1's
      "Freeing unused decrypted memory: 2036K" is 509 such pages at the end of .bss). Prints how many RAM pages with data the dump left out.
Ground truth: the RAM file, the guest's /proc/iomem, and walks of the guest's page tables.
Standard library only.
"""
import argparse
import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness  # noqa: E402
from vmcore_compare import phdrs  # noqa: E402

PAGE = 4096
STACK = 16384


def cmds(a):
    o = json.loads(next(line for line in open(a.ps) if line.startswith("{")))
    for t in o["tasks"]:
        print(f"monitor v2p --json {t['task']}")
        stack = int(t.get("stack", "0"), 16)
        for k in range(0, STACK, PAGE) if stack else ():
            print(f"monitor v2p --json {stack + k:#x}")


def live_pages(a):
    pages, image, walks = set(), set(), 0
    for line in open(a.v2p):
        line = line.strip()
        if not line.startswith("{") or '"va"' not in line:
            continue
        o = json.loads(line)
        if "phys" not in o:
            sys.exit(f"FAIL: v2p of {o.get('va')} did not translate: {o.get('error')}")
        walks += 1
        pages.add(int(o["phys"], 16) // PAGE)
        for st in o.get("steps", []):
            pages.add(int(st["table"], 16) // PAGE)
    o = json.loads(next(line for line in open(a.ps) if line.startswith("{")))
    for t in o["tasks"]:
        if t["pgd"]:  # physical; the PTI pair's user half is the next page
            pages.add(int(t["pgd"], 16) // PAGE)
    for line in harness.Truth(a.serial).section("iomem"):
        m = re.match(r"^\s+([0-9a-f]+)-([0-9a-f]+) : Kernel (code|rodata|data|bss)$", line)
        if m:
            image.update(range(int(m.group(1), 16) // PAGE, int(m.group(2), 16) // PAGE + 1))
    return pages, image, walks


def check(a):
    live, image, walks = live_pages(a)
    freed = 0
    with open(a.ram, "rb") as r:
        for pfn in image:
            r.seek(pfn * PAGE)
            if r.read(PAGE) == b"\xcc" * PAGE:
                freed += 1
            else:
                live.add(pfn)
    if walks < 10:
        sys.exit(f"FAIL: only {walks} v2p walks: the task list did not come through")
    ok = True
    holes = data = 0
    with open(a.dump, "rb") as d, open(a.ram, "rb") as r:
        loads = [p for p in phdrs(d) if p["type"] == 1 and p["va"] < 0xffffffff80000000]
        lost = []
        for p in loads:
            for pfn in range(p["pa"] // PAGE, (p["pa"] + p["filesz"]) // PAGE):
                d.seek(p["off"] + pfn * PAGE - p["pa"])
                r.seek(pfn * PAGE)
                x, y = d.read(PAGE), r.read(PAGE)
                if x == y:
                    data += any(y)
                    if pfn in live:
                        live.discard(pfn)
                    continue
                if any(x):
                    print(f"FAIL: page {pfn * PAGE:#x} is neither the RAM's bytes nor a hole")
                    ok = False
                    continue
                holes += 1
                if pfn in live:
                    lost.append(pfn)
        if lost:
            ok = False
            print(f"FAIL: {len(lost)} live pages left out, first at physical "
                  + ", ".join(f"{p * PAGE:#x}" for p in lost[:5]))
    print(f"{holes} RAM pages with data left out, {data} kept; {walks} walks; {len(image)} image "
          f"pages, {freed} of them freed (all 0xcc); live pages all present: {not lost}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("cmds")
    c.add_argument("--ps", required=True)
    k = sub.add_parser("check")
    for arg in ("--dump", "--ram", "--serial", "--v2p", "--ps"):
        k.add_argument(arg, required=True)
    a = ap.parse_args()
    if a.mode == "cmds":
        cmds(a)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
