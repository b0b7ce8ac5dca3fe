import BPFObject
import Synchronization

/// A map living in the Swift runtime. Values sit in one preallocated block (as the kernel's
/// preallocated maps do), so a value pointer a program holds always stays inside map memory;
/// every operation is thread-safe.
///
/// ```swift
/// let counts = try loaded.map(named: "counts")
/// try counts.update(key: [6, 0, 0, 0], value: [1, 0, 0, 0, 0, 0, 0, 0])
/// for (key, value) in counts.entries() { print(key, value) }
/// ```
public class RuntimeMap: @unchecked Sendable {
    public let spec: MapSpec
    /// Bytes per value slot (the value size rounded up to 8, as the kernel does).
    public let slotSize: Int
    /// The value block: `spec.maxEntries` slots.
    let storage: UnsafeMutableRawBufferPointer
    let lock = Mutex(())

    init(spec: MapSpec) throws(MapError) {
        guard spec.keySize > 0 || spec.type == .queue || spec.type == .stack || spec.type == .ringBuffer || spec.type == .bloomFilter else {
            throw MapError(.invalid, "map '\(spec.name)': key size 0")
        }
        guard spec.maxEntries > 0 else { throw MapError(.invalid, "map '\(spec.name)': max_entries 0") }
        guard spec.valueSize >= 0, spec.valueSize <= 1 << 24 else {
            throw MapError(.tooBig, "map '\(spec.name)': value size \(spec.valueSize) is too large")
        }
        self.spec = spec
        slotSize = (spec.valueSize + 7) & ~7
        let bytes = slotSize * spec.maxEntries
        guard bytes <= 1 << 30 else { throw MapError(.tooBig, "map '\(spec.name)': \(bytes) bytes of values is too large") }
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 8), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { storage.deallocate() }

    /// The memory programs may reach through value pointers.
    var region: MemoryRegion { MemoryRegion(storage, writable: !spec.readOnly) }

    func slot(_ index: Int) -> UnsafeMutableRawPointer { storage.baseAddress! + index * slotSize }

    func checkKey(_ key: UnsafeRawBufferPointer) throws(MapError) {
        guard key.count == spec.keySize else {
            throw MapError(.invalid, "map '\(spec.name)': key is \(key.count) bytes, the map's key size is \(spec.keySize)")
        }
    }

    func checkValue(_ value: UnsafeRawBufferPointer) throws(MapError) {
        guard value.count == spec.valueSize else {
            throw MapError(.invalid, "map '\(spec.name)': value is \(value.count) bytes, the map's value size is \(spec.valueSize)")
        }
    }

    // MARK: Operations every map kind implements

    /// A pointer to the value stored under `key`, or nil.
    public func lookupPointer(_ key: UnsafeRawBufferPointer) throws(MapError) -> UnsafeMutableRawPointer? {
        throw MapError(.notSupported, "map '\(spec.name)' (\(spec.type)) does not support lookup")
    }

    public func update(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        throw MapError(.notSupported, "map '\(spec.name)' (\(spec.type)) does not support update")
    }

    public func delete(_ key: UnsafeRawBufferPointer) throws(MapError) {
        throw MapError(.notSupported, "map '\(spec.name)' (\(spec.type)) does not support delete")
    }

    /// The key after `key` in iteration order (the first key when `key` is nil or missing).
    public func nextKey(after key: [UInt8]?) -> [UInt8]? { nil }

    // MARK: Conveniences for Swift callers

    /// The value under `key`, copied out.
    public func value(forKey key: [UInt8]) throws(MapError) -> [UInt8]? {
        let result: Result<[UInt8]?, MapError> = key.withUnsafeBytes { k in
            Result { () throws(MapError) -> [UInt8]? in
                try checkKey(k)
                return try lock.withLock { _ throws(MapError) -> [UInt8]? in
                    guard let p = try lookupPointer(k) else { return nil }
                    return Array(UnsafeRawBufferPointer(start: p, count: spec.valueSize))
                }
            }
        }
        return try result.get()
    }

    /// Stores `value` under `key`.
    public func update(key: [UInt8], value: [UInt8], flags: MapUpdateFlags = .any) throws(MapError) {
        let result: Result<Void, MapError> = key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                Result { () throws(MapError) in
                    try checkKey(k)
                    try checkValue(v)
                    try lock.withLock { _ throws(MapError) in try update(k, v, flags: flags) }
                }
            }
        }
        try result.get()
    }

    /// Removes `key`.
    public func delete(key: [UInt8]) throws(MapError) {
        let result: Result<Void, MapError> = key.withUnsafeBytes { k in
            Result { () throws(MapError) in
                try checkKey(k)
                try lock.withLock { _ throws(MapError) in try delete(k) }
            }
        }
        try result.get()
    }

    /// Every key and value, in iteration order.
    public func entries() -> [(key: [UInt8], value: [UInt8])] {
        var result: [(key: [UInt8], value: [UInt8])] = []
        var key: [UInt8]? = nil
        while let next = nextKey(after: key), result.count <= spec.maxEntries {
            if let value = try? value(forKey: next) { result.append((next, value)) }
            key = next
        }
        return result
    }

    /// Makes the map the runtime backs for a spec.
    public static func make(_ spec: MapSpec) throws(MapError) -> RuntimeMap {
        switch spec.type {
        case .array: return try ArrayMap(spec: spec)
        case .hash: return try HashMap(spec: spec)
        default:
            throw MapError(.notSupported, "map '\(spec.name)': type \(spec.type) is not available in the Swift runtime yet")
        }
    }
}
