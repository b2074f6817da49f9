# gdb settings and commands for tlpstub.  Use:  gdb -x gdbinit [vmlinux]
#
# Connects to $TLPSTUB (default 127.0.0.1:1234; TLPSTUB=none: do not connect) and defines,
# with help (`help tlp-ps`):
#   tlp-ps [PATTERN] [--threads]   tasks           tlp-bt [PID|all]    kernel stack traces
#   tlp-task PID|kernel            process memory  tlp-dmesg [-n N]    kernel log
#   tlp-kconfig [PATTERN]          configuration   tlp-info            what tlpstub found
#   tlp-connect [HOST:PORT]        attach          tlp-vmlinux PATH    load a vmlinux at the
#                                                                      KASLR slide
# Given a vmlinux on the command line, it is loaded at the running kernel's addresses after
# its build id is checked against the target's. In gdb's Python, `import tlpstub` gives the
# monitor commands as objects (tlpstub.tasks(), tlpstub.bt(pid), tlpstub.dmesg(), ...).
#
# The target is a live or panicked machine observed over DMA: it never stops, and tlpstub
# refuses writes, breakpoints and stepping with a clear message.

set pagination off
set confirm off
# A stub that is still discovering the kernel answers within 1.5 s; over a slow link or a
# loaded machine give it more room than gdb's default of 2 s.
set remotetimeout 10
set architecture i386:x86-64

python
import os
import sys


def _tlpstub_python_dir():
    # gdb does not tell a script where it was read from: take this file's directory from
    # gdb's own command line (-x FILE, --command=FILE, -ix FILE), else $TLPSTUB_PYTHON, the
    # installed copy, ./python.
    candidates = []
    if os.environ.get("TLPSTUB_PYTHON"):
        candidates.append(os.environ["TLPSTUB_PYTHON"])
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
    except OSError:
        argv = []
    for i, a in enumerate(argv):
        path = None
        if a in ("-x", "-ix", "-command", "--command", "-init-command", "--init-command"):
            path = argv[i + 1] if i + 1 < len(argv) else None
        elif a.startswith(("--command=", "-command=", "--init-command=")):
            path = a.split("=", 1)[1]
        if path:
            candidates.append(os.path.join(os.path.dirname(os.path.abspath(path)), "python"))
    candidates += ["/usr/share/tlpstub/python", os.path.join(os.getcwd(), "python")]
    for c in candidates:
        if os.path.isfile(os.path.join(c, "tlpstub", "__init__.py")):
            return c
    return None


_dir = _tlpstub_python_dir()
if _dir is None:
    print("tlpstub: the tlpstub Python package was not found (set TLPSTUB_PYTHON to the "
          "directory holding tlpstub/); the tlp-* commands are not defined")
else:
    if _dir not in sys.path:
        sys.path.insert(0, _dir)
    import tlpstub
    tlpstub.session.autostart()
end
