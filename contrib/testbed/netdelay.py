#!/usr/bin/env python3
"""netdelay.py: a userspace delay element on an NFQUEUE (python3 standard library only).

Used by `testbed.sh delay` where the kernel has no sch_netem: an nftables rule in the
testbed's netns sends router-to-router packets (198.18.0.0/24 -> 198.18.0.0/24) to queue
Q; this program holds each one for DELAY +- JITTER ms (uniform) and then gives the
verdict ACCEPT. Packets are never reordered within one
(source, destination) pair: a packet leaves no earlier than the one queued before it on
the same pair (a FIFO link whose one-way delay varies), so jitter shows up as RTT
variation, not as the packet reordering that would make TCP retransmit. With
--loss-percent P, each packet is dropped (verdict DROP, at once) with probability P/100,
independently of the others; without it none is.

Usage: netdelay.py --queue Q --delay-ms D --jitter-ms J [--loss-percent P] [--seed S]
                   [--ready-file F]
Runs until SIGTERM/SIGINT; writes F (if given) once bound, prints counts on exit.

Netlink facts used (linux/netfilter/nfnetlink_queue.h, nfnetlink.h, netlink.h):
  socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER=12); message type
  (NFNL_SUBSYS_QUEUE=3) << 8 | NFQNL_MSG_{PACKET=0, VERDICT=1, CONFIG=2}; after the
  16-byte nlmsghdr comes a 4-byte nfgenmsg (family u8, version u8 = 0, res_id be16 =
  queue number), then attributes (len u16, type u16, 4-byte aligned, values big endian).
  CONFIG attributes: CMD=1 {command u8 (BIND=1, UNBIND=2), pad u8, pf be16},
  PARAMS=2 {copy_range be32, copy_mode u8 (META=1, PACKET=2)}, QUEUE_MAXLEN=3 be32,
  MASK=4 be32, FLAGS=5 be32 (FAIL_OPEN=1, GSO=4). PACKET attributes: PACKET_HDR=1
  {packet_id be32, hw_protocol be16, hook u8}, PAYLOAD=10. VERDICT attribute:
  VERDICT_HDR=2 {verdict be32 (NF_DROP=0, NF_ACCEPT=1), id be32}.
"""

import argparse
import errno
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
MSG_PACKET = NFNL_SUBSYS_QUEUE << 8 | 0
MSG_VERDICT = NFNL_SUBSYS_QUEUE << 8 | 1
MSG_CONFIG = NFNL_SUBSYS_QUEUE << 8 | 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 2
NLMSG_DONE = 3
CFG_CMD, CFG_PARAMS, CFG_QUEUE_MAXLEN, CFG_MASK, CFG_FLAGS = 1, 2, 3, 4, 5
CMD_BIND, CMD_UNBIND = 1, 2
COPY_PACKET = 2
F_FAIL_OPEN, F_GSO = 1, 4
A_PACKET_HDR, A_PAYLOAD, A_VERDICT_HDR = 1, 10, 2
NF_DROP = 0
NF_ACCEPT = 1
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_RCVBUFFORCE = 33
# Enough IP header for the addresses (the rest of the packet is not needed).
COPY_RANGE = 20
MAXLEN = 100_000


def attr(kind, value):
    length = 4 + len(value)
    return struct.pack("=HH", length, kind) + value + b"\0" * (-length % 4)


def nfmsg(kind, seq, queue, attrs, flags=NLM_F_REQUEST):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def parse_attrs(data):
    out = {}
    pos = 0
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, pos)
        if length < 4:
            break
        out[kind & 0x7FFF] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return out


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        # Queued packets wait in the kernel; only their notifications pass this buffer.
        # A lost notification would leave a packet queued for good, so: a big buffer.
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
        self.sock.bind((0, 0))

    def request(self, attrs):
        self.seq += 1
        self.sock.send(nfmsg(MSG_CONFIG, self.seq, self.num, attrs, NLM_F_REQUEST | NLM_F_ACK))
        while True:
            data = self.sock.recv(65536)
            length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, 0)
            if kind == NLMSG_ERROR and seq == self.seq:
                code = struct.unpack_from("=i", data, 16)[0]
                if code != 0:
                    raise OSError(-code, "nfqueue config: " + os.strerror(-code))
                return

    def bind(self):
        self.request([attr(CFG_CMD, struct.pack("=BBH", CMD_BIND, 0, socket.htons(socket.AF_INET)))])
        self.request([attr(CFG_PARAMS, struct.pack(">IB", COPY_RANGE, COPY_PACKET) + b"\0\0\0")])
        self.request([attr(CFG_QUEUE_MAXLEN, struct.pack(">I", MAXLEN))])
        flags = struct.pack(">I", F_FAIL_OPEN | F_GSO)
        self.request([attr(CFG_FLAGS, flags), attr(CFG_MASK, flags)])

    def unbind(self):
        try:
            self.request([attr(CFG_CMD, struct.pack("=BBH", CMD_UNBIND, 0, 0))])
        except OSError:
            pass

    def packets(self):
        """(packet_id, flow key) of every packet notification that can be read now."""
        out = []
        while True:
            try:
                data = self.sock.recv(1 << 20, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    print("netdelay: notifications lost (ENOBUFS)", file=sys.stderr, flush=True)
                    continue
                raise
            pos = 0
            while pos + 16 <= len(data):
                length, kind, _, _, _ = struct.unpack_from("=IHHII", data, pos)
                if length < 16:
                    break
                if kind == MSG_PACKET:
                    attrs = parse_attrs(data[pos + 20:pos + length])
                    hdr = attrs.get(A_PACKET_HDR)
                    if hdr is not None:
                        pid = struct.unpack_from(">I", hdr, 0)[0]
                        payload = attrs.get(A_PAYLOAD, b"")
                        flow = payload[12:20] if len(payload) >= 20 else b""
                        out.append((pid, flow))
                pos += (length + 3) & ~3

    def accept(self, ids):
        self.verdict(ids, NF_ACCEPT)

    def drop(self, ids):
        self.verdict(ids, NF_DROP)

    def verdict(self, ids, verdict):
        msgs = []
        for pid in ids:
            self.seq += 1
            msgs.append(nfmsg(MSG_VERDICT, self.seq, self.num,
                              [attr(A_VERDICT_HDR, struct.pack(">II", verdict, pid))]))
        # Several messages per datagram: one syscall per batch.
        for i in range(0, len(msgs), 64):
            self.sock.send(b"".join(msgs[i:i + 64]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p.add_argument("--loss-percent", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--ready-file")
    args = p.parse_args()
    if args.jitter_ms > args.delay_ms:
        p.error("jitter must not exceed the delay")
    if not 0.0 <= args.loss_percent < 100.0:
        p.error("loss must be at least 0 and below 100 percent")
    loss = args.loss_percent / 100.0
    rng = random.Random(args.seed)
    delay = args.delay_ms / 1000.0
    jitter = args.jitter_ms / 1000.0

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    q = Queue(args.queue)
    q.bind()
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.ready_file + ".tmp", args.ready_file)
    print("netdelay: queue %d bound, delay %.1f +- %.1f ms%s" % (
        args.queue, args.delay_ms, args.jitter_ms, ", loss %g %%" % args.loss_percent if loss else ""), flush=True)

    heap = []  # (release time, order, packet id)
    last = {}  # flow -> release time of its latest packet (FIFO per flow)
    order = 0
    count = 0
    dropped = 0
    held_sum = 0.0
    poller = select.poll()
    poller.register(q.sock, select.POLLIN)
    while not stop:
        now = time.monotonic()
        timeout = -1 if not heap else max(0, int((heap[0][0] - now) * 1000) + 1)
        try:
            poller.poll(min(timeout, 1000) if timeout >= 0 else 1000)
        except InterruptedError:
            continue
        now = time.monotonic()
        lost = []
        for pid, flow in q.packets():
            # Only drawn with loss on, so the delays of a run without loss stay as before.
            if loss and rng.random() < loss:
                lost.append(pid)
                continue
            release = now + delay + rng.uniform(-jitter, jitter)
            release = max(release, last.get(flow, 0.0))
            last[flow] = release
            order += 1
            heapq.heappush(heap, (release, order, pid))
            held_sum += release - now
            count += 1
        if lost:
            q.drop(lost)
            dropped += len(lost)
        due = []
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            due.append(heapq.heappop(heap)[2])
        if due:
            q.accept(due)
    # Let what is still held go now, so nothing waits for a verdict that never comes.
    q.accept([h[2] for h in sorted(heap)])
    q.unbind()
    mean = held_sum / count * 1000 if count else 0.0
    print("netdelay: %d packets delayed, mean hold %.1f ms%s" % (
        count, mean, ", %d dropped" % dropped if loss else ""), flush=True)


if __name__ == "__main__":
    main()
