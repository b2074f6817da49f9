#!/usr/bin/env python3
"""harness.py: what the qemu-test scripts share besides QEMU's lifecycle (that stays in lib.sh).

  * ground truth from the guest's serial log (make-initramfs.sh prints the sections);
  * the q35 RAM layout: guest-physical address <-> offset in the shared RAM file;
  * stock gdb in batch mode against a port, with `==NAME==` markers to cut its output;
  * pass/fail bookkeeping for Python tests.

Debian's python3 standard library only. CLI for shell (each prints one answer, exit 1 with a
message on stderr when the answer is not there):

  harness.py truth SERIAL SECTION            the section's lines
  harness.py truth SERIAL kallsyms NAME      0x... from /proc/kallsyms
  harness.py truth SERIAL vmcoreinfo KEY     as the kernel wrote it, e.g. KEY=NUMBER(phys_base)
  harness.py truth SERIAL sysinfo KEY        e.g. uname_r, cpu_la57, vmcoreinfo
  harness.py sym SERIAL NAME [--system-map F]   kallsyms, VMCOREINFO SYMBOL(), System.map+slide
  harness.py slide SERIAL                    KASLR slide: VMCOREINFO KERNELOFFSET
  harness.py phys-base SERIAL                from iomem "Kernel code" and _text
  harness.py kva2pa SERIAL VA                kernel-image VA -> physical
  harness.py layout MEM_MB                   MAP=<tlpstub --map spec> IDENTITY=0|1 EDGES=...
  harness.py ram-offset MEM_MB PHYS          offset of PHYS in the RAM file
  harness.py u64 RAM SERIAL VA               8 bytes at a kernel-image VA, read from the RAM file
  harness.py gdb PORT [--timeout S] EX...    gdb -batch; an EX like ==W== becomes a marker
  harness.py seg NAME < GDB_OUTPUT           the lines after marker NAME, up to the next marker
  harness.py xbytes ADDR < GDB_OUTPUT        the bytes `x/16xb ADDR` printed, "0x.. 0x.."
"""
import json
import os
import re
import subprocess
import sys

KERNEL_MAP = 0xFFFFFFFF80000000  # __START_KERNEL_map
MIB = 1 << 20


# ---- ground truth on the serial console ---------------------------------------------------

def read_sections(serial):
    """{section: [lines]} between ==TLPSTUB-BEGIN s== and ==TLPSTUB-END s== (CRs stripped)."""
    out, cur = {}, None
    with open(serial, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            m = re.fullmatch(r"==TLPSTUB-(BEGIN|END) (\S+)==", line)
            if m:
                cur = m.group(2) if m.group(1) == "BEGIN" else None
                if cur:
                    out[cur] = []
            elif cur:
                out[cur].append(line)
    return out


class Truth:
    """What the guest said about itself, and what follows from it without tlpstub's code."""

    def __init__(self, serial, system_map=None):
        self.sections = read_sections(serial)
        self.system_map = system_map

    def section(self, name):
        return self.sections.get(name, [])

    def kallsyms(self, name):
        for line in self.section("kallsyms"):
            f = line.split()
            if len(f) == 3 and f[2] == name:
                return int(f[0], 16)
        return None

    def keyed(self, section, key):
        """VALUE of the first KEY=VALUE line of a section (vmcoreinfo, sysinfo)."""
        for line in self.section(section):
            if line.startswith(key + "="):
                return line[len(key) + 1:]
        return None

    def vmcoreinfo(self, key):
        return self.keyed("vmcoreinfo", key)

    def sysinfo(self, key):
        return self.keyed("sysinfo", key)

    def slide(self):
        """The kernel's own statement of its KASLR slide (VMCOREINFO KERNELOFFSET, hex)."""
        v = self.vmcoreinfo("KERNELOFFSET")
        if v is None:
            raise LookupError("no KERNELOFFSET in the vmcoreinfo section")
        return int(v, 16)

    def sym(self, name):
        a = self.kallsyms(name)
        if a is not None:
            return a
        v = self.vmcoreinfo(f"SYMBOL({name})")  # kallsyms_* tables are never in /proc/kallsyms
        if v is not None:
            return int(v, 16)
        if self.system_map and os.path.isfile(self.system_map):
            with open(self.system_map) as f:
                for line in f:
                    p = line.split()
                    if len(p) == 3 and p[2] == name:
                        return int(p[0], 16) + self.slide()
        raise LookupError(f"{name} not in the guest's kallsyms or vmcoreinfo"
                          + ("" if self.system_map else " (and no System.map)"))

    def phys_base(self):
        """iomem "Kernel code" starts at __pa_symbol(_text) (arch/x86/kernel/setup.c)."""
        for line in self.section("iomem"):
            m = re.fullmatch(r"\s*([0-9a-f]+)-[0-9a-f]+ : Kernel code", line)
            if m:
                return (int(m.group(1), 16) - (self.sym("_text") - KERNEL_MAP)) % (1 << 64)
        raise LookupError("no Kernel code in the iomem section")

    def kva2pa(self, va):
        """Physical address of a kernel-image VA (the image is physically contiguous)."""
        return (va - KERNEL_MAP + self.phys_base()) % (1 << 64)


# ---- the q35 RAM layout -----------------------------------------------------------------

def q35_ranges(mem_mb):
    """[(phys, file_offset, length)] of a q35 guest's RAM in its memory-backend file.

    QEMU 7.2's q35 (hw/i386/pc_q35.c) splits RAM of 0xb0000000 (2816 MiB) or more into 2 GiB
    below 4 GiB and the rest from 4 GiB; the file holds the low part first. Smaller guests are
    identity-mapped (file offset == physical address)."""
    total = mem_mb * MIB
    if mem_mb < 2816:
        return [(0, 0, total)]
    low = 2048 * MIB
    return [(0, 0, low), (1 << 32, low, total - low)]


def size_text(n):
    return f"{n // (1 << 30)}G" if n % (1 << 30) == 0 else f"{n // MIB}M"


def map_spec(mem_mb):
    """The `tlpstub --map` spec, e.g. 0:0:512M or 0:0:2G,4G:2G:1G."""
    return ",".join(":".join(size_text(x) if x else "0" for x in r) for r in q35_ranges(mem_mb))


def ram_offset(mem_mb, phys):
    for base, off, length in q35_ranges(mem_mb):
        if base <= phys < base + length:
            return off + phys - base
    raise LookupError(f"{phys:#x} is not RAM of a {mem_mb} MiB q35 guest")


def read_phys(ram, phys, length):
    mem_mb = os.path.getsize(ram) // MIB
    with open(ram, "rb") as f:
        f.seek(ram_offset(mem_mb, phys))
        data = f.read(length)
    if len(data) != length:
        raise LookupError(f"short read at physical {phys:#x}")
    return data


# ---- stock gdb in batch mode ---------------------------------------------------------------

MARKER = re.compile(r"==([A-Za-z0-9_-]+)==")


def gdb_batch(port, commands, timeout=120, pre=()):
    """Output (stdout+stderr) of gdb -batch attached to 127.0.0.1:PORT running COMMANDS.

    A command written ==NAME== is printed as a marker line instead, for seg(). PORT None: no
    `target remote` (the caller places it among PRE/COMMANDS)."""
    args = ["gdb", "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
            "-ex", "set print elements 0"]
    for c in pre:
        args += ["-ex", c]
    if port is not None:
        args += ["-ex", f"target remote 127.0.0.1:{port}"]
    for c in commands:
        args += ["-ex", f"echo {c}\\n" if MARKER.fullmatch(c) else c]
    try:
        r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return r.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return out + f"\nharness: gdb timed out after {timeout} s\n"


def seg(output, name):
    """Lines after the marker line ==NAME== up to the next marker line (or the end)."""
    lines, on = [], False
    for line in output.splitlines():
        if MARKER.fullmatch(line):
            if on:
                break
            on = line == f"=={name}=="
        elif on:
            lines.append(line)
    return "\n".join(lines)


def xbytes(output, addr, count=16):
    """The COUNT bytes that `x/COUNTxb ADDR` printed (8 a line: `ADDR[ <sym>]:\t0x..\t...`)."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith((addr + ":", addr + " <")):
            got = []
            for more in lines[i:]:
                head, sep, rest = more.partition(":")
                if not sep or not head.startswith("0x") or len(got) >= count:
                    break
                got += rest.split()
            return " ".join(got[:count])
    return ""


# ---- checks for Python tests -----------------------------------------------------------------

class Checks:
    """PASS:/FAIL: lines and the closing `N passed, N failed`; exit status from the failures."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"PASS: {what}")
        else:
            self.failed += 1
            print(f"FAIL: {what}" + (f": {detail}" if detail else ""))
        return ok

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 and self.passed > 0 else 1


def json_fields(text, paths):
    """The values at dotted paths (`kernel.text`) of the first JSON object in gdb's output
    (a monitor command's --json), one per path; null as "null"."""
    start = text.index("{")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    vals = []
    for p in paths:
        v = obj
        for k in p.split("."):
            v = v[int(k)] if isinstance(v, list) else v[k]
        vals.append("null" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
    return vals


# ---- CLI ---------------------------------------------------------------------------------

def num(s):
    return int(s, 0)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, a = argv[0], argv[1:]
    if cmd == "truth" and len(a) in (2, 3):
        t = Truth(a[0])
        if len(a) == 2:
            lines = t.section(a[1])
            print("\n".join(lines))
            return 0 if lines else fail(f"no {a[1]} section in {a[0]}")
        if a[1] == "kallsyms":
            v = t.kallsyms(a[2])
            v = None if v is None else f"{v:#x}"
        else:
            v = t.keyed(a[1], a[2])
        return out(v, f"{a[2]} not in the {a[1]} section")
    if cmd == "sym" and len(a) in (2, 4):
        smap = a[3] if len(a) == 4 and a[2] == "--system-map" else None
        return out(lambda: f"{Truth(a[0], smap).sym(a[1]):#x}")
    if cmd == "slide" and len(a) == 1:
        return out(lambda: f"{Truth(a[0]).slide():#x}")
    if cmd == "phys-base" and len(a) == 1:
        return out(lambda: f"{Truth(a[0]).phys_base():#x}")
    if cmd == "kva2pa" and len(a) == 2:
        return out(lambda: f"{Truth(a[0]).kva2pa(num(a[1])):#x}")
    if cmd == "layout" and len(a) == 1:
        mb = num(a[0])
        r = q35_ranges(mb)
        edges = " ".join(f"{p:#x}" for b, _, n in r for p in (b, b + n - 4096))
        print(f"MAP={map_spec(mb)} IDENTITY={int(len(r) == 1)} EDGES='{edges}'")
        return 0
    if cmd == "ram-offset" and len(a) == 2:
        return out(lambda: str(ram_offset(num(a[0]), num(a[1]))))
    if cmd == "u64" and len(a) == 3:
        pa = Truth(a[1]).kva2pa(num(a[2]))
        return out(lambda: f"{int.from_bytes(read_phys(a[0], pa, 8), 'little'):#x}")
    if cmd == "gdb" and a:
        timeout = 120
        if len(a) >= 3 and a[1] == "--timeout":
            timeout, a = float(a[2]), [a[0]] + a[3:]
        sys.stdout.write(gdb_batch(int(a[0]), a[1:], timeout))
        return 0
    if cmd == "seg" and len(a) == 1:
        print(seg(sys.stdin.read(), a[0]))
        return 0
    if cmd == "json" and a:
        return out(lambda: "\n".join(json_fields(sys.stdin.read(), a)))
    if cmd == "xbytes" and len(a) == 1:
        return out(xbytes(sys.stdin.read(), a[0]) or None, f"no x/xb output for {a[0]}")
    return fail(f"usage: {cmd} {' '.join(a)} (see harness.py --help)", 2)


def fail(msg, rc=1):
    print(f"harness: {msg}", file=sys.stderr)
    return rc


def out(value, missing="not found"):
    """Print VALUE (or what the callable returns); a missing value or LookupError fails."""
    try:
        value = value() if callable(value) else value
    except (LookupError, ValueError, OSError) as e:
        return fail(str(e).strip("'\""))
    if value is None:
        return fail(missing)
    print(value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
