import BPFLinux
import BPFObject
import BPFRuntime
import Dispatch

/// A ring buffer map (`BPF_MAP_TYPE_RINGBUF`) of either backend, read as an `AsyncSequence` of
/// `Record`s — each record's first `MemoryLayout<Record>.size` bytes (a shorter record is an error).
///
/// The sequence is pull-based and bounded: a record is taken from the ring only when the loop asks
/// for the next one, so nothing piles up in memory; while the consumer is slow, records wait in the
/// ring itself, and when it is full the program's `bpf_ringbuf_reserve`/`output` fails (the program
/// counts those drops). Waiting costs no polling: on the kernel, epoll wakes the reader; on the
/// runtime, a program's submit does. ``consume(limit:_:)`` hands records over without copying, for
/// hot loops.
///
/// ```swift
/// struct Event: BitwiseCopyable { var pid: UInt32; var uid: UInt32 }
/// for try await event in try bpf.ringBuffer("events", of: Event.self) {
///     print(event.pid, event.uid)
/// }
/// ```
public final class BPFRingBuffer<Record: BitwiseCopyable>: AsyncSequence, Sendable {
    public typealias Element = Record

    // Usable from inlinable code: `consume` and the iterator's `next()` are inlined into their
    // callers, specialised for `Record` and with the caller's closure in the loop over records.
    @usableFromInline enum Source: Sendable {
        case runtime(RuntimeMap)
        case kernel(RingBuffer)
    }

    @usableFromInline let source: Source
    /// The map's name.
    public let name: String
    /// Where the kernel reader blocks in epoll, off Swift's cooperative threads.
    private let waiter: DispatchQueue

    /// Opens the ring buffer map `map`.
    public init(_ map: AnyBPFMap) throws(SwiftBPFError) {
        guard map.spec.type == .ringBuffer else {
            throw SwiftBPFError(.invalidArgument, place: "map '\(map.name)'", "is \(map.spec.type), not a ringbuf")
        }
        name = map.name
        switch map.storage {
        case .runtime(let runtimeMap): source = .runtime(runtimeMap)
        case .kernel(let kernelMap): source = .kernel(try bridged("map '\(map.name)'") { try RingBuffer(map: kernelMap) })
        }
        waiter = DispatchQueue(label: "swiftbpf.ringbuf.\(map.name)")
    }

    /// Hands each record now in the ring to `body` without copying (valid only during the call),
    /// in order, and frees its space; at most `limit` records. Returns how many `body` saw. Never waits.
    ///
    /// ```swift
    /// let n = try events.consume { bytes in total += bytes.count }
    /// ```
    @inlinable @discardableResult
    public func consume(limit: Int = .max, _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        switch source {
        case .runtime(let map): try map.consumeRingBuffer(limit: limit, body)
        case .kernel(let ring): try ring.consume(limit: limit, body)
        }
    }

    /// The records now in the ring, decoded, freeing their space. Never waits.
    public func drain() throws -> [Record] {
        var records: [Record] = []
        try consume { records.append(try decode($0)) }
        return records
    }

    /// Stops the reader: iteration ends (kernel rings are unmapped).
    public func close() {
        switch source {
        case .runtime(let map): map.wakeRingBufferWaiters()
        case .kernel(let ring): ring.close()
        }
    }

    @inlinable func decode(_ bytes: UnsafeRawBufferPointer) throws(SwiftBPFError) -> Record {
        guard bytes.count >= MemoryLayout<Record>.size else { throw shortRecord(bytes.count) }
        return bytes.loadUnaligned(as: Record.self)
    }

    @usableFromInline func shortRecord(_ count: Int) -> SwiftBPFError {
        SwiftBPFError(.invalidArgument, place: "ring buffer '\(name)'",
                      "a record of \(count) bytes is shorter than \(Record.self) (\(MemoryLayout<Record>.size) bytes)")
    }

    @inlinable var isClosed: Bool {
        if case .kernel(let ring) = source { return ring.isClosed }
        return false
    }

    /// Returns when records may be ready (or after at most 100 ms, so cancellation is noticed).
    @usableFromInline func waitForRecords() async throws {
        switch source {
        case .runtime(let map):
            try await withTaskCancellationHandler {
                try await map.waitForRingBufferRecord()
            } onCancel: {
                map.wakeRingBufferWaiters()
            }
        case .kernel(let ring):
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                waiter.async {
                    do {
                        _ = try ring.waitForRecords(timeoutMilliseconds: 100)
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(ring: self) }

    /// Takes one record per `next()`, waiting for it when the ring is empty.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline let ring: BPFRingBuffer
        @usableFromInline var idleWakeups = 0

        @usableFromInline init(ring: BPFRingBuffer) { self.ring = ring }

        @inlinable public mutating func next() async throws -> Record? {
            while !Task.isCancelled {
                var record: Record?
                var failure: SwiftBPFError?
                let seen = try ring.consume(limit: 1) { bytes in
                    do throws(SwiftBPFError) { record = try ring.decode(bytes) } catch { failure = error }
                }
                if let failure { throw failure }
                if seen > 0, let record { idleWakeups = 0; return record }
                // A closed kernel ring consumes nothing, so closing is checked only when idle.
                if ring.isClosed { break }
                // A record still being written wakes the reader early: back off instead of spinning.
                idleWakeups += 1
                if idleWakeups > 2 { try await Task.sleep(nanoseconds: 1_000_000) }
                try await ring.waitForRecords()
            }
            return nil
        }
    }
}
