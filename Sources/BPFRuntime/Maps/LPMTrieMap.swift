import BPFObject

/// `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match over keys `{u32 prefixlen; u8 data[]}` (IPv4,
/// IPv6 or any byte string; prefixes count bits from the first byte's most significant bit).
/// Lookups return the value of the longest stored prefix that covers the key; update and delete
/// work on exact prefixes. Iteration visits more specific prefixes before the ones that cover them,
/// as the kernel's trie walk does.
final class LPMTrieMap: RuntimeMap, @unchecked Sendable {
    let dataSize: Int
    /// Stored prefixes by length; keys are the masked data bytes.
    private var byLength: [Int: [[UInt8]: Int]] = [:]
    private var lengths: [Int] = []  // descending
    private var free: [Int]
    let values: UnsafeMutableRawBufferPointer

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize > 4, spec.keySize <= 4 + 256 else {
            throw MapError(.invalid, "LPM trie '\(spec.name)': key size must be 4 + 1…256 data bytes, found \(spec.keySize)")
        }
        guard spec.flags & 1 != 0 else {
            throw MapError(.invalid, "LPM trie '\(spec.name)': map_flags must include BPF_F_NO_PREALLOC, as Linux requires")
        }
        guard spec.valueSize > 0 else { throw MapError(.invalid, "LPM trie '\(spec.name)': value size 0") }
        dataSize = spec.keySize - 4
        free = Array((0..<spec.maxEntries).reversed())
        let slot = (spec.valueSize + 7) & ~7
        values = .allocate(byteCount: slot * spec.maxEntries, alignment: 16)
        values.initializeMemory(as: UInt8.self, repeating: 0)
        try super.init(spec: spec)
    }

    deinit { values.deallocate() }

    override public var regions: [MemoryRegion] { [MemoryRegion(values, writable: true)] }

    func value(_ slot: Int) -> UnsafeMutableRawPointer { values.baseAddress! + slot * slotSize }

    private func masked(_ data: UnsafeRawPointer, bits: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: (bits + 7) / 8)
        for i in out.indices {
            var b = data.load(fromByteOffset: i, as: UInt8.self)
            let remaining = bits - i * 8
            if remaining < 8 { b &= UInt8(truncatingIfNeeded: 0xff << (8 - remaining)) }
            out[i] = b
        }
        return out
    }

    private func prefix(_ key: UnsafeRawPointer) throws(MapError) -> (bits: Int, data: UnsafeRawPointer) {
        let bits = Int(key.loadUnaligned(as: UInt32.self))
        guard bits <= dataSize * 8 else {
            throw MapError(.invalid, "LPM trie '\(spec.name)': prefix length \(bits) exceeds the \(dataSize * 8) bits of the key")
        }
        return (bits, key + 4)
    }

    /// The slot of the longest prefix covering `key` (whose own prefix length caps the match).
    private func longestMatch(_ key: UnsafeRawPointer) -> Int? {
        let bits = min(Int(key.loadUnaligned(as: UInt32.self)), dataSize * 8)
        for length in lengths where length <= bits {
            if let slot = byLength[length]?[masked(key + 4, bits: length)] { return slot }
        }
        return nil
    }

    private func exact(_ key: UnsafeRawPointer) throws(MapError) -> (bits: Int, data: [UInt8], slot: Int?) {
        let (bits, data) = try prefix(key)
        let m = masked(data, bits: bits)
        return (bits, m, byLength[bits]?[m])
    }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        lock.withLock { _ in
            longestMatch(key.baseAddress!).map { Array(UnsafeRawBufferPointer(start: value($0), count: spec.valueSize)) }
        }
    }

    private func insert(_ key: UnsafeRawPointer, flags: MapUpdateFlags, _ source: UnsafeRawPointer) throws(MapError) {
        guard flags.rawValue <= 2 else { throw MapError(.invalid, "LPM trie '\(spec.name)': invalid update flags \(flags.rawValue)") }
        try lock.withLock { _ throws(MapError) in
            let (bits, data, existing) = try exact(key)
            if let existing {
                if flags.contains(.noExist) { throw MapError(.exists, "LPM trie '\(spec.name)': prefix exists (BPF_NOEXIST)") }
                value(existing).copyMemory(from: source, byteCount: spec.valueSize)
                return
            }
            if flags.contains(.exist) { throw MapError(.noEntry, "LPM trie '\(spec.name)': prefix does not exist (BPF_EXIST)") }
            guard let slot = free.popLast() else { throw MapError(.noSpace, "LPM trie '\(spec.name)' is full (max_entries \(spec.maxEntries))") }
            value(slot).copyMemory(from: source, byteCount: spec.valueSize)
            if byLength[bits] == nil {
                byLength[bits] = [:]
                lengths.append(bits)
                lengths.sort(by: >)
            }
            byLength[bits]![data] = slot
        }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ source: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        try insert(key.baseAddress!, flags: flags, source.baseAddress!)
    }

    override func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) {
        try lock.withLock { _ throws(MapError) in
            let (bits, data, existing) = try exact(key.baseAddress!)
            guard let slot = existing else { throw MapError(.noEntry, "LPM trie '\(spec.name)': no such prefix") }
            byLength[bits]![data] = nil
            if byLength[bits]!.isEmpty {
                byLength[bits] = nil
                lengths.removeAll { $0 == bits }
            }
            free.append(slot)
        }
    }

    /// Stored prefixes in post-order: by bits from the most significant, a more specific prefix
    /// before the prefix that covers it.
    private func ordered() -> [[UInt8]] {
        var keys: [(bits: Int, data: [UInt8])] = []
        for (bits, entries) in byLength { for data in entries.keys { keys.append((bits, data)) } }
        func bit(_ data: [UInt8], _ i: Int) -> UInt8 { (data[i / 8] >> (7 - UInt8(i % 8))) & 1 }
        keys.sort { a, b in
            let common = min(a.bits, b.bits)
            for i in 0..<common where bit(a.data, i) != bit(b.data, i) { return bit(a.data, i) < bit(b.data, i) }
            return a.bits > b.bits
        }
        return keys.map { entry in
            var key = RuntimeMap.bytes(of: UInt32(entry.bits))
            key += entry.data
            key += [UInt8](repeating: 0, count: dataSize - entry.data.count)
            return key
        }
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        lock.withLock { _ in
            let all = ordered()
            guard let key, key.count == spec.keySize else { return all.first }
            let normalized: [UInt8]? = key.withUnsafeBytes { raw in
                guard let (bits, data) = try? prefix(raw.baseAddress!) else { return nil }
                return RuntimeMap.bytes(of: UInt32(bits)) + masked(data, bits: bits) + [UInt8](repeating: 0, count: dataSize - (bits + 7) / 8)
            }
            guard let normalized, let i = all.firstIndex(of: normalized) else { return all.first }
            return i + 1 < all.count ? all[i + 1] : nil
        }
    }

    override func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 {
        lock.withLock { _ in longestMatch(key).map { UInt64(UInt(bitPattern: value($0))) } ?? 0 }
    }

    override func programUpdate(_ key: UnsafeRawPointer, _ source: UnsafeRawPointer, flags: MapUpdateFlags, _ call: borrowing HelperCall) throws(MapError) {
        try insert(key, flags: flags, source)
    }
}
