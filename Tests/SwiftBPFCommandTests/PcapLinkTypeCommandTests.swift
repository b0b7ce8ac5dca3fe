import Foundation
import Testing

/// `run --pcap` with raw IP and Linux cooked captures (issue 16: they ran as if they were Ethernet).
@Suite("swiftbpf run --pcap: link types")
struct PcapLinkTypeCommandTests {
    /// The IP packets of the example capture: (EtherType, network-layer bytes).
    static let packets: [(etherType: UInt16, network: [UInt8])] = {
        guard let data = FileManager.default.contents(atPath: SwiftBPFTool.repository.appendingPathComponent("Examples/xdp-counter/sample.pcap").path) else { return [] }
        let b = [UInt8](data)
        func u32(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
        var result: [(UInt16, [UInt8])] = []
        var o = 24
        while o + 16 <= b.count {
            let captured = u32(o + 8)
            let frame = Array(b[(o + 16)..<(o + 16 + captured)])
            let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
            if type == 0x0800 || type == 0x86dd { result.append((type, Array(frame[14...]))) }
            o += 16 + captured
        }
        return result
    }()

    /// A little-endian classic pcap of `records` with link type `linkType`.
    static func pcap(_ records: [[UInt8]], linkType: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        func put32(_ v: Int) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        put32(0xa1b2_c3d4); out += [2, 0, 4, 0]; put32(0); put32(0); put32(65535); put32(Int(linkType))
        for (i, record) in records.enumerated() { put32(1_700_000_000 + i); put32(0); put32(record.count); put32(record.count); out += record }
        return out
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    /// The verdicts and maps of xdp_counter over a capture.
    func run(_ bytes: [UInt8], _ name: String) throws -> (status: Int32, result: [String: NSObject], stderr: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-\(name)-\(UUID()).pcap")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try SwiftBPFTool.run(["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", file.path, "--json"])
        let object = output.status == 0 ? (try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: NSObject]) ?? [:] : [:]
        var result = object
        result["ns_per_run"] = nil
        return (output.status, result, output.stderr)
    }

    @Test("raw IP (101, 228, 229) and Linux cooked (113, 276) captures run as their packets in Ethernet frames")
    func honoured() throws {
        let all = Self.packets
        try #require(all.count == 19)
        // The reference: the same network-layer bytes in Ethernet frames with zero addresses.
        func ethernet(_ packets: [(etherType: UInt16, network: [UInt8])]) -> [[UInt8]] {
            packets.map { [UInt8](repeating: 0, count: 12) + Self.be16($0.etherType) + $0.network }
        }
        let v4 = all.filter { $0.etherType == 0x0800 }, v6 = all.filter { $0.etherType == 0x86dd }
        let cases: [(String, [(etherType: UInt16, network: [UInt8])], [[UInt8]], UInt32)] = [
            ("raw", all, all.map(\.network), 101),
            ("ipv4", v4, v4.map(\.network), 228),
            ("ipv6", v6, v6.map(\.network), 229),
            // SLL: packet type 0 (to us), ARPHRD_ETHER, no address, the protocol at 14.
            ("sll", all, all.map { [0, 0, 0, 1, 0, 0] + [UInt8](repeating: 0, count: 8) + Self.be16($0.etherType) + $0.network }, 113),
            // SLL2: the protocol first, reserved, ifindex 2, ARPHRD_ETHER, packet type 0, no address.
            ("sll2", all, all.map { Self.be16($0.etherType) + [0, 0, 0, 0, 0, 2, 0, 1, 0, 0] + [UInt8](repeating: 0, count: 8) + $0.network }, 276),
        ]
        for (name, packets, records, linkType) in cases {
            let reference = try run(Self.pcap(ethernet(packets), linkType: 1), name + "-ethernet")
            let capture = try run(Self.pcap(records, linkType: linkType), name)
            #expect(reference.status == 0 && capture.status == 0, "\(name): \(capture.stderr)")
            #expect(capture.result["packets"] as? Int == packets.count, "\(name)")
            #expect(capture.result == reference.result, "\(name) (link type \(linkType)) ran differently from its packets in Ethernet frames")
        }
    }

    @Test("other link types, and packets whose protocol cannot be told, are refused by name")
    func refused() throws {
        let radiotap = try run(Self.pcap([[0, 0, 8, 0, 0, 0, 0, 0]], linkType: 127), "radiotap")
        #expect(radiotap.status != 0)
        #expect(radiotap.stderr.contains("LINKTYPE_IEEE802_11_RADIOTAP (127) is not supported"), "\(radiotap.stderr)")
        let version5 = try run(Self.pcap([Self.packets[0].network, [0x50] + Self.packets[0].network.dropFirst()], linkType: 101), "raw5")
        #expect(version5.status != 0)
        #expect(version5.stderr.contains("packet 2 (LINKTYPE_RAW (101)): IP version 5"), "\(version5.stderr)")
        let v6in4 = try run(Self.pcap([Self.packets.first { $0.etherType == 0x86dd }!.network], linkType: 228), "v6in4")
        #expect(v6in4.status != 0 && v6in4.stderr.contains("IP version 6 in a capture of IPv4"), "\(v6in4.stderr)")
    }
}
