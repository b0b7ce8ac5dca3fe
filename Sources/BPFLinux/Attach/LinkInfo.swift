import BPFObject
import CBPFLinuxSupport

/// A BPF link's kind, with the kernel's `BPF_LINK_TYPE_*` number.
public enum LinkType: UInt32, Sendable, Hashable, CaseIterable {
    case unspecified = 0, rawTracepoint, tracing, cgroup, iter, netns, xdp, perfEvent, kprobeMulti
    case structOps, netfilter, tcx, uprobeMulti, netkit, sockmap

    /// The name bpftool prints, e.g. `raw_tracepoint`, `perf_event`.
    public var name: String {
        switch self {
        case .unspecified: "unspec"
        case .rawTracepoint: "raw_tracepoint"
        case .tracing: "tracing"
        case .cgroup: "cgroup"
        case .iter: "iter"
        case .netns: "netns"
        case .xdp: "xdp"
        case .perfEvent: "perf_event"
        case .kprobeMulti: "kprobe_multi"
        case .structOps: "struct_ops"
        case .netfilter: "netfilter"
        case .tcx: "tcx"
        case .uprobeMulti: "uprobe_multi"
        case .netkit: "netkit"
        case .sockmap: "sockmap"
        }
    }
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a link: its id, kind, program and target. Fields that
/// do not apply to the link's kind are nil.
///
/// ```swift
/// let info = try link.info()
/// print(info.id, info.type?.name ?? "?", info.programID, info.tracepoint ?? "")
/// ```
public struct LinkInfo: Sendable, Hashable {
    public var id: UInt32
    /// The kind, or nil for a number this build does not know.
    public var type: LinkType?
    public var rawType: UInt32
    public var programID: UInt32
    /// The attach type (tracing, cgroup, netns, tcx links).
    public var attachType: AttachType?
    /// The tracepoint's name (raw tracepoint links, tracepoint perf links), or the probed function or file (kprobe/uprobe perf links).
    public var tracepoint: String?
    /// The interface index (XDP and tcx links).
    public var ifindex: UInt32?
    /// The cgroup's id (cgroup links).
    public var cgroupID: UInt64?
    /// The target's BTF object id and type id (tracing links).
    public var targetObjectID: UInt32?
    public var targetBTFID: UInt32?
    /// The perf event kind of a perf link: `uprobe`, `uretprobe`, `kprobe`, `kretprobe`, `tracepoint`, `event`.
    public var perfEventType: String?
    /// The probe offset (kprobe/uprobe perf links).
    public var probeOffset: UInt32?
}

extension KernelLink {
    /// `BPF_OBJ_GET_INFO_BY_FD` for this link (only `.bpfLink` links have one).
    public func info() throws(BPFError) -> LinkInfo {
        guard kind == .bpfLink, let fd else {
            throw BPFError.invalidArgument("link \(target): a \(kind.rawValue) attachment has no link info", command: .objGetInfoByFD)
        }
        return try Self.info(fd: fd)
    }

    static func info(fd: BPFFileDescriptor) throws(BPFError) -> LinkInfo {
        var raw = cbpf_link_info()
        try KernelObjects.info(fd: fd, &raw)
        let type = LinkType(rawValue: raw.type)
        var info = LinkInfo(id: raw.id, type: type, rawType: raw.type, programID: raw.prog_id)
        let words = withUnsafeBytes(of: raw.words) { Array($0.bindMemory(to: UInt64.self)) }
        func low(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: words[i]) }
        func high(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: words[i] >> 32) }
        switch type {
        case .rawTracepoint:
            // tp_name (pointer) in word 0, tp_name_len in word 1: ask again with a buffer.
            info.tracepoint = try? name(fd: fd, length: Int(low(1)), pointerWord: 0, lengthWord: 1)
        case .tracing:
            info.attachType = AttachType(rawValue: low(0))
            info.targetObjectID = high(0)
            info.targetBTFID = low(1)
        case .cgroup:
            info.cgroupID = words[0]
            info.attachType = AttachType(rawValue: low(1))
        case .netns:
            info.attachType = AttachType(rawValue: high(0))
        case .xdp:
            info.ifindex = low(0)
        case .tcx, .netkit:
            info.ifindex = low(0)
            info.attachType = AttachType(rawValue: high(0))
        case .perfEvent:
            let kinds = ["unspec", "uprobe", "uretprobe", "kprobe", "kretprobe", "tracepoint", "event"]
            let kindNumber = Int(low(0))
            info.perfEventType = kindNumber < kinds.count ? kinds[kindNumber] : "perf event \(kindNumber)"
            if (1...5).contains(kindNumber) {
                // file_name/func_name/tp_name pointer in word 1, name_len (low) in word 2, offset (high) for probes.
                info.tracepoint = try? name(fd: fd, length: Int(low(2)), pointerWord: 1, lengthWord: 2)
                if kindNumber <= 4 { info.probeOffset = high(2) }
            }
        default:
            break
        }
        return info
    }

    /// Reads a name the kernel copies out when the info call passes a buffer pointer and length.
    private static func name(fd: BPFFileDescriptor, length: Int, pointerWord: Int, lengthWord: Int) throws(BPFError) -> String {
        guard length > 0 else { return "" }
        var buffer = [UInt8](repeating: 0, count: length + 1)
        var raw = cbpf_link_info()
        try buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutableBytes(of: &raw.words) { words in
                let w = words.bindMemory(to: UInt64.self)
                w[pointerWord] = address(bytes.baseAddress)
                w[lengthWord] = UInt64(bytes.count)
            }
            return capture { () throws(BPFError) in try KernelObjects.info(fd: fd, &raw) }
        }.get()
        return String(decoding: buffer[..<(buffer.firstIndex(of: 0) ?? buffer.count)], as: UTF8.self)
    }
}

extension LinkInfo {
    init(id: UInt32, type: LinkType?, rawType: UInt32, programID: UInt32) {
        self.id = id
        self.type = type
        self.rawType = rawType
        self.programID = programID
    }
}
