#!/usr/bin/env python3
"""Write sample.pcap and sample.pcapng for the xdp-counter example.

Both files hold the same 20 Ethernet frames (TCP, UDP with some to the
discard port 9, ICMP, one ARP, one IPv6, and two IPv4 packets of other
protocols), with valid IPv4 header checksums and valid TCP/UDP/ICMP/IGMP
checksums. Timestamps are fixed, so the output is byte-for-byte reproducible.

    python3 make_sample_pcap.py [OUTPUT_DIR]

After writing the files the script re-parses every frame the way
xdp_counter.c does and prints the verdict counts and per-protocol totals a
test should expect. Standard library only.
"""

import os
import struct
import sys

BASE_TIME = 1_700_000_000          # seconds; frame i is at BASE_TIME + i ms
LINKTYPE_ETHERNET = 1
SNAPLEN = 65535

MAC_A = bytes.fromhex("020000000001")   # "client"
MAC_B = bytes.fromhex("020000000002")   # "server"
MAC_BCAST = b"\xff" * 6

ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
PROTO_ICMP, PROTO_IGMP, PROTO_TCP, PROTO_UDP, PROTO_GRE = 1, 2, 6, 17, 47

# Router Alert IPv4 option (type 148, length 4): makes an ihl = 6 header.
OPT_ROUTER_ALERT = bytes([0x94, 0x04, 0x00, 0x00])


def ip4(text):
    return bytes(int(part) for part in text.split("."))


def ones_complement_sum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def checksum(data):
    return (~ones_complement_sum(data)) & 0xFFFF


def ethernet(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


class IPv4Builder:
    def __init__(self):
        self.next_id = 0x1000

    def packet(self, src, dst, proto, payload, ttl=64, options=b"", df=True):
        assert len(options) % 4 == 0
        ihl = 5 + len(options) // 4
        self.next_id += 1
        header = struct.pack(
            "!BBHHHBBH4s4s",
            (4 << 4) | ihl, 0, ihl * 4 + len(payload), self.next_id,
            0x4000 if df else 0, ttl, proto, 0, ip4(src), ip4(dst),
        ) + options
        csum = checksum(header)
        header = header[:10] + struct.pack("!H", csum) + header[12:]
        return header + payload


def pseudo_v4(src, dst, proto, length):
    return ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, length)


def udp(src, dst, sport, dport, payload, pseudo=None):
    length = 8 + len(payload)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + payload
    ph = pseudo if pseudo is not None else pseudo_v4(src, dst, PROTO_UDP, length)
    csum = checksum(ph + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", csum) + seg[8:]


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", window=64240):
    offset_flags = (5 << 12) | flags
    seg = struct.pack("!HHIIHHHH", sport, dport, seq, ack, offset_flags,
                      window, 0, 0) + payload
    csum = checksum(pseudo_v4(src, dst, PROTO_TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def icmp(icmp_type, code, rest, payload):
    msg = struct.pack("!BBH4s", icmp_type, code, 0, rest) + payload
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10


def build_frames():
    ip = IPv4Builder()
    A, B = "10.0.0.1", "10.0.0.2"
    frames = []

    def v4(src, dst, proto, payload, dst_mac=MAC_B, src_mac=MAC_A, **kw):
        frames.append(ethernet(dst_mac, src_mac, ETH_P_IP,
                               ip.packet(src, dst, proto, payload, **kw)))

    echo_data = bytes(range(56))

    # 1 TCP SYN
    v4(A, B, PROTO_TCP, tcp(A, B, 40000, 80, 1000, 0, TCP_SYN))
    # 2 ARP request who-has 10.0.0.2
    arp = struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, 1,
                      MAC_A, ip4(A), b"\0" * 6, ip4(B))
    frames.append(ethernet(MAC_BCAST, MAC_A, ETH_P_ARP, arp))
    # 3 TCP SYN-ACK
    v4(B, A, PROTO_TCP, tcp(B, A, 80, 40000, 5000, 1001, TCP_SYN | TCP_ACK),
       dst_mac=MAC_A, src_mac=MAC_B)
    # 4 UDP DNS query to port 53 (30-byte payload)
    dns = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) \
        + b"\x08swiftbpf\x03dev\x00" + struct.pack("!HH", 1, 1)   # A? swiftbpf.dev
    v4(A, "10.0.0.53", PROTO_UDP, udp(A, "10.0.0.53", 53000, 53, dns))
    # 5 ICMP echo request
    v4(A, B, PROTO_ICMP, icmp(8, 0, struct.pack("!HH", 0x77, 1), echo_data))
    # 6 ICMP echo reply
    v4(B, A, PROTO_ICMP, icmp(0, 0, struct.pack("!HH", 0x77, 1), echo_data),
       dst_mac=MAC_A, src_mac=MAC_B)
    # 7 UDP to discard port 9 (10-byte payload) -> dropped
    v4(A, B, PROTO_UDP, udp(A, B, 41000, 9, b"discard-me"))
    # 8 TCP PSH/ACK with a 100-byte payload
    req = b"GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n"
    req = req + b"x" * (100 - len(req))
    v4(A, B, PROTO_TCP, tcp(A, B, 40000, 80, 1001, 5001, TCP_PSH | TCP_ACK, req))
    # 9 IPv6 UDP mDNS-style datagram (not IPv4: counted as "other")
    v6_src = bytes.fromhex("fe800000000000000000000000000001")
    v6_dst = bytes.fromhex("ff0200000000000000000000000000fb")
    v6_payload = b"swiftbpf-v6!"
    v6_pseudo = v6_src + v6_dst + struct.pack("!I3xB", 8 + len(v6_payload), PROTO_UDP)
    v6_udp = udp(None, None, 5353, 5353, v6_payload, pseudo=v6_pseudo)
    v6 = struct.pack("!IHBB16s16s", 6 << 28, len(v6_udp), PROTO_UDP, 255,
                     v6_src, v6_dst) + v6_udp
    frames.append(ethernet(bytes.fromhex("3333000000fb"), MAC_A, ETH_P_IPV6, v6))
    # 10 UDP to discard port 9 (100-byte payload) -> dropped
    v4(A, B, PROTO_UDP, udp(A, B, 41001, 9, bytes(100)))
    # 11 UDP NTP request (48-byte payload)
    v4(A, "10.0.0.123", PROTO_UDP,
       udp(A, "10.0.0.123", 123, 123, b"\x23" + b"\0" * 47))
    # 12 TCP ACK with a 6-byte payload
    v4(A, B, PROTO_TCP, tcp(A, B, 40000, 80, 1101, 5001, TCP_ACK, b"hello\n"))
    # 13 UDP *from* port 9 to port 5000 -> passed (only the destination counts)
    v4(B, A, PROTO_UDP, udp(B, A, 9, 5000, b"source-port-nine-ok!"),
       dst_mac=MAC_A, src_mac=MAC_B)
    # 14 GRE carrying a bare inner IPv4 header (IPv4 protocol 47: "other")
    inner = ip.packet("192.168.1.1", "192.168.1.2", PROTO_UDP, b"")
    v4(A, B, PROTO_GRE, struct.pack("!HH", 0, ETH_P_IP) + inner)
    # 15 UDP to discard port 9, empty payload -> dropped
    v4(A, B, PROTO_UDP, udp(A, B, 41002, 9, b""))
    # 16 ICMP destination/port unreachable quoting frame 7's IP + UDP headers
    quoted = frames[6][14:14 + 28]
    v4(B, A, PROTO_ICMP, icmp(3, 3, b"\0\0\0\0", quoted),
       dst_mac=MAC_A, src_mac=MAC_B)
    # 17 IGMPv2 membership report with a Router Alert option (ihl 6): "other"
    group = "239.1.1.1"
    igmp = struct.pack("!BBH4s", 0x16, 0, 0, ip4(group))
    igmp = igmp[:2] + struct.pack("!H", checksum(igmp)) + igmp[4:]
    v4(A, group, PROTO_IGMP, igmp, ttl=1, options=OPT_ROUTER_ALERT,
       dst_mac=bytes.fromhex("01005e010101"))
    # 18 UDP to port 9 behind a 24-byte IPv4 header (ihl 6) -> dropped
    v4(A, B, PROTO_UDP, udp(A, B, 41003, 9, b"opt!"), options=OPT_ROUTER_ALERT)
    # 19 TCP segment with a 1400-byte payload
    v4(B, A, PROTO_TCP, tcp(B, A, 80, 40000, 5001, 1107, TCP_ACK,
                            bytes(i & 0xFF for i in range(1400))),
       dst_mac=MAC_A, src_mac=MAC_B)
    # 20 UDP broadcast to NetBIOS name service port 137 (50-byte payload)
    v4(A, "10.0.0.255", PROTO_UDP,
       udp(A, "10.0.0.255", 137, 137, b"N" * 50), dst_mac=MAC_BCAST, df=False)
    return frames


def timestamp(index):
    micros = index * 1000
    return BASE_TIME + micros // 1_000_000, micros % 1_000_000


def write_pcap(path, frames):
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0,
                                SNAPLEN, LINKTYPE_ETHERNET))
    for i, frame in enumerate(frames):
        sec, usec = timestamp(i)
        out += struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
    with open(path, "wb") as f:
        f.write(out)


def pcapng_block(block_type, body):
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def write_pcapng(path, frames):
    # Section Header Block: byte-order magic, version 1.0, unknown length.
    out = bytearray(pcapng_block(0x0A0D0D0A,
                                 struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
    # Interface Description Block: Ethernet, default microsecond timestamps.
    out += pcapng_block(0x00000001,
                        struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN))
    for i, frame in enumerate(frames):
        sec, usec = timestamp(i)
        ts = sec * 1_000_000 + usec
        body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF,
                           len(frame), len(frame)) + frame
        out += pcapng_block(0x00000006, body)   # Enhanced Packet Block
    with open(path, "wb") as f:
        f.write(out)


# --- the model of xdp_counter.c used to print the expectations -------------

XDP_DROP, XDP_PASS = 1, 2
KEY_OTHER = 256


def classify(frame):
    """Return (map key, verdict) exactly as xdp_counter.c decides them."""
    if len(frame) < 14 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP:
        return KEY_OTHER, XDP_PASS
    if len(frame) < 34:
        return KEY_OTHER, XDP_PASS
    ihl_bytes = (frame[14] & 0x0F) * 4
    if ihl_bytes < 20:
        return KEY_OTHER, XDP_PASS
    proto = frame[23]
    if proto in (PROTO_TCP, PROTO_ICMP):
        return proto, XDP_PASS
    if proto == PROTO_UDP:
        udp_off = 14 + ihl_bytes
        if udp_off + 8 <= len(frame) and \
                struct.unpack_from("!H", frame, udp_off + 2)[0] == 9:
            return PROTO_UDP, XDP_DROP
        return PROTO_UDP, XDP_PASS
    return KEY_OTHER, XDP_PASS


def check_ipv4_checksums(frames):
    for i, frame in enumerate(frames, 1):
        if struct.unpack_from("!H", frame, 12)[0] == ETH_P_IP:
            ihl_bytes = (frame[14] & 0x0F) * 4
            assert ones_complement_sum(frame[14:14 + ihl_bytes]) == 0xFFFF, i


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    frames = build_frames()
    check_ipv4_checksums(frames)
    write_pcap(os.path.join(out_dir, "sample.pcap"), frames)
    write_pcapng(os.path.join(out_dir, "sample.pcapng"), frames)

    names = {PROTO_TCP: "TCP", PROTO_UDP: "UDP", PROTO_ICMP: "ICMP", KEY_OTHER: "other"}
    stats = {key: [0, 0] for key in names}
    verdicts = {XDP_DROP: 0, XDP_PASS: 0}
    print(f"{'#':>2} {'len':>5}  bucket  verdict")
    for i, frame in enumerate(frames, 1):
        key, verdict = classify(frame)
        stats[key][0] += 1
        stats[key][1] += len(frame)
        verdicts[verdict] += 1
        print(f"{i:>2} {len(frame):>5}  {names[key]:<6}  "
              f"{'XDP_DROP' if verdict == XDP_DROP else 'XDP_PASS'}")
    print(f"frames {len(frames)}, bytes {sum(map(len, frames))}")
    print(f"XDP_DROP {verdicts[XDP_DROP]}, XDP_PASS {verdicts[XDP_PASS]}")
    for key in (PROTO_TCP, PROTO_UDP, PROTO_ICMP, KEY_OTHER):
        print(f"proto_stats[{key}] ({names[key]}): packets {stats[key][0]}, "
              f"bytes {stats[key][1]}")


if __name__ == "__main__":
    main()
