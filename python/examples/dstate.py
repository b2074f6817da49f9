# Tasks stuck in uninterruptible sleep (state D), each with its kernel stack: the first thing
# to look at on a hung machine. Run inside gdb attached to tlpstub (gdb -x gdbinit):
#   (gdb) source python/examples/dstate.py
# TLP_STATE=S (or any ps state letter) in the environment selects another state.
import os

import tlpstub

state = os.environ.get("TLP_STATE", "D")
stuck = [t for t in tlpstub.tasks() if t.state == state]
print(f"{len(stuck)} tasks in state {state}")
for t in stuck:
    print(f"pid {t.pid} ({t.comm}) task {t.task:#x}")
    for trace in tlpstub.bt(t.pid):
        for i, f in enumerate(trace.frames):
            name = f"{f.function}+{f.offset:#x}" if f.function else "?"
            print(f"  #{i:<2} {f.ip:#018x} {name}")
