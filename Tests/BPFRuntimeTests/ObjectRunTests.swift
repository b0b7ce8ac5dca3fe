import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

enum RuntimeFixtures {
    static func object(_ path: String) throws -> ObjectFile { try ObjectFile(bytes: TestPaths.bytes(path)) }

    static func capture(_ path: String) throws -> PacketCapture { try PacketCapture(bytes: TestPaths.bytes(path)) }

    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}

@Suite("Objects in the Swift runtime")
struct ObjectRunTests {
    @Test("the XDP counter example over sample.pcap: verdicts and per-protocol counts")
    func xdpCounterOverCapture() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Examples/xdp-counter/xdp_counter.o"))
        let program = try #require(loaded.program(named: "xdp_counter"))
        for file in ["sample.pcap", "sample.pcapng"] {
            let capture = try RuntimeFixtures.capture("Examples/xdp-counter/\(file)")
            #expect(capture.packets.count == 20)
            var verdicts: [UInt64: Int] = [:]
            for packet in capture.packets {
                verdicts[try program.testRun(packet: packet.data).returnValue, default: 0] += 1
            }
            #expect(verdicts == [1: 4, 2: 16], "\(file)")
        }
        // Both captures ran: every count is doubled.
        let stats = try #require(loaded.maps.first { $0.spec.type == .hash })
        var table: [UInt32: (UInt64, UInt64)] = [:]
        for (key, value) in stats.entries() {
            let k = UInt32(key[0]) | UInt32(key[1]) << 8 | UInt32(key[2]) << 16 | UInt32(key[3]) << 24
            table[k] = (RuntimeFixtures.u64(value, 0), RuntimeFixtures.u64(value, 8))
        }
        #expect(table[6]?.0 == 10 && table[6]?.1 == 3552)
        #expect(table[17]?.0 == 16 && table[17]?.1 == 1204)
        #expect(table[1]?.0 == 6 && table[1]?.1 == 532)
        #expect(table[256]?.0 == 8 && table[256]?.1 == 440)
    }

    @Test("hash and array maps from a fixture: counts per protocol and total bytes")
    func mapsHashArray() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/maps_hash_array.o"))
        let program = try #require(loaded.program(named: "count_by_proto"))
        func frame(proto: UInt8?, length: Int) -> [UInt8] {
            var f = [UInt8](repeating: 0, count: length)
            if let proto {
                f[12] = 0x08; f[13] = 0x00; f[14] = 0x45; f[23] = proto
            } else {
                f[12] = 0x08; f[13] = 0x06
            }
            return f
        }
        #expect(try program.testRun(packet: frame(proto: 6, length: 54)).returnValue == 2)
        #expect(try program.testRun(packet: frame(proto: 17, length: 42)).returnValue == 2)
        #expect(try program.testRun(packet: frame(proto: nil, length: 42)).returnValue == 2)
        let packets = try #require(loaded.map(named: "proto_packets"))
        #expect(try packets.value(forKey: [6, 0, 0, 0]).map { RuntimeFixtures.u64($0, 0) } == 1)
        #expect(try packets.value(forKey: [17, 0, 0, 0]).map { RuntimeFixtures.u64($0, 0) } == 1)
        #expect(try packets.value(forKey: [1, 0, 0, 0]) == nil)
        let total = try #require(loaded.map(named: "total_bytes"))
        #expect(try total.value(forKey: [0, 0, 0, 0]).map { RuntimeFixtures.u64($0, 0) } == 138)
    }

    @Test("global data, .rodata and .kconfig values reach the program")
    func globalData() throws {
        let kernelVersion: UInt32 = 0x060c00
        let loaded = try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/global_data.o"),
                                      kconfig: ["LINUX_KERNEL_VERSION": withUnsafeBytes(of: kernelVersion.littleEndian) { Array($0) }])
        let program = try #require(loaded.program(named: "global_update"))
        _ = try program.testRun(packet: [UInt8](repeating: 0, count: 64))
        let bss = try #require(loaded.map(named: ".bss"))
        let btf = try #require(loaded.object.btf)
        let text = BTFValueFormatter(btf: btf).format(try #require(try bss.value(forKey: [0, 0, 0, 0])), type: try #require(bss.spec.valueType))
        #expect(text.contains("last_result: 329"), "\(text)")
    }

    @Test("XDP packet reshaping helpers and the returned context")
    func xdpReshape() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/xdp_packets.o"))
        let reshape = try #require(loaded.program(named: "xdp_reshape"))
        let result = try reshape.testRun(packet: [UInt8](repeating: 0xab, count: 60))
        #expect(result.packetOut.count == 64)
        #expect(Array(result.packetOut.prefix(8)) == [0x53, 0x57, 0x42, 0x50, 0x46, 0x00, 0x00, 0x01])
        #expect(result.contextOut.count == 24)
        #expect(result.contextOut[4] == 64)   // data_end - data_meta
    }

    @Test("trace_printk output is captured")
    func tracePrintk() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/helpers_misc.o"), programs: ["misc_printk"])
        let program = try #require(loaded.program(named: "misc_printk"))
        let result = try program.testRun(packet: [UInt8](repeating: 0, count: 64))
        #expect(result.trace.contains("d=-5 u=7 x=beef"), "\(result.trace)")
        #expect(result.trace.contains("s=swift llu=1234567890123"), "\(result.trace)")
        #expect(result.trace.contains("vprintk 1 2 3 4 five"), "\(result.trace)")
    }

    @Test("out-of-bounds packet access is stopped with the C source line")
    func sourceLineInErrors() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Examples/xdp-counter/xdp_counter.o"))
        let program = try #require(loaded.program(named: "xdp_counter"))
        // An Ethernet header of IPv4 and no IP header: the program's bounds check (data + sizeof(eth)
        // + sizeof(iph) > data_end) passes it.
        #expect(try program.testRun(packet: [UInt8](repeating: 0, count: 12) + [0x08, 0x00]).returnValue == 2)
        // Shorter than an Ethernet header: refused, as the kernel's test run does (EINVAL).
        #expect(throws: LoadError.self) { try program.testRun(packet: [1, 2, 3]) }
    }
}
