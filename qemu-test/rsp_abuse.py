#!/usr/bin/env python3
"""rsp_abuse.py [--addr HEX] [--packet-size N] PORT: malformed RSP against tlpstub, each reply checked.

Each case runs on a fresh connection (ack mode, nothing sent before) and states the exact reply
tlpstub owes it, from stub/session.cpp and stub/handlers/*.cpp (tests/stub/*_test.cpp check the
same at unit level):
  bad checksum, a non-hex checksum, '}' before '#'   -> '-' and nothing else
  a packet that parses but has bad arguments          -> '+' then E01 (malformed)
  an unknown packet, an empty one, Z (breakpoints)    -> '+' then the empty reply
  M / X (writes)                                      -> '+' then E1e (read-only)
  c / vCont (resume)                                  -> '+', O text "tlpstub: target is read-only,
                                                         execution control ...", then T00
  0x03                                                -> T02 (no ack: it is not a packet)
  stray '+'/'-' before any reply, an unterminated packet -> silence
  a packet longer than PacketSize                     -> '+' then E01
Then: garbage followed by `?` on one connection (the session resynchronizes), a '-' after a
reply in ack mode (the reply is sent again), no-ack mode (no '+', a bad checksum is dropped
silently), 100,000 random bytes (every reply must be a well-formed frame), 32 connections
opened and dropped at once, and a final `?`.
--addr: a readable kernel address; with it, `m ADDR,ffffffffffffffff` must return exactly
PacketSize/2 bytes. Exit 0 only if every check passed.
Standard library only.
"""
import argparse
import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks  # noqa: E402

NO_EXEC = b"tlpstub: target is read-only, execution control is not available\n"
SILENCE = 0.5  # seconds without a byte that count as "nothing more is coming"


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % (sum(payload) & 0xFF)


def tokens(data: bytes):
    """Splits what the stub sent into '+', '-' and ('$', payload) for frames with a valid
    checksum; anything else is returned as ('?', bytes) so that a check fails on it."""
    out, i = [], 0
    while i < len(data):
        c = data[i:i + 1]
        if c in (b"+", b"-"):
            out.append(c.decode())
            i += 1
        elif c == b"$":
            end = data.find(b"#", i)
            if end < 0 or end + 3 > len(data):
                out.append(("?", data[i:]))
                break
            body, cs = data[i + 1:end], data[end + 1:end + 3]
            ok = cs == b"%02x" % (sum(body) & 0xFF)
            out.append(("$", expand(body)) if ok else ("?", data[i:end + 3]))
            i = end + 3
        else:
            out.append(("?", data[i:]))
            break
    return out


def expand(body: bytes) -> bytes:
    """Undoes run-length encoding ("X*n": n - 29 more X) and '}' escapes, in gdb's order."""
    rle = bytearray()
    i = 0
    while i < len(body):
        if body[i:i + 1] == b"*" and rle and i + 1 < len(body):
            rle += rle[-1:] * (body[i + 1] - 29)
            i += 2
        else:
            rle.append(body[i])
            i += 1
    out, esc = bytearray(), False
    for b in rle:
        if esc:
            out.append(b ^ 0x20)
            esc = False
        elif b == ord("}"):
            esc = True
        else:
            out.append(b)
    return bytes(out)


def receive(s, want_tokens, wait=SILENCE):
    """Reads until WANT_TOKENS complete tokens arrived (or 5 s), then until SILENCE passes."""
    got, deadline = b"", time.monotonic() + 5
    while True:
        have = len([t for t in tokens(got) if t[0] != "?"])
        left = deadline - time.monotonic() if have < want_tokens else wait
        if left <= 0:
            return got
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except (socket.timeout, OSError):
            return got
        if not chunk:
            return got
        got += chunk


class Abuse:
    def __init__(self, port, checks):
        self.port, self.c = port, checks

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def exchange(self, data, want_tokens, s=None):
        own = s is None
        s = s or self.connect()
        try:
            s.sendall(data)
        except OSError as e:
            return [("?", f"send failed: {e}".encode())]
        got = receive(s, want_tokens)
        if own:
            s.close()
        return tokens(got)

    def expect(self, name, data, want, s=None):
        """WANT: the exact token list; a payload given as re.Pattern must fullmatch."""
        got = self.exchange(data, len(want), s)
        ok = len(got) == len(want) and all(match(g, w) for g, w in zip(got, want))
        self.c.check(ok, f"{name}: {show(want)}", f"got {show(got)}")
        return got


def match(got, want):
    if isinstance(want, str):
        return got == want
    if got[0] != "$":
        return False
    w = want[1]
    return bool(w.fullmatch(got[1])) if isinstance(w, re.Pattern) else got[1] == w


def show(toks):
    parts = []
    for t in toks:
        if isinstance(t, str):
            parts.append(t)
        else:
            p = t[1].pattern if isinstance(t[1], re.Pattern) else t[1]
            text = repr(p[:60])[2:-1] + ("..." if len(p) > 60 else "")
            parts.append(("$" if t[0] == "$" else "GARBAGE ") + text)
    return " ".join(parts) if parts else "(silence)"


def P(payload):
    return ("$", payload)


E01, E1E, EMPTY = P(b"E01"), P(b"E1e"), P(b"")


def stop(sig):
    return P(re.compile(b"T%02xthread:[0-9a-f]+;" % sig))


def output_of(text):
    return P(b"O" + text.hex().encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--addr", type=lambda v: int(v, 0), help="a readable kernel address")
    ap.add_argument("--packet-size", type=lambda v: int(v, 0), default=0x20000,
                    help="the PacketSize tlpstub runs with (its --packet-size, default 0x20000)")
    args = ap.parse_args()
    c = Checks()
    a = Abuse(args.port, c)
    size = args.packet_size

    a.expect("qSupported", frame(b"qSupported:multiprocess+"),
             ["+", P(re.compile(rb"PacketSize=%x;.*QStartNoAckMode\+(;qXfer:exec-file:read\+)?" % size))])
    # Checksums: a NAK asks gdb to send the packet again; nothing is executed.
    a.expect("m, bad hex and bad checksum", b"$m zz#00", ["-"])
    a.expect("checksum not hex", b"$qSupported#zz", ["-"])
    a.expect("qSupported, bad checksum", b"$qSupported#00", ["-"])
    a.expect("'}' escapes the '#'", b"$m}#00", ["-"])
    # Longer than PacketSize: accepted and refused without looking at the checksum.
    big = ["+", E01] if 100000 > size else None
    a.expect("100,000 bytes, bad checksum", b"$" + b"a" * 100000 + b"#00", big or ["-"])
    # Packets that parse but whose arguments do not.
    for name, pkt in [("m without ,", b"mffffffff81000000"), ("m bad hex", b"m zz"),
                      ("m 160-bit address", b"m" + b"f" * 40 + b",10"),
                      ("qRcmd bad hex", b"qRcmd,zz"),
                      ("qXfer bad offsets", b"qXfer:features:read:target.xml:zz,zz"),
                      ("H bad thread", b"Hgzz"), ("T bad thread", b"Tzz"),
                      ("p bad register", b"pzz")]:
        a.expect(name, frame(pkt), ["+", E01])
    a.expect("qXfer unknown annex", frame(b"qXfer:features:read:nosuch.xml:0,10"),
             ["+", P(b"E02")])
    # Unknown or unsupported: the empty reply.
    for name, pkt in [("empty packet", b""), ("RLE at start", b"*a"),
                      ("Z0 breakpoint", b"Z0,ffffffff81000000,1")]:
        a.expect(name, frame(pkt), ["+", EMPTY])
    a.expect("unknown 100,000-byte packet", frame(b"a" * 100000), big or ["+", EMPTY])
    a.expect(f"packet over PacketSize {size:#x}", frame(b"a" * (size + 1)), ["+", E01])
    # The target is read-only.
    a.expect("M write", frame(b"Mffffffff81000000,1:00"), ["+", E1E])
    a.expect("X write", frame(b"Xffffffff81000000,1:\x00"), ["+", E1E])
    for name, pkt in [("vCont;c", b"vCont;c"), ("c", b"c"), ("s", b"s")]:
        a.expect(name, frame(pkt), ["+", output_of(NO_EXEC), stop(0)])
    # Outside packets.
    a.expect("interrupt", b"\x03", [stop(2)])
    a.expect("stray acks", b"+-+-+--", [])
    a.expect("unterminated packet", b"$m ffffffff81000000,10", [])
    if args.addr is not None:
        # The length is cut to what fits the packet (two hex digits a byte).
        got = a.exchange(frame(b"m%x,ffffffffffffffff" % args.addr), 2)
        n = len(got[1][1]) if len(got) == 2 and got[1][0] == "$" else -1
        c.check(got[:1] == ["+"] and n == size // 2 * 2 and len(got) == 2,
                f"m {args.addr:#x},ffffffffffffffff: {size // 2:#x} bytes as hex",
                f"got {show(got)} ({n} hex digits)")

    # Garbage, then a good packet on the same connection: the session resynchronizes.
    a.expect("garbage then ?", b"$m zz#00" + frame(b"m zz") + b"\x00\xff garbage " + frame(b"?"),
             ["-", "+", E01, "+", stop(5)])
    # Ack mode: '-' after a reply asks for it again.
    s = a.connect()
    first = a.expect("? in ack mode", frame(b"?"), ["+", stop(5)], s)
    if len(first) == 2:
        a.expect("'-' resends the last reply (ack mode)", b"-", [first[1]], s)
    s.close()
    # No-ack mode: no '+', and a bad checksum is dropped (there is no resend to ask for).
    s = a.connect()
    a.expect("QStartNoAckMode", frame(b"QStartNoAckMode"), ["+", P(b"OK")], s)
    a.expect("? without acks", frame(b"?"), [stop(5)], s)
    a.expect("bad checksum without acks", b"$qSupported#00", [], s)
    a.expect("m bad hex without acks", frame(b"m zz"), [E01], s)
    s.close()

    # Random bytes: whatever they happen to form, every reply is a well-formed frame or ack.
    s = a.connect()
    try:
        s.sendall(os.urandom(100000))
    except OSError:
        pass  # random bytes may hold a 'D' or 'k' packet: the stub closes the connection
    got = tokens(receive(s, 0, wait=1.0))
    s.close()
    bad = [t for t in got if t[0] == "?"]
    c.check(not bad, f"100,000 random bytes: {len(got)} replies, all well-formed",
            f"malformed: {show(bad[:3])}")

    # Many connections opened and dropped at once, then a normal exchange.
    socks = []
    try:
        for _ in range(32):
            socks.append(a.connect())
    except OSError as e:
        c.check(False, "32 connections at once", str(e))
    for s in socks:
        s.close()
    time.sleep(0.2)
    a.expect("? after all of the above", frame(b"?"), ["+", stop(5)])
    return c.summary()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print(f"FAIL: connection: {e}")
        sys.exit(1)
