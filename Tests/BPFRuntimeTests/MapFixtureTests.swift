import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Synchronization
import Testing

/// Runs a program of a loaded object with an empty context (for programs whose context the test
/// does not need), returning r0.
func runDirect(_ program: LoadedProgram) throws -> UInt64 {
    var context = [UInt8](repeating: 0, count: 64)
    return try context.withUnsafeMutableBytes { buffer in
        try program.interpreter.run(r1: UInt64(UInt(bitPattern: buffer.baseAddress)), regions: [MemoryRegion(buffer)],
                                    environment: RunEnvironment(maps: program.maps)).returnValue
    }
}

@Suite("Fixture programs using every map type")
struct MapFixtureTests {
    static let frame: [UInt8] = [UInt8](repeating: 0xee, count: 60)

    static func load(_ name: String, programs: Set<String>? = nil) throws -> LoadedObject {
        try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/\(name).o"), programs: programs)
    }

    @Test("maps_all: per-CPU and LRU counters count every run")
    func percpuLRU() throws {
        let loaded = try Self.load("maps_all")
        let program = try #require(loaded.program(named: "maps_percpu_lru"))
        for _ in 0..<3 { #expect(try program.testRun(packet: Self.frame).returnValue == 2) }
        let pcpuHash = try #require(loaded.map(named: "pcpu_hash"))
        #expect(try pcpuHash.perCPUValues(key: UInt32(1), as: UInt64.self)?.reduce(0, +) == 3)
        #expect(try loaded.map(named: "pcpu_array")!.perCPUValues(key: UInt32(0), as: UInt64.self)?.reduce(0, +) == 3)
        #expect(try loaded.map(named: "lru_hash")!.lookup(key: UInt32(1), as: UInt64.self) == 3)
        #expect(try loaded.map(named: "lru_pcpu_hash")!.perCPUValues(key: UInt32(1), as: UInt64.self)?.reduce(0, +) == 3)
    }

    @Test("maps_all: LPM trie, queue, stack and bloom filter behave as in Linux")
    func lpmQueueStackBloom() throws {
        let loaded = try Self.load("maps_all")
        #expect(try loaded.program(named: "maps_lpm")!.testRun(packet: Self.frame).returnValue == 2)
        #expect(loaded.map(named: "lpm")!.keys.count == 2)
        #expect(try loaded.program(named: "maps_queue_stack")!.testRun(packet: Self.frame).returnValue == 2)
        let fifo = try #require(loaded.map(named: "fifo"))
        let lifo = try #require(loaded.map(named: "lifo"))
        #expect(try fifo.pop() == le32(2))
        #expect(try fifo.pop() == le32(3))
        #expect(try fifo.pop() == nil)
        #expect(try lifo.pop() == le32(2))
        #expect(try lifo.pop() == le32(1))
        #expect(try loaded.map(named: "seen")!.mayContain(value: le32(0xC0FFEE)))
    }

    @Test("maps_all: ring buffer and perf event records reach Swift")
    func events() throws {
        let loaded = try Self.load("maps_all")
        #expect(try loaded.program(named: "maps_events")!.testRun(packet: Self.frame).returnValue == 2)
        let ring = try loaded.map(named: "events_rb")!.drainRingBuffer()
        #expect(ring == [le32(1) + le32(60) + le64(0x1122334455667788), le32(2) + le32(60) + le64(0xAABBCCDD)])
        let perf = try loaded.map(named: "events_perf")!.drainAllPerfEvents()
        #expect(perf.flatMap(\.records) == [le32(3) + le32(60) + le64(42)])
    }

    @Test("maps_all: maps of maps start with their declared inner maps; Swift can add more")
    func mapsInMaps() throws {
        let loaded = try Self.load("maps_all")
        let program = try #require(loaded.program(named: "maps_in_maps"))
        #expect(try program.testRun(packet: Self.frame).returnValue == 2)
        #expect(try loaded.map(named: "inner_a")!.lookup(key: UInt32(0), as: UInt32.self) == 1)
        try loaded.map(named: "outer_hash")!.setInnerMap(key: le32(7), loaded.map(named: "inner_b")!)
        #expect(try program.testRun(packet: Self.frame).returnValue == 2)
        #expect(try loaded.map(named: "inner_a")!.lookup(key: UInt32(0), as: UInt32.self) == 2)
        #expect(try loaded.map(named: "inner_b")!.lookup(key: UInt32(0), as: UInt32.self) == 1)
    }

    @Test("maps_all: a tail call through the declared program array; an empty slot falls through")
    func tailCallInMapsAll() throws {
        let loaded = try Self.load("maps_all", programs: ["maps_tail_entry"])
        let entry = try #require(loaded.program(named: "maps_tail_entry"))
        #expect(try entry.testRun(packet: Self.frame).returnValue == 1)
        try loaded.map(named: "jump")!.delete(key: le32(0))
        #expect(try entry.testRun(packet: Self.frame).returnValue == 0)
    }

    @Test("tail_calls: a chain of three, a missing slot, and the 33-call limit")
    func tailCalls() throws {
        let loaded = try Self.load("tail_calls")
        let visits = try #require(loaded.map(named: "visits"))
        func counts() throws -> [UInt64] { try (0..<4).map { try visits.lookup(key: UInt32($0), as: UInt64.self)! } }
        #expect(try loaded.program(named: "tail_entry")!.testRun(packet: Self.frame).returnValue == 1)
        #expect(try counts() == [1, 1, 1, 1])
        #expect(try loaded.program(named: "tail_missing")!.testRun(packet: Self.frame).returnValue == 2)
        #expect(try counts() == [1, 1, 1, 1])
        #expect(try loaded.program(named: "tail_stage2")!.testRun(packet: Self.frame).returnValue == 1)
        #expect(try counts() == [1, 1, 2, 2])
        // Slot 0 pointing at tail_entry makes it call itself: Linux allows 33 tail calls, so it
        // runs 34 times and then falls through to XDP_ABORTED.
        let chain = try #require(loaded.map(named: "chain"))
        try chain.setProgram(loaded.program(named: "tail_entry"), at: 0)
        #expect(try chain.lookup(key: le32(0)) == le32(loaded.program(named: "tail_entry")!.id))
        #expect(try loaded.program(named: "tail_entry")!.testRun(packet: Self.frame).returnValue == 0)
        #expect(try counts()[0] == 1 + 34)
        // An unfilled array: the entry falls through.
        let fresh = try Self.load("tail_calls")
        for slot in 0..<3 { try fresh.map(named: "chain")!.delete(key: le32(UInt32(slot))) }
        #expect(try fresh.program(named: "tail_entry")!.testRun(packet: Self.frame).returnValue == 0)
        #expect(try (0..<4).map { try fresh.map(named: "visits")!.lookup(key: UInt32($0), as: UInt64.self)! } == [1, 0, 0, 0])
    }

    @Test("helpers_misc: bpf_loop, bpf_for_each_map_elem and spin locks")
    func callbacksAndLocks() throws {
        let loaded = try Self.load("helpers_misc", programs: ["misc_loop", "misc_for_each", "misc_spin_lock"])
        let bss = try #require(loaded.map(named: ".bss"))
        func bssU64(_ name: String) throws -> UInt64 {
            let offset = try #require(loaded.object.btf.flatMap { btf in Self.variableOffset(btf, section: ".bss", name: name) })
            let bytes = try #require(try bss.lookup(key: le32(0)))
            return RuntimeFixtures.u64(bytes, offset)
        }
        #expect(try runDirect(loaded.program(named: "misc_loop")!) == 45)
        #expect(try bssU64("loop_iterations") == 10)
        #expect(try runDirect(loaded.program(named: "misc_for_each")!) == 10)
        #expect(try bssU64("each_visited") == 4)
        let lock = try #require(loaded.program(named: "misc_spin_lock"))
        #expect(try runDirect(lock) == 5)
        #expect(try runDirect(lock) == 10)
        // BPF_F_LOCK from Swift copies around the lock word; a map without a lock refuses it.
        let counter = try #require(loaded.map(named: "locked_counter"))
        #expect(counter.spec.spinLockOffset != nil)
        var value = try #require(try counter.lookup(key: le32(0)))
        let countOffset = counter.spec.spinLockOffset == 0 ? 8 : 0
        value.replaceSubrange(countOffset..<countOffset + 8, with: le64(100))
        try counter.update(key: le32(0), value: value, flags: .lock)
        #expect(try runDirect(lock) == 105)
        do { try loaded.map(named: "numbers")!.update(key: UInt32(0), value: UInt64(1), flags: .lock); Issue.record("F_LOCK without a lock") } catch {
            #expect(error.code == .invalid)
        }
    }

    @Test("legacy maps and subprograms")
    func legacyAndSubprograms() throws {
        let legacy = try Self.load("legacy_maps")
        let count = try #require(legacy.program(named: "legacy_count"))
        #expect(try count.testRun(packet: [UInt8](repeating: 0, count: 60)).returnValue == 2)
        #expect(try count.testRun(packet: [UInt8](repeating: 0, count: 130)).returnValue == 2)
        #expect(try legacy.map(named: "legacy_counters")!.entries(as: UInt32.self, UInt64.self).map(\.value) == [2, 190])
        #expect(try legacy.map(named: "legacy_by_size")!.lookup(key: UInt32(0), as: UInt64.self) == 1)
        #expect(try legacy.map(named: "legacy_by_size")!.lookup(key: UInt32(2), as: UInt64.self) == 1)

        let sub = try Self.load("subprograms", programs: ["sub_xdp"])
        let program = try #require(sub.program(named: "sub_xdp"))
        let bss = try #require(sub.maps.first { $0.spec.isGlobalData && $0.spec.name.hasSuffix("bss") })
        let offset = try #require(sub.object.btf.flatMap { Self.variableOffset($0, section: ".bss", name: "sub_result_xdp") })
        #expect(try program.testRun(packet: [UInt8](repeating: 0, count: 100)).returnValue == 2)
        #expect(RuntimeFixtures.u64(try bss.lookup(key: le32(0))!, offset) & 0xffff_ffff == 522)
        #expect(try program.testRun(packet: [UInt8](repeating: 0, count: 2000)).returnValue == 2)
        #expect(RuntimeFixtures.u64(try bss.lookup(key: le32(0))!, offset) & 0xffff_ffff == 4938)
    }

    @Test("programs on several threads: maps lose no update, per-CPU slots need no atomics")
    func hammer() throws {
        let loaded = try Self.load("maps_all", programs: ["maps_percpu_lru"])
        let program = try #require(loaded.program(named: "maps_percpu_lru"))
        let counted = try Self.load("maps_hash_array")
        let count = try #require(counted.program(named: "count_by_proto"))
        var frame = [UInt8](repeating: 0, count: 54)
        frame[12] = 0x08; frame[14] = 0x45; frame[23] = 6
        let tcp = frame
        let threads = 4, runs = 2_000
        let swiftSide = try makeMap(.hash, entries: threads * runs)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<runs {
                do {
                    if try program.testRun(packet: Self.frame).returnValue != 2 { failures.withLock { $0 += 1 } }
                    if try count.testRun(packet: tcp).returnValue != 2 { failures.withLock { $0 += 1 } }
                    try swiftSide.update(key: UInt32(t * runs + i), value: UInt64(i))
                } catch {
                    failures.withLock { $0 += 1 }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let total = UInt64(threads * runs)
        // maps_percpu_lru increments with plain loads and stores: only per-CPU exclusivity keeps the counts exact.
        #expect(try loaded.map(named: "pcpu_array")!.perCPUValues(key: UInt32(0), as: UInt64.self)?.reduce(0, +) == total)
        #expect(try loaded.map(named: "pcpu_hash")!.perCPUValues(key: UInt32(1), as: UInt64.self)?.reduce(0, +) == total)
        #expect(try counted.map(named: "proto_packets")!.lookup(key: UInt32(6), as: UInt64.self) == total)
        #expect(try counted.map(named: "total_bytes")!.lookup(key: UInt32(0), as: UInt64.self) == total * 54)
        #expect(swiftSide.keys.count == threads * runs)
    }

    static func variableOffset(_ btf: BTF, section: String, name: String) -> Int? {
        guard let id = btf.typeID(named: section, kind: .dataSection), case let .variables(vars)? = btf[id]?.detail else { return nil }
        return vars.first { btf[$0.type]?.name == name }?.offset
    }
}
