/// A range of host memory a running program may access.
///
/// ```swift
/// let region = MemoryRegion(buffer, writable: false)
/// ```
public struct MemoryRegion: Hashable, Sendable {
    /// First address.
    public var start: UInt
    /// One past the last address.
    public var end: UInt
    /// Whether stores are allowed.
    public var writable: Bool

    public init(start: UInt, count: Int, writable: Bool) {
        self.start = start
        self.end = start &+ UInt(count)
        self.writable = writable
    }

    public init(_ buffer: UnsafeMutableRawBufferPointer, writable: Bool = true) {
        self.init(start: UInt(bitPattern: buffer.baseAddress), count: buffer.count, writable: writable)
    }

    public init(_ buffer: UnsafeRawBufferPointer) {
        self.init(start: UInt(bitPattern: buffer.baseAddress), count: buffer.count, writable: false)
    }

    static let empty = MemoryRegion(start: 0, count: 0, writable: false)

    @inline(__always)
    func contains(_ address: UInt, _ end: UInt) -> Bool {
        address >= start && end <= self.end
    }
}

/// The regions of one run: the stack, the input (packet or context), and any the helpers add
/// (map values, ring buffer records). Every load, store and helper memory argument is checked
/// against them; nothing outside can be read or written.
public struct MemoryRegions: Sendable {
    var stack: MemoryRegion
    var input: MemoryRegion
    /// A second region (the packet of XDP and skb runs), checked before the lists.
    var second: MemoryRegion = .empty
    var extra: [MemoryRegion] = []
    /// Regions every run of a program has (map values, global data), shared, never copied per run.
    var permanent: [MemoryRegion] = []
    /// Context fields whose 32-bit loads yield 64-bit host pointers (e.g. `xdp_md.data`): the
    /// runtime's context conversion, so clang-built programs run with packets at any address.
    var virtualFields: [(address: UInt, value: UInt64)] = []
    var hasVirtualFields = false

    init(stack: MemoryRegion, input: MemoryRegion) {
        self.stack = stack
        self.input = input
    }

    /// Adds a region for the rest of the run (helpers use this for memory they hand out).
    public mutating func add(_ region: MemoryRegion) {
        extra.append(region)
    }

    /// Whether `size` bytes at `address` lie inside one region (writable if `write`).
    @inline(__always)
    public func allows(_ address: UInt64, _ size: Int, write: Bool) -> Bool {
        let start = UInt(truncatingIfNeeded: address)
        let (end, overflow) = start.addingReportingOverflow(UInt(size))
        if overflow { return false }
        if stack.contains(start, end) { return true }
        if input.contains(start, end) && (!write || input.writable) { return true }
        if second.contains(start, end) && (!write || second.writable) { return true }
        return allowsExtra(start, end, write: write)
    }

    /// The value of a converted context field at `address`, if there is one.
    @inline(never)
    func virtualField(at address: UInt64) -> UInt64? {
        let a = UInt(truncatingIfNeeded: address)
        for field in virtualFields where field.address == a { return field.value }
        return nil
    }

    /// Whether a store of `size` bytes at `address` would overwrite a converted (read-only) field.
    @inline(never)
    func touchesVirtualField(_ address: UInt64, _ size: Int) -> Bool {
        let a = UInt(truncatingIfNeeded: address)
        for field in virtualFields where a < field.address + 4 && field.address < a &+ UInt(size) { return true }
        return false
    }

    @inline(never)
    func allowsExtra(_ start: UInt, _ end: UInt, write: Bool) -> Bool {
        for region in extra where region.contains(start, end) {
            if !write || region.writable { return true }
        }
        for region in permanent where region.contains(start, end) {
            if !write || region.writable { return true }
        }
        return false
    }
}
