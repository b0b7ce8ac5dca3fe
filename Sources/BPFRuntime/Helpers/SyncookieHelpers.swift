#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The raw SYN-cookie helpers (`bpf_tcp_raw_gen_syncookie_ipv4/ipv6`, `bpf_tcp_raw_check_syncookie_ipv4/ipv6`):
/// the kernel's SYN cookies (`net/ipv4/syncookies.c`, `net/ipv6/syncookies.c`) computed the same way —
/// SipHash-2-4 of the addresses and ports under two secret keys, the peer's sequence number, a
/// minute counter in the top 8 bits and the MSS table index in the low 24 — under keys drawn once
/// per process, as the kernel draws its own once per boot. A cookie this runtime made checks here
/// (for two minutes, as the kernel's does) and nowhere else; the MSS returned is the kernel's.
enum SyncookieHelpers {
    static let einval = UInt64(bitPattern: -22), eacces = UInt64(bitPattern: -13)

    static let all: [Helper] = [
        Helper(id: 204, name: "bpf_tcp_raw_gen_syncookie_ipv4") { call in
            try generate(call, ipv6: false)
        },
        Helper(id: 205, name: "bpf_tcp_raw_gen_syncookie_ipv6") { call in
            try generate(call, ipv6: true)
        },
        Helper(id: 206, name: "bpf_tcp_raw_check_syncookie_ipv4") { call in
            try check(call, ipv6: false)
        },
        Helper(id: 207, name: "bpf_tcp_raw_check_syncookie_ipv6") { call in
            try check(call, ipv6: true)
        },
    ]

    /// The MSS values a cookie encodes (its low bits index them), IPv4's and IPv6's.
    static let mssTable4: [UInt16] = [536, 1300, 1440, 1460]
    static let mssTable6: [UInt16] = [1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60]
    static let cookieBits: UInt32 = 24, cookieMask: UInt32 = (1 << 24) - 1
    /// `MAX_SYNCOOKIE_AGE`: minutes a cookie stays valid.
    static let maxAge: UInt32 = 2

    /// The secrets (two SipHash keys per family), drawn once.
    static let secrets: [(UInt64, UInt64)] = {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in (g.next(), g.next()) }
    }()

    /// `tcp_cookie_time()`: minutes of the monotonic clock.
    static func cookieTime() -> UInt32 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt32(truncatingIfNeeded: Int(ts.tv_sec) / 60)
    }

    /// The addresses and ports of a cookie: an IPv4 or IPv6 header and the TCP header after it.
    struct Flow {
        var source: [UInt8], destination: [UInt8]
        var sourcePort: UInt16, destinationPort: UInt16   // as in the packet (big-endian bytes, loaded little-endian)
        var ipv6: Bool

        /// `cookie_hash(saddr, daddr, sport, dport, count, c)`.
        func hash(count: UInt32, _ c: Int) -> UInt32 {
            var message: [UInt8]
            if ipv6 {
                // struct { in6_addr saddr, daddr; u32 count; __be16 sport, dport; } (40 bytes)
                message = source + destination
                withUnsafeBytes(of: count.littleEndian) { message += $0 }
                withUnsafeBytes(of: sourcePort) { message += $0 }
                withUnsafeBytes(of: destinationPort) { message += $0 }
            } else {
                // siphash_4u32(saddr, daddr, sport << 16 | dport, count)
                message = source + destination
                let ports = UInt32(sourcePort) << 16 | UInt32(destinationPort)
                withUnsafeBytes(of: ports.littleEndian) { message += $0 }
                withUnsafeBytes(of: count.littleEndian) { message += $0 }
            }
            let key = secrets[(ipv6 ? 2 : 0) + c]
            return UInt32(truncatingIfNeeded: SipHash.hash(message, key: key))
        }
    }

    /// The flow and the TCP header's sequence fields, read from the run's memory.
    static func flow(_ call: borrowing HelperCall, ipv6: Bool) throws -> (Flow, tcp: [UInt8]) {
        let ip = try call.read(at: call.argument(1), size: ipv6 ? 40 : 20)
        let tcp = try call.read(at: call.argument(2), size: 20)
        let (s, d) = ipv6 ? (Array(ip[8..<24]), Array(ip[24..<40])) : (Array(ip[12..<16]), Array(ip[16..<20]))
        let sport = UInt16(tcp[0]) | UInt16(tcp[1]) << 8, dport = UInt16(tcp[2]) | UInt16(tcp[3]) << 8
        return (Flow(source: s, destination: d, sourcePort: sport, destinationPort: dport, ipv6: ipv6), tcp)
    }

    static func bigEndian32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    /// `bpf_tcp_raw_gen_syncookie_*(iph, th, th_len)`: the cookie in the low 32 bits, the MSS it
    /// encodes above; `-EINVAL` when `th_len` is not the header's length (`doff`).
    static func generate(_ call: borrowing HelperCall, ipv6: Bool) throws -> UInt64 {
        let length = Int(call.argument(3) & 0xffff_ffff)
        guard length >= 20 else { return einval }
        let (flow, tcp) = try flow(call, ipv6: ipv6)
        guard length == Int(tcp[12] >> 4) * 4 else { return einval }
        let header = try call.read(at: call.argument(2), size: length)
        let table = ipv6 ? mssTable6 : mssTable4
        var mss = mssOption(header)
        if mss == 0 { mss = ipv6 ? 1280 - 20 - 40 : 536 }
        var index = table.count - 1
        while index > 0 && mss < table[index] { index -= 1 }
        let count = cookieTime()
        let sequence = bigEndian32(tcp, 4)
        let cookie = flow.hash(count: 0, 0) &+ sequence &+ (count << cookieBits)
            &+ ((flow.hash(count: count, 1) &+ UInt32(index)) & cookieMask)
        return UInt64(cookie) | UInt64(table[index]) << 32
    }

    /// `bpf_tcp_raw_check_syncookie_*(iph, th)`: 0 when the ACK's `ack_seq - 1` is a cookie this
    /// runtime made for the flow in the last two minutes, else `-EACCES`.
    static func check(_ call: borrowing HelperCall, ipv6: Bool) throws -> UInt64 {
        let (flow, tcp) = try flow(call, ipv6: ipv6)
        var cookie = bigEndian32(tcp, 8) &- 1
        let sequence = bigEndian32(tcp, 4) &- 1
        let count = cookieTime()
        cookie = cookie &- (flow.hash(count: 0, 0) &+ sequence)
        let diff = (count &- (cookie >> cookieBits)) & (UInt32.max >> cookieBits)
        guard diff < maxAge else { return eacces }
        let index = (cookie &- flow.hash(count: count &- diff, 1)) & cookieMask
        return index < (ipv6 ? mssTable6 : mssTable4).count ? 0 : eacces
    }

    /// `tcp_parse_mss_option(th, 0)`: the MSS option of a TCP header (with its options), or 0.
    static func mssOption(_ header: [UInt8]) -> UInt16 {
        var i = 20, mss: UInt16 = 0
        var length = header.count - 20
        while length > 0 {
            let kind = header[i]
            i += 1
            switch kind {
            case 0: return mss
            case 1:
                length -= 1
                continue
            default:
                guard length >= 2 else { return mss }
                let size = Int(header[i])
                i += 1
                guard size >= 2, size <= length else { return mss }
                if kind == 2 && size == 4 {
                    let value = UInt16(header[i]) << 8 | UInt16(header[i + 1])
                    if value != 0 { mss = value }
                }
                i += size - 2
                length -= size
            }
        }
        return mss
    }
}

/// SipHash-2-4 (Aumasson and Bernstein), as the kernel's `siphash()` computes it: a 128-bit key,
/// a 64-bit result.
enum SipHash {
    static func hash(_ message: [UInt8], key: (UInt64, UInt64)) -> UInt64 {
        var v0: UInt64 = 0x736f6d6570736575 ^ key.0, v1: UInt64 = 0x646f72616e646f6d ^ key.1
        var v2: UInt64 = 0x6c7967656e657261 ^ key.0, v3: UInt64 = 0x7465646279746573 ^ key.1
        func round() {
            v0 &+= v1; v1 = v1 << 13 | v1 >> 51; v1 ^= v0; v0 = v0 << 32 | v0 >> 32
            v2 &+= v3; v3 = v3 << 16 | v3 >> 48; v3 ^= v2
            v0 &+= v3; v3 = v3 << 21 | v3 >> 43; v3 ^= v0
            v2 &+= v1; v1 = v1 << 17 | v1 >> 47; v1 ^= v2; v2 = v2 << 32 | v2 >> 32
        }
        let blocks = message.count / 8
        for b in 0..<blocks {
            var m: UInt64 = 0
            for k in 0..<8 { m |= UInt64(message[b * 8 + k]) << (8 * UInt64(k)) }
            v3 ^= m
            round(); round()
            v0 ^= m
        }
        var last = UInt64(message.count & 0xff) << 56
        for k in 0..<(message.count % 8) { last |= UInt64(message[blocks * 8 + k]) << (8 * UInt64(k)) }
        v3 ^= last
        round(); round()
        v0 ^= last
        v2 ^= 0xff
        round(); round(); round(); round()
        return v0 ^ v1 ^ v2 ^ v3
    }
}
