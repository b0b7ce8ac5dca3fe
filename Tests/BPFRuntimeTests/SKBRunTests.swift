import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// Reads and writes little-endian fields of contexts and map values.
enum Bytes {
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { SKBContext.field(b, o) }
    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { RuntimeFixtures.u64(b, o) }
    static func s64(_ b: [UInt8], _ o: Int) -> Int64 { Int64(bitPattern: u64(b, o)) }
    static func put32(_ v: UInt32, _ b: inout [UInt8], _ o: Int) {
        for i in 0..<4 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }
    static func put64(_ v: UInt64, _ b: inout [UInt8], _ o: Int) {
        for i in 0..<8 { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
    /// The first value of a single-entry map (global data).
    static func value(_ loaded: LoadedObject, _ map: String) throws -> [UInt8] {
        let values = try #require(loaded.map(named: map))
        return try #require(try values.value(forKey: [0, 0, 0, 0]))
    }
}

@Suite("skb programs: tc_skb.o")
struct SKBFixtureTests {
    static let object = "Tests/Fixtures/bpf/obj/tc_skb.o"

    @Test("tc_mark on a 54-byte TCP frame: fields, helpers and the returned context byte for byte")
    func tcMark() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["tc_mark"])
        let program = try #require(loaded.program(named: "tc_mark"))
        let frame = Frames.ipv4(length: 54, proto: 6)
        let result = try program.testRun(packet: frame)
        #expect(result.returnValue == 0)
        #expect(result.packetOut == [0x02, 0, 0, 0, 0, 0x01] + frame[6...])
        var expected = [UInt8](repeating: 0, count: 192)
        Bytes.put32(0x42, &expected, SKBContext.markOffset)
        Bytes.put32(3, &expected, SKBContext.priorityOffset)
        Bytes.put32(1, &expected, SKBContext.ifindexOffset)
        Bytes.put32(54, &expected, SKBContext.cbOffset)
        Bytes.put32(6, &expected, SKBContext.cbOffset + 4)
        Bytes.put32(54, &expected, SKBContext.wireLenOffset)
        #expect(result.contextOut == expected)
    }

    @Test("tc_mark: an input mark of 0xdead is TC_ACT_SHOT and nothing changes")
    func tcMarkSkip() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["tc_mark"])
        let program = try #require(loaded.program(named: "tc_mark"))
        let frame = Frames.ipv4(length: 54)
        var ctx = [UInt8](repeating: 0, count: 192)
        Bytes.put32(0xdead, &ctx, SKBContext.markOffset)
        let result = try program.testRun(packet: frame, context: ctx)
        #expect(result.returnValue == 2)
        #expect(ProgramVerdict.name(result.returnValue, for: .schedCls) == "TC_ACT_SHOT")
        #expect(result.packetOut == frame)
        var expected = ctx
        Bytes.put32(1, &expected, SKBContext.ifindexOffset)
        Bytes.put32(54, &expected, SKBContext.wireLenOffset)
        #expect(result.contextOut == expected)
    }

    @Test("tc_mark: a non-IPv4 frame leaves cb[1] at 0")
    func tcMarkARP() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["tc_mark"])
        let result = try #require(loaded.program(named: "tc_mark")).testRun(packet: Frames.arp)
        #expect(result.returnValue == 0)
        #expect(Bytes.u32(result.contextOut, SKBContext.cbOffset) == 42)
        #expect(Bytes.u32(result.contextOut, SKBContext.cbOffset + 4) == 0)
    }

    @Test("tc_pad: pull_data, a direct EtherType read, change_tail pads a 42-byte ARP frame to 64")
    func tcPad() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["tc_pad"])
        let program = try #require(loaded.program(named: "tc_pad"))
        let result = try program.testRun(packet: Frames.arp)
        #expect(result.returnValue == 0)
        #expect(result.packetOut == Frames.arp + [UInt8](repeating: 0, count: 22))
        #expect(Bytes.u32(try Bytes.value(loaded, ".bss"), 0) == 0x0806)
        // 64 bytes or more: unchanged.
        let long = Frames.ipv4(length: 100)
        let unchanged = try program.testRun(packet: long)
        #expect(unchanged.returnValue == 0 && unchanged.packetOut == long)
        #expect(Bytes.u32(try Bytes.value(loaded, ".bss"), 0) == 0x0800)
    }

    @Test("socket_len: len counts from the network header, as the kernel's test run pulls the Ethernet header")
    func socketLen() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["socket_len"])
        let program = try #require(loaded.program(named: "socket_len"))
        let short = Frames.ipv4(length: 74)
        let result = try program.testRun(packet: short)
        #expect(result.returnValue == 60)
        // The kernel pushes the Ethernet header back, zeroed, before returning the packet.
        #expect(result.packetOut == [UInt8](repeating: 0, count: 14) + short[14...])
        #expect(try program.testRun(packet: Frames.ipv4(length: 1514)).returnValue == 100)
    }

    @Test("cgroup_ingress: counts packets and bytes, drops over 1500")
    func cgroupIngress() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["cgroup_ingress"])
        let program = try #require(loaded.program(named: "cgroup_ingress"))
        #expect(try program.testRun(packet: Frames.ipv4(length: 74)).returnValue == 1)
        #expect(try program.testRun(packet: Frames.ipv4(length: 1614)).returnValue == 0)
        let stats = try #require(loaded.map(named: "cg_stats"))
        #expect(try stats.value(forKey: [0, 0, 0, 0]).map { Bytes.u64($0, 0) } == 2)
        #expect(try stats.value(forKey: [1, 0, 0, 0]).map { Bytes.u64($0, 0) } == 1660)
        // --repeat runs the program each time.
        _ = try program.testRun(packet: Frames.ipv4(length: 74), repeat: 3)
        #expect(try stats.value(forKey: [0, 0, 0, 0]).map { Bytes.u64($0, 0) } == 5)
        #expect(ProgramVerdict.name(1, for: .cgroupSkb) == "ALLOW")
        #expect(ProgramVerdict.name(0, for: .cgroupSkb) == "DROP")
    }

    @Test("ctx_in: only the fields the kernel accepts, with its errnos")
    func contextValidation() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.object), programs: ["tc_mark"])
        let program = try #require(loaded.program(named: "tc_mark"))
        let frame = Frames.ipv4(length: 54)
        func failure(_ ctx: [UInt8], packet: [UInt8]? = nil) -> String {
            do {
                _ = try program.testRun(packet: packet ?? frame, context: ctx)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        var len = [UInt8](repeating: 0, count: 192)
        len[0] = 1
        #expect(failure(len).contains("EINVAL: the context sets len (offset 0)"))
        var protocolField = [UInt8](repeating: 0, count: 192)
        protocolField[SKBContext.protocolOffset] = 8
        #expect(failure(protocolField).contains("sets protocol (offset 16)"))
        var tail = [UInt8](repeating: 0, count: 200)
        tail[195] = 1
        #expect(failure(tail).contains("E2BIG"))
        var wire = [UInt8](repeating: 0, count: 192)
        Bytes.put32(10, &wire, SKBContext.wireLenOffset)
        #expect(failure(wire).contains("wire_len 10 must be 0 or between the packet length 54 and 65536"))
        #expect(failure([UInt8](repeating: 0, count: 192), packet: [1, 2, 3]).contains("at least an Ethernet header"))
        #expect(failure([UInt8](repeating: 0, count: 192), packet: [UInt8](repeating: 0, count: 3713)).contains("at most 3712"))
        // A shorter context is zero-extended; a longer one with a zero tail is accepted.
        var short = [UInt8](repeating: 0, count: 12)
        Bytes.put32(0xdead, &short, SKBContext.markOffset)
        #expect(try program.testRun(packet: frame, context: short).returnValue == 2)
        let long = [UInt8](repeating: 0, count: 256)
        let result = try program.testRun(packet: frame, context: long)
        #expect(result.returnValue == 0 && result.contextOut.count == 192)
    }
}

@Suite("skb programs: context rules and helpers (contexts.o)")
struct SKBContextRuleTests {
    static let object = "Tests/Fixtures/bpf/obj/contexts.o"

    /// Some of these programs break the rules on purpose; they load as trusted code
    /// (`verification: .off`) so that the runtime's own checks are what refuse them.
    static func load(_ name: String) throws -> (LoadedObject, LoadedProgram) {
        let loaded = try LoadedObject(try RuntimeFixtures.object(object), programs: [name], verification: .off)
        return (loaded, try #require(loaded.program(named: name)))
    }

    static func failure(_ program: LoadedProgram, packet: [UInt8] = Frames.ipv4(length: 60)) -> String {
        do {
            _ = try program.testRun(packet: packet)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("tc_fields: what a TC program reads, what it may write, and what ctx_out returns")
    func tcFields() throws {
        let (loaded, program) = try Self.load("tc_fields")
        var ctx = [UInt8](repeating: 0, count: 192)
        Bytes.put32(5, &ctx, SKBContext.markOffset)
        Bytes.put32(6, &ctx, SKBContext.priorityOffset)
        Bytes.put32(3, &ctx, SKBContext.ingressIfindexOffset)
        Bytes.put32(9, &ctx, SKBContext.cbOffset + 16)
        Bytes.put32(2, &ctx, SKBContext.gsoSegsOffset)
        Bytes.put32(1400, &ctx, SKBContext.gsoSizeOffset)
        Bytes.put64(77, &ctx, SKBContext.hwtstampOffset)
        let result = try program.testRun(packet: Frames.ipv4(length: 60, destination: [0, 0, 0, 0, 0, 0]), context: ctx)
        #expect(result.returnValue == 0)
        let seen = try Bytes.value(loaded, ".bss")
        let names = ["len", "pkt_type", "protocol", "ifindex", "ingress_ifindex", "wire_len", "mark", "priority", "cb4",
                     "gso_segs", "gso_size", "data_len", "meta_len"]
        let values = names.indices.map { Bytes.u32(seen, 4 * $0) }
        #expect(values == [60, 0, 0x0008, 1, 3, 60, 5, 6, 9, 2, 1400, 60, 0], "\(Array(zip(names, values)))")
        #expect(Bytes.u64(seen, 56) == 77)
        var expected = ctx
        Bytes.put32(1, &expected, SKBContext.ifindexOffset)
        Bytes.put64(12345, &expected, SKBContext.tstampOffset)
        Bytes.put32(60, &expected, SKBContext.wireLenOffset)
        #expect(result.contextOut == expected)
    }

    @Test("tc_grow: helper failures return the kernel's errnos; growing at both ends moves data and data_end")
    func tcGrow() throws {
        let (loaded, program) = try Self.load("tc_grow")
        let frame = Frames.ipv4(length: 60)
        let result = try program.testRun(packet: frame)
        #expect(result.returnValue == 0)
        let bss = try Bytes.value(loaded, ".bss")   // tc_seen at 0, grow at 0x40, cg_seen at 0x80
        #expect((0..<7).map { Bytes.s64(bss, 0x40 + 8 * $0) } == [-22, -12, -14, -22, 0, 0, 364])
        #expect(Array(bss[0x78..<0x7c]) == [0, 0, 0, 0], "load_bytes zeroes its buffer on -EFAULT")
        #expect(result.packetOut == [0xc0, 0xff, 0xee, 0x01] + frame + [UInt8](repeating: 0, count: 300))
    }

    @Test("a store to a read-only field is refused, naming the field, instruction and C line")
    func readOnlyField() throws {
        let (_, program) = try Self.load("tc_write_len")
        let message = Self.failure(program)
        #expect(message.contains("program 'tc_write_len': instruction 1: store of 4 bytes to __sk_buff.len (offset 0), which sched_cls programs may not write"), "\(message)")
        #expect(message.contains("contexts.c:"), "\(message)")
        let (_, past) = try Self.load("tc_write_past")
        let pastMessage = Self.failure(past)
        #expect(pastMessage.contains("instruction 1: store of 4 bytes at offset 200 of the context runs past the end of struct __sk_buff (192 bytes)"), "\(pastMessage)")
        let (_, data) = try Self.load("tc_write_data")
        let dataMessage = Self.failure(data)
        #expect(dataMessage.contains("store of 4 bytes to __sk_buff.data (offset 76), which sched_cls programs may not write"), "\(dataMessage)")
    }

    @Test("socket filters may write cb only, see pkt_type, and have no direct packet access")
    func socketFilter() throws {
        let (_, cb) = try Self.load("socket_cb")
        let result = try cb.testRun(packet: Frames.ipv4(length: 74, destination: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))
        #expect(result.returnValue == 0)
        #expect(ProgramVerdict.name(result.returnValue, for: .socketFilter) == "DROP")
        #expect(Bytes.u32(result.contextOut, SKBContext.cbOffset) == 60)
        #expect(Bytes.u32(result.contextOut, SKBContext.cbOffset + 16) == 2, "PACKET_MULTICAST: loopback has no broadcast address")
        let host = try cb.testRun(packet: Frames.ipv4(length: 74, destination: [0, 0, 0, 0, 0, 0]))
        #expect(Bytes.u32(host.contextOut, SKBContext.cbOffset + 16) == 0)
        let other = try cb.testRun(packet: Frames.ipv4(length: 74))
        #expect(Bytes.u32(other.contextOut, SKBContext.cbOffset + 16) == 3)

        let (_, data) = try Self.load("socket_data")
        let message = Self.failure(data)
        #expect(message.contains("instruction 0: load of 4 bytes from __sk_buff.data (offset 76), which socket_filter programs may not read"), "\(message)")
    }

    @Test("legacy packet loads of a socket filter count from the network header")
    func socketLegacyLoad() throws {
        let (_, program) = try Self.load("socket_ldabs")
        #expect(try program.testRun(packet: Frames.ipv4(length: 60, proto: 6)).returnValue == 6)
        #expect(try program.testRun(packet: Frames.ipv4(length: 60, proto: 17)).returnValue == 17)
    }

    @Test("cgroup_skb: socket fields from the IP header, a read-only packet from the network header")
    func cgroupSkb() throws {
        let (loaded, fields) = try Self.load("cg_fields")
        #expect(try fields.testRun(packet: Frames.ipv4(length: 74)).returnValue == 1)
        let bss = try Bytes.value(loaded, ".bss")
        #expect((0..<5).map { Bytes.u32(bss, 0x80 + 4 * $0) } == [2, 0x0100_a8c0, 0x0200_a8c0, 60, 0x45])

        let (_, write) = try Self.load("cg_write_pkt")
        let message = Self.failure(write)
        #expect(message.contains("store of 1 bytes to the packet (offset 0): cgroup_skb programs may only read the packet"), "\(message)")
    }

    @Test("the access rules per type")
    func accessRules() throws {
        let tc = try #require(SKBAccess(.schedCls))
        #expect(tc.writable.contains(SKBContext.markOffset..<(SKBContext.markOffset + 4)))
        #expect(!tc.readable.contains { $0.contains(SKBContext.familyOffset) })
        #expect(tc.readable.contains { $0.contains(SKBContext.dataMetaOffset) })
        let socket = try #require(SKBAccess(.socketFilter))
        #expect(socket.packet == .none)
        #expect(socket.writable == [SKBContext.cbOffset..<(SKBContext.cbOffset + 20)])
        #expect(!socket.readable.contains { $0.contains(SKBContext.dataOffset) })
        #expect(SKBAccess(.skSkb)?.readable.contains { $0.contains(SKBContext.markOffset) } == false)
        #expect(SKBAccess(.xdp) == nil)
        #expect(SKBContext.fieldName(at: 56) == "cb[2]")
        #expect(SKBContext.fieldName(at: 104) == "remote_ip6[1]")
        #expect(ProgramVerdict.name(0xffff_ffff, for: .schedCls) == "TC_ACT_UNSPEC")
        #expect(ProgramVerdict.name(60, for: .socketFilter) == nil)
    }
}
