import BPFObject

/// The state of one run that helpers can see and change: the loaded object's maps, the packet
/// (which `bpf_xdp_adjust_head` and friends move), and the trace output.
public final class RunEnvironment: @unchecked Sendable {
    /// Maps by handle index (the value a `lddw` of a map loads, minus ``mapHandleBase``).
    public let maps: [RuntimeMap]
    /// Lines written by `bpf_trace_printk`.
    public var trace: [String] = []
    /// The packet of an XDP or skb run.
    public var packet: PacketBuffer?
    /// Where the program's context lives, for helpers that change converted fields.
    public var contextAddress: UInt?
    /// The packet and `struct __sk_buff` of an skb run (socket filter, TC, cgroup_skb, ...), for the skb helpers.
    public var skb: SKBBuffer?
    /// Where the program last asked the packet to be redirected (``Redirect``).
    public var redirect: Redirect?
    /// The tunnel metadata `bpf_skb_set_tunnel_key` attached to the skb (`struct bpf_tunnel_key` bytes).
    public var tunnelKey: [UInt8]?

    /// Map handles are opaque values outside every memory region; helpers check them.
    public static let mapHandleBase: UInt64 = 0xffff_f000_0000_0000

    public init(maps: [RuntimeMap]) {
        self.maps = maps
    }

    /// The map a handle names, or nil when the value is not a map handle.
    public func map(handle: UInt64) -> RuntimeMap? {
        guard handle >= Self.mapHandleBase else { return nil }
        let index = handle - Self.mapHandleBase
        return index < UInt64(maps.count) ? maps[Int(index)] : nil
    }
}

/// A packet in a buffer with headroom and tailroom, as the kernel's XDP buffers have.
public final class PacketBuffer: @unchecked Sendable {
    public static let headroom = 256
    public static let tailroom = 256
    let buffer: UnsafeMutableRawBufferPointer
    /// Offsets into the buffer.
    public private(set) var metaStart: Int
    public private(set) var dataStart: Int
    public private(set) var dataEnd: Int

    /// The bytes past the linear part (the kernel's page fragments): not reachable through
    /// `data`..`data_end`, only through `bpf_xdp_load_bytes`/`store_bytes`.
    public private(set) var fragments: [UInt8] = []

    /// A packet of `bytes`; past `linearLimit` bytes the rest is kept as fragments, as the kernel's
    /// XDP test run keeps what does not fit its first page.
    public init(_ bytes: [UInt8], linearLimit: Int = .max) {
        let linear = bytes.count > linearLimit ? Array(bytes.prefix(linearLimit)) : bytes
        if bytes.count > linearLimit { fragments = Array(bytes[linearLimit...]) }
        buffer = .allocate(byteCount: Self.headroom + linear.count + Self.tailroom, alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        dataStart = Self.headroom
        metaStart = dataStart
        dataEnd = dataStart + linear.count
        if !linear.isEmpty { linear.withUnsafeBytes { (buffer.baseAddress! + dataStart).copyMemory(from: $0.baseAddress!, byteCount: linear.count) } }
    }

    /// The whole packet: the linear part, then the fragments.
    public var frame: [UInt8] { fragments.isEmpty ? bytes : bytes + fragments }

    /// Copies `count` bytes at `offset` of the whole packet out (nil when they are not all inside).
    func load(offset: Int, count: Int) -> [UInt8]? {
        let whole = frame
        guard offset >= 0, count > 0, offset + count <= whole.count else { return nil }
        return Array(whole[offset..<(offset + count)])
    }

    /// Copies `source` into the whole packet at `offset`; false when it does not fit.
    func store(_ source: [UInt8], offset: Int) -> Bool {
        let linear = dataEnd - dataStart
        guard offset >= 0, !source.isEmpty, offset + source.count <= linear + fragments.count else { return false }
        for (i, byte) in source.enumerated() {
            let at = offset + i
            if at < linear { buffer[dataStart + at] = byte } else { fragments[at - linear] = byte }
        }
        return true
    }

    deinit { buffer.deallocate() }

    /// Starts over with `bytes` (which must fit the buffer as the first packet did).
    func reset(_ bytes: [UInt8]) {
        let count = min(bytes.count, buffer.count - Self.headroom)
        dataStart = Self.headroom
        metaStart = dataStart
        dataEnd = dataStart + count
        if count > 0 { bytes.withUnsafeBytes { (buffer.baseAddress! + dataStart).copyMemory(from: $0.baseAddress!, byteCount: count) } }
    }

    var base: UInt { UInt(bitPattern: buffer.baseAddress) }
    public var data: UInt64 { UInt64(base) + UInt64(dataStart) }
    public var end: UInt64 { UInt64(base) + UInt64(dataEnd) }
    public var meta: UInt64 { UInt64(base) + UInt64(metaStart) }

    /// The packet bytes now.
    public var bytes: [UInt8] { Array(buffer[dataStart..<dataEnd]) }
    /// The metadata bytes now.
    public var metadata: [UInt8] { Array(buffer[metaStart..<dataStart]) }

    /// What the program may touch: metadata and packet.
    var region: MemoryRegion { MemoryRegion(start: base + UInt(metaStart), count: dataEnd - metaStart, writable: true) }

    /// `bpf_xdp_adjust_head`: move the start by `delta` (negative grows the packet at the front).
    func adjustHead(_ delta: Int) -> Bool {
        let metaLength = dataStart - metaStart
        let start = dataStart + delta
        guard start - metaLength >= 0, start <= dataEnd - 14 else { return false }
        if metaLength > 0 {
            (buffer.baseAddress! + start - metaLength).copyMemory(from: buffer.baseAddress! + metaStart, byteCount: metaLength)
        }
        dataStart = start
        metaStart = start - metaLength
        return true
    }

    /// `bpf_xdp_adjust_tail`: move the end by `delta`; at least an Ethernet header must remain.
    /// With fragments, the last fragment grows into its page's room or shrinks, as the kernel's do.
    func adjustTail(_ delta: Int) -> Bool {
        if !fragments.isEmpty {
            if delta >= 0 {
                let last = fragments.count % 4096 == 0 ? 4096 : fragments.count % 4096
                guard delta <= 4096 - last else { return false }
                fragments += [UInt8](repeating: 0, count: delta)
            } else {
                guard -delta <= fragments.count else { return false }
                fragments.removeLast(-delta)
            }
            return true
        }
        let end = dataEnd + delta
        guard end >= dataStart + 14, end <= buffer.count else { return false }
        if delta > 0 { (buffer.baseAddress! + dataEnd).initializeMemory(as: UInt8.self, repeating: 0, count: delta) }
        dataEnd = end
        return true
    }

    /// `bpf_xdp_adjust_meta`: move the metadata start by `delta`.
    func adjustMeta(_ delta: Int) -> Bool {
        let start = metaStart + delta
        guard start >= 0, start <= dataStart, dataStart - start <= 32, (dataStart - start) % 4 == 0 else { return false }
        metaStart = start
        return true
    }
}
