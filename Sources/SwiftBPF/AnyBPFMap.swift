import BPFLinux
import BPFObject
import BPFRuntime

/// A map of either backend, untyped: keys and values as bytes (per-CPU values hold one
/// 8-byte-aligned slot per CPU). Open it typed with ``BPFCollection/map(_:key:value:)`` or
/// ``BPFMap/init(_:key:value:)``.
///
/// ```swift
/// let raw = bpf.map(named: "counts")!
/// try raw.updateValue([1, 0, 0, 0, 0, 0, 0, 0], forKey: [6, 0, 0, 0])
/// print(try raw.value(forKey: [6, 0, 0, 0]) ?? [])   // [1, 0, 0, 0, 0, 0, 0, 0]
/// ```
public struct AnyBPFMap: Sendable {
    /// The backend's map.
    public enum Storage: Sendable {
        case runtime(RuntimeMap)
        case kernel(KernelMap)
    }

    public let storage: Storage
    /// The definition the map was created from.
    public let spec: MapSpec
    /// The object's BTF, for type names in messages.
    let btf: BTF?

    init(_ storage: Storage, spec: MapSpec, btf: BTF? = nil) {
        self.storage = storage
        self.spec = spec
        self.btf = btf
    }

    public var name: String { spec.name }
    public var backend: Backend {
        if case .runtime = storage { return .runtime }
        return .kernel
    }
    private var place: String { "map '\(spec.name)'" }

    /// The BTF name of a type id, for messages.
    func btfTypeName(_ id: Int?) -> String? {
        guard let id, let btf else { return nil }
        return btf.typeName(id)
    }

    /// The size of a value as user space reads and writes it (per-CPU maps: all CPUs' slots).
    public var userValueSize: Int {
        switch storage {
        case .runtime(let map): map.userValueSize
        case .kernel(let map): map.userValueSize
        }
    }

    /// The value under `key`, or nil when absent.
    public func value(forKey key: [UInt8]) throws(SwiftBPFError) -> [UInt8]? {
        try bridged(place) {
            switch storage {
            case .runtime(let map): try map.lookup(key: key)
            case .kernel(let map): try map.lookup(key: key)
            }
        }
    }

    /// Stores `value` under `key`.
    public func updateValue(_ value: [UInt8], forKey key: [UInt8], flags: MapUpdateFlags = .any) throws(SwiftBPFError) {
        try bridged(place) {
            switch storage {
            case .runtime(let map): try map.update(key: key, value: value, flags: flags)
            case .kernel(let map): try map.update(key: key, value: value, flags: flags)
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func removeValue(forKey key: [UInt8]) throws(SwiftBPFError) -> Bool {
        try bridged(place) {
            switch storage {
            case .runtime(let map):
                guard try map.lookup(key: key) != nil else { return false }
                try map.delete(key: key)
                return true
            case .kernel(let map):
                do { try map.delete(key: key) } catch let error as BPFError where error.errno == .ENOENT { return false }
                return true
            }
        }
    }

    /// Every key, in the backend's iteration order.
    public func keys() throws(SwiftBPFError) -> [[UInt8]] {
        try bridged(place) {
            switch storage {
            case .runtime(let map): return map.keys
            case .kernel(let map): return try map.keys()
            }
        }
    }

    /// Every (key, value) pair, in the backend's iteration order (the kernel's batch lookup where
    /// the map type has one).
    public func entries() throws(SwiftBPFError) -> [(key: [UInt8], value: [UInt8])] {
        try bridged(place) {
            switch storage {
            case .runtime(let map): return map.entries()
            case .kernel(let map):
                if let batched = try? Self.batchEntries(map) { return batched }
                return try map.keys().compactMap { key in try map.lookup(key: key).map { (key, $0) } }
            }
        }
    }

    /// Every entry through `BPF_MAP_LOOKUP_BATCH`, page by page.
    private static func batchEntries(_ map: KernelMap) throws -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        var cursor: [UInt8]? = nil
        repeat {
            let page = try map.lookupBatch(after: cursor, count: 256)
            result += zip(page.keys, page.values).map { (key: $0, value: $1) }
            cursor = page.cursor
        } while cursor != nil
        return result
    }

    /// Stores many entries (the kernel's `BPF_MAP_UPDATE_BATCH`); returns how many were stored.
    @discardableResult
    public func updateBatch(_ entries: [(key: [UInt8], value: [UInt8])], flags: MapUpdateFlags = .any) throws(SwiftBPFError) -> Int {
        try bridged(place) {
            switch storage {
            case .runtime(let map): try map.updateBatch(entries, flags: flags)
            case .kernel(let map): try map.updateBatch(entries, flags: flags)
            }
        }
    }

    /// Queues and stacks: appends a value.
    public func push(_ value: [UInt8], flags: MapUpdateFlags = .any) throws(SwiftBPFError) {
        try bridged(place) {
            switch storage {
            case .runtime(let map): try map.push(value: value, flags: flags)
            case .kernel(let map): try map.push(value, flags: flags)
            }
        }
    }

    /// Queues and stacks: removes and returns the next value; nil when empty.
    public func pop() throws(SwiftBPFError) -> [UInt8]? {
        try bridged(place) {
            switch storage {
            case .runtime(let map): try map.pop()
            case .kernel(let map): try map.pop()
            }
        }
    }

    /// Opens this map typed (sizes checked).
    public func typed<K: BitwiseCopyable, V: BitwiseCopyable>(key: K.Type, value: V.Type) throws(SwiftBPFError) -> BPFMap<K, V> {
        try BPFMap(self, key: key, value: value)
    }
}
