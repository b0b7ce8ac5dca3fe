import BPFLinux
import BPFObject
import BPFTestSupport
import Testing

/// Map round trips against the running kernel. Skipped, with the reason, where bpf() is not usable.
@Suite(.requires(Kernel.bpf))
struct KernelMapTests {
    func map(_ type: MapType, key: Int = 4, value: Int = 8, entries: Int = 16, flags: UInt32 = 0) throws -> KernelMap {
        try KernelMap(MapSpec(name: "t_\(type.kernelName)", type: type, keySize: key, valueSize: value, maxEntries: entries, flags: flags))
    }

    @Test func hashRoundTrip() throws {
        let m = try map(.hash)
        try m.update(key: UInt32(6), value: UInt64(100))
        #expect(try m.lookup(key: UInt32(6), as: UInt64.self) == 100)
        #expect(try m.lookup(key: UInt32(7), as: UInt64.self) == nil)
        try m.update(key: UInt32(6), value: UInt64(101), flags: .exist)
        #expect(try m.lookup(key: UInt32(6), as: UInt64.self) == 101)
        try m.delete(key: UInt32(6))
        #expect(try m.lookup(key: UInt32(6), as: UInt64.self) == nil)
    }

    @Test func errorsAreNamed() throws {
        let m = try map(.hash, entries: 2)
        try m.update(key: UInt32(1), value: UInt64(1))
        let exists = #expect(throws: BPFError.self) { try m.update(key: UInt32(1), value: UInt64(2), flags: .noExist) }
        #expect(exists?.errno == .EEXIST)
        #expect(exists?.command == .mapUpdateElem)
        #expect(exists?.description.contains("BPF_MAP_UPDATE_ELEM failed: EEXIST") == true)
        let missing = #expect(throws: BPFError.self) { try m.delete(key: UInt32(9)) }
        #expect(missing?.errno == .ENOENT)
        #expect(missing?.description.contains("ENOENT") == true)
        let noExist = #expect(throws: BPFError.self) { try m.update(key: UInt32(9), value: UInt64(2), flags: .exist) }
        #expect(noExist?.errno == .ENOENT)
        try m.update(key: UInt32(2), value: UInt64(2))
        let full = #expect(throws: BPFError.self) { try m.update(key: UInt32(3), value: UInt64(3)) }
        #expect(full?.errno == .E2BIG)
        #expect(full?.description.contains("full") == true)
        let badSize = #expect(throws: BPFError.self) { try m.update(key: UInt16(3), value: UInt64(3)) }
        #expect(badSize?.errno == nil)
        let badMap = #expect(throws: BPFError.self) {
            try KernelMap(MapSpec(name: "bad", type: .hash, keySize: 0, valueSize: 8, maxEntries: 1))
        }
        #expect(badMap?.errno == .EINVAL)
        #expect(badMap?.command == .mapCreate)
    }

    @Test func arrayRoundTrip() throws {
        let m = try map(.array, entries: 4)
        #expect(try m.lookup(key: UInt32(3), as: UInt64.self) == 0)
        try m.update(key: UInt32(3), value: UInt64(0xdead_beef))
        #expect(try m.lookup(key: UInt32(3), as: UInt64.self) == 0xdead_beef)
        #expect(try m.lookup(key: UInt32(4), as: UInt64.self) == nil)
        let error = #expect(throws: BPFError.self) { try m.delete(key: UInt32(0)) }
        #expect(error?.errno == .EINVAL)
    }

    @Test func perCPUArray() throws {
        let m = try map(.perCPUArray, value: 4, entries: 2)
        let cpus = try PossibleCPUs.count
        #expect(m.cpuSlots == cpus)
        #expect(m.userValueSize == 8 * cpus)
        try m.update(key: [0, 0, 0, 0], value: m.perCPUBytes((0..<cpus).map { [UInt8($0 + 1), 0, 0, 0] }))
        #expect(try m.perCPUValues(key: UInt32(0), as: UInt32.self) == (0..<cpus).map { UInt32($0 + 1) })
        try m.update(key: UInt32(1), value: UInt32(7))
        #expect(try m.perCPUValues(key: UInt32(1), as: UInt32.self) == Array(repeating: 7, count: cpus))
    }

    @Test func lruHashEvicts() throws {
        let m = try map(.lruHash, entries: 64)
        for i in 0..<1000 { try m.update(key: UInt32(i), value: UInt64(i)) }
        let entries = try m.entries(as: UInt32.self, UInt64.self)
        #expect(entries.count <= 64 && !entries.isEmpty)
        #expect(entries.allSatisfy { UInt64($0.key) == $0.value })
        #expect(try m.lookup(key: UInt32(999), as: UInt64.self) == 999)
    }

    @Test func queueAndStack() throws {
        let queue = try map(.queue, key: 0, value: 4, entries: 3)
        let stack = try map(.stack, key: 0, value: 4, entries: 3)
        for i: UInt32 in 1...3 { try queue.push(i); try stack.push(i) }
        let full = #expect(throws: BPFError.self) { try queue.push(UInt32(4)) }
        #expect(full?.errno == .E2BIG)
        try queue.push(UInt32(4), flags: .exist)   // drops the oldest
        #expect(try queue.peek() == [2, 0, 0, 0])
        #expect(try queue.pop(as: UInt32.self) == 2)
        #expect(try stack.pop(as: UInt32.self) == 3)
        #expect(try queue.pop(as: UInt32.self) == 3)
        #expect(try queue.pop(as: UInt32.self) == 4)
        #expect(try queue.pop(as: UInt32.self) == nil)
    }

    @Test func lpmTrie() throws {
        // {u32 prefixlen; u8 addr[4]}
        let m = try map(.lpmTrie, key: 8, value: 4, entries: 16, flags: KernelMap.Flag.noPrealloc)
        try m.update(key: [16, 0, 0, 0, 10, 1, 0, 0], value: [1, 0, 0, 0])
        try m.update(key: [24, 0, 0, 0, 10, 1, 2, 0], value: [2, 0, 0, 0])
        #expect(try m.lookup(key: [32, 0, 0, 0, 10, 1, 2, 3]) == [2, 0, 0, 0])
        #expect(try m.lookup(key: [32, 0, 0, 0, 10, 1, 9, 9]) == [1, 0, 0, 0])
        #expect(try m.lookup(key: [32, 0, 0, 0, 10, 2, 0, 0]) == nil)
        let prealloc = #expect(throws: BPFError.self) { try map(.lpmTrie, key: 8, value: 4, entries: 16) }
        #expect(prealloc?.errno == .EINVAL)
    }

    @Test func ringBufferAndProgramArrayCreate() throws {
        let ring = try KernelMap(MapSpec(name: "events", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 4096))
        #expect(ring.fd.rawValue >= 0)
        let jump = try map(.programArray, value: 4, entries: 4)
        #expect(try jump.lookup(key: [0, 0, 0, 0]) == nil)   // empty slots read as absent from user space
    }

    @Test func arrayOfMaps() throws {
        let inner = try map(.array, entries: 1)
        var spec = MapSpec(name: "outer", type: .arrayOfMaps, keySize: 4, valueSize: 4, maxEntries: 2)
        spec.innerMap = .init(MapSpec(name: "inner", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        let outer = try KernelMap(spec, innerMap: inner)
        try outer.setFD(inner.fd, key: [1, 0, 0, 0])
        let id = try #require(try outer.lookup(key: UInt32(1), as: UInt32.self))   // reads back the inner map's id
        #expect(id == (try inner.info().id))
        let missing = #expect(throws: BPFError.self) { try KernelMap(spec) }
        #expect(missing?.command == .mapCreate)
    }

    @Test func nextKeyIteration() throws {
        let m = try map(.hash, entries: 32)
        for i: UInt32 in 0..<10 { try m.update(key: i, value: UInt64(i) * 3) }
        let keys = try m.keys().map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        #expect(Set(keys) == Set(0..<10))
        #expect(keys.count == 10)
        #expect(try m.nextKey(after: [200, 0, 0, 0]) != nil)   // a missing key restarts at the first
    }

    @Test func batchOperations() throws {
        let m = try map(.hash, entries: 128)
        let entries = (0..<100).map { i -> (key: [UInt8], value: [UInt8]) in
            (withUnsafeBytes(of: UInt32(i)) { Array($0) }, withUnsafeBytes(of: UInt64(i * 2)) { Array($0) })
        }
        #expect(try m.updateBatch(entries) == 100)
        var seen: [[UInt8]: [UInt8]] = [:]
        var cursor: [UInt8]? = nil
        repeat {
            let page = try m.lookupBatch(after: cursor, count: 16)
            for (k, v) in zip(page.keys, page.values) { seen[k] = v }
            cursor = page.cursor
        } while cursor != nil
        #expect(seen.count == 100)
        #expect(seen.allSatisfy { $0.key.withUnsafeBytes { UInt64($0.loadUnaligned(as: UInt32.self)) * 2 } == $0.value.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } })
        #expect(try m.deleteBatch(keys: entries.prefix(40).map(\.key)) == 40)
        #expect(try m.keys().count == 60)
        var drained = 0
        cursor = nil
        repeat {
            let page = try m.lookupBatch(after: cursor, count: 32, delete: true)
            drained += page.keys.count
            cursor = page.cursor
        } while cursor != nil
        #expect(drained == 60)
        #expect(try m.keys().isEmpty)
    }

    @Test func freeze() throws {
        let m = try map(.array, entries: 1)
        try m.update(key: UInt32(0), value: UInt64(5))
        try m.freeze()
        let error = #expect(throws: BPFError.self) { try m.update(key: UInt32(0), value: UInt64(6)) }
        #expect(error?.errno == .EPERM)
        #expect(try m.lookup(key: UInt32(0), as: UInt64.self) == 5)
    }

    @Test func closeIsIdempotent() throws {
        let m = try map(.array, entries: 1)
        m.close()
        m.close()
        #expect(m.fd.isClosed)
        let error = #expect(throws: BPFError.self) { try m.lookup(key: UInt32(0), as: UInt64.self) }
        #expect(error?.errno == .EBADF)
    }
}

extension KernelMapTests {
    @Test func perCPUHashAndHashOfMaps() throws {
        let m = try map(.perCPUHash, value: 8, entries: 4)
        try m.update(key: UInt32(3), value: UInt64(9))
        #expect(try m.perCPUValues(key: UInt32(3), as: UInt64.self) == Array(repeating: 9, count: m.cpuSlots))
        let inner = try map(.hash, entries: 2)
        var spec = MapSpec(name: "outer_hash", type: .hashOfMaps, keySize: 4, valueSize: 4, maxEntries: 4)
        spec.innerMap = .init(MapSpec(name: "inner", type: .hash, keySize: 4, valueSize: 8, maxEntries: 2))
        let outer = try KernelMap(spec, innerMap: inner)
        try outer.setFD(inner.fd, key: [7, 0, 0, 0])
        #expect(try outer.lookup(key: UInt32(7), as: UInt32.self) == (try inner.info().id))
        let wrongInner = try map(.array, entries: 2)
        let mismatch = #expect(throws: BPFError.self) { try outer.setFD(wrongInner.fd, key: [8, 0, 0, 0]) }
        #expect(mismatch?.errno == .EINVAL)
    }
}
