# gdb settings and commands for tlpstub. Use: gdb -x gdbinit [vmlinux]
#
#   (gdb) tlpstub-connect 127.0.0.1:1234     attach to a tlpstub server
#   (gdb) tlpstub-vmlinux /path/to/vmlinux   load a vmlinux at the addresses of the running
#                                            (KASLR-randomized) kernel that tlpstub found
#
# The target is a live or panicked machine observed over DMA: it never stops, and tlpstub
# refuses writes, breakpoints and stepping with a clear message.

set pagination off
set confirm off
# A stub that is still discovering the kernel answers within 1.5 s; over a slow link or a
# loaded machine give it more room than gdb's default of 2 s.
set remotetimeout 10
set architecture i386:x86-64

define tlpstub-connect
  target remote $arg0
end
document tlpstub-connect
Attach to a tlpstub server: tlpstub-connect HOST:PORT
end

python
import re
import gdb


class TlpstubVmlinux(gdb.Command):
    """Load a vmlinux at the running kernel's addresses: tlpstub-vmlinux PATH

Asks tlpstub (monitor info) for the KASLR slide and loads PATH with every section moved by
it except the per-CPU section, which is linked at 0 and holds offsets (gdb's qOffsets
relocation moves only .text/.data/.bss). A symbol file loaded earlier is dropped first."""

    def __init__(self):
        super().__init__("tlpstub-vmlinux", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        path = arg.strip()
        if not path:
            raise gdb.GdbError("usage: tlpstub-vmlinux PATH-TO-VMLINUX")
        info = gdb.execute("monitor info", to_string=True)
        m = re.search(r"KASLR slide (0x[0-9a-f]+)", info)
        if not m:
            raise gdb.GdbError("tlpstub has not found the kernel (see 'monitor info')")
        slide = m.group(1)
        gdb.execute("symbol-file", to_string=True)
        gdb.execute(f"add-symbol-file {path} -o {slide} -s .data..percpu 0", to_string=True)
        print(f"loaded {path} with KASLR slide {slide} (per-CPU section kept at 0)")


TlpstubVmlinux()
end
