import BPFObject

/// `BPF_MAP_TYPE_HASH`: keys to values, up to `max_entries`; values live in preallocated slots
/// that are recycled on delete, as the kernel's preallocated hash maps do.
final class HashMap: RuntimeMap, @unchecked Sendable {
    private var index: [[UInt8]: Int] = [:]
    private var order: [[UInt8]] = []
    private var free: [Int]

    override init(spec: MapSpec) throws(MapError) {
        free = Array((0..<spec.maxEntries).reversed())
        try super.init(spec: spec)
    }

    override func lookupPointer(_ key: UnsafeRawBufferPointer) throws(MapError) -> UnsafeMutableRawPointer? {
        index[Array(key)].map(slot)
    }

    override func update(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        let k = Array(key)
        if let existing = index[k] {
            if flags.contains(.noExist) { throw MapError(.exists, "hash map '\(spec.name)': key exists (BPF_NOEXIST)") }
            slot(existing).copyMemory(from: value.baseAddress!, byteCount: spec.valueSize)
            return
        }
        if flags.contains(.exist) { throw MapError(.noEntry, "hash map '\(spec.name)': key does not exist (BPF_EXIST)") }
        guard let s = free.popLast() else {
            throw MapError(.tooBig, "hash map '\(spec.name)' is full (max_entries \(spec.maxEntries))")
        }
        slot(s).copyMemory(from: value.baseAddress!, byteCount: spec.valueSize)
        index[k] = s
        order.append(k)
    }

    override func delete(_ key: UnsafeRawBufferPointer) throws(MapError) {
        let k = Array(key)
        guard let s = index.removeValue(forKey: k) else { throw MapError(.noEntry, "hash map '\(spec.name)': no such key") }
        order.removeAll { $0 == k }
        free.append(s)
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        lock.withLock { _ in
            guard let key, let position = order.firstIndex(of: key) else { return order.first }
            return position + 1 < order.count ? order[position + 1] : nil
        }
    }
}
