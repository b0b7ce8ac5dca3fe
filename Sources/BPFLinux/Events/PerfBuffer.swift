import BPFObject
import CBPFLinuxSupport
import Foundation
import Synchronization

/// A reader of a kernel `BPF_MAP_TYPE_PERF_EVENT_ARRAY` map: one `PERF_COUNT_SW_BPF_OUTPUT` perf
/// event per online CPU, each with its own mmapped ring, stored in the map at the CPU's index so
/// `bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, ...)` lands in it.
///
/// ```swift
/// let perf = try PerfBuffer(map: events, pagesPerCPU: 8)
/// perf.consume { event in
///     switch event {
///     case .sample(let cpu, let bytes): print(cpu, bytes.count)
///     case .lost(let cpu, let count): print("cpu \(cpu) lost \(count)")
///     }
/// }
/// ```
public final class PerfBuffer: @unchecked Sendable {
    /// What a perf ring holds: a sample's raw bytes (borrowed: valid during the call) or a count of
    /// samples the kernel dropped because the ring was full.
    public enum BorrowedEvent {
        case sample(cpu: Int, bytes: UnsafeRawBufferPointer)
        case lost(cpu: Int, count: UInt64)
    }

    /// A copied event, for the `AsyncSequence`.
    public enum Event: Sendable, Hashable {
        case sample(cpu: Int, bytes: [UInt8])
        case lost(cpu: Int, count: UInt64)
    }

    private struct CPURing {
        var cpu: Int
        var fd: BPFFileDescriptor
        var base: UnsafeMutableRawPointer
        var length: Int
    }

    public let map: KernelMap
    private let rings: [CPURing]
    private let pageSize: Int
    private let epoll: BPFFileDescriptor
    private let wakeup: BPFFileDescriptor
    private let lock = Mutex(false)   // true once closed
    private let lostTotal = Atomic<UInt64>(0)

    static let recordLost: UInt32 = 2
    static let recordSample: UInt32 = 9

    /// Opens a BPF output perf event on every online CPU (or `cpus`), maps `pagesPerCPU` data pages
    /// (a power of two) for each, and stores the events in `map` (a `.perfEventArray` map).
    /// `wakeupEvents` wakes the reader after that many samples.
    public init(map: KernelMap, pagesPerCPU: Int = 8, cpus: [Int]? = nil, wakeupEvents: UInt32 = 1) throws(BPFError) {
        guard map.type == .perfEventArray else {
            throw BPFError.invalidArgument("map \(map.name): a perf buffer reader needs a perf_event_array map, not \(map.type.kernelName)")
        }
        guard pagesPerCPU > 0, pagesPerCPU & (pagesPerCPU - 1) == 0 else {
            throw BPFError.invalidArgument("perf buffer \(map.name): pagesPerCPU must be a power of two, not \(pagesPerCPU)")
        }
        self.map = map
        pageSize = Int(cbpf_page_size())
        let ep = cbpf_epoll_create()
        guard ep >= 0 else { throw BPFError.system("epoll_create for perf buffer \(map.name)", errno: -ep) }
        epoll = BPFFileDescriptor(adopting: ep)
        let ev = cbpf_eventfd()
        guard ev >= 0 else { throw BPFError.system("eventfd for perf buffer \(map.name)", errno: -ev) }
        wakeup = BPFFileDescriptor(adopting: ev)
        _ = cbpf_epoll_add(ep, ev, UInt64.max)

        let chosen: [Int]
        if let cpus { chosen = cpus } else { chosen = try OnlineCPUs.list() }
        var rings: [CPURing] = []
        let length = pageSize * (1 + pagesPerCPU)
        do throws(BPFError) {
            for (index, cpu) in chosen.enumerated() {
                guard cpu < map.maxEntries else {
                    throw BPFError.invalidArgument("perf buffer \(map.name): cpu \(cpu) is past the map's max_entries \(map.maxEntries)")
                }
                var attributes = PerfEvent.Attributes(type: PerfEvent.typeSoftware, config: PerfEvent.softwareBPFOutput)
                attributes.sampleType = PerfEvent.sampleRaw
                attributes.samplePeriod = 1
                attributes.wakeupEvents = max(wakeupEvents, 1)
                let fd = try PerfEvent.open(attributes, pid: -1, cpu: Int32(cpu), what: "bpf-output for \(map.name)")
                var error: Int32 = 0
                guard let base = cbpf_mmap_shared(fd.rawValue, length, 1, 0, &error) else {
                    throw BPFError.system("mmap of perf ring on cpu \(cpu) (\(length) bytes)", errno: error,
                                          hint: "perf_event_mlock_kb or RLIMIT_MEMLOCK may be too low")
                }
                rings.append(CPURing(cpu: cpu, fd: fd, base: base, length: length))
                try map.update(key: UInt32(cpu), value: UInt32(bitPattern: fd.rawValue))
                let added = cbpf_epoll_add(ep, fd.rawValue, UInt64(index))
                guard added == 0 else { throw BPFError.system("epoll_ctl(ADD) of perf event on cpu \(cpu)", errno: -added) }
                let enabled = cbpf_ioctl(fd.rawValue, cbpf_perf_ioc_enable, 0)
                guard enabled >= 0 else { throw BPFError.system("ioctl(PERF_EVENT_IOC_ENABLE) on cpu \(cpu)", errno: -enabled) }
            }
        } catch {
            for ring in rings { cbpf_munmap(ring.base, ring.length) }
            throw error
        }
        self.rings = rings
    }

    deinit { close() }

    /// Unmaps the rings and closes the perf events. Later calls do nothing.
    public func close() {
        let wasOpen = lock.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard wasOpen else { return }
        cbpf_eventfd_signal(wakeup.rawValue)
        for ring in rings {
            cbpf_munmap(ring.base, ring.length)
            ring.fd.close()
        }
        epoll.close()
        wakeup.close()
    }

    /// The CPUs with a ring.
    public var cpus: [Int] { rings.map(\.cpu) }

    /// Whether `close()` was called.
    public var isClosed: Bool { lock.withLock { $0 } }

    /// Samples the kernel reported lost (`PERF_RECORD_LOST`) so far.
    public var lostSamples: UInt64 { lostTotal.load(ordering: .relaxed) }

    /// Calls `body` with every record now in every CPU's ring, oldest first per CPU, without copying
    /// (a record that wraps around the ring's end is copied once). Returns the number of records.
    @discardableResult
    public func consume(_ body: (BorrowedEvent) throws -> Void) rethrows -> Int {
        try lock.withLock { closed -> Int in
            guard !closed else { return 0 }
            var count = 0
            for ring in rings { count += try consume(ring, body) }
            return count
        }
    }

    private func consume(_ ring: CPURing, _ body: (BorrowedEvent) throws -> Void) rethrows -> Int {
        let header = ring.base
        // struct perf_event_mmap_page: data_head at 1024, data_tail 1032, data_offset 1040, data_size 1048.
        let head = cbpf_load_acquire_u64(header + 1024)
        var tail = header.load(fromByteOffset: 1032, as: UInt64.self)
        var dataOffset = Int(header.load(fromByteOffset: 1040, as: UInt64.self))
        var dataSize = Int(header.load(fromByteOffset: 1048, as: UInt64.self))
        if dataOffset == 0 { dataOffset = pageSize }
        if dataSize == 0 { dataSize = ring.length - pageSize }
        let data = UnsafeRawPointer(ring.base + dataOffset)
        var count = 0
        defer { cbpf_store_release_u64(header + 1032, tail) }
        func handle(_ record: UnsafeRawBufferPointer, type: UInt32) throws {
            let size = record.count
            switch type {
            case Self.recordSample where size >= 12:
                let rawSize = min(Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)), size - 12)
                try body(.sample(cpu: ring.cpu, bytes: UnsafeRawBufferPointer(rebasing: record[12..<(12 + rawSize)])))
                count += 1
            case Self.recordLost where size >= 24:
                let lost = record.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                lostTotal.add(lost, ordering: .relaxed)
                try body(.lost(cpu: ring.cpu, count: lost))
                count += 1
            default:
                break
            }
        }
        while tail < head {
            let start = Int(tail % UInt64(dataSize))
            // struct perf_event_header { u32 type; u16 misc; u16 size; }, never split (8-byte aligned).
            let type = data.loadUnaligned(fromByteOffset: start, as: UInt32.self)
            let size = Int(data.loadUnaligned(fromByteOffset: start + 6, as: UInt16.self))
            guard size >= 8 else { tail = head; break }   // corrupt: drop what is left
            tail += UInt64(size)
            if start + size <= dataSize {
                try handle(UnsafeRawBufferPointer(start: data + start, count: size), type: type)
            } else {
                // The record wraps around the ring's end: copy it once.
                let first = dataSize - start
                var scratch = Array(UnsafeRawBufferPointer(start: data + start, count: first))
                scratch += UnsafeRawBufferPointer(start: data, count: size - first)
                try scratch.withUnsafeBytes { try handle($0, type: type) }
            }
        }
        return count
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for records, then consumes them.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32 = -1, _ body: (BorrowedEvent) throws -> Void) throws -> Int {
        let ready = try consume(body)
        if ready > 0 { return ready }
        if lock.withLock({ $0 }) { return 0 }
        var tags = [UInt64](repeating: 0, count: 64)
        let n = tags.withUnsafeMutableBufferPointer { cbpf_epoll_wait(epoll.rawValue, $0.baseAddress, 64, timeoutMilliseconds) }
        if n < 0, n != -Errno.EINTR.rawValue, !lock.withLock({ $0 }) {
            throw BPFError.system("epoll_wait on perf buffer \(map.name)", errno: -n)
        }
        if n > 0, tags.prefix(Int(n)).contains(UInt64.max) { cbpf_eventfd_drain(wakeup.rawValue) }
        return try consume(body)
    }

    /// The events as they come, copied out, until `close()` or the consuming task ends.
    public func events() -> AsyncThrowingStream<Event, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Event, any Error>.makeStream()
        let box = StopFlag()
        continuation.onTermination = { [weak self, box] _ in
            box.stop()
            if let self { cbpf_eventfd_signal(self.wakeup.rawValue) }
        }
        let thread = Thread { [self] in
            do {
                while !box.isStopped {
                    try poll(timeoutMilliseconds: 200) { event in
                        switch event {
                        case .sample(let cpu, let bytes): continuation.yield(.sample(cpu: cpu, bytes: Array(bytes)))
                        case .lost(let cpu, let count): continuation.yield(.lost(cpu: cpu, count: count))
                        }
                    }
                    if lock.withLock({ $0 }) { break }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "swiftbpf-perfbuf-\(map.name)"
        thread.start()
        return stream
    }
}
