/// A packet capture file: classic pcap (micro- or nanosecond, either byte order) or pcapng,
/// Ethernet link type. Reading and writing, so test runs can take real traffic and hand back the
/// packets of each verdict to Wireshark.
///
/// ```swift
/// let capture = try PacketCapture(bytes: Array(data))
/// for packet in capture.packets { _ = try program.testRun(packet: packet.data) }
/// ```
public struct PacketCapture: Sendable {
    /// One captured packet.
    public struct Packet: Sendable, Hashable {
        public var data: [UInt8]
        public var timestampNanoseconds: UInt64
        public var originalLength: Int

        public init(data: [UInt8], timestampNanoseconds: UInt64 = 0, originalLength: Int? = nil) {
            self.data = data
            self.timestampNanoseconds = timestampNanoseconds
            self.originalLength = originalLength ?? data.count
        }
    }

    /// A failure reading a capture: which packet or block, and what is wrong.
    public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static let linkTypeEthernet: UInt32 = 1

    public var packets: [Packet]
    public var linkType: UInt32

    public init(packets: [Packet], linkType: UInt32 = linkTypeEthernet) {
        self.packets = packets
        self.linkType = linkType
    }

    public init(bytes: [UInt8]) throws(FormatError) {
        guard bytes.count >= 4 else { throw FormatError(message: "capture is \(bytes.count) bytes, too short for a header") }
        let magic = Self.u32(bytes, 0, bigEndian: false)
        switch magic {
        case 0xa1b2_c3d4, 0xa1b2_3c4d, 0xd4c3_b2a1, 0x4d3c_b2a1:
            try self.init(pcap: bytes)
        case 0x0a0d_0d0a:
            try self.init(pcapng: bytes)
        default:
            throw FormatError(message: "not a pcap or pcapng file (magic 0x\(String(magic, radix: 16)))")
        }
    }

    static func u16(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> UInt16 {
        bigEndian ? UInt16(b[o]) << 8 | UInt16(b[o + 1]) : UInt16(b[o]) | UInt16(b[o + 1]) << 8
    }

    static func u32(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(b[o + i]) << (bigEndian ? 8 * UInt32(3 - i) : 8 * UInt32(i)) }
        return v
    }

    private init(pcap bytes: [UInt8]) throws(FormatError) {
        guard bytes.count >= 24 else { throw FormatError(message: "pcap header is truncated") }
        let raw = Self.u32(bytes, 0, bigEndian: false)
        let bigEndian = raw == 0xd4c3_b2a1 || raw == 0x4d3c_b2a1
        let nanoseconds = raw == 0xa1b2_3c4d || raw == 0x4d3c_b2a1
        linkType = Self.u32(bytes, 20, bigEndian: bigEndian) & 0x0fff_ffff
        packets = []
        var o = 24
        while o < bytes.count {
            guard o + 16 <= bytes.count else { throw FormatError(message: "packet \(packets.count + 1): record header is truncated") }
            let seconds = UInt64(Self.u32(bytes, o, bigEndian: bigEndian))
            let fraction = UInt64(Self.u32(bytes, o + 4, bigEndian: bigEndian))
            let captured = Int(Self.u32(bytes, o + 8, bigEndian: bigEndian))
            let original = Int(Self.u32(bytes, o + 12, bigEndian: bigEndian))
            o += 16
            guard captured <= 262_144, o + captured <= bytes.count else {
                throw FormatError(message: "packet \(packets.count + 1): \(captured) captured bytes run past the end of the file")
            }
            packets.append(Packet(data: Array(bytes[o..<(o + captured)]),
                                  timestampNanoseconds: seconds * 1_000_000_000 + (nanoseconds ? fraction : fraction * 1000),
                                  originalLength: original))
            o += captured
        }
    }

    private init(pcapng bytes: [UInt8]) throws(FormatError) {
        packets = []
        linkType = Self.linkTypeEthernet
        var bigEndian = false
        var o = 0
        var interfaces: [UInt32] = []
        while o < bytes.count {
            guard o + 12 <= bytes.count else { throw FormatError(message: "pcapng block at offset \(o) is truncated") }
            let type = Self.u32(bytes, o, bigEndian: bigEndian)
            if type == 0x0a0d_0d0a {
                guard o + 12 <= bytes.count else { throw FormatError(message: "section header is truncated") }
                let order = Self.u32(bytes, o + 8, bigEndian: false)
                bigEndian = order == 0x4d3c_2b1a
                guard order == 0x1a2b_3c4d || bigEndian else { throw FormatError(message: "section header has a bad byte-order magic") }
                interfaces = []
            }
            let length = Int(Self.u32(bytes, o + 4, bigEndian: bigEndian))
            guard length >= 12, length % 4 == 0, o + length <= bytes.count else {
                throw FormatError(message: "pcapng block at offset \(o) has a bad length \(length)")
            }
            switch type {
            case 1:  // interface description
                interfaces.append(UInt32(Self.u16(bytes, o + 8, bigEndian: bigEndian)))
                if interfaces.count == 1 { linkType = interfaces[0] }
            case 6:  // enhanced packet
                guard length >= 32 else { throw FormatError(message: "enhanced packet block at offset \(o) is too short") }
                let high = UInt64(Self.u32(bytes, o + 12, bigEndian: bigEndian))
                let low = UInt64(Self.u32(bytes, o + 16, bigEndian: bigEndian))
                let captured = Int(Self.u32(bytes, o + 20, bigEndian: bigEndian))
                let original = Int(Self.u32(bytes, o + 24, bigEndian: bigEndian))
                guard 28 + captured <= length - 4 else {
                    throw FormatError(message: "packet \(packets.count + 1): \(captured) bytes overrun its block")
                }
                packets.append(Packet(data: Array(bytes[(o + 28)..<(o + 28 + captured)]),
                                      timestampNanoseconds: (high << 32 | low) &* 1000, originalLength: original))
            case 3:  // simple packet
                let original = Int(Self.u32(bytes, o + 8, bigEndian: bigEndian))
                let captured = min(original, length - 16)
                packets.append(Packet(data: Array(bytes[(o + 12)..<(o + 12 + captured)]), originalLength: original))
            default:
                break
            }
            o += length
        }
    }

    /// The capture as a classic little-endian pcap file (microsecond timestamps).
    public func pcapBytes() -> [UInt8] {
        var out: [UInt8] = []
        func put32(_ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        func put16(_ v: UInt16) { out.append(UInt8(v & 0xff)); out.append(UInt8(v >> 8)) }
        put32(0xa1b2_c3d4); put16(2); put16(4); put32(0); put32(0); put32(262_144); put32(linkType)
        for packet in packets {
            put32(UInt32(truncatingIfNeeded: packet.timestampNanoseconds / 1_000_000_000))
            put32(UInt32(truncatingIfNeeded: packet.timestampNanoseconds % 1_000_000_000 / 1000))
            put32(UInt32(packet.data.count))
            put32(UInt32(max(packet.originalLength, packet.data.count)))
            out += packet.data
        }
        return out
    }
}
