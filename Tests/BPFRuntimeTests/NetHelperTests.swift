import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// The networking helpers of `net_helpers.c` in the Swift runtime, with results worked out by hand
/// (the differential test compares the same programs with the kernel's test run).
@Suite("Network helpers in the runtime")
struct NetHelperTests {
    static func load() throws -> LoadedObject {
        try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/net_helpers.o")))
    }

    /// RFC 1071 checksum of `bytes` (16-bit big-endian words).
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var sum: UInt32 = 0
        var i = bytes.startIndex
        while i < bytes.endIndex {
            sum += UInt32(bytes[i]) << 8 | (i + 1 < bytes.endIndex ? UInt32(bytes[i + 1]) : 0)
            i += 2
        }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    @Test("bpf_l3_csum_replace keeps the IPv4 header checksum valid after a NAT rewrite")
    func ipChecksum() throws {
        var frame = Frames.ipv4(length: 60, proto: 17)
        let valid = Self.checksum(frame[14..<34])
        frame[24] = UInt8(valid >> 8); frame[25] = UInt8(valid & 0xff)
        #expect(Self.checksum(frame[14..<34]) == 0)
        let run = try #require(Self.load().program(named: "tc_nat")).testRun(packet: frame)
        #expect(run.returnValue == 0)
        #expect(Array(run.packetOut[30..<34]) == [10, 9, 8, 7])
        #expect(Self.checksum(run.packetOut[14..<34]) == 0, "the IP checksum still verifies")
    }

    @Test("bpf_l4_csum_replace: a UDP checksum of 0 stays 0 with BPF_F_MARK_MANGLED_0; another one moves by the address change")
    func udpChecksum() throws {
        let program = try #require(Self.load().program(named: "tc_nat"))
        var frame = Frames.ipv4(length: 60, proto: 17)
        #expect(try program.testRun(packet: frame).packetOut[40..<42] == [0, 0])
        frame[40] = 0x12; frame[41] = 0x34
        let out = try program.testRun(packet: frame).packetOut
        // RFC 1624 in one's-complement arithmetic: ~new + old address == ~old + new address.
        func fold(_ x: UInt32) -> UInt32 { var s = x; while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }; return s }
        let before = fold(UInt32(~UInt16(0x1234)) + 0x0a09 + 0x0807)
        let after = fold(UInt32(~(UInt16(out[40]) << 8 | UInt16(out[41]))) + 0xc0a8 + 0x0002)
        #expect(before == after)
    }

    @Test("bpf_redirect returns TC_ACT_REDIRECT and the run reports the target")
    func redirect() throws {
        let run = try #require(Self.load().program(named: "tc_redirect")).testRun(packet: Frames.ipv4(length: 54))
        #expect(run.returnValue == 7)
        #expect(run.redirect == Redirect(helper: "bpf_redirect", ifindex: 1, flags: 0))
    }

    @Test("bpf_redirect_map: the default action while the devmap slot is empty, XDP_REDIRECT once it is set")
    func redirectMap() throws {
        let object = try Self.load()
        let program = try #require(object.program(named: "xdp_tx_port"))
        #expect(try program.testRun(packet: Frames.ipv4(length: 54)).returnValue == 2)
        let ports = try #require(object.map(named: "tx_ports"))
        try ports.update(key: UInt32(0), value: UInt32(5))
        let run = try program.testRun(packet: Frames.ipv4(length: 54))
        #expect(run.returnValue == 4)
        #expect(run.redirect?.ifindex == 5 && run.redirect?.map == "tx_ports" && run.redirect?.key == 0)
        #expect(throws: MapError.self) { try ports.update(key: UInt32(4), value: UInt32(1)) }
    }

    @Test("VLAN push, push, pop: the second push moves the first tag into the packet; the pop takes it back out")
    func vlan() throws {
        let frame = Frames.ipv4(length: 54)
        let run = try #require(Self.load().program(named: "tc_vlan")).testRun(packet: frame)
        // tci 200 read while two tags existed; the pop drops 200 and takes 100 out of the packet
        // into the skb (so a tag is still present), and the packet is as it was.
        #expect(run.returnValue == 200 + 1 * 1000 + 54 * 10000)
        #expect(run.packetOut == frame)
    }

    @Test("bpf_skb_adjust_room makes room after the Ethernet header; bpf_skb_change_type; lookups find no socket")
    func roomTypeLookup() throws {
        let object = try Self.load()
        let frame = Frames.ipv4(length: 54)
        let room = try #require(object.program(named: "tc_room")).testRun(packet: frame)
        #expect(room.returnValue == 62)
        #expect(Array(room.packetOut[0..<14]) == Array(frame[0..<14]))
        #expect(room.packetOut[14] == 0xab && Array(room.packetOut[22...]) == Array(frame[14...]))
        #expect(try #require(object.program(named: "tc_type")).testRun(packet: frame).returnValue == 3)
        #expect(try #require(object.program(named: "tc_sk_lookup")).testRun(packet: frame).returnValue == 0)
    }
}
