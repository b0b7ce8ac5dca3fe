import BPFObject

/// `struct __sk_buff`, the context of socket filter, TC (`sched_cls`/`sched_act`), `cgroup_skb`,
/// LWT and `sk_skb` programs: its UAPI layout (192 bytes), the fields `BPF_PROG_TEST_RUN` accepts
/// from the caller, and how the runtime fills and returns it.
///
/// As for XDP, 32-bit loads of `data` (76), `data_end` (80) and `data_meta` (140) yield 64-bit
/// packet pointers (converted fields), so packets live at any host address:
///
/// ```swift
/// var ctx = [UInt8](repeating: 0, count: SKBContext.size)
/// ctx[SKBContext.markOffset] = 0x2a                       // skb->mark = 42, as ctx_in
/// let result = try loaded.program(named: "tc_mark")!.testRun(packet: frame, context: ctx)
/// print(SKBContext.field(result.contextOut, SKBContext.markOffset))   // the mark afterwards
/// ```
public enum SKBContext {
    /// `sizeof(struct __sk_buff)`.
    public static let size = SKBLayout.size
    public static let lenOffset = 0, pktTypeOffset = 4, markOffset = 8, queueMappingOffset = 12, protocolOffset = 16
    public static let vlanPresentOffset = 20, vlanTCIOffset = 24, vlanProtoOffset = 28, priorityOffset = 32
    public static let ingressIfindexOffset = 36, ifindexOffset = 40, tcIndexOffset = 44, cbOffset = 48, hashOffset = 68
    public static let tcClassidOffset = 72, dataOffset = 76, dataEndOffset = 80, napiIDOffset = 84, familyOffset = 88
    public static let remoteIP4Offset = 92, localIP4Offset = 96, remoteIP6Offset = 100, localIP6Offset = 116
    public static let remotePortOffset = 132, localPortOffset = 136, dataMetaOffset = 140, flowKeysOffset = 144
    public static let tstampOffset = 152, wireLenOffset = 160, gsoSegsOffset = 164, skOffset = 168, gsoSizeOffset = 176
    public static let tstampTypeOffset = 180, hwtstampOffset = 184

    /// The fields by name, offset and size (arrays of `__u32` as one entry).
    static var fields: [(name: String, offset: Int, size: Int)] { SKBLayout.fields }

    /// The byte range of a field by name.
    static func range(_ name: String) -> Range<Int> { SKBLayout.range(name) }

    /// The C name of the field at `offset`, e.g. `mark`, `cb[2]`, `remote_ip6[1]`.
    public static func fieldName(at offset: Int) -> String { SKBLayout.fieldName(at: offset) }

    /// The fields `BPF_PROG_TEST_RUN` accepts in `ctx_in`; every other byte must be zero.
    public static let acceptedInputFields = ["mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp", "wire_len",
                                             "gso_segs", "gso_size", "hwtstamp"]
    /// The fields the kernel copies back into `ctx_out` after the run; the rest keep their input.
    static let returnedFields = ["mark", "priority", "ingress_ifindex", "ifindex", "cb", "tstamp", "wire_len", "gso_segs",
                                 "hwtstamp"]
    static let acceptedRanges = acceptedInputFields.map(range)
    static let returnedRanges = returnedFields.map(range)

    /// The largest packet the kernel's skb test run takes: a 4 KiB page less NET_SKB_PAD (64) and
    /// the aligned `struct skb_shared_info` (320 bytes on x86-64).
    public static let maxPacketSize = 4096 - 64 - 320
    /// `GSO_LEGACY_MAX_SIZE`, the largest `wire_len` a caller may give.
    static let maxWireLength = 65536
    /// `GSO_MAX_SEGS`.
    static let maxGSOSegments = 65535
    /// The ifindex of the loopback device, which the kernel's test run uses.
    public static let loopbackIfindex: UInt32 = 1

    /// A little-endian `__u32` field of a context.
    public static func field(_ context: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(context[offset + $1]) << (8 * UInt32($1)) }
    }

    static func put32(_ value: UInt32, _ context: inout [UInt8], _ offset: Int) {
        for i in 0..<4 { context[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
    }

    /// Checks `ctx_in` the way the kernel's `bpf_ctx_init` and `convert___skb_to_skb` do and returns it
    /// as 192 bytes: a shorter context is zero-extended, a longer one must be zero past 192 bytes
    /// (else E2BIG), and only ``acceptedInputFields`` may be non-zero (else EINVAL).
    ///
    /// - Parameter length: `skb->len` as the program will see it (for the `wire_len` check).
    static func validate(_ context: [UInt8]?, length: Int) throws(SKBInputError) -> [UInt8] {
        guard let context else { return [UInt8](repeating: 0, count: size) }
        if context.count > size, let extra = context[size...].firstIndex(where: { $0 != 0 }) {
            throw SKBInputError(errno: "E2BIG", message: "the context is \(context.count) bytes and byte \(extra) past struct __sk_buff (\(size) bytes) is not zero")
        }
        var input = Array(context.prefix(size))
        input += [UInt8](repeating: 0, count: size - input.count)
        for offset in 0..<size where input[offset] != 0 && !acceptedRanges.contains(where: { $0.contains(offset) }) {
            throw SKBInputError(errno: "EINVAL", message: "the context sets \(fieldName(at: offset)) (offset \(offset)), which BPF_PROG_TEST_RUN does not take from the caller; only \(acceptedInputFields.joined(separator: ", ")) may be non-zero")
        }
        let wireLength = Int(field(input, wireLenOffset))
        if wireLength != 0 && (wireLength < length || wireLength > maxWireLength) {
            throw SKBInputError(errno: "EINVAL", message: "wire_len \(wireLength) must be 0 or between the packet length \(length) and \(maxWireLength)")
        }
        let segments = Int(field(input, gsoSegsOffset))
        if segments > maxGSOSegments {
            throw SKBInputError(errno: "EINVAL", message: "gso_segs \(segments) is more than \(maxGSOSegments)")
        }
        return input
    }

    /// The context the program sees: the accepted input fields, plus what the kernel's test run
    /// derives from the packet (`len`, `pkt_type`, `protocol`, the socket's addresses) and device
    /// (`ifindex`). `data`, `data_end` and `data_meta` stay 0 here; they are converted fields.
    static func programView(input: [UInt8], frame: [UInt8], length: Int, access: SKBAccess) -> [UInt8] {
        var view = [UInt8](repeating: 0, count: size)
        for range in acceptedRanges {
            for offset in range { view[offset] = input[offset] }
        }
        put32(UInt32(length), &view, lenOffset)
        if field(view, ifindexOffset) == 0 { put32(loopbackIfindex, &view, ifindexOffset) }
        if field(view, wireLenOffset) == 0 { put32(UInt32(length), &view, wireLenOffset) }
        guard access.layout != .payload, frame.count >= 14 else { return view }
        put32(packetType(destination: Array(frame[0..<6])), &view, pktTypeOffset)
        let etherType = protocolOf(frame)
        view[protocolOffset] = UInt8(etherType >> 8)    // network order, as the kernel stores skb->protocol
        view[protocolOffset + 1] = UInt8(etherType & 0xff)
        // The test run's socket takes its family and addresses from the IP header.
        let ip = frame.count - 14
        if etherType == 0x0800 && ip >= 20 {
            put32(2, &view, familyOffset)
            for i in 0..<4 {
                view[localIP4Offset + i] = frame[14 + 12 + i]
                view[remoteIP4Offset + i] = frame[14 + 16 + i]
            }
        } else if etherType == 0x86dd && ip >= 40 {
            put32(10, &view, familyOffset)
            for i in 0..<16 {
                view[localIP6Offset + i] = frame[14 + 8 + i]
                view[remoteIP6Offset + i] = frame[14 + 24 + i]
            }
        }
        return view
    }

    /// `eth_type_trans` against the loopback device (address and broadcast address all zero):
    /// PACKET_HOST (0) for 00:00:00:00:00:00, PACKET_MULTICAST (2) for group addresses (ff:ff:...
    /// included, as loopback has no broadcast address), PACKET_OTHERHOST (3) otherwise.
    static func packetType(destination: [UInt8]) -> UInt32 {
        if destination.allSatisfy({ $0 == 0 }) { return 0 }
        return destination[0] & 1 == 1 ? 2 : 3
    }

    /// `eth_type_trans`'s protocol: the EtherType when it is one (≥ 0x0600), else ETH_P_802_3 (1)
    /// for raw 802.3 (payload starting ff ff) or ETH_P_802_2 (4).
    static func protocolOf(_ frame: [UInt8]) -> UInt16 {
        let type = UInt16(frame[12]) << 8 | UInt16(frame[13])
        if type >= 0x0600 { return type }
        if frame.count >= 16 && frame[14] == 0xff && frame[15] == 0xff { return 0x0001 }
        return 0x0004
    }

    /// `ctx_out` as the kernel returns it: the input with the fields `convert_skb_to___skb` writes
    /// back taken from the program's view (`gso_size`, `len`, `protocol` and the rest keep their input).
    static func contextOut(input: [UInt8], view: UnsafeRawBufferPointer) -> [UInt8] {
        var out = input
        for range in returnedRanges {
            for offset in range { out[offset] = view[offset] }
        }
        return out
    }

    /// Whether `type` takes a `struct __sk_buff`.
    public static func handles(_ type: ProgramType) -> Bool { SKBAccess(type) != nil }
}

/// A test-run input the kernel would refuse, with the errno it would return.
struct SKBInputError: Error, CustomStringConvertible {
    var errno: String
    var message: String
    var description: String { "\(errno): \(message)" }
}

/// The packet and `struct __sk_buff` of one skb run, which the skb helpers change: the packet in a
/// buffer with headroom and tailroom (reallocated when a helper grows it past them, as
/// `pskb_expand_head` does), the context the program sees, and the regions and converted fields
/// that follow them.
///
/// ```swift
/// let skb = SKBBuffer(frame: frame, context: ctx, access: SKBAccess(.schedCls)!)
/// skb.bytes            // the packet as the program sees it (from skb->data)
/// ```
public final class SKBBuffer: @unchecked Sendable {
    static let headroom = 256
    static let tailroom = 256
    /// `BPF_SKB_MAX_LEN` (IP6_MAX_MTU): the most `bpf_skb_change_tail`/`change_head` may grow to.
    public static let maxLength = 65535 + 40

    public let access: SKBAccess
    /// The context the program sees.
    let context: UnsafeMutableRawBufferPointer
    private var storage: UnsafeMutableRawBufferPointer
    // Buffers a helper replaced: kept until the run ends, so pointers taken before (the packet
    // legacy loads read) stay valid memory; the program itself can no longer reach them.
    private var retired: [UnsafeMutableRawBufferPointer] = []
    private var dataStart: Int
    private var dataEnd: Int
    /// The network header's offset from `skb->data` (the lower bound of `bpf_skb_change_tail`).
    private(set) var networkOffset: Int

    /// Lays `frame` out as the kernel's test run does for `access.layout`; `context` is the
    /// program's view of `struct __sk_buff` (192 bytes).
    public init(frame: [UInt8], context view: [UInt8], access: SKBAccess) {
        self.access = access
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.headroom + frame.count + Self.tailroom, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        frame.withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { (storage.baseAddress! + Self.headroom).copyMemory(from: base, byteCount: bytes.count) }
        }
        self.storage = storage
        dataStart = Self.headroom + (access.layout == .networkLayer ? 14 : 0)
        dataEnd = Self.headroom + frame.count
        networkOffset = access.layout == .linkLayer ? 14 : 0
        let context = UnsafeMutableRawBufferPointer.allocate(byteCount: SKBContext.size, alignment: 8)
        context.initializeMemory(as: UInt8.self, repeating: 0)
        view.prefix(SKBContext.size).withUnsafeBytes { bytes in
            if let base = bytes.baseAddress { context.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
        }
        self.context = context
    }

    deinit {
        storage.deallocate()
        for buffer in retired { buffer.deallocate() }
        context.deallocate()
    }

    /// `skb->len`.
    public var length: Int { dataEnd - dataStart }
    /// The packet now, from `skb->data`.
    public var bytes: [UInt8] { Array(storage[dataStart..<dataEnd]) }
    /// The packet as BPF_PROG_TEST_RUN returns it: for network-layer programs the Ethernet header
    /// is pushed back, zeroed.
    public var packetOut: [UInt8] {
        access.layout == .networkLayer ? [UInt8](repeating: 0, count: 14) + bytes : bytes
    }

    var contextAddress: UInt { UInt(bitPattern: context.baseAddress) }
    var data: UInt64 { UInt64(UInt(bitPattern: storage.baseAddress)) + UInt64(dataStart) }
    var end: UInt64 { UInt64(UInt(bitPattern: storage.baseAddress)) + UInt64(dataEnd) }
    /// The packet bytes, for the legacy packet loads.
    var packetBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[dataStart..<dataEnd]) }

    /// The packet as the program may reach it directly, or nil without direct access.
    var packetRegion: MemoryRegion? {
        guard access.packet != .none else { return nil }
        return MemoryRegion(start: UInt(data), count: length, writable: access.packet == .readWrite)
    }

    /// `data`, `data_end` and (TC) `data_meta` as converted fields; none without direct access.
    var virtualFields: [(address: UInt, value: UInt64)] {
        guard access.packet != .none else { return [] }
        var fields = [(contextAddress + UInt(SKBContext.dataOffset), data), (contextAddress + UInt(SKBContext.dataEndOffset), end)]
        if access.dataMeta { fields.append((contextAddress + UInt(SKBContext.dataMetaOffset), data)) }
        return fields
    }

    /// The regions of a run: an empty input (so no region shadows another), the packet, the
    /// readable context bytes (read-only) and each writable field (writable). A store outside the
    /// writable fields is refused by the interpreter as an out-of-bounds write.
    var regions: [MemoryRegion] {
        var regions = [MemoryRegion(start: 0, count: 0, writable: false)]
        if let packetRegion { regions.append(packetRegion) }
        for run in access.readable { regions.append(MemoryRegion(start: contextAddress + UInt(run.lowerBound), count: run.count, writable: false)) }
        for field in access.writable { regions.append(MemoryRegion(start: contextAddress + UInt(field.lowerBound), count: field.count, writable: true)) }
        return regions
    }

    /// A pointer to `count` packet bytes at `offset` from `skb->data`, or nil when they are not all inside.
    func pointer(offset: UInt64, count: UInt64) -> UnsafeMutableRawPointer? {
        guard offset <= UInt64(Int32.max), offset + count <= UInt64(length) else { return nil }
        return storage.baseAddress! + dataStart + Int(offset)
    }

    /// Grows (zero-filled) or trims the packet at the end to `newLength` bytes.
    func setLength(_ newLength: Int) {
        if newLength > length {
            reserve(head: 0, tail: newLength - length)
            (storage.baseAddress! + dataEnd).initializeMemory(as: UInt8.self, repeating: 0, count: newLength - length)
        }
        dataEnd = dataStart + newLength
        writeLength()
    }

    /// Adds `count` zero bytes in front of the packet (a new link-layer header).
    func pushHead(_ count: Int) {
        reserve(head: count, tail: 0)
        dataStart -= count
        (storage.baseAddress! + dataStart).initializeMemory(as: UInt8.self, repeating: 0, count: count)
        networkOffset += count
        writeLength()
    }

    /// Inserts `count` zero bytes at packet offset `at` (room for a header), or with a negative
    /// `count` removes `-count` bytes there; the bytes before `at` move, as the kernel's
    /// `skb_push`/`skb_pull` around a header do. The network header moves with them when it is at or after `at`.
    func resize(at: Int, by count: Int) {
        if count > 0 {
            let oldNetwork = networkOffset
            pushHead(count)
            let base = storage.baseAddress! + dataStart
            base.copyMemory(from: base + count, byteCount: at)
            (base + at).initializeMemory(as: UInt8.self, repeating: 0, count: count)
            networkOffset = oldNetwork >= at ? oldNetwork + count : oldNetwork
        } else if count < 0 {
            let n = -count
            let base = storage.baseAddress! + dataStart
            // copyMemory is a memmove: the regions may overlap.
            (base + n).copyMemory(from: base, byteCount: at)
            dataStart += n
            if networkOffset >= at + n { networkOffset -= n } else if networkOffset > at { networkOffset = at }
            writeLength()
        }
    }

    /// Reads a `__u32` of the program's view of the context.
    func field(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: context.load(fromByteOffset: offset, as: UInt32.self))
    }

    /// Stores a `__u32` into the program's view of the context.
    func setField(_ offset: Int, _ value: UInt32) {
        context.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt32.self)
    }

    private func writeLength() { setField(SKBContext.lenOffset, UInt32(length)) }

    /// Makes room for `head` more bytes in front and `tail` more behind, moving to a bigger buffer if needed.
    private func reserve(head: Int, tail: Int) {
        guard head > dataStart || dataEnd + tail > storage.count else { return }
        let newHead = max(dataStart, head + Self.headroom)
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: newHead + length + tail + Self.tailroom, alignment: 16)
        bigger.initializeMemory(as: UInt8.self, repeating: 0)
        (bigger.baseAddress! + newHead).copyMemory(from: storage.baseAddress! + dataStart, byteCount: length)
        retired.append(storage)
        let count = length
        storage = bigger
        dataStart = newHead
        dataEnd = newHead + count
    }
}

extension LoadedProgram {
    /// A run of a program whose context is `struct __sk_buff`, as `bpf_prog_test_run_skb` does it.
    func runSKB(packet frame: [UInt8], context: [UInt8]?, repeat count: Int) throws -> TestRunResult {
        let access = SKBAccess(spec.type)!
        let place = "program '\(spec.name)'"
        if access.layout != .payload && frame.count < 14 {
            throw LoadError(place: place, message: "EINVAL: the packet is \(frame.count) bytes; BPF_PROG_TEST_RUN needs at least an Ethernet header (14 bytes)")
        }
        if frame.count > SKBContext.maxPacketSize {
            throw LoadError(place: place, message: "EINVAL: the packet is \(frame.count) bytes; BPF_PROG_TEST_RUN takes at most \(SKBContext.maxPacketSize) for \(spec.type.kernelName) programs")
        }
        let length = access.layout == .networkLayer ? frame.count - 14 : frame.count
        let input: [UInt8]
        do { input = try SKBContext.validate(context, length: length) } catch {
            throw LoadError(place: place, message: error.description)
        }
        let view = SKBContext.programView(input: input, frame: frame, length: length, access: access)
        let skb = SKBBuffer(frame: frame, context: view, access: access)
        let environment = RunEnvironment(maps: maps)
        environment.skb = skb
        environment.contextAddress = skb.contextAddress
        let run = try measuredRuns(count, environment: environment, explain: { SKBContext.explain($0, skb: skb) }) {
            RunRequest(r1: UInt64(skb.contextAddress), regions: skb.regions, packet: skb.packetBytes, virtualFields: skb.virtualFields)
        }
        return TestRunResult(run, packetOut: skb.packetOut, contextOut: SKBContext.contextOut(input: input, view: UnsafeRawBufferPointer(skb.context)),
                             environment: environment)
    }
}

extension SKBContext {
    /// A message for a runtime failure that is about the context: a store to a field the program
    /// type may not write, or a load of one it may not read (the kernel's verifier refuses both).
    static func explain(_ error: RuntimeError, skb: SKBBuffer) -> String? {
        let type = skb.access.type
        let address: UInt64, size: Int, write: Bool
        switch error {
        case let .outOfBounds(_, a, s, w):
            (address, size, write) = (a, s, w)
        case let .unsupported(_, message) where message.hasPrefix("store to a read-only context field at 0x"):
            guard let a = UInt64(message.dropFirst("store to a read-only context field at 0x".count), radix: 16) else { return nil }
            (address, size, write) = (a, 4, true)
        default:
            return nil
        }
        if write, let packet = skb.packetRegion, !packet.writable, address >= UInt64(packet.start), address < UInt64(packet.end) {
            return "store of \(size) bytes to the packet (offset \(address - UInt64(packet.start))): \(type.kernelName) programs may only read the packet"
        }
        // Accesses starting inside the 192 context bytes are about the context; so, most likely,
        // are those just past it (programs reach fields at small constant offsets).
        let base = UInt64(skb.contextAddress)
        guard address >= base, address < base + UInt64(SKBContext.size + 64) else { return nil }
        let offset = Int(address - base)
        guard offset + size <= SKBContext.size else {
            return "\(write ? "store" : "load") of \(size) bytes at offset \(offset) of the context runs past the end of struct __sk_buff (\(SKBContext.size) bytes)"
        }
        let name = "__sk_buff.\(fieldName(at: offset))"
        if write {
            return "store of \(size) bytes to \(name) (offset \(offset)), which \(type.kernelName) programs may not write"
        }
        return "load of \(size) bytes from \(name) (offset \(offset)), which \(type.kernelName) programs may not read (the kernel's verifier refuses it)"
    }
}

