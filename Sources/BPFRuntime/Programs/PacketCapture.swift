/// A packet capture file: classic pcap (micro- or nanosecond, either byte order) or pcapng.
/// Reading and writing, so test runs can take real traffic and hand back the packets of each
/// verdict to Wireshark. Test runs take Ethernet frames (as BPF_PROG_TEST_RUN does for XDP and
/// every skb program type): ``ethernetFrames()`` turns raw IP (link types 101, 228, 229) and Linux
/// cooked (113, 276) captures into frames with a synthetic Ethernet header, and refuses the others
/// by name.
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
        /// The link type of the interface it was captured on (pcapng files may mix them).
        public var linkType: UInt32

        public init(data: [UInt8], timestampNanoseconds: UInt64 = 0, originalLength: Int? = nil, linkType: UInt32 = PacketCapture.linkTypeEthernet) {
            self.data = data
            self.timestampNanoseconds = timestampNanoseconds
            self.originalLength = originalLength ?? data.count
            self.linkType = linkType
        }
    }

    /// A failure reading a capture: which packet or block, and what is wrong.
    public struct FormatError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    public static let linkTypeEthernet: UInt32 = 1
    /// `LINKTYPE_RAW`: an IPv4 or IPv6 packet, the version in its first nibble.
    public static let linkTypeRaw: UInt32 = 101
    /// `LINKTYPE_IPV4`, `LINKTYPE_IPV6`: raw IP of one version.
    public static let linkTypeIPv4: UInt32 = 228
    public static let linkTypeIPv6: UInt32 = 229
    /// `LINKTYPE_LINUX_SLL` (16-byte header, the protocol at 14) and `LINKTYPE_LINUX_SLL2` (20 bytes, the protocol at 0).
    public static let linkTypeLinuxSLL: UInt32 = 113
    public static let linkTypeLinuxSLL2: UInt32 = 276

    /// tcpdump's name for a link type (`LINKTYPE_` left out), e.g. `RAW` for 101.
    public static func linkTypeName(_ type: UInt32) -> String {
        let names: [UInt32: String] = [
            0: "NULL", 1: "ETHERNET", 6: "IEEE802_5", 9: "PPP", 50: "PPP_HDLC", 101: "RAW", 104: "C_HDLC", 105: "IEEE802_11",
            108: "LOOP", 113: "LINUX_SLL", 127: "IEEE802_11_RADIOTAP", 195: "IEEE802_15_4_WITHFCS", 220: "USB_LINUX_MMAPPED",
            228: "IPV4", 229: "IPV6", 239: "NFLOG", 276: "LINUX_SLL2",
        ]
        return names[type].map { "LINKTYPE_\($0) (\(type))" } ?? "link type \(type)"
    }

    /// The packets as Ethernet frames, as a test run takes them: Ethernet packets as they are; raw
    /// IP (101 by its version nibble, 228 IPv4, 229 IPv6) and Linux cooked packets (113, 276: their
    /// protocol field, an EtherType) after a synthetic 14-byte Ethernet header — destination
    /// 00:00:00:00:00:00 (the test run's device, so the kernel's `pkt_type` is PACKET_HOST), source
    /// the cooked header's address when it is 6 bytes long else zeros, and the EtherType — so the
    /// program sees the captured network-layer bytes. Other link types, and packets whose protocol
    /// cannot be told, are refused naming the packet and the link type.
    public func ethernetFrames() throws(FormatError) -> [Packet] {
        var frames: [Packet] = []
        frames.reserveCapacity(packets.count)
        for (i, packet) in packets.enumerated() {
            let d = packet.data
            func fail(_ why: String) -> FormatError {
                FormatError(message: "packet \(i + 1) (\(Self.linkTypeName(packet.linkType))): \(why)")
            }
            var source = [UInt8](repeating: 0, count: 6)
            let etherType: UInt16
            let network: ArraySlice<UInt8>
            switch packet.linkType {
            case Self.linkTypeEthernet:
                frames.append(packet)
                continue
            case Self.linkTypeRaw, Self.linkTypeIPv4, Self.linkTypeIPv6:
                guard let first = d.first else { throw fail("empty packet, no IP version") }
                let version = first >> 4
                if packet.linkType == Self.linkTypeIPv4 && version != 4 || packet.linkType == Self.linkTypeIPv6 && version != 6 {
                    throw fail("IP version \(version) in a capture of IPv\(packet.linkType == Self.linkTypeIPv4 ? 4 : 6)")
                }
                switch version {
                case 4: etherType = 0x0800
                case 6: etherType = 0x86dd
                default: throw fail("IP version \(version), neither 4 nor 6")
                }
                network = d[...]
            case Self.linkTypeLinuxSLL:
                guard d.count >= 16 else { throw fail("\(d.count) bytes, shorter than the 16-byte cooked header") }
                etherType = UInt16(d[14]) << 8 | UInt16(d[15])
                if Int(d[4]) << 8 | Int(d[5]) == 6 { source = Array(d[6..<12]) }
                network = d[16...]
            case Self.linkTypeLinuxSLL2:
                guard d.count >= 20 else { throw fail("\(d.count) bytes, shorter than the 20-byte cooked header") }
                etherType = UInt16(d[0]) << 8 | UInt16(d[1])
                if d[11] == 6 { source = Array(d[12..<18]) }
                network = d[20...]
            default:
                throw FormatError(message: "\(Self.linkTypeName(packet.linkType)) is not supported: test runs take Ethernet (1), raw IP "
                                  + "(101, 228 IPv4, 229 IPv6) and Linux cooked (113, 276) captures")
            }
            guard etherType >= 0x0600 else { throw fail("protocol 0x\(String(etherType, radix: 16)) is not an EtherType (an 802.2/802.3 frame)") }
            var frame = Packet(data: [UInt8](repeating: 0, count: 6) + source + [UInt8(etherType >> 8), UInt8(etherType & 0xff)] + network,
                               timestampNanoseconds: packet.timestampNanoseconds, linkType: Self.linkTypeEthernet)
            frame.originalLength = max(packet.originalLength - (d.count - network.count) + 14, frame.data.count)
            frames.append(frame)
        }
        return frames
    }

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
                                  originalLength: original, linkType: linkType))
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
                let interface = Int(Self.u32(bytes, o + 8, bigEndian: bigEndian))
                guard interface < interfaces.count else {
                    throw FormatError(message: "packet \(packets.count + 1): interface \(interface) has no description block")
                }
                packets.append(Packet(data: Array(bytes[(o + 28)..<(o + 28 + captured)]),
                                      timestampNanoseconds: (high << 32 | low) &* 1000, originalLength: original,
                                      linkType: interfaces[interface]))
            case 3:  // simple packet
                let original = Int(Self.u32(bytes, o + 8, bigEndian: bigEndian))
                let captured = min(original, length - 16)
                packets.append(Packet(data: Array(bytes[(o + 12)..<(o + 12 + captured)]), originalLength: original,
                                      linkType: interfaces.first ?? linkType))
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
