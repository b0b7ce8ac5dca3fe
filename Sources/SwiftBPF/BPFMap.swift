import BPFObject

/// A map of either backend typed by its key and value: read and written like a `Dictionary`. The
/// sizes of `Key` and `Value` are checked once, when the map is opened (against BTF's type sizes
/// too, where the object has them). Per-CPU maps hold one `Value` per CPU: read them with
/// ``values(forKey:)`` and write them with ``updateValues(_:forKey:flags:)``.
///
/// ```swift
/// let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
/// try counts.updateValue(1, forKey: 6)
/// print(try counts[6] ?? 0)                    // 1
/// for (key, value) in try counts.entries() { print(key, value) }
/// try counts.removeValue(forKey: 6)
/// ```
public struct BPFMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: Sendable {
    /// The untyped map underneath.
    public let untyped: AnyBPFMap
    /// The number of values a per-CPU map holds per key (1 for others).
    public let slots: Int
    private let slotStride: Int

    /// Opens `map` as `BPFMap<Key, Value>`, checking the sizes.
    public init(_ map: AnyBPFMap, key: Key.Type = Key.self, value: Value.Type = Value.self) throws(SwiftBPFError) {
        let spec = map.spec
        func mismatch(_ role: String, _ type: Any.Type, _ size: Int, _ expected: Int, _ btf: String?) -> SwiftBPFError {
            SwiftBPFError(.invalidArgument, place: "map '\(spec.name)'",
                          "the \(role) type \(type) is \(size) bytes; the map's \(role)s are \(expected) bytes\(btf.map { " (\($0))" } ?? "")")
        }
        guard MemoryLayout<Key>.size == spec.keySize else {
            throw mismatch("key", Key.self, MemoryLayout<Key>.size, spec.keySize, map.btfTypeName(spec.keyType))
        }
        guard MemoryLayout<Value>.size == spec.valueSize else {
            throw mismatch("value", Value.self, MemoryLayout<Value>.size, spec.valueSize, map.btfTypeName(spec.valueType))
        }
        untyped = map
        if spec.type.isPerCPU {
            slotStride = (spec.valueSize + 7) & ~7
            slots = max(map.userValueSize / max(slotStride, 1), 1)
        } else {
            slotStride = spec.valueSize
            slots = 1
        }
    }

    /// The map's name.
    public var name: String { untyped.name }
    /// The map's definition.
    public var spec: MapSpec { untyped.spec }

    private func keyBytes(_ key: Key) -> [UInt8] { withUnsafeBytes(of: key) { Array($0) } }

    private func requireSingle(_ what: String) throws(SwiftBPFError) {
        if spec.type.isPerCPU {
            throw SwiftBPFError(.invalidArgument, place: "map '\(name)'",
                                "is \(spec.type), with one value per CPU: use \(what == "read" ? "values(forKey:)" : "updateValues(_:forKey:)")")
        }
    }

    /// The value under `key`, or nil when absent. Per-CPU maps: use ``values(forKey:)``.
    public func value(forKey key: Key) throws(SwiftBPFError) -> Value? {
        try requireSingle("read")
        guard let bytes = try untyped.value(forKey: keyBytes(key)) else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: Value.self) }
    }

    /// The value under `key`, or nil when absent: `try counts[key] ?? 0`.
    public subscript(key: Key) -> Value? {
        get throws(SwiftBPFError) { try value(forKey: key) }
    }

    /// Stores `value` under `key` (`flags`: `.noExist` to only add, `.exist` to only replace).
    public func updateValue(_ value: Value, forKey key: Key, flags: MapUpdateFlags = .any) throws(SwiftBPFError) {
        try requireSingle("write")
        try untyped.updateValue(withUnsafeBytes(of: value) { Array($0) }, forKey: keyBytes(key), flags: flags)
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func removeValue(forKey key: Key) throws(SwiftBPFError) -> Bool {
        try untyped.removeValue(forKey: keyBytes(key))
    }

    /// Per-CPU maps: each CPU's value under `key` (index = CPU), or nil when absent.
    public func values(forKey key: Key) throws(SwiftBPFError) -> [Value]? {
        guard let bytes = try untyped.value(forKey: keyBytes(key)) else { return nil }
        return decodeSlots(bytes)
    }

    /// Per-CPU maps: stores one value per CPU (`values.count` must be ``slots``).
    public func updateValues(_ values: [Value], forKey key: Key, flags: MapUpdateFlags = .any) throws(SwiftBPFError) {
        guard values.count == slots else {
            throw SwiftBPFError(.invalidArgument, place: "map '\(name)'", "has \(slots) per-CPU values per key; got \(values.count)")
        }
        var bytes = [UInt8](repeating: 0, count: untyped.userValueSize)
        for (i, value) in values.enumerated() {
            withUnsafeBytes(of: value) { bytes.replaceSubrange((i * slotStride)..<(i * slotStride + spec.valueSize), with: $0) }
        }
        try untyped.updateValue(bytes, forKey: keyBytes(key), flags: flags)
    }

    private func decodeSlots(_ bytes: [UInt8]) -> [Value] {
        bytes.withUnsafeBytes { raw in
            (0..<slots).map { raw.loadUnaligned(fromByteOffset: $0 * slotStride, as: Value.self) }
        }
    }

    /// Every key, in the backend's iteration order.
    public func keys() throws(SwiftBPFError) -> [Key] {
        try untyped.keys().map { $0.withUnsafeBytes { $0.loadUnaligned(as: Key.self) } }
    }

    /// Every (key, value) pair, in the backend's iteration order. Per-CPU maps: use ``perCPUEntries()``.
    public func entries() throws(SwiftBPFError) -> [(key: Key, value: Value)] {
        try requireSingle("read")
        return try untyped.entries().map { entry in
            (key: entry.key.withUnsafeBytes { $0.loadUnaligned(as: Key.self) },
             value: entry.value.withUnsafeBytes { $0.loadUnaligned(as: Value.self) })
        }
    }

    /// Per-CPU maps: every key with each CPU's value.
    public func perCPUEntries() throws(SwiftBPFError) -> [(key: Key, values: [Value])] {
        try untyped.entries().map { entry in
            (key: entry.key.withUnsafeBytes { $0.loadUnaligned(as: Key.self) }, values: decodeSlots(entry.value))
        }
    }

    /// Stores many entries at once (the kernel's batch update where it has one); returns how many were stored.
    @discardableResult
    public func updateValues(_ entries: some Sequence<(key: Key, value: Value)>, flags: MapUpdateFlags = .any) throws(SwiftBPFError) -> Int {
        try requireSingle("write")
        let raw = entries.map { (key: keyBytes($0.key), value: withUnsafeBytes(of: $0.value) { Array($0) }) }
        return try untyped.updateBatch(raw, flags: flags)
    }

    /// Removes many keys at once; returns how many were removed.
    @discardableResult
    public func removeValues(forKeys keys: some Sequence<Key>) throws(SwiftBPFError) -> Int {
        var removed = 0
        for key in keys where try removeValue(forKey: key) { removed += 1 }
        return removed
    }
}
