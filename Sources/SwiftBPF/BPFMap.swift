import BPFLinux
import BPFObject
import BPFRuntime

/// A map of either backend, with one API: a dictionary of bytes (or of `BitwiseCopyable` values of
/// the map's key and value sizes). Per-CPU values hold one 8-byte-aligned slot per CPU.
///
/// ```swift
/// let counts = loaded.map(named: "counts")!
/// try counts.updateValue(UInt64(1), forKey: UInt32(6))
/// let n = try counts.value(forKey: UInt32(6), as: UInt64.self)   // Optional(1)
/// try counts.removeValue(forKey: UInt32(6))
/// ```
public struct BPFMap: Sendable {
    /// The backend's map.
    public enum Storage: Sendable {
        case runtime(RuntimeMap)
        case kernel(KernelMap)
    }

    public let storage: Storage
    /// The definition the map was created from.
    public let spec: MapSpec

    init(_ storage: Storage, spec: MapSpec) {
        self.storage = storage
        self.spec = spec
    }

    public var name: String { spec.name }
    public var backend: Backend {
        if case .runtime = storage { return .runtime }
        return .kernel
    }

    /// The size of a value as user space reads and writes it (per-CPU maps: all CPUs' slots).
    public var userValueSize: Int {
        switch storage {
        case .runtime(let map): map.userValueSize
        case .kernel(let map): map.userValueSize
        }
    }

    /// The value under `key`, or nil when absent.
    public func value(forKey key: [UInt8]) throws -> [UInt8]? {
        switch storage {
        case .runtime(let map): try map.lookup(key: key)
        case .kernel(let map): try map.lookup(key: key)
        }
    }

    /// Stores `value` under `key`.
    public func updateValue(_ value: [UInt8], forKey key: [UInt8], flags: MapUpdateFlags = .any) throws {
        switch storage {
        case .runtime(let map): try map.update(key: key, value: value, flags: flags)
        case .kernel(let map): try map.update(key: key, value: value, flags: flags)
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func removeValue(forKey key: [UInt8]) throws -> Bool {
        switch storage {
        case .runtime(let map):
            guard try map.lookup(key: key) != nil else { return false }
            try map.delete(key: key)
            return true
        case .kernel(let map):
            do { try map.delete(key: key) } catch where error.errno == .ENOENT { return false }
            return true
        }
    }

    /// Every key, in the backend's iteration order.
    public func keys() throws -> [[UInt8]] {
        switch storage {
        case .runtime(let map): return map.keys
        case .kernel(let map): return try map.keys()
        }
    }

    /// Every (key, value) pair, in the backend's iteration order.
    public func entries() throws -> [(key: [UInt8], value: [UInt8])] {
        switch storage {
        case .runtime(let map): return map.entries()
        case .kernel(let map):
            return try map.keys().compactMap { key in try map.lookup(key: key).map { (key, $0) } }
        }
    }

    /// Queues and stacks: appends a value.
    public func push(_ value: [UInt8], flags: MapUpdateFlags = .any) throws {
        switch storage {
        case .runtime(let map): try map.push(value: value, flags: flags)
        case .kernel(let map): try map.push(value, flags: flags)
        }
    }

    /// Queues and stacks: removes and returns the next value; nil when empty.
    public func pop() throws -> [UInt8]? {
        switch storage {
        case .runtime(let map): try map.pop()
        case .kernel(let map): try map.pop()
        }
    }

    // MARK: Typed

    private func bytes<T: BitwiseCopyable>(_ value: T, size: Int, _ role: String) throws -> [UInt8] {
        guard MemoryLayout<T>.size == size else {
            throw SwiftBPFError("map '\(name)': the \(role) type \(T.self) is \(MemoryLayout<T>.size) bytes, the map's \(role)s are \(size)")
        }
        return withUnsafeBytes(of: value) { Array($0) }
    }

    private func typed<V: BitwiseCopyable>(_ bytes: [UInt8], as type: V.Type) throws -> V {
        guard MemoryLayout<V>.size == bytes.count else {
            throw SwiftBPFError("map '\(name)': the value type \(V.self) is \(MemoryLayout<V>.size) bytes, the map's values are \(bytes.count)")
        }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: V.self) }
    }

    /// The value under `key` as `V` (which must be the user value size); nil when absent.
    public func value<K: BitwiseCopyable, V: BitwiseCopyable>(forKey key: K, as type: V.Type = V.self) throws -> V? {
        guard let raw = try value(forKey: bytes(key, size: spec.keySize, "key")) else { return nil }
        return try typed(raw, as: V.self)
    }

    /// Stores `value` under `key`.
    public func updateValue<K: BitwiseCopyable, V: BitwiseCopyable>(_ value: V, forKey key: K, flags: MapUpdateFlags = .any) throws {
        try updateValue(bytes(value, size: userValueSize, "value"), forKey: bytes(key, size: spec.keySize, "key"), flags: flags)
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func removeValue<K: BitwiseCopyable>(forKey key: K) throws -> Bool {
        try removeValue(forKey: bytes(key, size: spec.keySize, "key"))
    }

    /// Every entry as (`K`, `V`).
    public func entries<K: BitwiseCopyable, V: BitwiseCopyable>(as keyType: K.Type, _ valueType: V.Type) throws -> [(key: K, value: V)] {
        guard MemoryLayout<K>.size == spec.keySize else {
            throw SwiftBPFError("map '\(name)': the key type \(K.self) is \(MemoryLayout<K>.size) bytes, the map's keys are \(spec.keySize)")
        }
        return try entries().map { (key: $0.key.withUnsafeBytes { $0.loadUnaligned(as: K.self) }, value: try typed($0.value, as: V.self)) }
    }
}
