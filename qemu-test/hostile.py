#!/usr/bin/env python3
"""hostile.py: corrupt a copy of a guest's RAM the way a failing kernel might.

  hostile.py COPY SERIAL PID PGD_PA

COPY is a copy of the guest's RAM file (never the live one), SERIAL the guest's serial log,
PID and PGD_PA a process and the physical address of its top-level page table (the IDR slots
corrupted are not PID's, so `monitor task PID` still finds it and walks that table). Every location comes from
the guest's own printout (kallsyms, VMCOREINFO) and the kernel's struct layouts as the cited
headers define them (6.1 and 6.12, no lock debugging), not from tlpstub:
  pid IDR    init_pid_ns.idr.idr_rt.xa_head at +8 (struct pid_namespace starts with struct
             idr, whose xarray holds a 4-byte spinlock and 4-byte xa_flags first;
             include/linux/xarray.h); xa_node: shift at 0, slots at 40. In the top node,
             of its first slots but PID's: one -> a node pointer into nowhere (beyond RAM),
             the next -> the top node itself (a cycle); if the top node is a leaf, struct
             pid pointers into nowhere and to the node itself
  printk     *prb: desc_ring.count_bits and text_data_ring.size_bits := 62 (a huge ring;
             VMCOREINFO OFFSET(printk_ringbuffer.desc_ring), OFFSET(prb_desc_ring.count_bits),
             OFFSET(printk_ringbuffer.text_data_ring), OFFSET(prb_data_ring.size_bits))
  page table every entry of PGD_PA's user half points to the table itself (present, user)
Prints what it changed.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

KERNEL_MAP = 0xffffffff80000000


class Ram:
    def __init__(self, path):
        self.f = open(path, "r+b")
        self.mem_mb = os.path.getsize(path) // harness.MIB

    def u64(self, pa):
        self.f.seek(harness.ram_offset(self.mem_mb, pa))
        return struct.unpack("<Q", self.f.read(8))[0]

    def u8(self, pa):
        self.f.seek(harness.ram_offset(self.mem_mb, pa))
        return self.f.read(1)[0]

    def put(self, pa, fmt, v):
        self.f.seek(harness.ram_offset(self.mem_mb, pa))
        self.f.write(struct.pack(fmt, v))


def main():
    copy, serial, pid, pgd = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 0)
    t = harness.Truth(serial)
    ram = Ram(copy)
    pob = ram.u64(t.kva2pa(t.kallsyms("page_offset_base")))

    def pa(va):
        return t.kva2pa(va) if va >= KERNEL_MAP else va - pob

    nowhere = pob + (1 << 44)  # 16 TiB into the direct map: no RAM there
    head = ram.u64(pa(t.kallsyms("init_pid_ns")) + 8)
    if head & 3 != 2 or head < 4096:
        sys.exit(f"pid IDR head {head:#x} is not a node")
    node = pa(head - 2)
    shift = ram.u8(node)  # > 0: the slots hold nodes (internal entries, low bits 10)
    a, b = [s for s in range(4) if s != (pid >> shift) % 64][:2]
    bad, loop = (nowhere | 2, head) if shift else (nowhere, head - 2)
    ram.put(node + 40 + 8 * a, "<Q", bad)
    ram.put(node + 40 + 8 * b, "<Q", loop)
    print(f"pid IDR: node {head - 2:#x} (shift {shift}) slot {a} -> {bad:#x}, slot {b} -> itself")

    off = lambda k: int(t.keyed("vmcoreinfo", f"OFFSET({k})"))  # noqa: E731
    rb = pa(ram.u64(t.kva2pa(int(t.keyed("vmcoreinfo", "SYMBOL(prb)"), 16))))
    ram.put(rb + off("printk_ringbuffer.desc_ring") + off("prb_desc_ring.count_bits"), "<I", 62)
    ram.put(rb + off("printk_ringbuffer.text_data_ring") + off("prb_data_ring.size_bits"), "<I", 62)
    print("printk: count_bits and size_bits := 62")

    for i in range(256):
        ram.put(pgd + 8 * i, "<Q", pgd | 0x67)
    print(f"page table {pgd:#x}: its 256 user entries point to itself")


if __name__ == "__main__":
    main()
