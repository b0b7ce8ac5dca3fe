import BPFObject
import CBPFRuntimeSupport
import Synchronization

/// `BPF_MAP_TYPE_RINGBUF`: a multi-producer, single-consumer ring of variable-length records in the
/// kernel's layout. `max_entries` is the data size (a power of two, a multiple of 4096). Each record
/// has an 8-byte header — `u32 len` with bit 31 "busy" and bit 30 "discarded", then `u32 pg_off` —
/// and is padded to 8 bytes. Programs reserve, then submit or discard, or output in one step;
/// Swift code consumes records in order with ``RuntimeMap/consumeRingBuffer(_:)``.
///
/// The data area is followed by a second copy of its size, so a record that wraps past the end is
/// still contiguous for the program and the consumer (the kernel maps the data pages twice for the
/// same reason); on submit the wrapped part is copied to the start of the ring.
final class RingBufferMap: RuntimeMap, @unchecked Sendable {
    static let busyBit: UInt32 = 1 << 31
    static let discardBit: UInt32 = 1 << 30
    static let headerSize = 8

    let size: Int
    let data: UnsafeMutableRawBufferPointer
    /// The consumer and producer positions (the kernel keeps them on their own pages).
    let positions: UnsafeMutablePointer<UInt64>
    /// Ring offsets of records reserved and not yet submitted or discarded.
    private var outstanding: Set<Int> = []
    /// Consumers waiting for a record (``RuntimeMap/waitForRingBufferRecord()``), and whether there are any:
    /// the flag keeps the producer's path to one atomic load when nobody waits.
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])
    private let hasWaiters = Atomic<Bool>(false)

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 0, spec.valueSize == 0 else {
            throw MapError(.invalid, "ring buffer '\(spec.name)': key and value sizes must be 0")
        }
        let size = spec.maxEntries
        guard size >= 4096, size & (size - 1) == 0 else {
            throw MapError(.invalid, "ring buffer '\(spec.name)': max_entries \(size) must be a power of two and a multiple of 4096")
        }
        self.size = size
        data = .allocate(byteCount: size * 2, alignment: 4096)
        data.initializeMemory(as: UInt8.self, repeating: 0)
        positions = .allocate(capacity: 2)
        positions.initialize(repeating: 0, count: 2)
        try super.init(spec: spec)
    }

    deinit {
        data.deallocate()
        positions.deallocate()
    }

    var consumerPosition: UInt64 { cbpf_atomic_fetch_add64(positions, 0) }
    var producerPosition: UInt64 { cbpf_atomic_fetch_add64(positions + 1, 0) }

    private func header(_ offset: Int) -> UnsafeMutableRawPointer { data.baseAddress! + offset }

    /// Reserves `length` bytes; returns the record's data address, or nil when there is no room.
    func reserve(_ length: Int) -> UnsafeMutableRawPointer? {
        guard length > 0, length <= size - Self.headerSize, length < Int(Self.discardBit) else { return nil }
        let total = (length + Self.headerSize + 7) & ~7
        return lock.withLock { _ in
            let consumer = consumerPosition
            let producer = producerPosition
            guard producer + UInt64(total) - consumer <= UInt64(size) else { return nil }
            let offset = Int(producer & UInt64(size - 1))
            let h = header(offset)
            h.storeBytes(of: UInt32(length) | Self.busyBit, as: UInt32.self)
            h.storeBytes(of: UInt32(offset / 4096), toByteOffset: 4, as: UInt32.self)
            outstanding.insert(offset)
            _ = cbpf_atomic_exchange64(positions + 1, producer + UInt64(total))
            return h + Self.headerSize
        }
    }

    /// Commits or discards a reserved record.
    func commit(_ record: UnsafeRawPointer, discard: Bool) throws(MapError) {
        let offset = Int(bitPattern: UInt(bitPattern: record)) - Int(bitPattern: UInt(bitPattern: data.baseAddress!)) - Self.headerSize
        try lock.withLock { _ throws(MapError) in
            guard outstanding.remove(offset) != nil else {
                throw MapError(.invalid, "ring buffer '\(spec.name)': 0x\(String(UInt(bitPattern: record), radix: 16)) is not a reserved record")
            }
        }
        let h = header(offset)
        let length = Int(h.load(as: UInt32.self) & ~(Self.busyBit | Self.discardBit))
        let end = offset + Self.headerSize + length
        if end > size {
            data.baseAddress!.copyMemory(from: data.baseAddress! + size, byteCount: end - size)
        }
        _ = cbpf_atomic_exchange32(h, UInt32(length) | (discard ? Self.discardBit : 0))
        if hasWaiters.load(ordering: .sequentiallyConsistent) { wakeWaiters() }
    }

    func wakeWaiters() {
        let woken = waiters.withLock { list in
            let all = list
            list.removeAll()
            hasWaiters.store(false, ordering: .sequentiallyConsistent)
            return all
        }
        for waiter in woken { waiter.resume() }
    }

    /// Whether the record at the consumer position is complete (submitted or discarded).
    var hasCompleteRecord: Bool {
        let consumer = consumerPosition
        guard consumer < producerPosition else { return false }
        return cbpf_atomic_fetch_add32(header(Int(consumer & UInt64(size - 1))), 0) & Self.busyBit == 0
    }

    /// Returns once a complete record is at the consumer position (at once if one is).
    func waitForRecord() async {
        if hasCompleteRecord { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = waiters.withLock { list -> Bool in
                hasWaiters.store(true, ordering: .sequentiallyConsistent)
                if hasCompleteRecord { return true }
                list.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Copies a record in (`bpf_ringbuf_output`); false when there is no room.
    func output(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let record = reserve(bytes.count) else { return false }
        record.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        return (try? commit(record, discard: false)) != nil
    }

    /// The region programs may write for a reserved record.
    func region(record: UnsafeMutableRawPointer, length: Int) -> MemoryRegion {
        MemoryRegion(start: UInt(bitPattern: record), count: length, writable: true)
    }

    /// Bytes produced and not consumed.
    var available: UInt64 { producerPosition - consumerPosition }

    /// Committed records not yet consumed, copied out, without consuming them.
    func pending() -> [[UInt8]] {
        var records: [[UInt8]] = []
        walk(advance: false) { records.append(Array($0)) }
        return records
    }

    /// Hands each committed record to `body`, in order, and advances the consumer position past it;
    /// stops at a record still being written. Returns the number of records delivered.
    func consume(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        try walk(advance: true, limit: limit, body)
    }

    /// Visits committed records from the consumer position, moving it past each when `advance`.
    private func walk(advance: Bool, limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        var delivered = 0
        var consumer = consumerPosition
        while consumer < producerPosition, delivered < limit {
            let offset = Int(consumer & UInt64(size - 1))
            let word = cbpf_atomic_fetch_add32(header(offset), 0)
            if word & Self.busyBit != 0 { break }
            let length = Int(word & ~Self.discardBit)
            if word & Self.discardBit == 0 {
                try body(UnsafeRawBufferPointer(start: header(offset) + Self.headerSize, count: length))
                delivered += 1
            }
            consumer += UInt64((length + Self.headerSize + 7) & ~7)
            if advance { _ = cbpf_atomic_exchange64(positions, consumer) }
        }
        return delivered
    }
}

extension RuntimeMap {
    /// For a ring buffer: hands each committed record to `body` without copying (the bytes are valid
    /// only inside the call), in order, and frees its space. Returns the number of records.
    @discardableResult
    public func consumeRingBuffer(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        guard let ring = self as? RingBufferMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a ring buffer") }
        return try ring.consume(limit: limit, body)
    }

    /// For a ring buffer: returns once a submitted record waits to be consumed (at once if one does),
    /// without polling: a program's submit wakes the waiter.
    public func waitForRingBufferRecord() async throws {
        guard let ring = self as? RingBufferMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a ring buffer") }
        await ring.waitForRecord()
    }

    /// For a ring buffer: wakes every ``waitForRingBufferRecord()`` now, record or not (to end a wait
    /// whose task was cancelled).
    public func wakeRingBufferWaiters() {
        (self as? RingBufferMap)?.wakeWaiters()
    }

    /// For a ring buffer: the committed records not yet consumed, copied out, left in the ring.
    public func pendingRingBufferRecords() throws -> [[UInt8]] {
        guard let ring = self as? RingBufferMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a ring buffer") }
        return ring.pending()
    }

    /// For a ring buffer: every committed record, copied out, in order; their space is freed.
    public func drainRingBuffer() throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        try consumeRingBuffer { records.append(Array($0)) }
        return records
    }
}
