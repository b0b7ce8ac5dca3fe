import BPFObject
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `BPF_MAP_TYPE_HASH`, `PERCPU_HASH`, `LRU_HASH` and `LRU_PERCPU_HASH`: keys to values, up to
/// `max_entries`, in slots allocated once and recycled on delete, as the kernel's preallocated hash
/// maps do. LRU maps evict the least recently used entry when an insert finds them full; per-CPU
/// maps keep one value slot per ``VirtualCPUs`` CPU.
final class HashMap: RuntimeMap, @unchecked Sendable {
    private var table: KeyTable
    let perCPU: Bool
    let cpus: Int
    /// Bytes per entry: one slot, or one per CPU.
    let entryStride: Int
    let values: UnsafeMutableRawBufferPointer
    let spinLockOffset: Int?

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize > 0 else { throw MapError(.invalid, "hash map '\(spec.name)': key size 0") }
        (perCPU, cpus, entryStride, values) = try RuntimeMap.allocateValues(spec, kind: "hash map", alignment: 16)
        table = KeyTable(capacity: spec.maxEntries, keySize: spec.keySize, lru: spec.type == .lruHash || spec.type == .lruPerCPUHash)
        spinLockOffset = spec.spinLockOffset
        try super.init(spec: spec)
    }

    deinit {
        table.deallocate()
        GraphHeap.shared.forget(values)   // the lists and rbtrees its values held
        values.deallocate()
    }

    override public var regions: [MemoryRegion] { [MemoryRegion(values, writable: !spec.readOnly)] }
    override var userValueSize: Int { perCPU ? slotSize * cpus : spec.valueSize }

    @inline(__always)
    func value(_ e: Int32) -> UnsafeMutableRawPointer { values.baseAddress! + Int(e) * entryStride }

    /// Inserts or replaces under the lock; `write` fills the entry's value memory (`fresh` for a new entry).
    private func store(_ key: UnsafeRawPointer, flags: MapUpdateFlags,
                       _ write: (UnsafeMutableRawPointer, _ fresh: Bool) throws(MapError) -> Void) throws(MapError) {
        guard flags.rawValue & ~7 == 0, !(flags.contains(.noExist) && flags.contains(.exist)) else {
            throw MapError(.invalid, "map '\(spec.name)': invalid update flags \(flags.rawValue)")
        }
        if flags.contains(.lock) && spinLockOffset == nil {
            throw MapError(.invalid, "map '\(spec.name)': BPF_F_LOCK needs a value with a struct bpf_spin_lock")
        }
        try lock.withLock { _ throws(MapError) in
            let e = table.find(key)
            if e >= 0 {
                if flags.contains(.noExist) { throw MapError(.exists, "map '\(spec.name)': key exists (BPF_NOEXIST)") }
                table.touch(e)
                try write(value(e), false)
                return
            }
            if flags.contains(.exist) { throw MapError(.noEntry, "map '\(spec.name)': key does not exist (BPF_EXIST)") }
            var evicted: Int32 = -1
            let created = table.insert(key, evicted: &evicted)
            guard created >= 0 else { throw MapError(.tooBig, "map '\(spec.name)' is full (max_entries \(spec.maxEntries))") }
            try write(value(created), true)
        }
    }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        lock.withLock { _ in
            let e = table.find(key.baseAddress!)
            guard e >= 0 else { return nil }
            return Array(UnsafeRawBufferPointer(start: value(e), count: userValueSize))
        }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ source: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        try checkRedirectTarget(key)
        try store(key.baseAddress!, flags: flags) { (destination, fresh) throws(MapError) in
            if perCPU {
                destination.copyMemory(from: source.baseAddress!, byteCount: entryStride)
            } else {
                // A new element has no lock to take yet.
                try copyValue(into: destination, from: source.baseAddress!, count: spec.valueSize,
                              flags: fresh ? flags.subtracting(.lock) : flags, spinLockOffset: spinLockOffset)
            }
        }
    }

    /// Redirect maps kept as hashes: devmap, cpumap and xskmap are indexed by a key below
    /// `max_entries` (E2BIG past it, as the kernel's are); xskmap, sockmap and sockhash hold sockets,
    /// and sk_storage is keyed by them, which a process of the Swift runtime does not have.
    func checkRedirectTarget(_ key: UnsafeRawBufferPointer) throws(MapError) {
        switch spec.type {
        case .xskmap, .sockmap, .sockhash:
            throw MapError(.notSupported, "\(spec.type.kernelName) map '\(spec.name)': its values are sockets, and the Swift runtime has none")
        case .skStorage:
            throw MapError(.notSupported, "sk_storage map '\(spec.name)': its keys are sockets, and the Swift runtime has none")
        case .devmap, .cpumap:
            let index = key.loadUnaligned(as: UInt32.self)
            guard index < UInt32(spec.maxEntries) else {
                throw MapError(.tooBig, "\(spec.type.kernelName) map '\(spec.name)': index \(index) is past max_entries \(spec.maxEntries)")
            }
        default:
            break
        }
    }

    override func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) {
        try lock.withLock { _ throws(MapError) in
            let e = table.find(key.baseAddress!)
            guard e >= 0 else { throw MapError(.noEntry, "map '\(spec.name)': no such key") }
            table.remove(e)
        }
    }

    override func lookupAndDeleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        try lock.withLock { _ throws(MapError) -> [UInt8]? in
            let e = table.find(key.baseAddress!)
            guard e >= 0 else { throw MapError(.noEntry, "map '\(spec.name)': no such key") }
            let bytes = Array(UnsafeRawBufferPointer(start: value(e), count: userValueSize))
            table.remove(e)
            return bytes
        }
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        lock.withLock { _ in
            let e: Int32
            if let key, key.count == spec.keySize {
                e = key.withUnsafeBytes { table.next(after: $0.baseAddress!) }
            } else {
                e = table.next(after: nil)
            }
            guard e >= 0 else { return nil }
            return Array(UnsafeRawBufferPointer(start: table.key(e), count: spec.keySize))
        }
    }

    override func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 {
        let slot = perCPU ? call.cpu * slotSize : 0
        return lock.withLock { _ in
            let e = table.find(key)
            guard e >= 0 else { return 0 }
            table.touch(e)
            return UInt64(UInt(bitPattern: value(e) + slot))
        }
    }

    override func programUpdate(_ key: UnsafeRawPointer, _ source: UnsafeRawPointer, flags: MapUpdateFlags, _ call: borrowing HelperCall) throws(MapError) {
        try programUpdate(key, source, flags: flags, cpu: perCPU ? call.cpu : 0)
    }

    /// The JIT's direct lookup (not per-CPU maps; the verifier checked the key): the value's address or 0.
    func directLookup(_ key: UnsafeRawPointer) -> UInt64 {
        lock.withLock { _ in
            let e = table.find(key)
            guard e >= 0 else { return 0 }
            table.touch(e)
            return UInt64(UInt(bitPattern: value(e)))
        }
    }

    override func programUpdate(_ key: UnsafeRawPointer, _ source: UnsafeRawPointer, flags: MapUpdateFlags, cpu: Int) throws(MapError) {
        try store(key, flags: flags) { (destination, fresh) throws(MapError) in
            if perCPU {
                // A new per-CPU element starts zeroed on the other CPUs, as in Linux.
                if fresh { destination.initializeMemory(as: UInt8.self, repeating: 0, count: entryStride) }
                (destination + cpu * slotSize).copyMemory(from: source, byteCount: spec.valueSize)
            } else {
                try copyValue(into: destination, from: source, count: spec.valueSize,
                              flags: fresh ? flags.subtracting(.lock) : flags, spinLockOffset: spinLockOffset)
            }
        }
    }

    /// The address of the first value slot of `key`'s entry, or nil.
    func lookupAddress(_ key: UnsafeRawPointer) -> UnsafeMutableRawPointer? {
        lock.withLock { _ in
            let e = table.find(key)
            return e >= 0 ? value(e) : nil
        }
    }

    /// Visits every element (for `bpf_for_each_map_elem`): keys are snapshotted first, so the
    /// callback may change the map.
    func forEachElement(cpu: Int, _ body: (UnsafeRawPointer, UnsafeMutableRawPointer) throws -> Bool) rethrows -> Int {
        var visited = 0
        for key in keys {
            let address: UnsafeMutableRawPointer? = key.withUnsafeBytes { k in
                lock.withLock { _ in
                    let e = table.find(k.baseAddress!)
                    return e >= 0 ? value(e) + (perCPU ? cpu * slotSize : 0) : nil
                }
            }
            guard let address else { continue }
            visited += 1
            let stop = try key.withUnsafeBytes { try body($0.baseAddress!, address) }
            if stop { break }
        }
        return visited
    }
}
