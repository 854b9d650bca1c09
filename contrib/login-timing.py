#!/usr/bin/env python3
"""Time SOCKS5 logins (RFC 1929) against a --require-auth i2psocks.

Each login is a new TCP connection: greeting (method 02), username/password, the
server's answer, close; no request follows, so no router is needed beyond the proxy's
start. Usage:

    contrib/login-timing.py PORT COUNT AT_ONCE [USER PASSWORD]

(default login alice / wonderland, which must be in the proxy's users file). Prints the
wall time and the p50/p95/max of the single logins. RELIABILITY.md, "Logins: verified
logins are remembered", has the figures and the commands around it.
"""
import concurrent.futures as cf
import socket
import sys
import time
port, n, par = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
user = sys.argv[4].encode() if len(sys.argv) > 4 else b"alice"
pw = sys.argv[5].encode() if len(sys.argv) > 5 else b"wonderland"


def login(_):
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"\x05\x01\x02")
        assert s.recv(2) == b"\x05\x02", "method 02 not chosen"
        s.sendall(bytes([1, len(user)]) + user + bytes([len(pw)]) + pw)
        answer = s.recv(2)
    assert answer == b"\x01\x00", "login refused: %r" % answer
    return time.monotonic() - t


t0 = time.monotonic()
with cf.ThreadPoolExecutor(par) as ex:
    ts = sorted(ex.map(login, range(n)))
wall = time.monotonic() - t0
print("logins=%d at-once=%d wall=%.2fs p50=%.2fms p95=%.2fms max=%.2fms" % (n, par, wall, ts[n//2]*1e3, ts[int(n*0.95)]*1e3, ts[-1]*1e3))
