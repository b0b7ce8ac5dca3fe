import BPFObject

/// `BPF_MAP_TYPE_ARRAY`: fixed slots indexed by a 32-bit key, all present and zeroed at creation;
/// delete is refused (EINVAL), as in Linux.
final class ArrayMap: RuntimeMap, @unchecked Sendable {
    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 4 else { throw MapError(.invalid, "array map '\(spec.name)': key size must be 4, found \(spec.keySize)") }
        try super.init(spec: spec)
        if let initial = spec.initialValue {
            initial.withUnsafeBytes { storage.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, spec.valueSize)) }
        }
    }

    func index(_ key: UnsafeRawBufferPointer) -> Int? {
        let i = Int(key.loadUnaligned(as: UInt32.self))
        return i < spec.maxEntries ? i : nil
    }

    override func lookupPointer(_ key: UnsafeRawBufferPointer) throws(MapError) -> UnsafeMutableRawPointer? {
        index(key).map(slot)
    }

    override func update(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        guard let i = index(key) else { throw MapError(.tooBig, "array map '\(spec.name)': index out of range (max_entries \(spec.maxEntries))") }
        if flags.contains(.noExist) { throw MapError(.exists, "array map '\(spec.name)': every index exists (BPF_NOEXIST)") }
        slot(i).copyMemory(from: value.baseAddress!, byteCount: spec.valueSize)
    }

    override func delete(_ key: UnsafeRawBufferPointer) throws(MapError) {
        throw MapError(.invalid, "array map '\(spec.name)': elements cannot be deleted")
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        var next = 0
        if let key, key.count == 4 {
            let current = Int(UInt32(key[0]) | UInt32(key[1]) << 8 | UInt32(key[2]) << 16 | UInt32(key[3]) << 24)
            next = current + 1
        }
        guard next < spec.maxEntries else { return nil }
        let n = UInt32(next)
        return [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)]
    }
}
