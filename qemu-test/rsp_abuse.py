#!/usr/bin/env python3
"""rsp_abuse.py PORT: throw garbage at a gdb stub, report what it answered.

Sends, each on a fresh connection: 100,000 random bytes; malformed packets
(bad hex, 100 KB payload, wrong checksums, empty, stray acks, lone 0x03, an
unterminated packet); then, on one connection, a malformed packet followed
by a well-formed `?` to see whether the session keeps parsing.
Exit 0 unless the stub stops accepting connections. Standard library only.
"""
import os
import socket
import sys
import time


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF)


def drain(s, wait=0.5, limit=1 << 20):
    s.settimeout(wait)
    got = b""
    try:
        while len(got) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (socket.timeout, OSError):
        pass
    return got


def connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def one(port, name, data, wait=0.5):
    try:
        s = connect(port)
    except OSError as e:
        print(f"{name}: CONNECT FAILED: {e}")
        return False
    try:
        s.sendall(data)
    except OSError as e:
        print(f"{name}: send stopped: {e}")
    got = drain(s, wait)
    s.close()
    shown = got[:80]
    print(f"{name}: sent {len(data)} bytes, got {len(got)}: {shown!r}{'...' if len(got) > 80 else ''}")
    return True


def main():
    port = int(sys.argv[1])
    ok = True
    ok &= one(port, "random-100000", os.urandom(100000), wait=1.0)
    cases = [
        ("m-bad-hex-bad-cs", b"$m zz#00"),
        ("m-bad-hex", frame(b"m zz")),
        ("m-no-len", frame(b"mffffffff81000000")),
        ("m-huge-len", frame(b"mffffffff81000000,ffffffffffffffff")),
        ("m-overflow-addr", frame(b"m" + b"f" * 40 + b",10")),
        ("100KB-a-bad-cs", b"$" + b"a" * 100000 + b"#00"),
        ("100KB-a", frame(b"a" * 100000)),
        ("qSupported-bad-cs", b"$qSupported#00"),
        ("cs-not-hex", b"$qSupported#zz"),
        ("empty", frame(b"")),
        ("acks", b"+-+-+--"),
        ("interrupt", b"\x03"),
        ("unterminated", b"$m ffffffff81000000,10"),
        ("escape-at-end", b"$m}#00"),
        ("rle-at-start", frame(b"*" + b"a")),
        ("qRcmd-bad-hex", frame(b"qRcmd,zz")),
        ("qXfer-garbage", frame(b"qXfer:features:read:target.xml:zz,zz")),
        ("Z0", frame(b"Z0,ffffffff81000000,1")),
        ("M-write", frame(b"Mffffffff81000000,1:00")),
        ("X-write", frame(b"Xffffffff81000000,1:\x00")),
        ("vCont", frame(b"vCont;c")),
        ("H-garbage", frame(b"Hgzz")),
        ("T-garbage", frame(b"Tzz")),
        ("p-garbage", frame(b"pzz")),
    ]
    for name, data in cases:
        ok &= one(port, name, data)
    # Same connection: garbage then a good packet. A robust stub answers `?`.
    try:
        s = connect(port)
        s.sendall(b"$m zz#00" + frame(b"m zz") + b"\x00\xff garbage " + frame(b"?"))
        got = drain(s, 1.0)
        s.close()
        verdict = "answered" if b"$T" in got or b"$S" in got else "did NOT answer"
        print(f"garbage-then-?: {verdict} the `?` after garbage on one connection: {got[:120]!r}")
    except OSError as e:
        print(f"garbage-then-?: {e}")
    # Many connections opened and dropped at once.
    socks = []
    for _ in range(32):
        try:
            socks.append(connect(port))
        except OSError as e:
            print(f"burst: connect failed: {e}")
            ok = False
            break
    for s in socks:
        s.close()
    time.sleep(0.2)
    try:
        connect(port).close()
    except OSError as e:
        print(f"final connect failed: {e}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
