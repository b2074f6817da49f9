#!/usr/bin/env python3
"""Compares tlpstub's `monitor offsets --json` / `monitor type NAME --json` with pahole.

pahole (Debian package dwarves) reads the raw BTF that btf_test.sh cut out of guest RAM at
the guest's own [__start_BTF, __stop_BTF) (its /proc/kallsyms on the serial console): an
independent reader of the same bytes. Also checks `monitor info --json`'s types section
against those symbols. Exit status 0 only if everything agrees.

  btf_compare.py --btf FILE --info INFO.json --start VA --stop VA --offsets OFFSETS.json
                 --type NAME=TYPE.json [--type ...] [--dwarf VMLINUX]

With --dwarf, pahole reads the -dbg package's vmlinux (DWARF) instead of the raw BTF.
"""
import argparse
import json
import re
import subprocess
import sys

MEMBER = re.compile(r"^(\t+)(.*?);\s*/\*\s*(\d+)(?::\s*(\d+))?\s+(\d+)\s*\*/")
OPEN = re.compile(r"^\t+(struct|union)\s*\{\s*$")
SIZE = re.compile(r"^\t/\*\s*size:\s*(\d+),")
ATTR = re.compile(r"\s*__attribute__\(\(.*?\)\)\)?")

_cache = {}


def parse_decl(decl):
    """(name, bits) of a pahole member declaration; name '' for an anonymous '}'."""
    decl = ATTR.sub("", decl).strip()
    if decl == "}":
        return "", 0, decl
    fp = re.search(r"\(\*\s*(\w+)\)", decl)
    if fp:
        return fp.group(1), 0, decl
    bits = 0
    bm = re.search(r":(\d+)$", decl)
    if bm:
        bits = int(bm.group(1))
        decl = decl[: bm.start()]
    return re.findall(r"\w+", re.sub(r"\[[^\]]*\]", "", decl))[-1], bits, decl


# What pahole reads: "btf" (the raw BTF cut from RAM) or "dwarf" (the -dbg package's vmlinux,
# --dwarf: the compiler's own description of the types, which the kernel's BTF was made from).
_format = ["btf"]


def pahole(btf, name):
    """Members of struct/union `name` as pahole prints them, keyed like layout_keys(): members
    of a named member of anonymous type ('struct { ... } lru_gen;') as 'lru_gen.list';
    anonymous members have name '' (pahole prints them at their closing brace)."""
    if name in _cache:
        return _cache[name]
    out = subprocess.run(["pahole", "-F", _format[0], "-C", name, btf], capture_output=True,
                         text=True, check=False).stdout
    stack, size = [[]], None
    for line in out.splitlines():
        m = SIZE.match(line)
        if m and size is None:
            size = int(m.group(1))
            continue
        if OPEN.match(line):
            stack.append([])
            continue
        m = MEMBER.match(line)
        if not m:
            continue
        nm, bits, decl = parse_decl(m.group(2))
        row = {"name": nm, "decl": decl, "offset": int(m.group(3)),
               "bit": None if m.group(4) is None else int(m.group(4)), "size": int(m.group(5)),
               "bits": bits}
        if decl.startswith("}") and len(stack) > 1:
            inner = stack.pop()
            for r in inner:
                if nm and r["name"]:
                    r["name"] = nm + "." + r["name"]
            stack[-1].append(row)
            stack[-1].extend(inner)
        else:
            stack[-1].append(row)
    _cache[name] = (stack[0], size)
    return _cache[name]


def layout_keys(members):
    """tlpstub's rows keyed like pahole(): a row under a named member of anonymous type is
    'owner.name'."""
    out, owners = [], []
    for m in members:
        del owners[m["depth"]:]
        prefix = ".".join(o for o in owners if o)
        out.append(dict(m, key=(prefix + "." + m["name"]) if prefix and m["name"] else m["name"]))
        owners.append(m["name"] if m["type"] in ("struct {...}", "union {...}") else None)
    return out


class Result:
    def __init__(self):
        self.ok = 0
        self.bad = []

    def check(self, cond, what):
        if cond:
            self.ok += 1
        else:
            self.bad.append(what)


def member_type(decl, name):
    """'struct thread_struct thread' -> 'thread_struct'."""
    t = decl[: decl.rfind(name)].strip()
    for tag in ("struct ", "union "):
        if t.startswith(tag):
            return t[len(tag):]
    return t


def pahole_path(btf, struct, path):
    """(byte offset, size, bits, bit offset) of a dotted path, or None."""
    total_bits, cur, found = 0, struct, None
    for part in path.split("."):
        members, _ = pahole(btf, cur)
        found = next((m for m in members if m["name"] == part), None)  # not 'owner.part'
        if found is None:
            return None
        bit = found["bit"] or 0
        total_bits += found["offset"] * 8 + bit
        cur = member_type(found["decl"], part)
    return total_bits // 8, found["size"], found["bits"], total_bits


def compare_type(btf, name, doc, r):
    members, size = pahole(btf, name)
    r.check(size == doc["size"], f"{name}: size {doc['size']}, pahole {size}")
    ours = {m["key"]: m for m in layout_keys(doc["members"]) if m["name"]}
    theirs = {m["name"]: m for m in members if m["name"]}
    r.check(set(ours) == set(theirs),
            f"{name}: member names differ: only ours {sorted(set(ours) - set(theirs))[:5]}, "
            f"only pahole's {sorted(set(theirs) - set(ours))[:5]}")
    for n in sorted(set(ours) & set(theirs)):
        o, t = ours[n], theirs[n]
        if t["bits"]:
            tb = t["offset"] * 8 + (t["bit"] or 0)
            r.check(o["bit_size"] == t["bits"] and o["bit_offset"] == tb and o["size"] == t["size"],
                    f"{name}.{n}: bitfield ours bit {o['bit_offset']}:{o['bit_size']} size "
                    f"{o['size']}, pahole {t['offset']}:{t['bit']}:{t['bits']} size {t['size']}")
        else:
            r.check(o["offset"] == t["offset"] and o["size"] == t["size"] and not o["bit_size"],
                    f"{name}.{n}: ours {o['offset']}/{o['size']}, pahole {t['offset']}/{t['size']}")
    anon_ours = sum(1 for m in doc["members"] if not m["name"])
    anon_theirs = sum(1 for m in members if not m["name"])
    r.check(anon_ours == anon_theirs,
            f"{name}: {anon_ours} anonymous members, pahole {anon_theirs}")
    return len(ours)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--btf", required=True)
    ap.add_argument("--info", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--stop", required=True)
    ap.add_argument("--offsets", required=True)
    ap.add_argument("--type", action="append", default=[])
    ap.add_argument("--dwarf", help="compare with pahole on this DWARF vmlinux instead of --btf")
    a = ap.parse_args()
    if a.dwarf:
        _format[0], a.btf = "dwarf", a.dwarf
    r = Result()

    info = json.load(open(a.info))
    t = info.get("types") or {}
    start, stop = int(a.start, 16), int(a.stop, 16)
    r.check(t.get("state") == "done", f"monitor info: types state {t.get('state')}: "
                                      f"{t.get('message')}")
    if t.get("state") == "done":
        r.check(int(t["btf"], 16) == start, f"BTF at {t['btf']}, guest __start_BTF {a.start}")
        r.check(t["size"] == stop - start, f"BTF size {t['size']}, guest __stop_BTF - "
                                           f"__start_BTF {stop - start}")
        print(f"BTF: {t['type_count']} types, {t['size']} bytes at {t['btf']} "
              f"(phys {t['btf_phys']}); recovered in {t['seconds']:.3f} s, {t['reads']} reads, "
              f"{t['bytes']} bytes read ({t['how']})")

    for spec in a.type:
        name, path = spec.split("=", 1)
        n = compare_type(a.btf, name, json.load(open(path)), r)
        print(f"monitor type {name}: {n} named members compared with pahole")

    doc = json.load(open(a.offsets))
    found = missing = 0
    for z in doc["sizes"]:
        _, size = pahole(a.btf, z["struct"])
        r.check(z["size"] == size, f"sizeof({z['struct']}): ours {z['size']}, pahole {size}")
    for row in doc["offsets"]:
        s, alts = row["struct"], row["wanted"].split("|")
        if row["member"] is None:
            missing += 1
            there = [p for p in alts if pahole_path(a.btf, s, p)]
            r.check(not there, f"{s}.{row['wanted']} reported missing, pahole has {there}")
            continue
        found += 1
        # The first alternative pahole knows must be the one chosen.
        first = next((p for p in alts if pahole_path(a.btf, s, p)), None)
        r.check(first == row["member"], f"{s}: chose {row['member']}, pahole's first is {first}")
        p = pahole_path(a.btf, s, row["member"])
        if p is None:
            continue
        off, size, bits, bit_total = p
        if bits:
            r.check(row["bit_offset"] == bit_total and row["bit_size"] == bits,
                    f"{s}.{row['member']}: bit {row['bit_offset']}:{row['bit_size']}, pahole "
                    f"{bit_total}:{bits}")
        else:
            r.check(row["offset"] == off and row["size"] == size,
                    f"{s}.{row['member']}: ours {row['offset']}/{row['size']}, pahole {off}/{size}")
        r.check(row["source"] == "BTF", f"{s}.{row['member']}: source {row['source']}")
    print(f"monitor offsets: {found} found, {missing} missing, checked against pahole")
    print(f"{r.ok} checks agree, {len(r.bad)} differ")
    for b in r.bad:
        print("MISMATCH:", b)
    return 1 if r.bad else 0


if __name__ == "__main__":
    sys.exit(main())
