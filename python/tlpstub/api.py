"""Monitor commands as Python objects.

Each function runs one ``monitor ... --json`` through gdb's remote connection and turns the
reply into objects with attributes (``t.pid``, ``t.comm``). Addresses, which the stub sends as
"0x..." strings so that JSON readers keep all 64 bits, become Python ints.
"""

import json
import types

import gdb

# Keys whose values are addresses written as hex strings by the stub.
_ADDRESS_KEYS = frozenset({
    "task", "stack", "pgd", "ip", "sp", "buffer", "address", "text", "table", "btf", "btf_phys",
    "kaslr_slide", "phys_base", "linux_banner", "linux_banner_phys", "init_top_pgt",
    "init_top_pgt_phys", "sme_mask", "page_offset_base", "vmalloc_base", "vmemmap_base",
    "vmcoreinfo_phys", "base", "size_hex",
})


class MonitorError(gdb.GdbError):
    """A monitor command failed or did not answer with JSON; the message is the stub's."""


def _convert(value, key=None):
    if isinstance(value, dict):
        return types.SimpleNamespace(**{k: _convert(v, k) for k, v in value.items()})
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if key in _ADDRESS_KEYS and isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return value
    return value


def monitor(command):
    """Runs ``monitor COMMAND`` and returns its text output."""
    try:
        return gdb.execute("monitor " + command, to_string=True)
    except gdb.error as e:
        raise MonitorError(f"monitor {command}: {e}") from None


def monitor_json(command):
    """Runs ``monitor COMMAND --json`` and returns the decoded reply (dicts and lists).

    The first monitor command of a connection may be preceded by a line of text (the stub's
    attach message), and a failed command prints ``error: ...``: the JSON is the last line that
    starts with ``{`` or ``[``."""
    text = monitor(command + " --json")
    lines = text.splitlines()
    for line in lines:
        if line.startswith("error: "):
            raise MonitorError(f"monitor {command}: {line[len('error: '):]}")
    for line in reversed(lines):
        if line.startswith(("{", "[")):
            try:
                return json.loads(line)
            except ValueError as e:
                raise MonitorError(f"monitor {command}: reply is not JSON ({e})") from None
    raise MonitorError(f"monitor {command}: no JSON in the reply: {text.strip()[:200]}")


def _args(*words):
    return " ".join(str(w) for w in words if w is not None and w != "")


def info():
    """What discovery found: ``info().kernel.release``, ``.kaslr_slide``, ``.build_id``..."""
    return _convert(monitor_json("info"))


def tasks(pattern=None, threads=False):
    """Every task (``monitor ps``): objects with pid, tgid, ppid, state, comm, task (address),
    cpu, pgd, idle, running_on. ``threads=True`` lists every thread and the idle tasks."""
    reply = _convert(monitor_json(_args("ps", pattern, "--threads" if threads else None)))
    return reply.tasks


def task(pid):
    """Switches this gdb connection's address space to process PID (``monitor task``), so
    that ``x`` reads its user memory; ``task("kernel")`` goes back."""
    return monitor(_args("task", pid))


def bt(pid=None):
    """Kernel stack traces from the kernel's ORC tables (``monitor bt``): a list with one
    entry per task (pid, comm, state, frames: ip, sp, function, offset, method)."""
    return _convert(monitor_json(_args("bt", pid))).tasks


def dmesg(n=None):
    """The kernel log (``monitor dmesg``): records with seq, ts_nsec, level, text."""
    return _convert(monitor_json(_args("dmesg", f"-n {n}" if n is not None else None)))


def kconfig(pattern=None):
    """The kernel configuration (``monitor kconfig``), decoded from memory."""
    return _convert(monitor_json(_args("kconfig", pattern)))


def modules(pattern=None):
    """Loaded modules (``monitor modules``)."""
    return _convert(monitor_json(_args("modules", pattern)))


def sym(query):
    """Symbols by exact name, 'PATTERN*' or address (``monitor sym``)."""
    return _convert(monitor_json(_args("sym", query)))
