#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The index behind hash-style maps: keys stored inline in one block, chained buckets, a free list of
/// entry slots, and (for LRU maps) a recency list. Callers hold the map's lock.
struct KeyTable {
    let capacity: Int
    let keySize: Int
    let keyStride: Int
    let keys: UnsafeMutableRawPointer
    let hashes: UnsafeMutablePointer<UInt64>
    let chain: UnsafeMutablePointer<Int32>
    let buckets: UnsafeMutablePointer<Int32>
    let bucketMask: Int
    let free: UnsafeMutablePointer<Int32>
    var freeCount: Int
    // Recency (LRU maps): a doubly linked list, most recent at `head`.
    let lru: Bool
    let newer: UnsafeMutablePointer<Int32>
    let older: UnsafeMutablePointer<Int32>
    var head: Int32 = -1
    var tail: Int32 = -1
    private(set) var count = 0

    init(capacity: Int, keySize: Int, lru: Bool) {
        self.capacity = capacity
        self.keySize = keySize
        keyStride = max((keySize + 7) & ~7, 8)
        keys = .allocate(byteCount: keyStride * capacity, alignment: 8)
        keys.initializeMemory(as: UInt8.self, repeating: 0, count: keyStride * capacity)
        hashes = .allocate(capacity: capacity)
        hashes.initialize(repeating: 0, count: capacity)
        chain = .allocate(capacity: capacity)
        chain.initialize(repeating: -1, count: capacity)
        var bucketCount = 1
        while bucketCount < capacity { bucketCount <<= 1 }
        buckets = .allocate(capacity: bucketCount)
        buckets.initialize(repeating: -1, count: bucketCount)
        bucketMask = bucketCount - 1
        free = .allocate(capacity: capacity)
        for i in 0..<capacity { free[i] = Int32(capacity - 1 - i) }
        freeCount = capacity
        self.lru = lru
        newer = .allocate(capacity: lru ? capacity : 1)
        older = .allocate(capacity: lru ? capacity : 1)
        newer.initialize(repeating: -1, count: lru ? capacity : 1)
        older.initialize(repeating: -1, count: lru ? capacity : 1)
    }

    func deallocate() {
        keys.deallocate(); hashes.deallocate(); chain.deallocate(); buckets.deallocate(); free.deallocate()
        newer.deallocate(); older.deallocate()
    }

    @inline(__always)
    static func hash(_ key: UnsafeRawPointer, _ size: Int) -> UInt64 {
        var h: UInt64 = 0x9e37_79b9_7f4a_7c15 ^ UInt64(size)
        var i = 0
        while i + 8 <= size {
            h = (h ^ key.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
            h ^= h >> 29
            i += 8
        }
        if i < size {
            var tailBits: UInt64 = 0
            var shift: UInt64 = 0
            while i < size {
                tailBits |= UInt64(key.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tailBits) &* 0xc4ce_b9fe_1a85_ec53
        }
        h ^= h >> 32
        h = h &* 0x9e37_79b9_7f4a_7c15
        return h ^ (h >> 29)
    }

    @inline(__always)
    func key(_ index: Int32) -> UnsafeMutableRawPointer { keys + Int(index) * keyStride }

    /// The entry holding `key`, or -1.
    @inline(__always)
    func find(_ key: UnsafeRawPointer) -> Int32 {
        let h = Self.hash(key, keySize)
        var e = buckets[Int(truncatingIfNeeded: h) & bucketMask]
        while e >= 0 {
            if hashes[Int(e)] == h && memcmp(self.key(e), key, keySize) == 0 { return e }
            e = chain[Int(e)]
        }
        return -1
    }

    /// Marks an entry as just used (LRU maps).
    @inline(__always)
    mutating func touch(_ e: Int32) {
        guard lru, head != e else { return }
        unlinkRecency(e)
        pushRecency(e)
    }

    /// Adds `key` (which must be absent). Returns the new entry, or -1 when full; LRU tables evict
    /// the least recently used entry instead and report it in `evicted`.
    mutating func insert(_ key: UnsafeRawPointer, evicted: inout Int32) -> Int32 {
        evicted = -1
        if freeCount == 0 {
            guard lru, tail >= 0 else { return -1 }
            evicted = tail
            remove(tail)
        }
        freeCount -= 1
        let e = free[freeCount]
        let h = Self.hash(key, keySize)
        self.key(e).copyMemory(from: key, byteCount: keySize)
        hashes[Int(e)] = h
        let b = Int(truncatingIfNeeded: h) & bucketMask
        chain[Int(e)] = buckets[b]
        buckets[b] = e
        if lru { pushRecency(e) }
        count += 1
        return e
    }

    /// Removes entry `e`.
    mutating func remove(_ e: Int32) {
        let b = Int(truncatingIfNeeded: hashes[Int(e)]) & bucketMask
        if buckets[b] == e {
            buckets[b] = chain[Int(e)]
        } else {
            var p = buckets[b]
            while p >= 0 && chain[Int(p)] != e { p = chain[Int(p)] }
            if p >= 0 { chain[Int(p)] = chain[Int(e)] }
        }
        chain[Int(e)] = -1
        if lru { unlinkRecency(e) }
        free[freeCount] = e
        freeCount += 1
        count -= 1
    }

    /// The entry after `key` in bucket order; the first entry when `key` is nil or absent.
    func next(after key: UnsafeRawPointer?) -> Int32 {
        var bucket = 0
        if let key {
            let e = find(key)
            if e >= 0 {
                if chain[Int(e)] >= 0 { return chain[Int(e)] }
                bucket = (Int(truncatingIfNeeded: hashes[Int(e)]) & bucketMask) + 1
            }
        }
        while bucket <= bucketMask {
            if buckets[bucket] >= 0 { return buckets[bucket] }
            bucket += 1
        }
        return -1
    }

    private mutating func pushRecency(_ e: Int32) {
        older[Int(e)] = head
        newer[Int(e)] = -1
        if head >= 0 { newer[Int(head)] = e }
        head = e
        if tail < 0 { tail = e }
    }

    private mutating func unlinkRecency(_ e: Int32) {
        let n = newer[Int(e)], o = older[Int(e)]
        if n >= 0 { older[Int(n)] = o } else if head == e { head = o }
        if o >= 0 { newer[Int(o)] = n } else if tail == e { tail = n }
        newer[Int(e)] = -1
        older[Int(e)] = -1
    }
}
