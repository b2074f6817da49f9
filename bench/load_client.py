# One of load_bench.sh's gdb clients (runs inside stock gdb attached to tlpstub). For DURATION
# seconds it takes turns: a random physical read checked against the guest's RAM file (the
# guest is paused, so the file is the truth), `monitor ps`, `monitor bt all`, each monitor reply
# compared with the reference taken before the load. Writes one line of counts to OUT, and
# the first mismatch of each kind to OUT.diff-*.
# Environment: RAM, MAP (tlpsim's --map: PHYS:OFF:LEN,...), DURATION, REF_PS, REF_BT, OUT,
# SEED.
import os
import random
import time

import gdb


def parse_size(s):
    mul = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mul > 1 else s, 0) * mul


def main():
    ram = open(os.environ["RAM"], "rb")
    spans = []  # (phys, file offset, length)
    for part in os.environ["MAP"].split(","):
        p, o, n = part.split(":")
        spans.append((parse_size(p), parse_size(o), parse_size(n)))
    ref = {"ps": open(os.environ["REF_PS"]).read(), "bt all": open(os.environ["REF_BT"]).read()}
    out = os.environ["OUT"]
    rng = random.Random(int(os.environ["SEED"]))
    n = {k: 0 for k in ["read_ok", "read_err", "read_wrong", "ps_ok", "ps_diff", "bt_ok",
                        "bt_diff", "monitor_err"]}
    gdb.execute("monitor phys on", to_string=True)
    inf = gdb.selected_inferior()
    end = time.monotonic() + float(os.environ["DURATION"])
    turn = 0
    while time.monotonic() < end:
        turn += 1
        if turn % 3 == 1:
            phys, off, length = rng.choice(spans)
            size = rng.randint(1, 16384)
            at = rng.randrange(0, length - size)
            try:
                got = bytes(inf.read_memory(phys + at, size))
            except gdb.MemoryError:
                n["read_err"] += 1
                continue
            ram.seek(off + at)
            if got == ram.read(size):
                n["read_ok"] += 1
            else:
                n["read_wrong"] += 1
                with open(out + ".diff-read", "w") as f:
                    f.write(f"phys {phys + at:#x} size {size}\n")
            continue
        cmd = "ps" if turn % 3 == 2 else "bt all"
        key = "ps" if cmd == "ps" else "bt"
        try:
            text = gdb.execute("monitor " + cmd, to_string=True)
        except gdb.error as e:
            n["monitor_err"] += 1
            with open(out + ".diff-monitor", "w") as f:
                f.write(f"{cmd}: {e}\n")
            continue
        if text == ref[cmd]:
            n[key + "_ok"] += 1
        else:
            n[key + "_diff"] += 1
            with open(out + ".diff-" + key, "w") as f:
                f.write(text)
    with open(out, "w") as f:
        f.write(" ".join(f"{k}={v}" for k, v in n.items()) + "\n")


main()
