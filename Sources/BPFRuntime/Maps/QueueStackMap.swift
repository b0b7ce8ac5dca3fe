import BPFObject

/// `BPF_MAP_TYPE_QUEUE` (first in, first out) and `BPF_MAP_TYPE_STACK` (last in, first out): no
/// keys; values are pushed, popped and peeked. A push onto a full map fails with E2BIG unless
/// `BPF_EXIST` is given, which drops the oldest value to make room, as in Linux.
final class QueueStackMap: RuntimeMap, @unchecked Sendable {
    private let buffer: UnsafeMutableRawPointer
    private var head = 0  // index of the oldest value
    private var count = 0
    let isQueue: Bool

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 0 else { throw MapError(.invalid, "\(spec.type) map '\(spec.name)': key size must be 0, found \(spec.keySize)") }
        guard spec.valueSize > 0 else { throw MapError(.invalid, "\(spec.type) map '\(spec.name)': value size 0") }
        isQueue = spec.type == .queue
        buffer = .allocate(byteCount: spec.valueSize * spec.maxEntries, alignment: 8)
        try super.init(spec: spec)
    }

    deinit { buffer.deallocate() }

    private func slot(_ i: Int) -> UnsafeMutableRawPointer { buffer + ((head + i) % spec.maxEntries) * spec.valueSize }

    override func push(_ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        guard flags.rawValue & ~2 == 0 else { throw MapError(.invalid, "\(spec.type) map '\(spec.name)': invalid push flags \(flags.rawValue)") }
        try lock.withLock { _ throws(MapError) in
            if count == spec.maxEntries {
                guard flags.contains(.exist) else { throw MapError(.tooBig, "\(spec.type) map '\(spec.name)' is full (max_entries \(spec.maxEntries))") }
                head = (head + 1) % spec.maxEntries
                count -= 1
            }
            slot(count).copyMemory(from: value.baseAddress!, byteCount: spec.valueSize)
            count += 1
        }
    }

    override func pop(into destination: UnsafeMutableRawPointer, remove: Bool) throws(MapError) {
        try lock.withLock { _ throws(MapError) in
            guard count > 0 else { throw MapError(.noEntry, "\(spec.type) map '\(spec.name)' is empty") }
            let index = isQueue ? 0 : count - 1
            destination.copyMemory(from: slot(index), byteCount: spec.valueSize)
            if remove {
                if isQueue { head = (head + 1) % spec.maxEntries }
                count -= 1
            }
        }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        try push(value, flags: flags)
    }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        try peek()
    }

    override func lookupAndDeleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        try pop()
    }

    /// The values from the one the next pop returns onwards.
    var values: [[UInt8]] {
        lock.withLock { _ in
            (0..<count).map { i in
                let index = isQueue ? i : count - 1 - i
                return Array(UnsafeRawBufferPointer(start: slot(index), count: spec.valueSize))
            }
        }
    }
}

extension RuntimeMap {
    /// Pushes a value onto a queue, stack or bloom filter (`BPF_EXIST` overwrites the oldest when full).
    public func push(value: [UInt8], flags: MapUpdateFlags = .any) throws(MapError) {
        guard value.count == spec.valueSize else {
            throw MapError(.invalid, "map '\(spec.name)': value is \(value.count) bytes, the map's value size is \(spec.valueSize)")
        }
        try RuntimeMap.withBytes(value) { v throws(MapError) in try push(v, flags: flags) }
    }

    /// For a queue or stack: every value, from the one the next pop returns onwards, left in place.
    public func queueValues() throws(MapError) -> [[UInt8]] {
        guard let queue = self as? QueueStackMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a queue or stack") }
        return queue.values
    }

    /// Pops the next value of a queue or stack; nil when empty.
    public func pop() throws(MapError) -> [UInt8]? { try take(remove: true) }

    /// The next value of a queue or stack without removing it; nil when empty.
    public func peek() throws(MapError) -> [UInt8]? { try take(remove: false) }

    private func take(remove: Bool) throws(MapError) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: spec.valueSize)
        do throws(MapError) {
            try RuntimeMap.withMutableBytes(&out) { p throws(MapError) in try pop(into: p.baseAddress!, remove: remove) }
        } catch where error.code == .noEntry {
            return nil
        }
        return out
    }
}
