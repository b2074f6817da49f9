# Runs inside stock gdb attached to tlpstub --nettlp (faulty_link_gdb_test.sh). One gdb session
# reads random physical ranges for the whole run while the adapter (tlpsim) misbehaves on a
# schedule; every read is compared with the RAM file itself (the ground truth, not tlpstub).
#   0 s    lossy link: 5 % loss, reordering, duplicates, a 200 ms stall every second
#   3 s    adapter hangs (SIGSTOP: sockets open, requests queue up unanswered)
#   5.5 s  adapter resumes (SIGCONT: it answers the queued, long-abandoned requests)
#   7.5 s  adapter process ends (SIGTERM: its ports close)
#   9.5 s  a new adapter process starts (state reset: frame counter and clock from zero)
#   13 s   end; from 11.5 s on reads are back to the lossy link's error rate (<= 2 %)
# Environment: IMG (the RAM file), SIM_PID, SIM_CMD (argv, separated by \x01), SIM2_PIDFILE,
# SIM2_LOG, RESULT (where the verdict goes).
import os
import random
import signal
import subprocess
import time

import gdb

SCHEDULE = [(3.0, "hang"), (5.5, "resume"), (7.5, "kill"), (9.5, "restart")]
END = 13.0
SETTLED = 11.5  # from here every read must succeed: the adapter has been back for 2 s


def main():
    img = open(os.environ["IMG"], "rb").read()
    sim_pid = int(os.environ["SIM_PID"])
    sim_cmd = [a for a in os.environ["SIM_CMD"].split("\x01") if a]
    gdb.execute("monitor phys on", to_string=True)
    inf = gdb.selected_inferior()
    rng = random.Random(12)
    events = []  # (time, phase, verdict)
    phase = "lossy"
    todo = list(SCHEDULE)
    t0 = time.monotonic()
    while True:
        now = time.monotonic() - t0
        if now >= END:
            break
        while todo and now >= todo[0][0]:
            _, phase = todo.pop(0)
            if phase == "hang":
                os.kill(sim_pid, signal.SIGSTOP)
            elif phase == "resume":
                os.kill(sim_pid, signal.SIGCONT)
            elif phase == "kill":
                os.kill(sim_pid, signal.SIGTERM)
            elif phase == "restart":
                log = open(os.environ["SIM2_LOG"], "w")
                p = subprocess.Popen(sim_cmd, stdout=log, stderr=subprocess.STDOUT)
                with open(os.environ["SIM2_PIDFILE"], "w") as f:
                    f.write(str(p.pid))
        n = rng.randint(1, 8192)
        a = rng.randrange(0, len(img) - n)
        try:
            got = bytes(inf.read_memory(a, n))
            verdict = "ok" if got == img[a:a + n] else "WRONG"
        except gdb.MemoryError:
            verdict = "error"
        events.append((now, phase, verdict))
    # The session is still usable: a monitor command and a read, then the tally.
    stats = gdb.execute("monitor stats", to_string=True)
    last = bytes(inf.read_memory(0x1000, 64)) == img[0x1000:0x1040]
    lines = []
    for ph in ["lossy", "hang", "resume", "kill", "restart"]:
        v = [e[2] for e in events if e[1] == ph]
        lines.append(f"phase {ph}: {v.count('ok')} ok, {v.count('error')} error, "
                     f"{v.count('WRONG')} WRONG")
    wrong = sum(1 for e in events if e[2] == "WRONG")
    settled = [e for e in events if e[0] >= SETTLED]
    settled_bad = sum(1 for e in settled if e[2] != "ok")
    first_ok_after = {}
    for ph, start in [("resume", 5.5), ("restart", 9.5)]:
        oks = [e[0] for e in events if e[1] == ph and e[2] == "ok"]
        first_ok_after[ph] = (oks[0] - start) if oks else None
    lines.append(f"wrong {wrong}")
    # The new adapter has the same faulty link (5 % loss, stalls): a timeout now and then is
    # a clear error, as in the first phase; a run of them would mean no recovery.
    recovered = settled_bad <= max(2, len(settled) // 50)
    lines.append(f"settled reads {len(settled)}, not ok {settled_bad}, recovered {recovered}")
    lines.append(f"first ok after resume {first_ok_after['resume']}, "
                 f"after restart {first_ok_after['restart']}")
    lines.append(f"final read ok {last}")
    lines.append("stats: " + " | ".join(stats.strip().splitlines()[:3]))
    with open(os.environ["RESULT"], "w") as f:
        f.write("\n".join(lines) + "\n")


main()
