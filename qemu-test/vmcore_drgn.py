# Run by drgn (`drgn -c DUMP -s VMLINUX vmcore_drgn.py`, Debian's python3-drgn 0.0.22): what drgn
# itself reads from a tlpstub vmcore. Prints "release R" and one "task PID TGID COMM" per task.
from drgn.helpers.linux.pid import for_each_task

print("release", prog["init_uts_ns"].name.release.string_().decode())
for t in for_each_task(prog):
    print("task", int(t.pid), int(t.tgid), t.comm.string_().decode(errors="replace"))
