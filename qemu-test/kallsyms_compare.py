#!/usr/bin/env python3
"""kallsyms_compare.py DRIVER_OUTPUT SERIAL [--system-map F] [--label L]

Checks what symbols_driver recovered (tests/kernel/symbols_driver.cpp: "ADDR TYPE NAME
[percpu]" lines) against ground truth that does not come from tlpstub:
  * the guest's own /proc/kallsyms lines on the serial console: every one must be recovered
    with the same address (and type, for non-per-CPU symbols);
  * the package's System.map (from -dbg) shifted by the KASLR slide (VMCOREINFO KERNELOFFSET);
    per-CPU symbols (linked at 0, kallsyms keeps their section offsets) compared unshifted.
    Every System.map symbol of a kind kallsyms keeps must be recovered at its address.
Prints PASS/FAIL lines and the figures; exit status = pass/fail.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PERCPU_LIMIT = 1 << 32  # System.map addresses below this are per-CPU section offsets
# scripts/kallsyms.c up to 6.3 leaves its own tables out (ignored_symbols[]: "symbols which vary
# between passes"); 6.4's link rework keeps them (Debian 6.12 lists them [obs]).
KALLSYMS_TABLES = {"kallsyms_addresses", "kallsyms_offsets", "kallsyms_relative_base",
                   "kallsyms_num_syms", "kallsyms_names", "kallsyms_markers",
                   "kallsyms_seqs_of_names", "kallsyms_token_table", "kallsyms_token_index"}


def kept_by_kallsyms(name, typ):
    """What scripts/kallsyms.c (6.1, 6.12: symbol_valid(), is_ignored_symbol()) drops from the
    table: absolute symbols other than per-CPU ones, undefined/debugging types, local labels,
    and the linker-generated names it lists. What is left must be recovered."""
    if typ in "aANU":
        return False
    if name.startswith((".L", "__crc_", "$")):
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver_output")
    ap.add_argument("serial")
    ap.add_argument("--system-map")
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    checks = harness.Checks()
    L = f"{a.label}: " if a.label else ""

    summary, syms = {}, {}
    with open(a.driver_output) as f:
        for line in f:
            if line.startswith("summary: "):
                k, _, v = line[9:].rstrip("\n").partition("=")
                summary[k] = v
            elif line.startswith("note: "):
                continue
            else:
                p = line.split()
                if len(p) >= 3:
                    syms.setdefault(p[2], []).append((int(p[0], 16), p[1], len(p) > 3))
    count = sum(len(v) for v in syms.values())
    print(f"{L}recovered {summary.get('count')} symbols ({summary.get('percpu')} per-CPU) by "
          f"{summary.get('method')} in {summary.get('seconds')} s, {summary.get('reads')} reads, "
          f"{summary.get('bytes')} bytes; layout: {summary.get('layout')}")
    checks.check(count == int(summary.get("count", -1)) and count > 10000,
                 f"{L}{count} symbols listed")

    truth = harness.Truth(a.serial, a.system_map)
    # 1. The guest's own /proc/kallsyms lines.
    lines = truth.section("kallsyms")
    bad = []
    for line in lines:
        p = line.split()
        if len(p) != 3:
            continue
        addr, typ, name = int(p[0], 16), p[1], p[2]
        got = syms.get(name, [])
        if not any(g[0] == addr and (g[2] or g[1] == typ) for g in got):
            bad.append(f"{name}: guest {addr:#x} {typ}, recovered {[(hex(g[0]), g[1]) for g in got]}")
    checks.check(lines and not bad,
                 f"{L}{len(lines) - len(bad)} of {len(lines)} guest /proc/kallsyms lines match",
                 "; ".join(bad[:5]))

    # 2. System.map + KASLR slide.
    if not a.system_map or not os.path.isfile(a.system_map):
        checks.check(False, f"{L}no System.map given")
        return checks.summary()
    slide = truth.slide()
    old_order = "order <= 6.3" in summary.get("layout", "")
    want = missing = wrong = percpu = tables = 0
    examples = []
    with open(a.system_map) as f:
        for line in f:
            p = line.split()
            if len(p) != 3:
                continue
            addr, typ, name = int(p[0], 16), p[1], p[2]
            if not kept_by_kallsyms(name, typ):
                continue
            if old_order and name in KALLSYMS_TABLES:
                tables += 1
                continue
            want += 1
            pc = addr < PERCPU_LIMIT
            expect = addr if pc else (addr + slide) % (1 << 64)
            percpu += pc
            got = syms.get(name)
            if not got:
                missing += 1
                if len(examples) < 8:
                    examples.append(f"missing {name} ({typ} {expect:#x})")
            elif not any(g[0] == expect and g[2] == pc for g in got):
                wrong += 1
                if len(examples) < 8:
                    examples.append(f"{name}: want {expect:#x}, got {[hex(g[0]) for g in got]}")
    match = want - missing - wrong
    print(f"{L}System.map (slide {slide:#x}): {match} of {want} symbols match "
          f"({100.0 * match / max(want, 1):.3f}%), {missing} missing, {wrong} at another "
          f"address; {percpu} per-CPU compared unshifted"
          + (f"; {tables} kallsyms_* tables left out (not in kallsyms before 6.4)" if tables else ""))
    checks.check(want > 10000 and match == want,
                 f"{L}every core-kernel System.map symbol recovered at its address",
                 "; ".join(examples))
    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
