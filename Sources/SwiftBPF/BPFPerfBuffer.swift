import BPFLinux
import BPFObject
import BPFRuntime
import Dispatch
import Synchronization

/// A perf event array map (`BPF_MAP_TYPE_PERF_EVENT_ARRAY`, written by `bpf_perf_event_output`) of
/// either backend, read as an `AsyncSequence` of `Record`s — each sample's first
/// `MemoryLayout<Record>.size` bytes (a shorter sample is an error) — with the samples the backend
/// dropped counted in ``lostRecords``.
///
/// Memory stays bounded: the iterator takes what the per-CPU rings hold now (at most their size)
/// and hands it out before reading again; while the consumer is slow, samples wait in the rings,
/// and when a ring is full the kernel (or the runtime) drops and counts them.
///
/// ```swift
/// let events = try bpf.perfBuffer("events", of: Event.self)
/// for try await event in events { print(event.pid) }
/// print(events.lostRecords)
/// ```
public final class BPFPerfBuffer<Record: BitwiseCopyable>: AsyncSequence, Sendable {
    public typealias Element = Record

    enum Source: Sendable {
        case runtime(RuntimeMap)
        case kernel(PerfBuffer)
    }

    let source: Source
    /// The map's name.
    public let name: String
    private let waiter: DispatchQueue
    private let runtimeLost = Atomic<UInt64>(0)

    /// Opens the perf event array `map`; on the kernel, `pagesPerCPU` data pages (a power of two) per CPU.
    public init(_ map: AnyBPFMap, pagesPerCPU: Int = 8) throws(SwiftBPFError) {
        guard map.spec.type == .perfEventArray else {
            throw SwiftBPFError(.invalidArgument, place: "map '\(map.name)'", "is \(map.spec.type), not a perf_event_array")
        }
        name = map.name
        switch map.storage {
        case .runtime(let runtimeMap): source = .runtime(runtimeMap)
        case .kernel(let kernelMap):
            source = .kernel(try bridged("map '\(map.name)'") { try PerfBuffer(map: kernelMap, pagesPerCPU: pagesPerCPU) })
        }
        waiter = DispatchQueue(label: "swiftbpf.perfbuf.\(map.name)")
    }

    /// Samples dropped because a ring was full, so far (the kernel's `PERF_RECORD_LOST` counts).
    public var lostRecords: UInt64 {
        switch source {
        case .runtime: runtimeLost.load(ordering: .relaxed)
        case .kernel(let perf): perf.lostSamples
        }
    }

    /// Hands each sample now in the rings to `body` (CPU and bytes; kernel samples are not copied),
    /// and frees their space. Never waits. Returns how many samples `body` saw.
    @discardableResult
    public func consume(_ body: (_ cpu: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        switch source {
        case .runtime(let map):
            var count = 0
            for (cpu, records, lost) in try map.drainAllPerfEvents() {
                runtimeLost.add(lost, ordering: .relaxed)
                for record in records {
                    try record.withUnsafeBytes { try body(cpu, $0) }
                    count += 1
                }
            }
            return count
        case .kernel(let perf):
            var count = 0
            try perf.consume { event in
                if case .sample(let cpu, let bytes) = event {
                    try body(cpu, bytes)
                    count += 1
                }
            }
            return count
        }
    }

    /// The samples now in the rings, decoded, freeing their space. Never waits.
    public func drain() throws -> [Record] {
        var records: [Record] = []
        try consume { _, bytes in records.append(try decode(bytes)) }
        return records
    }

    /// Stops the reader: iteration ends (kernel rings are unmapped).
    public func close() {
        if case .kernel(let perf) = source { perf.close() }
    }

    func decode(_ bytes: UnsafeRawBufferPointer) throws(SwiftBPFError) -> Record {
        guard bytes.count >= MemoryLayout<Record>.size else {
            throw SwiftBPFError(.invalidArgument, place: "perf buffer '\(name)'",
                                "a sample of \(bytes.count) bytes is shorter than \(Record.self) (\(MemoryLayout<Record>.size) bytes)")
        }
        return bytes.loadUnaligned(as: Record.self)
    }

    /// Waits (up to 100 ms, so cancellation is noticed) for samples and takes them.
    func waitAndTake() async throws -> [Record] {
        switch source {
        case .runtime:
            try await Task.sleep(nanoseconds: 5_000_000)   // runtime samples come from test runs in this process
            return try drain()
        case .kernel(let perf):
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Record], any Error>) in
                waiter.async {
                    do {
                        var records: [Record] = []
                        try perf.poll(timeoutMilliseconds: 100) { event in
                            if case .sample(_, let bytes) = event { records.append(try self.decode(bytes)) }
                        }
                        continuation.resume(returning: records)
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: self) }

    /// Hands out the samples one by one, reading the rings again when it has none.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: BPFPerfBuffer
        var pending: [Record] = []
        var index = 0

        public mutating func next() async throws -> Record? {
            while index == pending.count {
                if Task.isCancelled { return nil }
                if case .kernel(let perf) = buffer.source, perf.isClosed { return nil }
                pending = try buffer.drain()
                index = 0
                if pending.isEmpty { pending = try await buffer.waitAndTake() }
            }
            defer { index += 1 }
            return pending[index]
        }
    }
}
