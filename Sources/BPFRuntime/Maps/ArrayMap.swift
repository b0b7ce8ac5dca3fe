import BPFObject

/// `BPF_MAP_TYPE_ARRAY` and `PERCPU_ARRAY`: fixed slots indexed by a 32-bit key, all present and
/// zeroed at creation; delete is refused (EINVAL), as in Linux. Global data (`.data`, `.rodata`,
/// `.bss`, `.kconfig`) are one-slot arrays filled with their initial bytes. Arrays created with
/// `BPF_F_MMAPABLE` (and global data) expose their memory directly, as the kernel lets user space mmap it.
final class ArrayMap: RuntimeMap, @unchecked Sendable {
    let perCPU: Bool
    let cpus: Int
    /// Bytes per index: one slot, or one per CPU.
    let entryStride: Int
    let values: UnsafeMutableRawBufferPointer
    let spinLockOffset: Int?

    /// `BPF_F_MMAPABLE`.
    static let mmapableFlag: UInt32 = 1 << 10

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 4 else { throw MapError(.invalid, "array map '\(spec.name)': key size must be 4, found \(spec.keySize)") }
        (perCPU, cpus, entryStride, values) = try RuntimeMap.allocateValues(spec, kind: "array map", alignment: 4096)
        spinLockOffset = spec.spinLockOffset
        try super.init(spec: spec)
        if let initial = spec.initialValue, !initial.isEmpty {
            initial.withUnsafeBytes { values.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, spec.valueSize)) }
        }
    }

    deinit {
        GraphHeap.shared.forget(values)   // the lists and rbtrees its values held
        values.deallocate()
    }

    override public var regions: [MemoryRegion] { [MemoryRegion(values, writable: !spec.readOnly)] }
    override var userValueSize: Int { perCPU ? slotSize * cpus : spec.valueSize }

    /// The first value's address (global data references point into it).
    var valueBase: UnsafeMutableRawPointer { values.baseAddress! }

    @inline(__always)
    func index(_ key: UnsafeRawPointer) -> Int? {
        let i = Int(key.loadUnaligned(as: UInt32.self))
        return i < spec.maxEntries ? i : nil
    }

    @inline(__always)
    func value(_ i: Int) -> UnsafeMutableRawPointer { values.baseAddress! + i * entryStride }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        guard let i = index(key.baseAddress!) else { return nil }
        return Array(UnsafeRawBufferPointer(start: value(i), count: userValueSize))
    }

    private func checkFlags(_ flags: MapUpdateFlags) throws(MapError) {
        guard flags.rawValue & ~7 == 0 else { throw MapError(.invalid, "array map '\(spec.name)': invalid update flags \(flags.rawValue)") }
        if flags.contains(.noExist) { throw MapError(.exists, "array map '\(spec.name)': every index exists (BPF_NOEXIST)") }
        if flags.contains(.lock) && spinLockOffset == nil {
            throw MapError(.invalid, "map '\(spec.name)': BPF_F_LOCK needs a value with a struct bpf_spin_lock")
        }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ source: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        try checkFlags(flags)
        guard let i = index(key.baseAddress!) else { throw MapError(.tooBig, "array map '\(spec.name)': index out of range (max_entries \(spec.maxEntries))") }
        try copyValue(into: value(i), from: source.baseAddress!, count: userValueSize, flags: flags, spinLockOffset: spinLockOffset)
    }

    override func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) {
        throw MapError(.invalid, "array map '\(spec.name)': elements cannot be deleted")
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        var next = 0
        if let key, key.count == 4 {
            let current = key.withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self)) }
            next = current + 1
        }
        guard next < spec.maxEntries else { return nil }
        return RuntimeMap.bytes(of: UInt32(next))
    }

    @inline(__always)
    override func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 {
        guard let i = index(key) else { return 0 }
        return UInt64(UInt(bitPattern: value(i) + (perCPU ? call.cpu * slotSize : 0)))
    }

    override func programUpdate(_ key: UnsafeRawPointer, _ source: UnsafeRawPointer, flags: MapUpdateFlags, _ call: borrowing HelperCall) throws(MapError) {
        try programUpdate(key, source, flags: flags, cpu: perCPU ? call.cpu : 0)
    }

    override func programUpdate(_ key: UnsafeRawPointer, _ source: UnsafeRawPointer, flags: MapUpdateFlags, cpu: Int) throws(MapError) {
        try checkFlags(flags)
        guard let i = index(key) else { throw MapError(.tooBig, "array map '\(spec.name)': index out of range (max_entries \(spec.maxEntries))") }
        try copyValue(into: value(i) + cpu * slotSize, from: source, count: spec.valueSize, flags: flags,
                  spinLockOffset: spinLockOffset)
    }

    override func programDelete(_ key: UnsafeRawPointer) throws(MapError) {
        throw MapError(.invalid, "array map '\(spec.name)': elements cannot be deleted")
    }

    /// Visits every index (for `bpf_for_each_map_elem`).
    func forEachElement(cpu: Int, _ body: (UInt32, UnsafeMutableRawPointer) throws -> Bool) rethrows -> Int {
        for i in 0..<spec.maxEntries {
            if try body(UInt32(i), value(i) + (perCPU ? cpu * slotSize : 0)) { return i + 1 }
        }
        return spec.maxEntries
    }
}

extension RuntimeMap {
    /// Gives direct access to the memory of an array created with `BPF_F_MMAPABLE` or of global
    /// data, as the kernel's mmap of such maps does. Programs see the changes immediately. Constant
    /// data (`.rodata`) is frozen and cannot be mapped writable (`EPERM`); read it with `lookup`.
    public func withMappedMemory<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
        try checkNotFrozen()
        guard let array = self as? ArrayMap, !array.perCPU,
              spec.flags & ArrayMap.mmapableFlag != 0 || spec.isGlobalData else {
            throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) cannot be mapped: only arrays created with BPF_F_MMAPABLE and global data can")
        }
        return try body(UnsafeMutableRawBufferPointer(start: array.values.baseAddress, count: array.entryStride * spec.maxEntries))
    }
}
