#!/usr/bin/env python3
"""Helpers for testbed.sh (python3 standard library only).

Subcommands:
  dest KEYSFILE            print "<b64> <b32>" of the Destination stored in an i2pd keys file
  ri-name ROUTERINFO       print "r<C>/routerInfo-<B64>.dat", the netDb path i2pd uses for it
  echo-server --port P     threaded, byte-exact TCP echo server on 127.0.0.1:P
  udp-echo-server --port P UDP echo server on 127.0.0.1:P (each datagram back to its sender)
  http-server --port P --directory D
                           threaded static HTTP server on 127.0.0.1:P (listen backlog 128);
                           GET /whoami answers with the request's X-I2P-DestB32 header
                           (the client's destination, added by i2pd's http server tunnel)
                           a POST to any path is an upload sink answering "<sha256> <length>"
  socks-echo-check ...     send random bytes through a SOCKS5 proxy to an echo service,
                           check they come back exactly (exit 0) or fail (exit 1)
  tcp-rtt --src A --dst B  TCP round trips from address A to B (connect() and 1-byte
                           ping-pong), printed as one line of milliseconds
  console-hops --port P --peer NAME=B64 ...
                           the hops of every client tunnel of every local destination on
                           the i2pd web console at 127.0.0.1:P, as router names; exit 1
                           if the console cannot be read

Facts used (docs/keys-file.md "Layout" and "Addresses"): a Destination / RouterIdentity is
the first 387 + certlen bytes (256-byte public key, 128-byte signing key, certificate type
(1 byte) and length (2 bytes, big endian) at offset 384). I2P base64 is standard base64 with the alphabet '-~' instead of
'+/'. A b32 address is the lowercase, unpadded base32 of the SHA-256 of the Destination.
"""

import argparse
import base64
import re
import urllib.request
import functools
import hashlib
import http.server
import os
import socket
import socketserver
import sys
import threading
import time

IDENTITY_FIXED_LEN = 387  # 256 + 128 + 3 (certificate header)
CERT_LEN_OFFSET = 385


def identity_bytes(blob):
    """The RouterIdentity/Destination prefix of an i2pd keys file or router.info."""
    if len(blob) < IDENTITY_FIXED_LEN:
        raise ValueError("too short for an identity: %d bytes" % len(blob))
    cert_len = int.from_bytes(blob[CERT_LEN_OFFSET:CERT_LEN_OFFSET + 2], "big")
    end = IDENTITY_FIXED_LEN + cert_len
    if len(blob) < end:
        raise ValueError("truncated certificate: need %d bytes, have %d" % (end, len(blob)))
    return blob[:end]


def i2p_b64(data):
    return base64.b64encode(data, altchars=b"-~").decode("ascii")


def b32_of(ident):
    digest = hashlib.sha256(ident).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def cmd_dest(args):
    ident = identity_bytes(read_file(args.keys))
    print(i2p_b64(ident), b32_of(ident))


def cmd_ri_name(args):
    ident = identity_bytes(read_file(args.routerinfo))
    ident_b64 = i2p_b64(hashlib.sha256(ident).digest())
    print("r%s/routerInfo-%s.dat" % (ident_b64[0], ident_b64))


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                sock.sendall(chunk)
            # Peer finished sending: pass the half-close on so it sees EOF after its echo.
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ThreadedEchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def cmd_echo_server(args):
    server = ThreadedEchoServer((args.address, args.port), EchoHandler)
    print("echo server on %s:%d" % (args.address, args.port), flush=True)
    server.serve_forever()


def cmd_udp_echo_server(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Room for bursts: i2pd's udpserver forwards a batch of datagrams at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((args.address, args.port))
    print("UDP echo server on %s:%d" % (args.address, args.port), flush=True)
    while True:
        data, peer = sock.recvfrom(65536)
        try:
            sock.sendto(data, peer)
        except OSError as e:
            print("udp echo to %s: %s" % (peer, e), file=sys.stderr, flush=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        # /whoami: the client's destination as i2pd's http server tunnel reports it
        # (X-I2P-DestB32), so tests can tell which destination a request came from.
        if self.path.split("?")[0] == "/whoami":
            body = ("%s\n" % self.headers.get("X-I2P-DestB32", "none")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        # One line per request on stderr (the service log), without reverse DNS.
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def do_POST(self):
        # Upload sink (any path): reads Content-Length bytes, answers "<sha256> <length>".
        try:
            left = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.send_error(411)
            return
        digest = hashlib.sha256()
        total = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
            left -= len(chunk)
        body = ("%s %d\n" % (digest.hexdigest(), total)).encode("ascii")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class BacklogHTTPServer(http.server.ThreadingHTTPServer):
    # `python3 -m http.server` listens with a backlog of 5: a burst of concurrent requests
    # from i2pd's http tunnel would then wait for SYN retransmits (about 1 s).
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True


def cmd_http_server(args):
    handler = functools.partial(QuietHandler, directory=args.directory)
    server = BacklogHTTPServer((args.address, args.port), handler)
    print("http server on %s:%d serving %s" % (args.address, args.port, args.directory), flush=True)
    server.serve_forever()


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(65536, n - len(buf)))
        if not chunk:
            raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def socks5_connect(proxy_port, host, port, timeout):
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout)
    sock.settimeout(timeout)
    sock.sendall(b"\x05\x01\x00")
    if recv_exact(sock, 2) != b"\x05\x00":
        raise ConnectionError("SOCKS greeting refused")
    name = host.encode("ascii")
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    head = recv_exact(sock, 4)
    if head[1] != 0:
        raise ConnectionError("SOCKS CONNECT failed: reply %d" % head[1])
    atyp = head[3]
    if atyp == 1:
        recv_exact(sock, 4 + 2)
    elif atyp == 4:
        recv_exact(sock, 16 + 2)
    elif atyp == 3:
        recv_exact(sock, recv_exact(sock, 1)[0] + 2)
    else:
        raise ConnectionError("bad ATYP %d in reply" % atyp)
    return sock


def cmd_socks_echo_check(args):
    payload = os.urandom(args.size)
    start = time.monotonic()
    try:
        sock = socks5_connect(args.socks_port, args.host, args.port, args.timeout)
        errors = []

        def writer():
            try:
                sock.sendall(payload)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        got = recv_exact(sock, len(payload))
        t.join(args.timeout)
        sock.close()
    except (OSError, ConnectionError) as e:
        print("echo check failed: %s" % e, file=sys.stderr)
        return 1
    if errors:
        print("echo check failed while sending: %s" % errors[0], file=sys.stderr)
        return 1
    if got != payload:
        print("echo check failed: bytes differ", file=sys.stderr)
        return 1
    print("echo ok: %d bytes in %.3f s" % (len(payload), time.monotonic() - start))
    return 0


def cmd_tcp_rtt(args):
    srv = socket.socket()
    srv.bind((args.dst, 0))
    srv.listen(args.count + 1)
    port = srv.getsockname()[1]
    srv.settimeout(args.timeout)

    def pong():
        conns = []
        try:
            while True:
                c, _ = srv.accept()
                conns.append(c)
                c.settimeout(args.timeout)
                while True:
                    b = c.recv(1)
                    if not b:
                        break
                    c.sendall(b)
        except OSError:
            pass
        finally:
            for c in conns:
                c.close()

    threading.Thread(target=pong, daemon=True).start()
    connects = []
    for _ in range(3):
        s = socket.socket()
        s.bind((args.src, 0))
        s.settimeout(args.timeout)
        t = time.monotonic()
        s.connect((args.dst, port))
        connects.append((time.monotonic() - t) * 1000)
        s.close()
    # The server thread serves connections one by one; the throwaway ones above closed.
    s = socket.socket()
    s.bind((args.src, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(args.timeout)
    s.connect((args.dst, port))
    rtts = []
    for _ in range(args.count):
        t = time.monotonic()
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise OSError("ping-pong lost its byte")
        rtts.append((time.monotonic() - t) * 1000)
    s.close()
    srv.close()
    rtts.sort()
    print("tcp rtt %s -> %s: n=%d min %.1f median %.1f max %.1f ms; connect median %.1f ms"
          % (args.src, args.dst, len(rtts), rtts[0], rtts[len(rtts) // 2], rtts[-1],
             sorted(connects)[1]))
    return 0


# i2pd 2.59's console (daemon/HTTPServer.cpp) links each local destination as
# "?page=local_destination&b32=..." and shows each tunnel as one line of hops, each hop as
# "&#8658; XXXX" with the first 4 characters of the router's base64 ident hash.
DEST_LINK = re.compile(r"page=local_destination&b32=([a-z2-7]{52})")
TUNNEL_LINE = re.compile(r'<div class="listitem">(.*?established.*)')
HOP = re.compile(r"&#8658; ([A-Za-z0-9~-]{4})<small")


def console_page(port, query):
    with urllib.request.urlopen("http://127.0.0.1:%d/?%s" % (port, query), timeout=10) as r:
        return r.read().decode("utf-8", "replace")


def tunnel_hops(page):
    """[(direction, [4-char hop prefixes])] of the established tunnels on a destination page."""
    out = []
    direction = None
    for line in page.splitlines():
        if "Inbound tunnels:" in line:
            direction = "in"
        elif "Outbound tunnels:" in line:
            direction = "out"
        m = TUNNEL_LINE.search(line)
        if m and direction:
            out.append((direction, HOP.findall(m.group(1))))
    return out


def cmd_console_hops(args):
    names = {}
    for peer in args.peer:
        name, _, b64 = peer.partition("=")
        names[b64[:4]] = name
    total = three = distinct = 0
    for b32 in sorted(set(DEST_LINK.findall(console_page(args.port, "page=local_destinations")))):
        for direction, hops in tunnel_hops(console_page(args.port, "page=local_destination&b32=" + b32)):
            routers = [names.get(h, h) for h in hops]
            total += 1
            three += len(hops) == args.hops
            distinct += len(set(routers)) == len(routers)
            print("%s %s %-3s %s" % (args.label, b32[:8], direction, " ".join(routers) or "(zero hops)"))
    print("%s: %d client tunnels, %d of %d hops, %d with distinct hops" % (
        args.label, total, three, args.hops, distinct))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    d = sub.add_parser("dest")
    d.add_argument("keys")
    d.set_defaults(func=cmd_dest)

    r = sub.add_parser("ri-name")
    r.add_argument("routerinfo")
    r.set_defaults(func=cmd_ri_name)

    e = sub.add_parser("echo-server")
    e.add_argument("--address", default="127.0.0.1")
    e.add_argument("--port", type=int, required=True)
    # --tag is ignored: it puts the testbed's state dir into the command line so that
    # testbed.sh can tell its own processes from unrelated ones with a reused PID.
    e.add_argument("--tag", default="")
    e.set_defaults(func=cmd_echo_server)

    u = sub.add_parser("udp-echo-server")
    u.add_argument("--address", default="127.0.0.1")
    u.add_argument("--port", type=int, required=True)
    u.add_argument("--tag", default="")  # see echo-server
    u.set_defaults(func=cmd_udp_echo_server)

    h = sub.add_parser("http-server")
    h.add_argument("--address", default="127.0.0.1")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--directory", required=True)
    h.set_defaults(func=cmd_http_server)

    c = sub.add_parser("socks-echo-check")
    c.add_argument("--socks-port", type=int, required=True)
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, default=80)
    c.add_argument("--size", type=int, default=1024)
    c.add_argument("--timeout", type=float, default=10.0)
    c.set_defaults(func=cmd_socks_echo_check)

    t = sub.add_parser("tcp-rtt")
    t.add_argument("--src", required=True)
    t.add_argument("--dst", required=True)
    t.add_argument("--count", type=int, default=20)
    t.add_argument("--timeout", type=float, default=10.0)
    t.set_defaults(func=cmd_tcp_rtt)

    h = sub.add_parser("console-hops")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--label", default="")
    h.add_argument("--hops", type=int, default=3)
    h.add_argument("--peer", action="append", default=[], help="NAME=B64 of a router's ident hash")
    h.set_defaults(func=cmd_console_hops)

    args = p.parse_args()
    try:
        rc = args.func(args)
    except (OSError, ValueError) as e:
        print("tbutil %s: %s" % (args.cmd, e), file=sys.stderr)
        return 1
    return rc or 0


if __name__ == "__main__":
    sys.exit(main())
