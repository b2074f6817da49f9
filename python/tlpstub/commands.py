"""The tlp-* gdb commands: thin wrappers over the monitor commands, with help."""

import gdb

from tlpstub import api, session


class _Monitor(gdb.Command):
    """Base: runs ``monitor <verb> ARGS`` and prints its text."""

    verb = ""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        print(api.monitor(f"{self.verb} {arg}".strip()), end="")


class TlpPs(_Monitor):
    """List the target's tasks: tlp-ps [PATTERN] [--threads] [--json]

PATTERN is a pid or a glob on the command name. Columns: pid, ppid, state (as ps prints it),
CPU, comm, task_struct address, physical address of the page table. --threads lists every
thread and each CPU's idle task."""
    verb = "ps"


class TlpTask(_Monitor):
    """Read a process's memory: tlp-task PID | tlp-task kernel

After tlp-task PID, x and print read that process's user memory through its page table;
tlp-task kernel goes back to the kernel's."""
    verb = "task"


class TlpBt(_Monitor):
    """Kernel stack traces without a vmlinux: tlp-bt [PID|all]

Unwinds with the kernel's own ORC tables read from memory (frame pointers where there is no
ORC entry) and names frames with kallsyms. No PID: the tasks running on a CPU."""
    verb = "bt"


class TlpDmesg(_Monitor):
    """The kernel log from the printk ring buffer: tlp-dmesg [-n N]"""
    verb = "dmesg"


class TlpKconfig(_Monitor):
    """The kernel configuration: tlp-kconfig [PATTERN] [--out FILE]

From IKCONFIG when the kernel has it, else harvested and inferred from memory (the output
says which)."""
    verb = "kconfig"


class TlpInfo(_Monitor):
    """What tlpstub found: kernel release, KASLR slide, page table, symbols and types."""
    verb = "info"


class TlpConnect(gdb.Command):
    """Attach to tlpstub: tlp-connect [HOST:PORT]

Default: $TLPSTUB, else 127.0.0.1:1234. If gdb was started with a vmlinux, it is then loaded
at the running kernel's KASLR slide (see tlp-vmlinux)."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_RUNNING)

    def invoke(self, arg, from_tty):
        session.connect(arg.strip() or None)


class TlpVmlinux(gdb.Command):
    """Load a vmlinux at the running kernel's addresses: tlp-vmlinux PATH

Reads the KASLR slide from tlpstub and loads PATH with every section moved by it except the
per-CPU section, which is linked at 0 and holds offsets. Refuses a vmlinux of another build
(build id from the target's VMCOREINFO, else where linux_banner lands). A symbol file loaded
earlier is dropped first."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        path = arg.strip()
        if not path:
            raise gdb.GdbError("usage: tlp-vmlinux PATH-TO-VMLINUX")
        session.load_vmlinux(path)


def register():
    for cls, name in ((TlpPs, "tlp-ps"), (TlpTask, "tlp-task"), (TlpBt, "tlp-bt"),
                      (TlpDmesg, "tlp-dmesg"), (TlpKconfig, "tlp-kconfig"),
                      (TlpInfo, "tlp-info"), (TlpConnect, "tlp-connect"),
                      (TlpVmlinux, "tlp-vmlinux"),
                      # The names of the first gdbinit, kept for scripts that use them.
                      (TlpConnect, "tlpstub-connect"), (TlpVmlinux, "tlpstub-vmlinux")):
        cls(name)
