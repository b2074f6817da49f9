"""tlpstub's gdb Python layer.

Loaded by the repository's (or the installed) gdbinit. Every monitor command that has a
``--json`` form is available as a function returning plain Python objects, for crash-analysis
scripts run inside gdb::

    import tlpstub
    for t in tlpstub.tasks():
        if t.state == "D":
            print(t.pid, t.comm)

The gdb commands (tlp-ps, tlp-task, tlp-bt, tlp-dmesg, tlp-kconfig, tlp-info, tlp-connect,
tlp-vmlinux) are defined in ``tlpstub.commands``; ``help tlp-ps`` and so on describe them.
"""

from tlpstub.api import (  # noqa: F401  (the public API)
    MonitorError,
    bt,
    dmesg,
    info,
    kconfig,
    modules,
    monitor,
    monitor_json,
    sym,
    task,
    tasks,
)
from tlpstub.session import connect, load_vmlinux  # noqa: F401
from tlpstub import commands as _commands

_commands.register()
