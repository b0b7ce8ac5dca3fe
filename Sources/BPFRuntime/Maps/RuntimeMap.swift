import BPFObject
import Synchronization

/// A map living in the Swift runtime, with Linux semantics: the same errors (`MapError` carries the
/// errno), the same update flags, the same value layouts (per-CPU values are one 8-byte-aligned slot
/// per CPU, maps of maps and program arrays hold ids). Every operation is thread-safe; values sit in
/// memory allocated once, so a value pointer a program holds always stays inside map memory.
///
/// ```swift
/// let counts = loaded.map(named: "counts")!
/// try counts.update(key: UInt32(6), value: UInt64(1))
/// let n = try counts.lookup(key: UInt32(6), as: UInt64.self)      // 1
/// for (key, value) in counts.entries() { print(key, value) }
/// ```
public class RuntimeMap: @unchecked Sendable {
    /// What the object declared.
    public let spec: MapSpec
    /// A process-wide unique id, as the kernel gives each map (what maps of maps store). Reading it
    /// makes the map findable by id.
    public var id: UInt32 {
        IDRegistry<RuntimeMap>.maps.register(self, id: rawID)
        return rawID
    }
    let rawID: UInt32
    /// Bytes per value slot (the value size rounded up to 8, as the kernel does).
    public let slotSize: Int
    /// Serializes operations on the map's structure.
    let lock = Mutex(())

    init(spec: MapSpec) throws(MapError) {
        guard spec.maxEntries > 0 else { throw MapError(.invalid, "map '\(spec.name)': max_entries 0") }
        guard spec.keySize >= 0, spec.keySize <= 512 else {
            throw MapError(.tooBig, "map '\(spec.name)': key size \(spec.keySize) is too large (at most 512)")
        }
        guard spec.valueSize >= 0, spec.valueSize <= 1 << 24 else {
            throw MapError(.tooBig, "map '\(spec.name)': value size \(spec.valueSize) is too large")
        }
        self.spec = spec
        slotSize = (spec.valueSize + 7) & ~7
        rawID = IDRegistry<RuntimeMap>.maps.nextID()
    }

    deinit { IDRegistry<RuntimeMap>.maps.unregister(rawID) }

    /// The memory programs may reach through value pointers (none for maps that hand out no
    /// pointers); give these to an ``Interpreter`` as permanent regions when running it directly.
    public var regions: [MemoryRegion] { [] }

    /// The size of a value as Swift callers pass and receive it: per-CPU maps take one 8-byte-aligned
    /// slot per CPU, maps of maps and program arrays a 4-byte id.
    public var userValueSize: Int { spec.valueSize }

    func checkKey(_ count: Int) throws(MapError) {
        guard count == spec.keySize else {
            throw MapError(.invalid, "map '\(spec.name)': key is \(count) bytes, the map's key size is \(spec.keySize)")
        }
    }

    func checkValue(_ count: Int) throws(MapError) {
        guard count == userValueSize else {
            throw MapError(.invalid, "map '\(spec.name)': value is \(count) bytes, the map's value size is \(userValueSize)")
        }
    }

    func unsupported(_ operation: String) -> MapError {
        MapError(.invalid, "map '\(spec.name)' (\(spec.type)) does not support \(operation)")
    }

    // MARK: What each map kind implements (user-space semantics; called without the lock held)

    func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? { throw unsupported("lookup") }
    func updateValue(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        throw unsupported("update")
    }
    func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) { throw unsupported("delete") }
    func lookupAndDeleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        throw unsupported("lookup and delete")
    }

    /// The key after `key` in iteration order (the first key when `key` is nil or no longer present);
    /// nil at the end.
    public func nextKey(after key: [UInt8]?) -> [UInt8]? { nil }

    // MARK: What programs call (through the helpers)

    /// `bpf_map_lookup_elem` from a program: the address of the value (this CPU's slot for per-CPU
    /// maps), an inner map handle for maps of maps, or 0.
    func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 { throw unsupported("lookup") }
    /// `bpf_map_update_elem` from a program (per-CPU maps: this CPU's slot).
    func programUpdate(_ key: UnsafeRawPointer, _ value: UnsafeRawPointer, flags: MapUpdateFlags, _ call: borrowing HelperCall) throws(MapError) {
        throw unsupported("update from a program")
    }
    /// The update of CPU `cpu`'s slot, for maps whose update needs no more of the call than that
    /// (arrays and hashes); the JIT's direct calls use it.
    func programUpdate(_ key: UnsafeRawPointer, _ value: UnsafeRawPointer, flags: MapUpdateFlags, cpu: Int) throws(MapError) {
        throw unsupported("update from a program")
    }

    /// The JIT's direct `bpf_map_update_elem` (maps that are not per-CPU; the verifier checked key
    /// and value): 0 or a negative errno, as the helper returns.
    final func directUpdate(_ key: UnsafeRawPointer, _ value: UnsafeRawPointer, flags: UInt64) -> UInt64 {
        do {
            try programUpdate(key, value, flags: MapUpdateFlags(rawValue: flags), cpu: 0)
            return 0
        } catch {
            return error.helperReturnValue
        }
    }

    /// The JIT's direct `bpf_map_delete_elem`: 0 or a negative errno.
    final func directDelete(_ key: UnsafeRawPointer) -> UInt64 {
        do {
            try programDelete(key)
            return 0
        } catch {
            return error.helperReturnValue
        }
    }

    /// `bpf_map_delete_elem` from a program.
    func programDelete(_ key: UnsafeRawPointer) throws(MapError) {
        try deleteValue(UnsafeRawBufferPointer(start: key, count: spec.keySize))
    }
    /// `bpf_map_push_elem`, `bpf_map_pop_elem`, `bpf_map_peek_elem`.
    func push(_ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) { throw unsupported("push") }
    func pop(into destination: UnsafeMutableRawPointer, remove: Bool) throws(MapError) { throw unsupported(remove ? "pop" : "peek") }

    // MARK: The Swift API, bytes

    /// The value under `key`, copied out (per-CPU maps: every CPU's slot, one after another).
    public func lookup(key: [UInt8]) throws(MapError) -> [UInt8]? {
        try checkKey(key.count)
        return try Self.withBytes(key) { k throws(MapError) in try lookupValue(k) }
    }

    /// The value under `key`, copied out; the same as ``lookup(key:)-([UInt8])``.
    public func value(forKey key: [UInt8]) throws(MapError) -> [UInt8]? { try lookup(key: key) }

    /// Stores `value` under `key` (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`). Constant
    /// data (`.rodata`) is frozen, as the kernel's is after libbpf loads it: `EPERM`.
    public func update(key: [UInt8], value: [UInt8], flags: MapUpdateFlags = .any) throws(MapError) {
        try checkNotFrozen()
        try checkKey(key.count)
        try checkValue(value.count)
        try Self.withBytes(key) { k throws(MapError) in
            try Self.withBytes(value) { v throws(MapError) in try updateValue(k, v, flags: flags) }
        }
    }

    /// Constant data (`.rodata`) never changes once loaded: the verifier reads its bytes as known values.
    func checkNotFrozen() throws(MapError) {
        if spec.isConstantData {
            throw MapError(.notPermitted, "map '\(spec.name)' is frozen: constant data cannot change after load (the verifier relies on its values)")
        }
    }

    /// Removes `key`; `ENOENT` when it is absent.
    public func delete(key: [UInt8]) throws(MapError) {
        try checkKey(key.count)
        try Self.withBytes(key) { k throws(MapError) in try deleteValue(k) }
    }

    /// Removes `key` and returns its value (queues and stacks: pass an empty key to pop).
    public func lookupAndDelete(key: [UInt8]) throws(MapError) -> [UInt8]? {
        try checkKey(key.count)
        return try Self.withBytes(key) { k throws(MapError) in try lookupAndDeleteValue(k) }
    }

    /// Every key and value, in iteration order.
    public func entries() -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        var key: [UInt8]? = nil
        while let next = nextKey(after: key), result.count < spec.maxEntries {
            if let value = try? lookup(key: next) { result.append((next, value)) }
            key = next
        }
        return result
    }

    /// Every key, in iteration order.
    public var keys: [[UInt8]] {
        var result: [[UInt8]] = []
        var key: [UInt8]? = nil
        while let next = nextKey(after: key), result.count < spec.maxEntries {
            result.append(next)
            key = next
        }
        return result
    }

    // MARK: Batch operations (BPF_MAP_LOOKUP_BATCH and friends)

    /// A batch cursor: where the next ``lookupBatch(after:count:)`` starts.
    public struct BatchCursor: Hashable, Sendable {
        let lastKey: [UInt8]
    }

    /// Up to `count` entries after `cursor` (from the start when nil), and the cursor for the next
    /// batch (nil when the map has no more entries).
    public func lookupBatch(after cursor: BatchCursor? = nil, count: Int) throws(MapError) -> (entries: [(key: [UInt8], value: [UInt8])], next: BatchCursor?) {
        guard count > 0 else { throw MapError(.invalid, "map '\(spec.name)': batch count must be positive") }
        var result: [(key: [UInt8], value: [UInt8])] = []
        var key = cursor?.lastKey
        while result.count < count, let next = nextKey(after: key) {
            if let value = try lookup(key: next) { result.append((next, value)) }
            key = next
        }
        let more = key.flatMap { nextKey(after: $0) } != nil
        return (result, more ? key.map(BatchCursor.init) : nil)
    }

    /// Looks up and deletes up to `count` entries from the start of the map.
    public func lookupAndDeleteBatch(count: Int) throws(MapError) -> [(key: [UInt8], value: [UInt8])] {
        guard count > 0 else { throw MapError(.invalid, "map '\(spec.name)': batch count must be positive") }
        var result: [(key: [UInt8], value: [UInt8])] = []
        while result.count < count, let key = nextKey(after: nil) {
            guard let value = try lookup(key: key) else { break }
            try delete(key: key)
            result.append((key, value))
        }
        return result
    }

    /// Stores every entry; stops at the first failure and reports how many were stored.
    @discardableResult
    public func updateBatch(_ entries: [(key: [UInt8], value: [UInt8])], flags: MapUpdateFlags = .any) throws(MapBatchError) -> Int {
        for (i, entry) in entries.enumerated() {
            do { try update(key: entry.key, value: entry.value, flags: flags) } catch { throw MapBatchError(completed: i, error: error) }
        }
        return entries.count
    }

    /// Deletes every key; stops at the first failure and reports how many were deleted.
    @discardableResult
    public func deleteBatch(_ keys: [[UInt8]]) throws(MapBatchError) -> Int {
        for (i, key) in keys.enumerated() {
            do { try delete(key: key) } catch { throw MapBatchError(completed: i, error: error) }
        }
        return keys.count
    }

    // MARK: Typed access

    /// The value under `key` as `V`. Key and value types must have exactly the map's sizes.
    public func lookup<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, as type: V.Type = V.self) throws(MapError) -> V? {
        try checkTyped(K.self, V.self)
        guard let bytes = try lookup(key: Self.bytes(of: key)) else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: V.self) }
    }

    /// Stores a typed value under a typed key.
    public func update<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, value: V, flags: MapUpdateFlags = .any) throws(MapError) {
        try checkTyped(K.self, V.self)
        try update(key: Self.bytes(of: key), value: Self.bytes(of: value), flags: flags)
    }

    /// Removes a typed key.
    public func delete<K: BitwiseCopyable>(key: K) throws(MapError) {
        guard MemoryLayout<K>.size == spec.keySize else { throw typedMismatch("key", MemoryLayout<K>.size, spec.keySize) }
        try delete(key: Self.bytes(of: key))
    }

    /// Every entry, typed.
    public func entries<K: BitwiseCopyable, V: BitwiseCopyable>(as key: K.Type, _ value: V.Type) throws(MapError) -> [(key: K, value: V)] {
        try checkTyped(K.self, V.self)
        return entries().map { entry in
            (entry.key.withUnsafeBytes { $0.loadUnaligned(as: K.self) }, entry.value.withUnsafeBytes { $0.loadUnaligned(as: V.self) })
        }
    }

    /// Each CPU's value under `key` (per-CPU maps), typed; `V` must have the map's value size.
    public func perCPUValues<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, as type: V.Type = V.self) throws(MapError) -> [V]? {
        guard MemoryLayout<K>.size == spec.keySize else { throw typedMismatch("key", MemoryLayout<K>.size, spec.keySize) }
        guard MemoryLayout<V>.size == spec.valueSize else { throw typedMismatch("value", MemoryLayout<V>.size, spec.valueSize) }
        guard spec.type.isPerCPU else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a per-CPU map") }
        guard let bytes = try lookup(key: Self.bytes(of: key)) else { return nil }
        return bytes.withUnsafeBytes { raw in
            (0..<(bytes.count / slotSize)).map { raw.loadUnaligned(fromByteOffset: $0 * slotSize, as: V.self) }
        }
    }

    func checkTyped<K, V>(_ key: K.Type, _ value: V.Type) throws(MapError) {
        guard MemoryLayout<K>.size == spec.keySize else { throw typedMismatch("key", MemoryLayout<K>.size, spec.keySize) }
        guard MemoryLayout<V>.size == userValueSize else { throw typedMismatch("value", MemoryLayout<V>.size, userValueSize) }
    }

    func typedMismatch(_ what: String, _ size: Int, _ expected: Int) -> MapError {
        MapError(.invalid, "map '\(spec.name)': the \(what) type is \(size) bytes, the map's \(what) size is \(expected)")
    }

    /// `withUnsafeBytes` for a body that throws MapError.
    static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(MapError) -> R) throws(MapError) -> R {
        let result: Result<R, MapError> = bytes.withUnsafeBytes { p in Result { () throws(MapError) -> R in try body(p) } }
        return try result.get()
    }

    /// `withUnsafeMutableBytes` for a body that throws MapError.
    static func withMutableBytes<R>(_ bytes: inout [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws(MapError) -> R) throws(MapError) -> R {
        let result: Result<R, MapError> = bytes.withUnsafeMutableBytes { p in Result { () throws(MapError) -> R in try body(p) } }
        return try result.get()
    }

    static func bytes<T: BitwiseCopyable>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value) { Array($0) }
    }

    // MARK: Creation

    /// The map types ``make(_:)`` implements.
    public static let implementedTypes: MapTypeSet = MapTypeSet(.array, .perCPUArray, .hash, .perCPUHash, .lruHash, .lruPerCPUHash, .lpmTrie, .queue)
        .union(MapTypeSet(.stack, .bloomFilter, .ringBuffer, .perfEventArray, .arrayOfMaps, .hashOfMaps, .programArray, .devmap))
        .union(MapTypeSet(.devmapHash, .cpumap, .xskmap, .sockmap, .sockhash, .skStorage, .arena))

    /// Makes the map the runtime backs for a spec.
    public static func make(_ spec: MapSpec) throws(MapError) -> RuntimeMap {
        switch spec.type {
        case .array, .perCPUArray: return try ArrayMap(spec: spec)
        case .arena: return try ArenaMap(spec: spec)
        case .hash, .perCPUHash, .lruHash, .lruPerCPUHash: return try HashMap(spec: spec)
        // Redirect targets: entries by index or key, present only once set (see HashMap.checkRedirectTarget).
        case .devmap, .devmapHash, .cpumap, .xskmap, .sockmap, .sockhash:
            guard spec.keySize == 4 || spec.type == .sockhash || spec.type == .devmapHash else {
                throw MapError(.invalid, "\(spec.type.kernelName) map '\(spec.name)': key size must be 4, found \(spec.keySize)")
            }
            return try HashMap(spec: spec)
        // Socket-local storage: keyed by sockets, which the runtime has none of — always empty.
        case .skStorage:
            // The kernel requires max_entries 0 here (storage grows with the sockets).
            var sized = spec
            sized.maxEntries = max(spec.maxEntries, 1)
            return try HashMap(spec: sized)
        case .lpmTrie: return try LPMTrieMap(spec: spec)
        case .queue, .stack: return try QueueStackMap(spec: spec)
        case .bloomFilter: return try BloomFilterMap(spec: spec)
        case .ringBuffer: return try RingBufferMap(spec: spec)
        case .perfEventArray: return try PerfEventArrayMap(spec: spec)
        case .arrayOfMaps, .hashOfMaps: return try MapOfMaps(spec: spec)
        case .programArray: return try ProgramArrayMap(spec: spec)
        default:
            throw MapError(.notSupported, "map '\(spec.name)': type \(spec.type) is not available in the Swift runtime")
        }
    }
}

/// A batch operation that stopped part way: how many entries were done, and why it stopped.
public struct MapBatchError: Error, Hashable, Sendable, CustomStringConvertible {
    public var completed: Int
    public var error: MapError
    public var description: String { "after \(completed) entries: \(error)" }
}


/// Live objects by id, as the kernel's idr of maps or programs: maps of maps and program arrays
/// store ids, and inner map handles name them. Objects are held weakly and only once something asks
/// for their id (a weak reference makes every retain and release of its object slower).
final class IDRegistry<Object: AnyObject>: @unchecked Sendable {
    private let counter = Atomic<UInt32>(0)
    private let objects = Mutex<[UInt32: Weak]>([:])

    struct Weak: @unchecked Sendable { weak var object: Object? }

    /// Every map in the process, by id.
    static var maps: IDRegistry<RuntimeMap> { mapRegistry }
    /// Every loaded program in the process, by id.
    static var programs: IDRegistry<LoadedProgram> { programRegistry }

    func nextID() -> UInt32 { counter.wrappingAdd(1, ordering: .relaxed).newValue }

    func register(_ object: Object, id: UInt32) {
        objects.withLock { table in
            if table[id]?.object == nil { table[id] = Weak(object: object) }
        }
    }

    func unregister(_ id: UInt32) { _ = objects.withLock { $0.removeValue(forKey: id) } }

    func object(id: UInt32) -> Object? { objects.withLock { $0[id]?.object } }
}

private let mapRegistry = IDRegistry<RuntimeMap>()
private let programRegistry = IDRegistry<LoadedProgram>()
