#!/usr/bin/env python3
"""vmcore_compare.py --dump FILE --ram FILE --serial LOG   (identity-mapped RAM file: 512 MiB guests)

Checks a vmcore written by `tlpstub --dump` against the guest (paused while it was written):
  - its PT_LOAD RAM segments are exactly the guest's "System RAM" lines of /proc/iomem
    (serial section iomem), and p_vaddr - p_paddr is one constant (the direct map);
  - every PT_LOAD's bytes equal the RAM file at p_paddr (holes read as zeros);
  - the VMCOREINFO note's OSRELEASE is the guest's `uname -r`.
Ground truth: the RAM file and the guest's own printout, never tlpstub. Standard library only.
"""
import argparse
import re
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import harness  # noqa: E402  (truth sections of the serial log)


def phdrs(f):
    f.seek(0)
    eh = f.read(64)
    if eh[:4] != b"\x7fELF" or eh[4] != 2:
        sys.exit("not an ELF64 file")
    phoff, = struct.unpack_from("<Q", eh, 32)
    phnum, = struct.unpack_from("<H", eh, 56)
    f.seek(phoff)
    raw = f.read(56 * phnum)
    out = []
    for i in range(phnum):
        t, fl, off, va, pa, fsz, msz, al = struct.unpack_from("<IIQQQQQQ", raw, 56 * i)
        out.append(dict(type=t, off=off, va=va, pa=pa, filesz=fsz, memsz=msz))
    return out


def notes(f, ph):
    f.seek(ph["off"])
    b = f.read(ph["filesz"])
    pos, out = 0, {}
    while pos + 12 <= len(b):
        nsz, dsz, typ = struct.unpack_from("<III", b, pos)
        name = b[pos + 12:pos + 12 + nsz].rstrip(b"\0").decode()
        d0 = pos + 12 + ((nsz + 3) & ~3)
        out[name] = b[d0:d0 + dsz]
        pos = d0 + ((dsz + 3) & ~3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--ram", required=True)
    ap.add_argument("--serial", required=True)
    a = ap.parse_args()
    ok = True
    truth = harness.Truth(a.serial)
    want = []
    for line in truth.section("iomem"):
        m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) : System RAM$", line.strip())
        if m and not line.startswith(" "):
            want.append((int(m.group(1), 16), int(m.group(2), 16) + 1))
    release = truth.keyed("sysinfo", "uname_r")
    with open(a.dump, "rb") as d, open(a.ram, "rb") as r:
        ph = phdrs(d)
        if ph[0]["type"] != 4 or any(p["type"] != 1 for p in ph[1:]):
            print("FAIL: phdr[0] must be the one PT_NOTE, the rest PT_LOADs")
            ok = False
        vi = notes(d, ph[0]).get("VMCOREINFO", b"").decode(errors="replace")
        got_rel = re.search(r"^OSRELEASE=(.*)$", vi, re.M)
        if not got_rel or got_rel.group(1) != release:
            print(f"FAIL: VMCOREINFO OSRELEASE {got_rel and got_rel.group(1)!r} != {release!r}")
            ok = False
        loads = [p for p in ph if p["type"] == 1]
        ram = [(p["pa"], p["pa"] + p["memsz"]) for p in loads if p["va"] < 0xffffffff80000000]
        if ram != want:
            print(f"FAIL: RAM segments {[(hex(x), hex(y)) for x, y in ram]} != iomem System RAM "
                  f"{[(hex(x), hex(y)) for x, y in want]}")
            ok = False
        deltas = {p["va"] - p["pa"] for p in loads if p["va"] < 0xffffffff80000000}
        if len(deltas) != 1:
            print(f"FAIL: RAM p_vaddr - p_paddr not one direct-map base: {deltas}")
            ok = False
        total = 0
        for p in loads:
            pos, left = 0, p["filesz"]
            while left:
                n = min(left, 1 << 22)
                d.seek(p["off"] + pos)
                r.seek(p["pa"] + pos)
                x, y = d.read(n), r.read(n)
                if x != y:
                    i = next(k for k in range(min(len(x), len(y))) if x[k] != y[k]) if len(x) == len(y) else 0
                    print(f"FAIL: segment pa {p['pa']:#x}: byte at physical {p['pa'] + pos + i:#x} "
                          "differs from the RAM file")
                    ok = False
                    break
                pos += n
                left -= n
                total += n
        print(f"{len(loads)} PT_LOADs ({len(ram)} RAM + {len(loads) - len(ram)} image), "
              f"{total} bytes compared with the RAM file; OSRELEASE {release}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
