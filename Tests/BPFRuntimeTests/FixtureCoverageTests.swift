import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The fixture programs not covered by the map, skb, tracing and helper suites.
@Suite("Remaining fixture programs")
struct FixtureCoverageTests {
    static func load(_ name: String, programs: Set<String>? = nil) throws -> LoadedObject {
        try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/\(name).o"), programs: programs)
    }

    static func bss(_ loaded: LoadedObject, _ name: String, size: Int = 8) throws -> UInt64 {
        let btf = try #require(loaded.object.btf)
        let offset = try #require(MapFixtureTests.variableOffset(btf, section: ".bss", name: name))
        let bytes = try #require(try loaded.map(named: ".bss")!.lookup(key: le32(0)))
        return RuntimeFixtures.u64(bytes + [UInt8](repeating: 0, count: 8), offset) & (size == 8 ? .max : (1 << UInt64(size * 8)) - 1)
    }

    @Test("xdp_filter over the sample capture: DROP 4, TX 3, PASS 13, counted in .bss")
    func xdpFilter() throws {
        let loaded = try Self.load("xdp_packets")
        let program = try #require(loaded.program(named: "xdp_filter"))
        let capture = try RuntimeFixtures.capture("Examples/xdp-counter/sample.pcap")
        var verdicts: [UInt64: [Int]] = [:]
        for (i, packet) in capture.packets.enumerated() {
            let result = try program.testRun(packet: packet.data)
            verdicts[result.returnValue, default: []].append(i + 1)
            if result.returnValue == 3 {
                #expect(Array(result.packetOut[0..<6]) == Array(packet.data[6..<12]), "TX swaps the MACs")
            }
        }
        #expect(verdicts[1] == [7, 10, 15, 18])
        #expect(verdicts[3] == [5, 6, 16])
        #expect(verdicts[2]?.count == 13)
        let btf = try #require(loaded.object.btf)
        let offset = try #require(MapFixtureTests.variableOffset(btf, section: ".bss", name: "verdicts"))
        let bss = try #require(try loaded.map(named: ".bss")!.lookup(key: le32(0)))
        #expect((0..<5).map { RuntimeFixtures.u64(bss, offset + 8 * $0) } == [0, 4, 13, 3, 0])
    }

    @Test("xdp_meta stores into metadata it reserved; the context reports its length")
    func xdpMeta() throws {
        let loaded = try Self.load("xdp_packets", programs: ["xdp_meta"])
        let frame = [UInt8](0..<60)
        let result = try #require(loaded.program(named: "xdp_meta")).testRun(packet: frame)
        #expect(result.returnValue == 2)
        #expect(result.packetOut == frame)
        #expect(Array(result.contextOut[0..<4]) == le32(4))   // data = metadata length, as BPF_PROG_TEST_RUN reports
        #expect(try Self.bss(loaded, "meta_len", size: 4) == 4)
    }

    @Test("sub_tc: a TC program calling a global and a static subprogram")
    func subTC() throws {
        let loaded = try Self.load("subprograms", programs: ["sub_tc"])
        let program = try #require(loaded.program(named: "sub_tc"))
        #expect(try program.testRun(packet: [UInt8](repeating: 0, count: 100)).returnValue == 0)
        #expect(try Self.bss(loaded, "sub_result_tc", size: 4) == 301)
        #expect(try program.testRun(packet: [UInt8](repeating: 0, count: 21)).returnValue == 2)   // 3*21+1 = 64, 64 & 7 == 0
        #expect(try Self.bss(loaded, "sub_result_tc", size: 4) == 64)
    }

    @Test("misc_random_time: clocks move forward, the CPU id is one of the runtime's CPUs")
    func randomTime() throws {
        let loaded = try Self.load("helpers_misc", programs: ["misc_random_time"])
        #expect(try #require(loaded.program(named: "misc_random_time")).testRun(packet: Frames.ipv4(length: 60)).returnValue == 1)
        #expect(try Self.bss(loaded, "time_ns") > 0)
        #expect(try Self.bss(loaded, "boot_ns") >= Self.bss(loaded, "time_ns") / 2)
        #expect(try Self.bss(loaded, "cpu_id", size: 4) < UInt64(VirtualCPUs.shared.count))
    }

    @Test("uprobe_event submits its 24-byte record to the ring buffer; versioned_kprobe returns 0")
    func uprobeAndKprobe() throws {
        let loaded = try Self.load("tracing", programs: ["uprobe_event"])
        #expect(try #require(loaded.program(named: "uprobe_event")).testRun(context: nil).returnValue == 0)
        let records = try loaded.map(named: "proc_events")!.drainRingBuffer()
        #expect(records.count == 1)
        let record = try #require(records.first)
        #expect(record.count == 24)
        #expect(record.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } == UInt32(ProcessInfo.processInfo.processIdentifier))
        #expect(record[8] != 0, "comm is the host process's name")

        let versioned = try Self.load("license_version")
        #expect(versioned.object.license == "GPL")
        #expect(try #require(versioned.program(named: "versioned_kprobe")).testRun(context: nil).returnValue == 0)
    }
}
