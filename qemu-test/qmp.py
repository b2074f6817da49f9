#!/usr/bin/env python3
"""qmp.py SOCKET HMP-COMMAND...

Runs each HMP command (e.g. "info registers", "gva2gpa 0xffff...", "stop",
"cont") through QEMU's QMP socket (`human-monitor-command`) and prints its
text output. QMP gives clean output framed in JSON, unlike the raw HMP
socket, which echoes input with terminal escapes. Standard library only.
Exit status 1 if QEMU reports an error.
"""
import json
import socket
import sys


class Qmp:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self._recv()  # greeting
        self.execute("qmp_capabilities")

    def _recv(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                if line.strip():
                    return json.loads(line)
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("QMP socket closed")
            self.buf += chunk

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError(r["error"].get("desc", str(r["error"])))
            return r.get("return")

    def hmp(self, line):
        return self.execute("human-monitor-command", **{"command-line": line})


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        q = Qmp(sys.argv[1])
        for line in sys.argv[2:]:
            sys.stdout.write(q.hmp(line))
    except (OSError, RuntimeError, ValueError) as e:
        print(f"qmp.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
