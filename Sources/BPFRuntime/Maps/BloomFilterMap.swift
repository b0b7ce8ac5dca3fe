import BPFObject

/// `BPF_MAP_TYPE_BLOOM_FILTER`: values are pushed and tested with peek (0 = maybe present,
/// ENOENT = certainly absent). `map_extra` gives the number of hash functions (default 5, at most
/// 15); the bit array is sized as the kernel sizes it, about max_entries × hashes / ln 2 bits.
final class BloomFilterMap: RuntimeMap, @unchecked Sendable {
    let hashes: Int
    let bitMask: Int
    private var bits: [UInt64]

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 0 else { throw MapError(.invalid, "bloom filter '\(spec.name)': key size must be 0, found \(spec.keySize)") }
        guard spec.valueSize > 0 else { throw MapError(.invalid, "bloom filter '\(spec.name)': value size 0") }
        let extra = spec.mapExtra & 0xf
        guard spec.mapExtra <= 0xf else { throw MapError(.invalid, "bloom filter '\(spec.name)': map_extra \(spec.mapExtra) (at most 15 hash functions)") }
        hashes = extra == 0 ? 5 : Int(extra)
        let wanted = max(Double(spec.maxEntries) * Double(hashes) / 0.6931471805599453, 64)
        var size = 64
        while Double(size) < wanted && size < 1 << 32 { size <<= 1 }
        bitMask = size - 1
        bits = [UInt64](repeating: 0, count: size / 64)
        try super.init(spec: spec)
    }

    private func positions(_ value: UnsafeRawBufferPointer) -> [Int] {
        let h = KeyTable.hash(value.baseAddress!, value.count)
        let h2 = (h >> 32) | 1
        return (0..<hashes).map { i in Int(truncatingIfNeeded: (h &+ UInt64(i) &* h2)) & bitMask }
    }

    override func push(_ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        guard flags.rawValue == 0 else { throw MapError(.invalid, "bloom filter '\(spec.name)': push takes flags 0 (BPF_ANY)") }
        let p = positions(value)
        lock.withLock { _ in for i in p { bits[i >> 6] |= 1 << UInt64(i & 63) } }
    }

    override func pop(into destination: UnsafeMutableRawPointer, remove: Bool) throws(MapError) {
        guard !remove else { throw unsupported("pop") }
        let p = positions(UnsafeRawBufferPointer(start: destination, count: spec.valueSize))
        let present = lock.withLock { _ in p.allSatisfy { bits[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 } }
        if !present { throw MapError(.noEntry, "bloom filter '\(spec.name)': value not present") }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        try push(value, flags: flags)
    }

    /// Whether `value` may have been added (false means certainly not).
    func mayContain(_ value: [UInt8]) -> Bool {
        var copy = value
        return (try? RuntimeMap.withMutableBytes(&copy) { p throws(MapError) in try pop(into: p.baseAddress!, remove: false) }) != nil
    }
}

extension RuntimeMap {
    /// For a bloom filter: whether `value` may have been pushed (false means it certainly was not).
    public func mayContain(value: [UInt8]) throws(MapError) -> Bool {
        guard let bloom = self as? BloomFilterMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a bloom filter") }
        guard value.count == spec.valueSize else {
            throw MapError(.invalid, "map '\(spec.name)': value is \(value.count) bytes, the map's value size is \(spec.valueSize)")
        }
        return bloom.mayContain(value)
    }
}
