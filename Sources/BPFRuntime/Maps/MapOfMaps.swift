import BPFObject

/// `BPF_MAP_TYPE_ARRAY_OF_MAPS` and `HASH_OF_MAPS`: values are maps. Swift code stores a map (or
/// its id, the 4-byte value, as the kernel's user API takes an fd and returns an id); programs look
/// up an inner map handle and use it with the map helpers. Inner maps must match the declared
/// template's type, key size, value size and flags, as Linux requires.
final class MapOfMaps: RuntimeMap, @unchecked Sendable {
    let template: MapSpec?
    private var slots: [[UInt8]: RuntimeMap] = [:]
    private var order: [[UInt8]] = []

    /// Handles of inner maps are this base plus the map's id; helpers resolve them.
    static let innerHandleBase: UInt64 = 0xffff_f100_0000_0000

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize > 0 else { throw MapError(.invalid, "map of maps '\(spec.name)': key size 0") }
        if spec.type == .arrayOfMaps && spec.keySize != 4 {
            throw MapError(.invalid, "array of maps '\(spec.name)': key size must be 4, found \(spec.keySize)")
        }
        template = spec.innerMap?.spec
        try super.init(spec: spec)
    }

    override var userValueSize: Int { 4 }

    private func validKey(_ key: [UInt8]) throws(MapError) {
        if spec.type == .arrayOfMaps {
            let i = key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            guard i < spec.maxEntries else { throw MapError(.tooBig, "array of maps '\(spec.name)': index \(i) out of range") }
        }
    }

    /// Stores `inner` under `key` (nil removes it).
    func set(_ key: [UInt8], _ inner: RuntimeMap?, flags: MapUpdateFlags = .any) throws(MapError) {
        try checkKey(key.count)
        try validKey(key)
        guard let inner else {
            try lock.withLock { _ throws(MapError) in
                guard slots.removeValue(forKey: key) != nil else { throw MapError(.noEntry, "map '\(spec.name)': no such key") }
                order.removeAll { $0 == key }
            }
            return
        }
        if let t = template {
            let s = inner.spec
            guard s.type == t.type, s.keySize == t.keySize, s.valueSize == t.valueSize, s.flags == t.flags else {
                throw MapError(.invalid, "map '\(spec.name)': inner map '\(s.name)' (\(s.type), key \(s.keySize), value \(s.valueSize)) does not match the template (\(t.type), key \(t.keySize), value \(t.valueSize))")
            }
        }
        _ = inner.id   // programs reach inner maps by id
        try lock.withLock { _ throws(MapError) in
            let exists = slots[key] != nil
            if exists && flags.contains(.noExist) { throw MapError(.exists, "map '\(spec.name)': key exists (BPF_NOEXIST)") }
            if !exists && flags.contains(.exist) { throw MapError(.noEntry, "map '\(spec.name)': key does not exist (BPF_EXIST)") }
            if !exists {
                guard spec.type == .arrayOfMaps || slots.count < spec.maxEntries else {
                    throw MapError(.tooBig, "map '\(spec.name)' is full (max_entries \(spec.maxEntries))")
                }
                order.append(key)
            }
            slots[key] = inner
        }
    }

    func inner(_ key: [UInt8]) -> RuntimeMap? { lock.withLock { _ in slots[key] } }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        inner(Array(key)).map { RuntimeMap.bytes(of: $0.id) }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        let id = value.loadUnaligned(as: UInt32.self)
        guard let map = IDRegistry<RuntimeMap>.maps.object(id: id) else { throw MapError(.badDescriptor, "map '\(spec.name)': no map with id \(id)") }
        try set(Array(key), map, flags: flags)
    }

    override func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) {
        try set(Array(key), nil)
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        lock.withLock { _ in
            if spec.type == .arrayOfMaps {
                var next = 0
                if let key, key.count == 4 { next = key.withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self)) } + 1 }
                return next < spec.maxEntries ? RuntimeMap.bytes(of: UInt32(next)) : nil
            }
            guard let key, let i = order.firstIndex(of: key) else { return order.first }
            return i + 1 < order.count ? order[i + 1] : nil
        }
    }

    override func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 {
        guard let map = inner(Array(UnsafeRawBufferPointer(start: key, count: spec.keySize))) else { return 0 }
        return Self.innerHandleBase + UInt64(map.rawID)
    }
}

extension RuntimeMap {
    /// For an array or hash of maps: stores `inner` under `key`.
    public func setInnerMap(key: [UInt8], _ inner: RuntimeMap, flags: MapUpdateFlags = .any) throws(MapError) {
        guard let outer = self as? MapOfMaps else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a map of maps") }
        try outer.set(key, inner, flags: flags)
    }

    /// For an array or hash of maps: the map stored under `key`.
    public func innerMap(key: [UInt8]) throws(MapError) -> RuntimeMap? {
        guard let outer = self as? MapOfMaps else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a map of maps") }
        try checkKey(key.count)
        return outer.inner(key)
    }
}
