#!/usr/bin/env python3
"""Regenerate the committed seed corpus (fuzz/seeds/<target>/) from the test vectors.

Run from anywhere: python3 fuzz/seeds/make_seeds.py. The first byte of a SOCKS, I2CP,
payload or config seed is the target's selector byte (see each target's header comment).
"""
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
KEYS = (REPO / "tests/data/keys/i2pd-2.45.1-sig7-crypto0.dat").read_bytes()
DEST = KEYS[:391]  # 384 key bytes + certificate 05 0004 0007 0000


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def write(target, name, data):
    d = HERE / target
    d.mkdir(exist_ok=True)
    (d / name).write_bytes(data)


def i2p_string(s):
    b = s.encode()
    return bytes([len(b)]) + b


def mapping(pairs):
    body = b"".join(i2p_string(k) + b"=" + i2p_string(v) + b";" for k, v in pairs)
    return struct.pack(">H", len(body)) + body


def frame(kind, body):
    return struct.pack(">IB", len(body), kind) + body


# SOCKS: selector 0 = accept any auth, odd = user/pass required (user/pass).
socks = {
    "socks5-connect-domain": h("05 01 00") + h("05 01 00 03") + bytes([11]) + b"example.i2p" + h("0050"),
    "socks5-userpass": h("05 02 00 02") + h("01 04") + b"user" + h("04") + b"pass"
    + h("05 01 00 03 0b") + b"example.i2p" + h("01bb"),
    "socks5-ipv4": h("05 01 00 05 01 00 01 7f000001 1f90"),
    "socks5-ipv6": h("05 01 00 05 01 00 04") + bytes(15) + b"\x01" + h("0050"),
    "socks5-udp": h("05 01 00 05 03 00 01 00000000 0000"),
    "socks5-pipelined": h("05 01 00 05 01 00 03 07") + b"a.b.i2p" + h("0050") + b"GET / HTTP/1.0\r\n\r\n",
    "socks4-connect": h("04 01 0050 7f000001") + b"user\x00",
    "socks4a-host": h("04 01 0050 00000001") + b"\x00" + b"example.i2p\x00",
    "socks4-bind": h("04 02 1f90 0a000001 00"),
}
for name, data in socks.items():
    write("socks_request", name, b"\x00" + data)
write("socks_request", "socks5-userpass-required", b"\x01" + socks["socks5-userpass"])

# I2CP: selector even = client side (frames from the router), odd = router side (0x2a first).
i2cp_frames = [
    frame(33, h("0000018912345678") + i2p_string("0.9.62")),                  # SetDate
    frame(20, h("0001 01")),                                                  # SessionStatus
    frame(22, h("0001 00000007 01 00000400 0000002a")),                       # MessageStatus
    frame(23, bytes(range(64))),                                              # BandwidthLimits
    frame(37, h("0001 01") + bytes(32) + h("00000005 0000018912345678")),     # RequestVariableLeaseSet
    frame(31, h("0001 00000009 00000003 010203")),                            # MessagePayload
    frame(39, h("0001 00000009 00") + DEST),                                  # HostReply success
    frame(39, h("0001 0000000a 01")),                                         # HostReply failure
    frame(30, i2p_string("bye")),                                             # Disconnect
]
write("i2cp_message", "router-to-client", b"\x00" + b"".join(i2cp_frames))
client_frames = [
    frame(32, i2p_string("0.9.62") + mapping([("i2cp.username", "u"), ("i2cp.password", "p")])),
    frame(1, DEST + mapping([("inbound.length", "3"), ("outbound.length", "3")])
          + h("0000018912345678") + bytes(64)),                              # CreateSession
    frame(38, h("0001 00000005 00002710 01") + i2p_string("web.i2p")),        # HostLookup name
    frame(38, h("0001 00000006 00002710 00") + bytes(range(32))),             # HostLookup hash
    frame(5, h("0001") + DEST + h("00000003 616263 00000007")),               # SendMessage
    frame(8, b""),                                                            # GetBandwidthLimits
    frame(3, h("0001")),                                                      # DestroySession
]
write("i2cp_message", "client-to-router", b"\x01" + b"\x2a" + b"".join(client_frames))
for f in i2cp_frames + client_frames:
    write("i2cp_message", f"body-kind-{f[4]}", bytes([f[4]]) + f[5:])

# Streaming packets (docs/streaming.md "Flags and option order" layouts, as in
# src/streaming/packet.rs tests).
ack = h("d584c5da 3ede627c 00000000 00000000 00 00 0000 0000")
data = h("00000001 00000002 00000003 00000001 00 00 0000 0000") + b"hello"
nacks = h("00000001 00000002 00000000 00000005 02 00000001 00000003 00 00 0000")
choke = h("00000001 00000002 00000000 00000007 00 00 0040 0002 ea60")
syn_opts = h("0001") + DEST + h("0700") + bytes(64)  # delay, FROM, max packet size, signature
syn = (h("00000000 3ede627c 00000000 00000000 08") + bytes(range(32))
       + h("00") + struct.pack(">HH", 0x0001 | 0x0008 | 0x0020 | 0x0040 | 0x0080, len(syn_opts))
       + syn_opts + b"GET /")
close_opts = bytes(64)
close = (h("00000001 00000002 00000004 00000003 00 00") + struct.pack(">HH", 0x0002 | 0x0008, 64)
         + close_opts)
off_opts = DEST + h("5f000000 0007") + bytes(32) + bytes(64) + bytes(64)
offline = (h("00000001 00000002 00000000 00000000 00 00")
           + struct.pack(">HH", 0x0001 | 0x0008 | 0x0020 | 0x0800, len(off_opts)) + off_opts)
for name, p in [("ack", ack), ("data", data), ("nacks", nacks), ("choke", choke), ("syn", syn),
                ("close-signed", close), ("offline-signed", offline)]:
    write("streaming_packet", name, p)

# Keys files.
write("keys_file", "i2pd-2.45.1-sig7-crypto0", KEYS)
write("keys_file", "trailing-bytes", KEYS + b"\x00" * 16)
write("keys_file", "truncated", KEYS[:500])
write("keys_file", "empty", b"")

# Config files: selector bit 0 = i2psocks.conf (else i2pd.conf), bit 1 = --strict.
conf_dir = REPO / "tests/data/conf"
write("config_ini", "master-style", b"\x00" + (conf_dir / "master-style.conf").read_bytes())
write("config_ini", "master-style-strict", b"\x02" + (conf_dir / "master-style.conf").read_bytes())
write("config_ini", "i2psocks", b"\x01" + (conf_dir / "i2psocks.conf").read_bytes())
write("config_ini", "sections", b"\x00" + b"log = stdout # comment\n[socksproxy]\nport = 4447\n"
      b"keys = socks.dat\n\n[i2cp]\naddress = 127.0.0.1\nport = 7654\n[SOCKSProxy]\nx = 1\n")

# I2CP payloads: selector bit 0 = fix up CRC-32 and ISIZE; the seeds carry correct ones
# (selector 0) but for one. Layouts as in src/i2cp/payload.rs and its tests.
def stored_blocks(chunks):
    out = b""
    for i, c in enumerate(chunks):
        out += bytes([int(i + 1 == len(chunks))]) + struct.pack("<HH", len(c), len(c) ^ 0xFFFF) + c
    return out


def deflate(data, level=6):
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def gzip_payload(proto, src, dst, stream, data, xfl=2):
    return (h("1f8b0800") + struct.pack(">HH", src, dst) + bytes([xfl, proto]) + stream
            + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))


def payload_seed(name, proto, src, dst, stream, data, xfl=2, selector=0):
    write("i2cp_payload", name, bytes([selector]) + gzip_payload(proto, src, dst, stream, data, xfl))


ack22 = b"\xaa" * 22
get = b"GET / HTTP/1.0\r\n\r\n"
sevens = bytes(i % 7 for i in range(2000))
payload_seed("stored-ack-golden", 6, 0, 80, stored_blocks([ack22]), ack22)
payload_seed("stored-get", 6, 0, 80, stored_blocks([get]), get)
payload_seed("stored-xfl0", 6, 0, 80, stored_blocks([get]), get, xfl=0)
payload_seed("stored-empty", 18, 9, 9, stored_blocks([b""]), b"")
payload_seed("stored-two-blocks", 17, 1, 2, stored_blocks([b"abc", b"defg"]), b"abcdefg")
payload_seed("deflate-sevens", 17, 1234, 5678, deflate(sevens), sevens)
payload_seed("deflate-empty", 18, 9, 9, deflate(b""), b"")
payload_seed("deflate-syn", 6, 0, 80, deflate(syn), syn, xfl=0)
mixed = b"\x00" + stored_blocks([b"abc", b""])[1:-5] + deflate(b"\x09" * 500)
payload_seed("stored-then-deflate", 6, 0, 0, mixed, b"abc" + b"\x09" * 500)
at_cap = bytes(64 * 1024)
payload_seed("deflate-at-cap", 6, 0, 0, deflate(at_cap, 9), at_cap)
payload_seed("deflate-over-cap", 6, 0, 0, deflate(at_cap + b"\x00", 9), at_cap + b"\x00")
payload_seed("bad-crc-fixed-up", 6, 0, 80, stored_blocks([get]), b"not the data", selector=1)

# Destinations and Mappings: a Destination, a Mapping, or a Destination then a Mapping.
session_opts = mapping([("outbound.quantity", "1"), ("inbound.length", "0"),
                        ("i2cp.messageReliability", "none"), ("outbound.length", "0"),
                        ("inbound.quantity", "1"), ("i2cp.dontPublishLeaseSet", "true")])
write("data_destination", "i2pd-sig7-destination", DEST)
write("data_destination", "i2pd-keys-file", KEYS)
write("data_destination", "destination-then-mapping", DEST + session_opts + h("0000018912345678"))
write("data_destination", "null-cert-dsa", bytes(range(256)) + bytes(128) + h("00 0000"))
write("data_destination", "key-cert-p521", bytes(384) + h("05 0008 0003 0000 01020304"))
write("data_destination", "key-cert-ecdsa-p256-x25519", bytes(384) + h("05 0004 0001 0004"))
write("data_destination", "mapping-session-options", session_opts)
write("data_destination", "mapping-sorted", mapping([("i2cp.password", "p"), ("i2cp.username", "u")]))
write("data_destination", "mapping-duplicate-key", mapping([("a", "1"), ("a", "2")]))
write("data_destination", "mapping-utf8", mapping([("k\u00e9y", "v\u00e4lue=;")]))
write("data_destination", "mapping-empty", h("0000"))
