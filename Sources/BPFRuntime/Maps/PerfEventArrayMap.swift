import BPFObject

/// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one event buffer per CPU, written by `bpf_perf_event_output`.
/// `max_entries` 0 means one per CPU, as libbpf sets it. Each buffer holds up to
/// ``bufferBytes`` of records; records that do not fit are counted as lost, as the kernel's perf
/// ring reports lost samples. Swift code reads them with ``RuntimeMap/drainPerfEvents(cpu:)``.
final class PerfEventArrayMap: RuntimeMap, @unchecked Sendable {
    /// Bytes of records each CPU's buffer holds (like 64 pages of a perf ring).
    static let bufferBytes = 64 * 4096
    private var buffers: [[[UInt8]]]
    private var used: [Int]
    private var lost: [UInt64]

    override init(spec: MapSpec) throws(MapError) {
        var spec = spec
        if spec.maxEntries == 0 { spec.maxEntries = VirtualCPUs.shared.count }
        guard spec.keySize == 4, spec.valueSize == 4 else {
            throw MapError(.invalid, "perf event array '\(spec.name)': key and value sizes must be 4")
        }
        buffers = Array(repeating: [], count: spec.maxEntries)
        used = Array(repeating: 0, count: spec.maxEntries)
        lost = Array(repeating: 0, count: spec.maxEntries)
        try super.init(spec: spec)
    }

    /// Appends a record to `index`'s buffer; ENOENT for an index past the array, ENOSPC (counted as
    /// lost) when the buffer is full.
    func output(index: Int, _ bytes: [UInt8]) throws(MapError) {
        guard index >= 0, index < spec.maxEntries else {
            throw MapError(.noEntry, "perf event array '\(spec.name)': no buffer at index \(index)")
        }
        // A perf sample record: 8-byte header, u32 size, the data padded to 8 bytes.
        let cost = 8 + ((bytes.count + 4 + 7) & ~7)
        try lock.withLock { _ throws(MapError) in
            guard used[index] + cost <= Self.bufferBytes else {
                lost[index] += 1
                throw MapError(.noSpace, "perf event array '\(spec.name)': buffer \(index) is full")
            }
            used[index] += cost
            buffers[index].append(bytes)
        }
    }

    func drain(_ index: Int) -> (records: [[UInt8]], lost: UInt64) {
        lock.withLock { _ in
            guard index >= 0, index < buffers.count else { return ([], 0) }
            defer { buffers[index] = []; used[index] = 0; lost[index] = 0 }
            return (buffers[index], lost[index])
        }
    }

    func pending(_ index: Int) -> [[UInt8]] { lock.withLock { _ in index < buffers.count ? buffers[index] : [] } }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? { nil }
}

extension RuntimeMap {
    /// For a perf event array: the records written to CPU `cpu`'s buffer since the last drain, and
    /// how many were lost because the buffer was full.
    public func drainPerfEvents(cpu: Int) throws -> (records: [[UInt8]], lost: UInt64) {
        guard let perf = self as? PerfEventArrayMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a perf event array") }
        return perf.drain(cpu)
    }

    /// For a perf event array: the records waiting in CPU `cpu`'s buffer, left in place.
    public func pendingPerfEvents(cpu: Int) throws -> [[UInt8]] {
        guard let perf = self as? PerfEventArrayMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a perf event array") }
        return perf.pending(cpu)
    }

    /// For a perf event array: the records of every CPU's buffer, by CPU.
    public func drainAllPerfEvents() throws -> [(cpu: Int, records: [[UInt8]], lost: UInt64)] {
        guard let perf = self as? PerfEventArrayMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a perf event array") }
        return (0..<spec.maxEntries).map { cpu in let (records, lost) = perf.drain(cpu); return (cpu, records, lost) }
    }
}
