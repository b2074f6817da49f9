"""Connecting to tlpstub and loading a vmlinux at the running kernel's addresses."""

import os

import gdb

from tlpstub.api import MonitorError, info

DEFAULT_ADDRESS = "127.0.0.1:1234"


def connected():
    inferior = gdb.selected_inferior()
    return inferior is not None and inferior.connection is not None


def _exec_vmlinux():
    """The vmlinux given on gdb's command line, if any. A file gdb fetched from the stub
    itself (``target:...``, the symbol file tlpstub writes from memory) is already at the
    run-time addresses and is left alone."""
    name = gdb.current_progspace().filename
    if not name or name.startswith("target:"):
        return None
    return name


def load_vmlinux(path):
    """Loads PATH at the KASLR slide tlpstub found, per-CPU section unshifted (it holds
    offsets, linked at 0), after checking that PATH is the running kernel's build: by build id
    when the target's VMCOREINFO has one, else by where ``linux_banner`` lands."""
    kernel = getattr(info(), "kernel", None)
    if kernel is None or getattr(kernel, "kaslr_slide", None) is None:
        raise gdb.GdbError("tlpstub has not found the kernel yet (see 'monitor info')")
    slide = kernel.kaslr_slide
    gdb.execute("symbol-file", to_string=True)
    gdb.execute(f"add-symbol-file {path} -o {slide:#x} -s .data..percpu 0", to_string=True)
    objfile = next((o for o in gdb.objfiles() if o.filename == os.path.realpath(path)
                    or o.filename == path), None)
    want = getattr(kernel, "build_id", "") or ""
    have = (objfile.build_id or "") if objfile is not None else ""
    if want and have:
        if want.lower() != have.lower():
            gdb.execute("symbol-file", to_string=True)
            raise gdb.GdbError(f"{path} is not the running kernel: its build id is {have}, the "
                               f"target's VMCOREINFO says {want}; symbols unloaded")
        how = f"build id {have} matches"
    else:
        # No build id to compare: the vmlinux's linux_banner, moved by the slide, must be where
        # discovery found the banner in memory.
        try:
            at = int(gdb.parse_and_eval("(unsigned long)&linux_banner"))
        except gdb.error:
            at = None
        if at is None or at != kernel.linux_banner:
            gdb.execute("symbol-file", to_string=True)
            found = "no linux_banner symbol" if at is None else f"linux_banner at {at:#x}"
            raise gdb.GdbError(f"{path} is not the running kernel ({found}, the target's is at "
                               f"{kernel.linux_banner:#x}); symbols unloaded")
        how = "no build id in VMCOREINFO; linux_banner lands on the target's banner"
    print(f"tlpstub: loaded {path} at KASLR slide {slide:#x} (per-CPU section kept at 0; {how})")


def connect(address=None):
    """``target remote`` to tlpstub (ADDRESS, else $TLPSTUB, else 127.0.0.1:1234); then, if
    gdb was started with a vmlinux, loads it at the running kernel's addresses."""
    address = address or os.environ.get("TLPSTUB") or DEFAULT_ADDRESS
    gdb.execute(f"target remote {address}")
    vmlinux = _exec_vmlinux()
    if vmlinux is not None:
        try:
            load_vmlinux(vmlinux)
        except MonitorError as e:
            print(f"tlpstub: {vmlinux} not relocated: {e}")


def autostart():
    """What the gdbinit runs: connect unless $TLPSTUB is "none"; a failed connection is
    reported and leaves gdb usable (tlp-connect retries)."""
    if os.environ.get("TLPSTUB", "").lower() == "none" or connected():
        return
    # gdb retries a refused connection for `tcp connect-timeout` (15 s): too long to wait
    # at startup for a stub that is not there; tlp-connect uses the user's setting.
    timeout = gdb.parameter("tcp connect-timeout")
    gdb.execute("set tcp connect-timeout 3")
    try:
        connect()
    except gdb.error as e:
        print(f"tlpstub: not connected ({e}); use tlp-connect HOST:PORT "
              f"(or set TLPSTUB=HOST:PORT before starting gdb, TLPSTUB=none to skip this)")
    finally:
        gdb.execute(f"set tcp connect-timeout {'unlimited' if timeout is None else timeout}")
