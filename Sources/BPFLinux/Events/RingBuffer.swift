import BPFObject
import CBPFLinuxSupport
import Foundation
import Synchronization

/// A reader of a kernel `BPF_MAP_TYPE_RINGBUF` map: the consumer page is mapped read-write, the
/// producer page and the data area (mapped twice, so records that wrap are contiguous) read-only;
/// epoll wakes the reader when records are submitted.
///
/// Records come as a zero-copy borrow (`consume`), a blocking `poll`, or an `AsyncSequence`:
///
/// ```swift
/// let ring = try RingBuffer(map: events)
/// ring.consume { bytes in print(bytes.count) }          // what is there now, no copies
/// for try await record in ring.records() { print(record) }  // [UInt8] as they come
/// ```
///
/// One consumer at a time: calls are serialised by a lock.
public final class RingBuffer: @unchecked Sendable {
    /// The ring map.
    public let map: KernelMap
    // Internal but usable from inlinable code: `consume` is inlined into its callers, so the
    // caller's closure is inlined into the loop over records instead of being called per record.
    @usableFromInline let pageSize: Int
    @usableFromInline let mask: UInt64
    @usableFromInline let consumer: UnsafeMutableRawPointer
    @usableFromInline let producer: UnsafeMutableRawPointer
    private let producerLength: Int
    private let epoll: BPFFileDescriptor
    private let wakeup: BPFFileDescriptor
    @usableFromInline let lock = Mutex(false)   // true once closed

    @usableFromInline static let busyBit: UInt32 = 1 << 31
    @usableFromInline static let discardBit: UInt32 = 1 << 30
    @usableFromInline static let headerSize = 8

    /// Maps the ring of `map` (a `.ringbuf` map) for reading.
    public init(map: KernelMap) throws(BPFError) {
        guard map.type == .ringBuffer else {
            throw BPFError.invalidArgument("map \(map.name): a ring buffer reader needs a ringbuf map, not \(map.type.kernelName)")
        }
        let fd = Int32(bitPattern: try map.fd.checked())
        self.map = map
        pageSize = Int(cbpf_page_size())
        mask = UInt64(map.maxEntries) - 1
        var error: Int32 = 0
        guard let consumer = cbpf_mmap_shared(fd, pageSize, 1, 0, &error) else {
            throw BPFError.system("mmap of ring buffer \(map.name)'s consumer page", errno: error)
        }
        producerLength = pageSize + 2 * map.maxEntries
        guard let producer = cbpf_mmap_shared(fd, producerLength, 0, Int64(pageSize), &error) else {
            cbpf_munmap(consumer, pageSize)
            throw BPFError.system("mmap of ring buffer \(map.name)'s producer pages (\(producerLength) bytes)", errno: error)
        }
        self.consumer = consumer
        self.producer = producer
        let ep = cbpf_epoll_create()
        let ev = cbpf_eventfd()
        guard ep >= 0, ev >= 0 else {
            cbpf_munmap(consumer, pageSize)
            cbpf_munmap(producer, producerLength)
            if ep >= 0 { _ = cbpf_close(ep) }
            if ev >= 0 { _ = cbpf_close(ev) }
            throw BPFError.system("epoll_create/eventfd for ring buffer \(map.name)", errno: ep < 0 ? -ep : -ev)
        }
        epoll = BPFFileDescriptor(adopting: ep)
        wakeup = BPFFileDescriptor(adopting: ev)
        let added = cbpf_epoll_add(ep, fd, 0)
        _ = cbpf_epoll_add(ep, ev, 1)
        guard added == 0 else {
            cbpf_munmap(consumer, pageSize)
            cbpf_munmap(producer, producerLength)
            throw BPFError.system("epoll_ctl(ADD) of ring buffer \(map.name)", errno: -added)
        }
    }

    deinit { close() }

    /// Unmaps the ring and closes the epoll fds. Later calls (and reads) do nothing.
    public func close() {
        let wasOpen = lock.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        cbpf_eventfd_signal(wakeup.rawValue)
        cbpf_munmap(consumer, pageSize)
        cbpf_munmap(producer, producerLength)
        epoll.close()
        wakeup.close()
    }

    /// Bytes submitted but not yet consumed (including record headers and discarded records).
    public var pendingBytes: Int {
        lock.withLock { closed in
            closed ? 0 : Int(cbpf_load_acquire_u64(producer) &- cbpf_load_acquire_u64(consumer))
        }
    }

    /// Calls `body` with each committed record now in the ring, in order, without copying; the
    /// bytes are valid only during the call. Stops at a record still being written (busy), skips
    /// discarded ones, and releases each record to the kernel after `body` returns. Returns how
    /// many records `body` saw. `limit` bounds the records handled in one call.
    @inlinable @discardableResult
    public func consume(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Int {
        try lock.withLock { closed -> Int in
            guard !closed else { return 0 }
            var count = 0
            let data = UnsafeRawPointer(producer + pageSize)
            var position = cbpf_load_acquire_u64(consumer)
            while count < limit {
                let end = cbpf_load_acquire_u64(producer)
                if position >= end { break }
                var progressed = false
                while position < end && count < limit {
                    let header = data + Int(position & mask)
                    let length = cbpf_load_acquire_u32(header)
                    if length & Self.busyBit != 0 { break }
                    let size = Int(length & ~(Self.busyBit | Self.discardBit))
                    let total = UInt64((size + Self.headerSize + 7) & ~7)
                    if length & Self.discardBit == 0 {
                        do {
                            try body(UnsafeRawBufferPointer(start: header + Self.headerSize, count: size))
                        } catch {
                            // Release the record that failed too, so it is not seen twice.
                            position += total
                            cbpf_store_release_u64(consumer, position)
                            throw error
                        }
                        count += 1
                    }
                    position += total
                    cbpf_store_release_u64(consumer, position)
                    progressed = true
                }
                if !progressed { break }
            }
            return count
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for records, then consumes them as
    /// `consume` does. Returns the number of records seen (0 on timeout or after `close()`).
    @discardableResult
    public func poll(timeoutMilliseconds: Int32 = -1, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let ready = try consume(body)
        if ready > 0 { return ready }
        guard try wait(timeoutMilliseconds: timeoutMilliseconds) else { return 0 }
        return try consume(body)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) until records may be ready (at once when
    /// bytes are pending); false on timeout or after `close()`. Consumes nothing.
    public func waitForRecords(timeoutMilliseconds: Int32 = -1) throws(BPFError) -> Bool {
        if pendingBytes > 0 { return true }
        return try wait(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Whether `close()` was called.
    @inlinable public var isClosed: Bool { lock.withLock { $0 } }

    /// Waits for the kernel's wake-up; false on timeout or when closed.
    private func wait(timeoutMilliseconds: Int32) throws(BPFError) -> Bool {
        var tags = [UInt64](repeating: 0, count: 4)
        let closed = lock.withLock { $0 }
        if closed { return false }
        let n = tags.withUnsafeMutableBufferPointer { cbpf_epoll_wait(epoll.rawValue, $0.baseAddress, 4, timeoutMilliseconds) }
        if n < 0 {
            if n == -Errno.EINTR.rawValue { return true }
            if lock.withLock({ $0 }) { return false }
            throw BPFError.system("epoll_wait on ring buffer \(map.name)", errno: -n)
        }
        if tags.prefix(Int(n)).contains(1) {
            cbpf_eventfd_drain(wakeup.rawValue)
            return false
        }
        return n > 0
    }

    /// The records as they come, copied out, until `close()` or the consuming task ends. A thread
    /// waits on epoll and feeds the stream.
    ///
    /// ```swift
    /// for try await record in ring.records() { handle(record) }
    /// ```
    public func records() -> AsyncThrowingStream<[UInt8], any Error> {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let box = StopFlag()
        continuation.onTermination = { [weak self, box] _ in
            box.stop()
            if let self { cbpf_eventfd_signal(self.wakeup.rawValue) }
        }
        let thread = Thread { [self] in
            do {
                while !box.isStopped {
                    try poll(timeoutMilliseconds: 200) { bytes in continuation.yield(Array(bytes)) }
                    if lock.withLock({ $0 }) { break }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "swiftbpf-ringbuf-\(map.name)"
        thread.start()
        return stream
    }
}

/// A flag one side sets to stop a reader thread.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func stop() { flag.store(true, ordering: .releasing) }
    var isStopped: Bool { flag.load(ordering: .acquiring) }
}
