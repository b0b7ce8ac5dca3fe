import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// Every program of every fixture object, and the examples, through both engines on the same inputs:
/// the same return values, packets, contexts, traces and map contents.
@Suite("JIT against the interpreter on every fixture", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITFixtureTests {
    /// Helpers whose results differ from run to run (time, randomness, jiffies).
    static let nondeterministic: Set<Int32> = [5, 7, 118, 125, 160, 190, 208]

    static func objects() throws -> [String] {
        let dir = TestPaths.repository.appendingPathComponent("Tests/Fixtures/bpf/obj")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".o") }.sorted()
        return names.map { "Tests/Fixtures/bpf/obj/\($0)" } + ["Examples/xdp-counter/xdp_counter.o"]
    }

    static func inputs(for type: ProgramType, packets: [[UInt8]]) -> [(packet: [UInt8], context: [UInt8]?)] {
        switch type {
        case .xdp, .schedCls, .schedAct, .socketFilter, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local, .skSkb:
            return packets.map { ($0, nil) }
        default:
            var ctx = [UInt8](repeating: 0, count: 168)
            for i in 0..<ctx.count { ctx[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
            return [([], nil), ([], [UInt8](repeating: 0, count: 48)), ([], ctx), ([], Array(ctx[0..<64]))]
        }
    }

    static func mapContents(_ object: LoadedObject) -> [String: [[UInt8]]] {
        var contents: [String: [[UInt8]]] = [:]
        // Program arrays and maps of maps hold ids, which differ between the two loads.
        for map in object.maps where ![.programArray, .arrayOfMaps, .hashOfMaps].contains(map.spec.type) {
            // A run takes whichever virtual CPU is free (tests run in parallel), so per-CPU maps
            // are compared by the sum over CPUs of each 64-bit word of the value.
            let perCPU = map.spec.type.isPerCPU
            contents[map.spec.name] = map.entries().map { $0.key + [0xff] + (perCPU ? Self.sumOverCPUs($0.value, valueSize: map.spec.valueSize) : $0.value) }
                .sorted { $0.lexicographicallyPrecedes($1) }
        }
        return contents
    }

    /// The per-CPU slots of a per-CPU value (each `valueSize` rounded up to 8 bytes), added word by word.
    static func sumOverCPUs(_ value: [UInt8], valueSize: Int) -> [UInt8] {
        let stride = (valueSize + 7) & ~7
        guard stride > 0, value.count % stride == 0 else { return value }
        var words = [UInt64](repeating: 0, count: stride / 8)
        for slot in 0..<(value.count / stride) {
            for w in words.indices {
                var word: UInt64 = 0
                for b in 0..<8 { word |= UInt64(value[slot * stride + w * 8 + b]) << (8 * UInt64(b)) }
                words[w] &+= word
            }
        }
        return words.flatMap { word in (0..<8).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0))) } }
    }

    @Test("same results and maps for every program, packet and context", arguments: JITTier.allCases)
    func everyFixture(tier: JITTier) throws {
        let packets = try RuntimeFixtures.capture("Examples/xdp-counter/sample.pcap").packets.map(\.data)
        var runs = 0, programs = 0
        for path in try Self.objects() {
            let object = try RuntimeFixtures.object(path)
            // mg_budget spends its 8M may_goto budget: too slow for the interpreter on every input
            // (MayGotoFixtureTests compares it once).
            for spec in object.programs where spec.name != "mg_budget" {
                guard let reference = try? LoadedObject(object, programs: [spec.name], engine: .interpreter) else { continue }
                let compiled = try LoadedObject(object, programs: [spec.name], engine: .jit, jitTier: tier)
                let a = try #require(reference.program(named: spec.name)), b = try #require(compiled.program(named: spec.name))
                #expect(b.jit != nil && a.jit == nil)
                let deterministic = !spec.instructions.contains { $0.opcode == 0x85 && $0.src == 0 && Self.nondeterministic.contains($0.imm) }
                programs += 1
                for (i, input) in Self.inputs(for: spec.type, packets: packets).enumerated() {
                    let where_ = "\(path) \(spec.name) input \(i)"
                    let expected = Result { try a.testRun(packet: input.packet, context: input.context) }
                    let actual = Result { try b.testRun(packet: input.packet, context: input.context) }
                    switch (expected, actual) {
                    case (.success(let x), .success(let y)):
                        runs += 1
                        guard deterministic else { continue }
                        #expect(x.returnValue == y.returnValue, "\(where_): r0")
                        #expect(x.packetOut == y.packetOut, "\(where_): packet")
                        #expect(x.contextOut == y.contextOut, "\(where_): context")
                        #expect(x.trace == y.trace, "\(where_): trace")
                    case (.failure(let x), .failure(let y)):
                        #expect("\(x)".prefix(40) == "\(y)".prefix(40), "\(where_): \(y) vs \(x)")
                    case (.failure(let x), .success):
                        Issue.record("\(where_): only the interpreter failed: \(x)")
                    case (.success, .failure(let y)):
                        Issue.record("\(where_): only the JIT failed: \(y)")
                    }
                }
                if deterministic {
                    #expect(Self.mapContents(reference) == Self.mapContents(compiled), "\(path) \(spec.name): maps differ")
                }
            }
        }
        #expect(programs >= 30, "programs \(programs)")
        #expect(runs >= 100, "runs \(runs)")
    }

    @Test("tail calls through program arrays run in the JIT")
    func tailCalls() throws {
        let object = try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/tail_calls.o")
        for spec in object.programs {
            let reference = try LoadedObject(object, engine: .interpreter)
            let compiled = try LoadedObject(object, engine: .jit)
            let packet = [UInt8](repeating: 0x45, count: 64)
            let x = try reference.program(named: spec.name)!.testRun(packet: packet, repeat: 3)
            let y = try compiled.program(named: spec.name)!.testRun(packet: packet, repeat: 3)
            #expect(x.returnValue == y.returnValue, "\(spec.name)")
            #expect(Self.mapContents(reference) == Self.mapContents(compiled), "\(spec.name)")
        }
    }
}
