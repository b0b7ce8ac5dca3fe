/// The layout of `struct __sk_buff` (UAPI, 192 bytes) as programs see it: field names, offsets and
/// sizes. Shared by the verifier (context access rules) and the runtime (test runs).
///
/// ```swift
/// SKBLayout.range("mark")          // 8..<12
/// SKBLayout.fieldName(at: 52)      // "cb[1]"
/// ```
public enum SKBLayout {
    /// `sizeof(struct __sk_buff)`.
    public static let size = 192
    /// Offsets of the fields a load converts to packet pointers.
    public static let dataOffset = 76, dataEndOffset = 80, dataMetaOffset = 140

    /// The fields by name, offset and size (arrays of `__u32` as one entry).
    public static let fields: [(name: String, offset: Int, size: Int)] = [
        ("len", 0, 4), ("pkt_type", 4, 4), ("mark", 8, 4), ("queue_mapping", 12, 4), ("protocol", 16, 4),
        ("vlan_present", 20, 4), ("vlan_tci", 24, 4), ("vlan_proto", 28, 4), ("priority", 32, 4),
        ("ingress_ifindex", 36, 4), ("ifindex", 40, 4), ("tc_index", 44, 4), ("cb", 48, 20), ("hash", 68, 4),
        ("tc_classid", 72, 4), ("data", 76, 4), ("data_end", 80, 4), ("napi_id", 84, 4), ("family", 88, 4),
        ("remote_ip4", 92, 4), ("local_ip4", 96, 4), ("remote_ip6", 100, 16), ("local_ip6", 116, 16),
        ("remote_port", 132, 4), ("local_port", 136, 4), ("data_meta", 140, 4), ("flow_keys", 144, 8),
        ("tstamp", 152, 8), ("wire_len", 160, 4), ("gso_segs", 164, 4), ("sk", 168, 8), ("gso_size", 176, 4),
        ("tstamp_type", 180, 4), ("hwtstamp", 184, 8),
    ]

    /// The byte range of a field by name. (A switch, so that the verifier's first program does not
    /// build the table.)
    public static func range(_ name: String) -> Range<Int> {
        switch name {
        case "len": return 0..<4
        case "pkt_type": return 4..<8
        case "mark": return 8..<12
        case "queue_mapping": return 12..<16
        case "protocol": return 16..<20
        case "vlan_present": return 20..<24
        case "vlan_tci": return 24..<28
        case "vlan_proto": return 28..<32
        case "priority": return 32..<36
        case "ingress_ifindex": return 36..<40
        case "ifindex": return 40..<44
        case "tc_index": return 44..<48
        case "cb": return 48..<68
        case "hash": return 68..<72
        case "tc_classid": return 72..<76
        case "data": return 76..<80
        case "data_end": return 80..<84
        case "napi_id": return 84..<88
        case "family": return 88..<92
        case "remote_ip4": return 92..<96
        case "local_ip4": return 96..<100
        case "remote_ip6": return 100..<116
        case "local_ip6": return 116..<132
        case "remote_port": return 132..<136
        case "local_port": return 136..<140
        case "data_meta": return 140..<144
        case "flow_keys": return 144..<152
        case "tstamp": return 152..<160
        case "wire_len": return 160..<164
        case "gso_segs": return 164..<168
        case "sk": return 168..<176
        case "gso_size": return 176..<180
        case "tstamp_type": return 180..<184
        case "hwtstamp": return 184..<192
        default:
            let field = fields.first { $0.name == name }!
            return field.offset..<(field.offset + field.size)
        }
    }

    /// Whether a field of `fields` starts at `offset` (0..<192): a bit per byte, 64 bytes a word.
    static func isFieldStart(_ offset: Int) -> Bool {
        let words: (UInt64, UInt64, UInt64) = (0x1111111111111, 0x10001111111110, 0x111011101011110)
        let word = offset < 64 ? words.0 : offset < 128 ? words.1 : words.2
        return word & (1 << UInt64(offset % 64)) != 0
    }

    /// The field holding the byte at `offset` (0..<192).
    static func fieldRange(containing offset: Int) -> Range<Int> {
        var start = offset
        while !isFieldStart(start) { start -= 1 }
        var end = offset + 1
        while end < size && !isFieldStart(end) { end += 1 }
        return start..<end
    }

    /// The C name of the field at `offset`, e.g. `mark`, `cb[2]`, `remote_ip6[1]`.
    public static func fieldName(at offset: Int) -> String {
        guard offset >= 0, offset < size, let field = fields.last(where: { $0.offset <= offset }) else {
            return "offset \(offset), past the end of struct __sk_buff (\(size) bytes)"
        }
        if field.size > 8 { return "\(field.name)[\((offset - field.offset) / 4)]" }
        return field.name
    }

}

/// What one program type may do with its `struct __sk_buff`, as the kernel's verifier allows
/// (`net/core/filter.c`, the `*_is_valid_access` functions): the bytes it may read and write,
/// whether it reaches the packet directly and where its packet starts (the helpers it may call are
/// ``HelperPrototype``'s).
///
/// ```swift
/// let access = SKBAccess(.schedCls)!
/// access.writable.contains(SKBLayout.range("mark").lowerBound..<SKBLayout.range("mark").lowerBound + 4)   // true
/// SKBAccess(.socketFilter)!.packet                                             // .none
/// ```
public struct SKBAccess: Sendable, Hashable {
    /// Direct packet access through `data`/`data_end`.
    public enum PacketAccess: Sendable, Hashable {
        /// No direct access (socket filters): the fields are not readable at all.
        case none
        case readOnly
        case readWrite
    }

    /// Where the program's packet (`skb->data`) starts.
    public enum Layout: Sendable, Hashable {
        /// At the Ethernet header (TC).
        case linkLayer
        /// After the Ethernet header, which the test run parses and, afterwards, returns zeroed
        /// (socket filter, cgroup_skb, LWT), as the kernel's test run does.
        case networkLayer
        /// The bytes as given, nothing parsed (sk_skb: stream data).
        case payload
    }

    public var type: ProgramType
    /// The bytes the program may load, and the bytes of the fields it may store to, a bit each:
    /// bit sets rather than arrays of ranges, so that the verifier's first program builds no
    /// `[Range<Int>]` (whose first use costs a scan of every protocol conformance in the binary).
    var readableBytes: ByteSet
    var writableBytes: ByteSet
    /// Byte ranges of the context the program may load (merged).
    public var readable: [Range<Int>] {
        var runs: [Range<Int>] = []
        var start: Int?
        for offset in 0...SKBLayout.size {
            let open = offset < SKBLayout.size && readableBytes.contains(offset)
            if open, start == nil { start = offset }
            if !open, let s = start { runs.append(s..<offset); start = nil }
        }
        return runs
    }
    /// Fields the program may store to, one range each (`cb` is one range), by offset.
    public var writable: [Range<Int>] {
        var fields: [Range<Int>] = []
        var offset = 0
        while offset < SKBLayout.size {
            let field = SKBLayout.fieldRange(containing: offset)
            if writableBytes.contains(offset) { fields.append(field) }
            offset = field.upperBound
        }
        return fields
    }

    /// Whether the program may load `size` bytes at `offset`.
    public func canRead(offset: Int, size: Int) -> Bool {
        guard offset >= 0, size > 0, offset + size <= SKBLayout.size else { return false }
        for byte in offset..<(offset + size) where !readableBytes.contains(byte) { return false }
        return true
    }

    /// The writable field holding all `size` bytes at `offset`, or nil when the program may not store there.
    public func writableField(offset: Int, size: Int) -> Range<Int>? {
        guard offset >= 0, size > 0, offset + size <= SKBLayout.size, writableBytes.contains(offset) else { return nil }
        let field = SKBLayout.fieldRange(containing: offset)
        return offset + size <= field.upperBound ? field : nil
    }

    public var packet: PacketAccess
    /// Whether `data_meta` is readable (TC).
    public var dataMeta: Bool
    public var layout: Layout

    /// The rules for `type`, or nil when it does not take a `struct __sk_buff`.
    ///
    /// The byte sets are constants (bit `i % 64` of word `i / 64` is offset `i`), so that no
    /// verification builds them: each comment names the fields, and `SKBAccessTests` derives the
    /// same sets from those names with ``SKBLayout/range(_:)``. Every type reads all of
    /// `struct __sk_buff` but `flow_keys` and what its comment denies ("socket fields" is
    /// `family` to `local_port`).
    public init?(_ type: ProgramType) {
        let readable: (UInt64, UInt64, UInt64), writable: (UInt64, UInt64, UInt64)
        switch type {
        case .socketFilter:
            // Denied: socket fields, tc_classid, data, data_end, data_meta, tstamp, wire_len. Writes: cb.
            readable = (0xffff_ffff_ffff_ffff, 0x00f0_00ff, 0xffff_fff0_0000_0000)
            writable = (0xffff_0000_0000_0000, 0xf, 0)
            (packet, dataMeta, layout) = (.none, false, .networkLayer)
        case .schedCls, .schedAct:
            // Denied: socket fields. Writes: mark, queue_mapping, priority, tc_index, cb, tc_classid, tstamp.
            readable = (0xffff_ffff_ffff_ffff, 0x00ff_ffff, 0xffff_ffff_ff00_f000)
            writable = (0xffff_f00f_0000_ff00, 0xf0f, 0xff00_0000)
            (packet, dataMeta, layout) = (.readWrite, true, .linkLayer)
        case .cgroupSkb:
            // Denied: tc_classid, data_meta, wire_len. Writes: mark, priority, cb, tstamp.
            readable = (0xffff_ffff_ffff_ffff, 0xffff_ffff_ffff_f0ff, 0xffff_fff0_ff00_0fff)
            writable = (0xffff_000f_0000_0f00, 0xf, 0xff00_0000)
            (packet, dataMeta, layout) = (.readOnly, false, .networkLayer)
        case .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local:
            // Denied: socket fields, tc_classid, data_meta, tstamp, wire_len. Writes: mark, priority, cb.
            readable = (0xffff_ffff_ffff_ffff, 0x00ff_f0ff, 0xffff_fff0_0000_0000)
            writable = (0xffff_000f_0000_0f00, 0xf, 0)
            (packet, dataMeta, layout) = (type == .lwtXmit ? .readWrite : .readOnly, false, .networkLayer)
        case .skSkb:
            // Denied: tc_classid, data_meta, tstamp, wire_len, mark. Writes: tc_index, priority.
            readable = (0xffff_ffff_ffff_f0ff, 0xffff_ffff_ffff_f0ff, 0xffff_fff0_0000_0fff)
            writable = (0xf00f_0000_0000, 0, 0)
            (packet, dataMeta, layout) = (.readWrite, false, .payload)
        default:
            return nil
        }
        self.type = type
        readableBytes = ByteSet(words: readable)
        writableBytes = ByteSet(words: writable)
    }
}

/// A set of byte offsets below 192 (`struct __sk_buff`), a bit each.
struct ByteSet: Sendable, Hashable {
    var words: (UInt64, UInt64, UInt64)

    init(words: (UInt64, UInt64, UInt64)) { self.words = words }

    func contains(_ offset: Int) -> Bool {
        guard offset >= 0, offset < 192 else { return false }
        let word = offset < 64 ? words.0 : offset < 128 ? words.1 : words.2
        return word & (1 << UInt64(offset % 64)) != 0
    }

    static func == (a: ByteSet, b: ByteSet) -> Bool { a.words == b.words }
    func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
    }
}


/// `struct xdp_md` (UAPI, 24 bytes): the fields an XDP program reads. `data`, `data_end` and
/// `data_meta` are converted to packet pointers when loaded; nothing is writable.
public enum XDPLayout {
    public static let size = 24
    public static let dataOffset = 0, dataEndOffset = 4, dataMetaOffset = 8
    public static let ingressIfindexOffset = 12, rxQueueIndexOffset = 16, egressIfindexOffset = 20
}

/// A named field of a context, by byte range.
public struct ContextField: Sendable, Hashable {
    public var name: String
    public var range: Range<Int>
    public init(_ name: String, _ range: Range<Int>) {
        self.name = name
        self.range = range
    }
}

/// The context of a program type without a packet (tracepoints, kprobes, tracing, syscall, the
/// socket-less hooks): what it holds, its largest and fixed sizes, whether the program may write it.
/// Shared by the verifier and the runtime.
///
/// ```swift
/// RawContextRules(.kprobe)?.fixedSize   // 168 (struct pt_regs)
/// ```
public struct RawContextRules: Sendable, Hashable {
    public var type: ProgramType
    /// What the context holds, for messages.
    public var what: String
    /// The most bytes a caller may give.
    public var maxSize: Int
    /// For a fixed struct: shorter contexts are zero-extended to this size.
    public var fixedSize: Int?
    /// Whether the program may store anywhere in its context (syscall programs, as in the kernel).
    public var writable: Bool
    /// The fields a program of a socket hook may store to, as the kernel's `*_is_valid_access`
    /// allows (`__u32` each): sock_ops' `reply`/`replylong` and `sk_txhash`; cgroup_sock's
    /// `bound_dev_if`, `mark`, `priority`; cgroup_sock_addr's user and message addresses and port;
    /// cgroup_sysctl's `file_pos`; cgroup_sockopt's `level`, `optname`, `optlen`, `retval`.
    public var writableFields: [ContextField] = []

    /// Pointer fields (`__bpf_md_ptr`), which a program may load only whole, as 8 bytes:
    /// `bpf_sock_addr.sk`, `bpf_sock_ops.sk`/`skb_data`/`skb_data_end`, `bpf_sockopt.sk`/`optval`/`optval_end`,
    /// `bpf_sk_lookup.sk`.
    public var pointerFields: [ContextField] = []

    /// The field a store of `size` bytes at `offset` writes, when the type allows it.
    public func writableField(offset: Int, size: Int) -> String? {
        // __u32 stores; an IPv6 address (16 bytes) may also be written 8 bytes at a time, aligned.
        writableFields.first {
            $0.range.contains(offset) && offset + size <= $0.range.upperBound
                && (size == 4 || (size == 8 && $0.range.count == 16 && (offset - $0.range.lowerBound) % 8 == 0))
        }?.name
    }

    /// The rules for `type`, or nil when it has a packet (XDP, skb programs) or is not run.
    public init?(_ type: ProgramType) {
        self.type = type
        fixedSize = nil
        writable = false
        switch type {
        case .tracepoint:
            (what, maxSize) = ("the tracepoint's record (the common fields, then the event's)", 4096)
        case .rawTracepoint, .rawTracepointWritable:
            // bpf_prog_test_run_raw_tp: at most MAX_BPF_FUNC_ARGS u64 arguments.
            (what, maxSize) = ("the tracepoint's arguments, __u64 args[]", 12 * 8)
        case .tracing, .lsm:
            (what, maxSize) = ("the function's arguments as __u64 (and, for fexit, its return value after them)", 13 * 8)
        case .kprobe:
            (what, maxSize, fixedSize) = ("struct pt_regs (x86-64, 168 bytes)", 168, 168)
        case .perfEvent:
            (what, maxSize, fixedSize) = ("struct bpf_perf_event_data (x86-64 pt_regs, sample_period, addr: 184 bytes)", 184, 184)
        case .syscall:
            // bpf_prog_test_run_syscall: up to U16_MAX bytes, read and written by the program.
            (what, maxSize, writable) = ("the caller's argument bytes", 65535, true)
        case .cgroupSock, .sockOps, .cgroupSockAddr, .cgroupSysctl, .cgroupSockopt, .cgroupDevice, .skLookup,
             .lircMode2, .structOps, .ext:
            (what, maxSize) = ("the context's bytes as given (its fields are not modelled; pointers in it lead nowhere)", 4096)
            switch type {
            case .sockOps:
                writableFields = [.init("reply", 4..<20), .init("sk_txhash", 164..<168)]
                pointerFields = [.init("sk", 184..<192), .init("skb_data", 192..<200), .init("skb_data_end", 200..<208)]
            case .cgroupSock:
                writableFields = [.init("bound_dev_if", 0..<4), .init("mark", 16..<20), .init("priority", 20..<24)]
            case .cgroupSockAddr:
                writableFields = [.init("user_ip4", 4..<8), .init("user_ip6", 8..<24), .init("user_port", 24..<28),
                                  .init("msg_src_ip4", 40..<44), .init("msg_src_ip6", 44..<60)]
                pointerFields = [.init("sk", 64..<72)]
            case .cgroupSysctl:
                writableFields = [.init("file_pos", 4..<8)]
            case .cgroupSockopt:
                writableFields = [.init("level", 24..<28), .init("optname", 28..<32), .init("optlen", 32..<36), .init("retval", 36..<40)]
                pointerFields = [.init("sk", 0..<8), .init("optval", 8..<16), .init("optval_end", 16..<24)]
            case .skLookup:
                pointerFields = [.init("sk", 0..<8)]
            default:
                break
            }
        default:
            return nil
        }
    }
}


/// Program types print as the kernel and bpftool spell them, in every message.
extension ProgramType: CustomStringConvertible {
    public var description: String { kernelName }
}

extension ProgramType {
    /// The kernel's name for the type, as in `BPF_PROG_TYPE_<NAME>`, lower-cased.
    public var kernelName: String {
        switch self {
        case .unspecified: "unspec"
        case .socketFilter: "socket_filter"
        case .kprobe: "kprobe"
        case .schedCls: "sched_cls"
        case .schedAct: "sched_act"
        case .tracepoint: "tracepoint"
        case .xdp: "xdp"
        case .perfEvent: "perf_event"
        case .cgroupSkb: "cgroup_skb"
        case .cgroupSock: "cgroup_sock"
        case .lwtIn: "lwt_in"
        case .lwtOut: "lwt_out"
        case .lwtXmit: "lwt_xmit"
        case .sockOps: "sock_ops"
        case .skSkb: "sk_skb"
        case .cgroupDevice: "cgroup_device"
        case .skMsg: "sk_msg"
        case .rawTracepoint: "raw_tracepoint"
        case .cgroupSockAddr: "cgroup_sock_addr"
        case .lwtSeg6local: "lwt_seg6local"
        case .lircMode2: "lirc_mode2"
        case .skReuseport: "sk_reuseport"
        case .flowDissector: "flow_dissector"
        case .cgroupSysctl: "cgroup_sysctl"
        case .rawTracepointWritable: "raw_tracepoint_writable"
        case .cgroupSockopt: "cgroup_sockopt"
        case .tracing: "tracing"
        case .structOps: "struct_ops"
        case .ext: "ext"
        case .lsm: "lsm"
        case .skLookup: "sk_lookup"
        case .syscall: "syscall"
        case .netfilter: "netfilter"
        }
    }
}
