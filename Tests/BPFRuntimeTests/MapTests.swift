import BPFCore
import BPFObject
import BPFRuntime
import Foundation
import Testing

/// Makes a map for a test.
func makeMap(_ type: MapType, key: Int = 4, value: Int = 8, entries: Int = 8, flags: UInt32 = 0, extra: UInt64 = 0,
             name: String = "m") throws -> RuntimeMap {
    var spec = MapSpec(name: name, type: type, keySize: key, valueSize: value, maxEntries: entries, flags: flags)
    spec.mapExtra = extra
    return try RuntimeMap.make(spec)
}

func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// Runs assembly with `maps` reachable as `lddw %rN, 0xfffff000000000NN` (map handle N) and the
/// kernel helpers.
func runWithMaps(_ source: String, maps: [RuntimeMap], memory: [UInt8] = []) throws -> UInt64 {
    let program = try Assembler().assembleProgram(source)
    let interpreter = try Interpreter(program: program, helpers: .kernel, permanentRegions: maps.flatMap(\.regions))
    var memory = memory
    return try memory.withUnsafeMutableBytes { buffer in
        try interpreter.run(r1: UInt64(UInt(bitPattern: buffer.baseAddress)), regions: [MemoryRegion(buffer)],
                            environment: RunEnvironment(maps: maps)).returnValue
    }
}

@Suite("Runtime maps")
struct MapTests {
    @Test("hash: lookup, update flags, delete, full map, iteration")
    func hash() throws {
        let map = try makeMap(.hash, entries: 3)
        try map.update(key: UInt32(1), value: UInt64(10))
        try map.update(key: UInt32(2), value: UInt64(20), flags: .noExist)
        #expect(try map.lookup(key: UInt32(1), as: UInt64.self) == 10)
        #expect(throws: MapError.self) { try map.update(key: UInt32(1), value: UInt64(11), flags: .noExist) }
        do { try map.update(key: UInt32(9), value: UInt64(1), flags: .exist) } catch { #expect(error.code == .noEntry) }
        try map.update(key: UInt32(1), value: UInt64(11), flags: .exist)
        #expect(try map.lookup(key: UInt32(1), as: UInt64.self) == 11)
        try map.update(key: UInt32(3), value: UInt64(30))
        do { try map.update(key: UInt32(4), value: UInt64(40)); Issue.record("a full map took a 4th key") } catch { #expect(error.code == .tooBig) }
        #expect(Set(try map.entries(as: UInt32.self, UInt64.self).map(\.key)) == [1, 2, 3])
        try map.delete(key: UInt32(2))
        do { try map.delete(key: UInt32(2)); Issue.record("deleted twice") } catch { #expect(error.code == .noEntry) }
        try map.update(key: UInt32(4), value: UInt64(40))   // the freed slot is reused
        #expect(Set(map.keys.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }) == [1, 3, 4])
        #expect(try map.lookupAndDelete(key: le32(3)) == le64(30))
        #expect(try map.lookup(key: le32(3)) == nil)
        // Wrong sizes are refused with EINVAL, typed or not.
        do { _ = try map.lookup(key: [1, 2]); Issue.record("short key accepted") } catch { #expect(error.code == .invalid) }
        do { try map.update(key: UInt32(5), value: UInt32(1)); Issue.record("short value accepted") } catch {
            #expect(error.code == .invalid)
            #expect(error.message.contains("value type is 4 bytes"))
        }
    }

    @Test("next-key iteration restarts from the first key when the key is gone, and visits each key once")
    func nextKey() throws {
        let map = try makeMap(.hash, entries: 64)
        for k in 0..<50 { try map.update(key: UInt32(k * 7), value: UInt64(k)) }
        var seen: [UInt32] = []
        var key: [UInt8]? = nil
        while let next = map.nextKey(after: key) {
            seen.append(next.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
            key = next
        }
        #expect(seen.count == 50 && Set(seen).count == 50)
        #expect(map.nextKey(after: le32(12345)) == map.nextKey(after: nil))
    }

    @Test("array: fixed indices, E2BIG past the end, no delete, NOEXIST refused, mmapable memory")
    func array() throws {
        let map = try makeMap(.array, entries: 4, flags: 1 << 10)
        #expect(try map.lookup(key: UInt32(3), as: UInt64.self) == 0)
        #expect(try map.lookup(key: UInt32(4), as: UInt64.self) == nil)
        do { try map.update(key: UInt32(4), value: UInt64(1)); Issue.record("index 4 accepted") } catch { #expect(error.code == .tooBig) }
        do { try map.delete(key: UInt32(0)); Issue.record("array delete accepted") } catch { #expect(error.code == .invalid) }
        do { try map.update(key: UInt32(0), value: UInt64(1), flags: .noExist); Issue.record("NOEXIST accepted") } catch { #expect(error.code == .exists) }
        try map.withMappedMemory { memory in memory.storeBytes(of: UInt64(77), toByteOffset: 16, as: UInt64.self) }
        #expect(try map.lookup(key: UInt32(2), as: UInt64.self) == 77)
        #expect(throws: MapError.self) { try makeMap(.array, entries: 4).withMappedMemory { _ in } }
        #expect(throws: MapError.self) { try makeMap(.array, key: 8) }
    }

    @Test("batch operations page through entries and report partial failures")
    func batches() throws {
        let map = try makeMap(.hash, entries: 10)
        let stored = try map.updateBatch((0..<10).map { (le32(UInt32($0)), le64(UInt64($0) * 3)) })
        #expect(stored == 10)
        var all: [(key: [UInt8], value: [UInt8])] = []
        var cursor: RuntimeMap.BatchCursor? = nil
        var batches = 0
        repeat {
            let (entries, next) = try map.lookupBatch(after: cursor, count: 4)
            all += entries
            cursor = next
            batches += 1
        } while cursor != nil
        #expect(batches == 3 && all.count == 10)
        #expect(Set(all.map(\.key)) == Set((0..<10).map { le32(UInt32($0)) }))
        do {
            try map.updateBatch([(le32(1), le64(1)), (le32(100), le64(1))], flags: .exist)
            Issue.record("batch with a missing key succeeded")
        } catch {
            #expect(error.completed == 1 && error.error.code == .noEntry)
        }
        #expect(try map.deleteBatch([le32(0), le32(1)]) == 2)
        let popped = try map.lookupAndDeleteBatch(count: 3)
        #expect(popped.count == 3)
        #expect(map.keys.count == 5)
    }

    @Test("LRU hash evicts the least recently used key when full")
    func lru() throws {
        let map = try makeMap(.lruHash, entries: 4)
        for k: UInt32 in 1...4 { try map.update(key: k, value: UInt64(k)) }
        // Use key 1 from a program, so key 2 becomes the oldest.
        let r0 = try runWithMaps("""
            stw [%r10-4], 1
            lddw %r1, 0xfffff00000000000
            mov %r2, %r10
            add %r2, -4
            call 1
            exit
            """, maps: [map])
        #expect(r0 != 0)
        try map.update(key: UInt32(5), value: UInt64(5))
        #expect(Set(try map.entries(as: UInt32.self, UInt64.self).map(\.key)) == [1, 3, 4, 5])
        try map.update(key: UInt32(3), value: UInt64(33))   // an update counts as a use
        try map.update(key: UInt32(6), value: UInt64(6))
        #expect(Set(try map.entries(as: UInt32.self, UInt64.self).map(\.key)) == [1, 3, 5, 6])
    }

    @Test("per-CPU arrays and hashes: one slot per CPU, programs see their CPU's slot")
    func perCPU() throws {
        let cpus = VirtualCPUs.shared.count
        let array = try makeMap(.perCPUArray, value: 4, entries: 2)
        #expect(array.userValueSize == 8 * cpus)
        let values = try #require(try array.perCPUValues(key: UInt32(0), as: UInt32.self))
        #expect(values == Array(repeating: 0, count: cpus))
        // A program adds 5 to its CPU's slot of index 1 and returns its CPU number.
        let source = """
            stw [%r10-4], 1
            lddw %r1, 0xfffff00000000000
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, +3
            ldxw %r1, [%r0]
            add %r1, 5
            stxw [%r0], %r1
            call 8
            exit
            """
        let cpu = try runWithMaps(source, maps: [array])
        var expected = [UInt32](repeating: 0, count: cpus)
        expected[Int(cpu)] = 5
        #expect(try array.perCPUValues(key: UInt32(1), as: UInt32.self) == expected)
        // From Swift, an update sets every CPU's slot.
        var all = [UInt8]()
        for c in 0..<cpus { all += le64(UInt64(c + 100)) }
        try array.update(key: le32(0), value: all)
        #expect(try array.perCPUValues(key: UInt32(0), as: UInt32.self) == (0..<cpus).map { UInt32($0 + 100) })

        let hash = try makeMap(.perCPUHash, value: 8, entries: 4)
        #expect(throws: MapError.self) { try hash.update(key: UInt32(1), value: UInt64(1)) }   // needs every CPU's value
        let r0 = try runWithMaps("""
            stw [%r10-4], 7
            stdw [%r10-16], 9
            lddw %r1, 0xfffff00000000000
            mov %r2, %r10
            add %r2, -4
            mov %r3, %r10
            add %r3, -16
            mov %r4, 0
            call 2
            exit
            """, maps: [hash])
        #expect(r0 == 0)
        let slots = try #require(try hash.perCPUValues(key: UInt32(7), as: UInt64.self))
        #expect(slots.reduce(0, +) == 9 && slots.filter { $0 != 0 }.count == 1)
    }

    @Test("LPM trie: longest-prefix match for IPv4 and IPv6, exact delete, post-order iteration")
    func lpm() throws {
        func v4(_ bits: UInt32, _ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] { le32(bits) + [a, b, c, d] }
        let map = try makeMap(.lpmTrie, key: 8, value: 4, entries: 8, flags: 1)
        try map.update(key: v4(8, 10, 0, 0, 0), value: le32(8))
        try map.update(key: v4(16, 10, 1, 99, 99), value: le32(16))   // host bits are ignored
        try map.update(key: v4(0, 0, 0, 0, 0), value: le32(0xdef))
        #expect(try map.lookup(key: v4(32, 10, 1, 2, 3)) == le32(16))
        #expect(try map.lookup(key: v4(32, 10, 200, 0, 1)) == le32(8))
        #expect(try map.lookup(key: v4(32, 192, 168, 0, 1)) == le32(0xdef))
        #expect(try map.lookup(key: v4(12, 10, 1, 2, 3)) == le32(8))   // a /12 query cannot match the /16
        #expect(map.keys == [v4(16, 10, 1, 0, 0), v4(8, 10, 0, 0, 0), v4(0, 0, 0, 0, 0)])
        do { try map.update(key: v4(33, 1, 1, 1, 1), value: le32(1)); Issue.record("/33 accepted") } catch { #expect(error.code == .invalid) }
        try map.delete(key: v4(16, 10, 1, 0, 0))
        do { try map.delete(key: v4(16, 10, 1, 0, 0)); Issue.record("deleted twice") } catch { #expect(error.code == .noEntry) }
        #expect(try map.lookup(key: v4(32, 10, 1, 2, 3)) == le32(8))
        #expect(throws: MapError.self) { try makeMap(.lpmTrie, key: 8, value: 4) }   // needs BPF_F_NO_PREALLOC

        let v6 = try makeMap(.lpmTrie, key: 20, value: 4, entries: 4, flags: 1)
        let doc: [UInt8] = [0x20, 0x01, 0x0d, 0xb8]
        func v6key(_ bits: UInt32, _ bytes: [UInt8]) -> [UInt8] { le32(bits) + bytes + [UInt8](repeating: 7, count: 16 - bytes.count) }
        let site: [UInt8] = doc + [0, 1, 0, 0]
        let other: [UInt8] = doc + [0, 2, 0, 0]
        try v6.update(key: v6key(32, doc), value: le32(32))
        try v6.update(key: v6key(64, site), value: le32(64))
        #expect(try v6.lookup(key: v6key(128, site)) == le32(64))
        #expect(try v6.lookup(key: v6key(128, other)) == le32(32))
        #expect(try v6.lookup(key: v6key(128, [0xfe, 0x80])) == nil)
    }

    @Test("queue and stack: order, full maps, BPF_EXIST replaces the oldest")
    func queueStack() throws {
        let queue = try makeMap(.queue, key: 0, value: 4, entries: 3)
        let stack = try makeMap(.stack, key: 0, value: 4, entries: 3)
        for v: UInt32 in 1...3 {
            try queue.push(value: le32(v))
            try stack.push(value: le32(v))
        }
        do { try queue.push(value: le32(4)); Issue.record("push onto a full queue") } catch { #expect(error.code == .tooBig) }
        try queue.push(value: le32(4), flags: .exist)
        try stack.push(value: le32(4), flags: .exist)
        #expect(try queue.pop() == le32(2))
        #expect(try queue.peek() == le32(3))
        #expect(try stack.pop() == le32(4))
        #expect(try stack.pop() == le32(3))
        #expect(try stack.pop() == le32(2))
        #expect(try stack.pop() == nil)
        #expect(try queue.lookupAndDelete(key: []) == le32(3))
    }

    @Test("bloom filter: pushed values are present, others are reported absent")
    func bloom() throws {
        let bloom = try makeMap(.bloomFilter, key: 0, value: 4, entries: 100, extra: 3)
        for v: UInt32 in stride(from: 0, to: 1000, by: 10) { try bloom.push(value: le32(v)) }
        for v: UInt32 in stride(from: 0, to: 1000, by: 10) { #expect(try bloom.mayContain(value: le32(v))) }
        var falsePositives = 0
        for v: UInt32 in 100_000..<100_500 where try bloom.mayContain(value: le32(v)) { falsePositives += 1 }
        #expect(falsePositives < 50)
        #expect(throws: MapError.self) { try makeMap(.bloomFilter, key: 0, value: 4, extra: 16) }
    }

    @Test("maps of maps check inner maps against the template and hand programs usable handles")
    func mapsOfMaps() throws {
        var spec = MapSpec(name: "outer", type: .hashOfMaps, keySize: 4, valueSize: 4, maxEntries: 2)
        spec.innerMap = MapSpec.Box(MapSpec(name: "inner", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        let outer = try RuntimeMap.make(spec)
        let inner = try makeMap(.array, entries: 4)
        try outer.setInnerMap(key: le32(7), inner)
        #expect(try outer.lookup(key: le32(7)) == le32(inner.id))
        #expect(throws: MapError.self) { try outer.setInnerMap(key: le32(8), try makeMap(.hash)) }
        // By id, as the kernel's user API.
        let second = try makeMap(.array, entries: 2)
        try outer.update(key: le32(9), value: le32(second.id))
        do { try outer.update(key: le32(10), value: le32(second.id)); Issue.record("a full hash of maps took a third") } catch { #expect(error.code == .tooBig) }
        // A program looks up the inner map and stores into it.
        let r0 = try runWithMaps("""
            stw [%r10-4], 7
            lddw %r1, 0xfffff00000000000
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, +10
            mov %r1, %r0
            stw [%r10-8], 2
            stdw [%r10-16], 1234
            mov %r2, %r10
            add %r2, -8
            mov %r3, %r10
            add %r3, -16
            mov %r4, 0
            call 2
            exit
            mov %r0, 99
            exit
            """, maps: [outer])
        #expect(r0 == 0)
        #expect(try inner.lookup(key: UInt32(2), as: UInt64.self) == 1234)
    }

    @Test("ring buffer: reserve, submit, discard and output in the kernel's record layout, across the wrap")
    func ringBuffer() throws {
        let ring = try makeMap(.ringBuffer, key: 0, value: 0, entries: 4096)
        #expect(throws: MapError.self) { try makeMap(.ringBuffer, key: 0, value: 0, entries: 5000) }
        // Each run reserves 1000 bytes, fills the first and last 8, then submits (r1 = 1: discard).
        let source = """
            mov %r6, %r1
            lddw %r1, 0xfffff00000000000
            mov %r2, 1000
            mov %r3, 0
            call 131
            jeq %r0, 0, full
            ldxdw %r1, [%r6]
            stxdw [%r0], %r1
            stxdw [%r0+992], %r1
            mov %r1, %r0
            mov %r2, 0
            ldxdw %r3, [%r6+8]
            jeq %r3, 0, submit
            call 133
            ja done
            submit:
            call 132
            done:
            mov %r0, 1
            exit
            full:
            mov %r0, 0
            exit
            """
        var records: [[UInt8]] = []
        for round: UInt64 in 0..<12 {
            let discard: UInt64 = round % 5 == 4 ? 1 : 0
            #expect(try runWithMaps(source, maps: [ring], memory: le64(0xabc0 + round) + le64(discard)) == 1)
            records += try ring.drainRingBuffer()
        }
        let kept = (0..<12).filter { $0 % 5 != 4 }
        #expect(records.count == kept.count)
        for (record, round) in zip(records, kept) {
            #expect(record.count == 1000)
            #expect(Array(record[0..<8]) == le64(0xabc0 + UInt64(round)))
            #expect(Array(record[992..<1000]) == le64(0xabc0 + UInt64(round)))
        }
        // Without a consumer the ring fills: the 5th 1000-byte reservation of a 4 KiB ring fails.
        var successes = 0
        for _ in 0..<5 { successes += Int(try runWithMaps(source, maps: [ring], memory: le64(1) + le64(0))) }
        #expect(successes == 4)
        #expect(try ring.drainRingBuffer().count == 4)
        // Submitting memory that is not a reservation is refused.
        #expect(throws: RuntimeError.self) {
            _ = try runWithMaps("mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall 132\nexit", maps: [ring])
        }
    }

    @Test("perf event array: records per CPU, lost records when a buffer is full")
    func perfEvents() throws {
        let perf = try RuntimeMap.make(MapSpec(name: "events", type: .perfEventArray, keySize: 4, valueSize: 4, maxEntries: 0))
        #expect(perf.spec.maxEntries == VirtualCPUs.shared.count)
        let source = """
            mov %r6, %r1
            stdw [%r10-8], 0x55
            mov %r1, %r6
            lddw %r2, 0xfffff00000000000
            lddw %r3, 0xffffffff
            mov %r4, %r10
            add %r4, -8
            mov %r5, 8
            call 25
            exit
            """
        #expect(try runWithMaps(source, maps: [perf]) == 0)
        let all = try perf.drainAllPerfEvents()
        #expect(all.flatMap(\.records) == [le64(0x55)])
        for _ in 0..<20_000 { _ = try runWithMaps(source, maps: [perf]) }
        let after = try perf.drainAllPerfEvents()
        #expect(after.map(\.lost).reduce(0, +) > 0)
        #expect(after.map { $0.records.count }.reduce(0, +) + Int(after.map(\.lost).reduce(0, +)) == 20_000)
    }

    @Test("bpf_loop calls its callback until it returns 1; bad flags and counts are refused")
    func loopHelper() throws {
        // sum of i for i < r1-provided count, stopping early when i == 6.
        let source = """
            stdw [%r10-8], 0
            mov %r1, 10
            lddw %r2, func body
            mov %r3, %r10
            add %r3, -8
            mov %r4, 0
            call 181
            ldxdw %r1, [%r10-8]
            lsh %r0, 32
            or %r0, %r1
            exit
            body:
            ldxdw %r3, [%r2]
            add %r3, %r1
            stxdw [%r2], %r3
            mov %r0, 0
            jne %r1, 6, +1
            mov %r0, 1
            exit
            """
        let r0 = try runWithMaps(source, maps: [])
        #expect(r0 >> 32 == 7)            // iterations 0...6
        #expect(r0 & 0xffff_ffff == 21)   // 0+1+...+6
        let badFlags = try runWithMaps(source.replacingOccurrences(of: "mov %r4, 0\n", with: "mov %r4, 1\n"), maps: [])
        #expect(Int32(truncatingIfNeeded: badFlags >> 32) == -22)
    }

    @Test("bpf_spin_lock refuses a lock on the stack, so a program cannot hang the host on its own memory")
    func spinLockOnStack() throws {
        do {
            _ = try runWithMaps("stw [%r10-4], 1\nmov %r1, %r10\nadd %r1, -4\ncall 93\nexit", maps: [])
            Issue.record("a stack lock was taken")
        } catch let error as RuntimeError {
            #expect(error.description.contains("on the stack"))
            #expect(error.pc == 3)
        }
    }
}

/// What the runtime's socket helpers and socket-keyed maps do in a process with no sockets.
@Suite("Runtime with no sockets")
struct NoSocketTests {
    @Test("sk_storage is always empty and refuses entries, naming the map")
    func skStorage() throws {
        let map = try makeMap(.skStorage, entries: 0, flags: 1)   // max_entries 0 and BPF_F_NO_PREALLOC, as the kernel requires
        #expect(try map.lookup(key: UInt32(3), as: UInt64.self) == nil)
        do {
            try map.update(key: UInt32(3), value: UInt64(1))
            Issue.record("an sk_storage update succeeded")
        } catch {
            #expect(error.code == .notSupported)
            #expect("\(error)".contains("sk_storage map 'm'"))
        }
    }

    @Test("socket helpers: conversions NULL, syncookies -EINVAL, socket storage NULL and -ENOENT")
    func helpers() throws {
        let map = try makeMap(.skStorage, flags: 1)
        func call(_ id: Int, _ setup: String = "") throws -> Int64 {
            Int64(bitPattern: try runWithMaps("""
                \(setup)
                mov %r1, 0
                call \(id)
                exit
                """, maps: [map]))
        }
        for id in 136...140 { #expect(try call(id) == 0, "bpf_skc_to_* (\(id))") }
        #expect(try call(100) == -22)
        #expect(try call(110) == -22)
        #expect(try call(107) == 0)
        #expect(try call(108) == -2)
    }
}

/// Timers in the runtime: armed, never fired, with the kernel's results (timers.c; the
/// differential test compares them with the kernel's where it runs).
@Suite("Runtime timers")
struct TimerRuntimeTests {
    @Test("init, set_callback, start and cancel give the kernel's results, on every engine",
          arguments: ExecutionEngine.allCases.filter { $0 != .jit || JITProgram.isSupported })
    func states(_ engine: ExecutionEngine) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/bpf/obj/timers.o").path
        let object = try ObjectFile(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        let program = try #require(try LoadedObject(object, programs: ["tm_states"], engine: engine).program(named: "tm_states"))
        let packet = [UInt8](repeating: 0, count: 60)
        #expect(try program.testRun(packet: packet).returnValue == 56_656_080)
        #expect(try program.testRun(packet: packet).returnValue == 56_656_082)
    }
}
