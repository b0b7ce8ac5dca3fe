import BPFObject

/// How a program type may use its context (r1 at entry), as the kernel's `*_is_valid_access`
/// functions decide: which loads are allowed (and which give packet pointers), which stores.
struct ContextRules {
    enum LoadResult {
        case scalar
        case packet, packetEnd, packetMeta
        /// `__sk_buff->sk`: a `struct bpf_sock *` of any state, or NULL.
        case socketCommonOrNull
        /// `sk_msg_md->sk`: a full socket.
        case socket
        /// `bpf_sk_lookup->sk`: a full socket, or NULL.
        case socketOrNull
        /// A trusted pointer to a kernel struct of this name (netfilter's `state` and `skb`).
        case kernelStruct(String)
        /// `__sk_buff->flow_keys` of a flow dissector: its `struct bpf_flow_keys` (56 bytes, writable).
        case flowKeys
        /// args[0] of a writable raw tracepoint (`raw_tp.w`): its buffer (the kernel's PTR_TO_TP_BUFFER).
        case tracepointBuffer
        case denied(String)
    }

    /// `struct sk_msg_md` (80 bytes): `data` and `data_end` (packet pointers, 8 bytes), `__u32`
    /// fields from `family` to `size`, and `sk` at 72.
    static let skMsgSize = 80

    let type: ProgramType
    let attachType: AttachType?
    /// The context size the runtime always provides (proven accesses), nil when it varies.
    let guaranteedSize: Int?
    /// Unspecified-type programs: their context is plain memory of this many bytes.
    let memorySize: Int?
    /// The `struct __sk_buff` rules of skb programs (built once per verification).
    let skb: SKBAccess?
    /// The rules of a context without a packet.
    let raw: RawContextRules?
    /// Whether `offset` is inside an 8-byte field of `struct __sk_buff`: `tstamp`, `sk`, `hwtstamp`.
    static func insideWideSKBField(_ offset: Int) -> Bool {
        SKBLayout.range("tstamp").contains(offset) || SKBLayout.range("sk").contains(offset) || SKBLayout.range("hwtstamp").contains(offset)
    }

    /// Whether an 8-byte field of `struct __sk_buff` starts at `offset`.
    static func startsWideSKBField(_ offset: Int) -> Bool {
        offset == SKBLayout.range("tstamp").lowerBound || offset == SKBLayout.range("sk").lowerBound
            || offset == SKBLayout.range("hwtstamp").lowerBound
    }

    init(type: ProgramType, attachType: AttachType?, contextSize: Int?) {
        self.type = type
        self.attachType = attachType
        skb = SKBAccess(type)
        raw = RawContextRules(type)
        switch type {
        case .xdp:
            guaranteedSize = XDPLayout.size
            memorySize = nil
        case _ where skb != nil:
            guaranteedSize = SKBLayout.size
            memorySize = nil
        case .unspecified:
            guaranteedSize = contextSize
            memorySize = contextSize ?? 0
        default:
            guaranteedSize = raw?.fixedSize
            memorySize = nil
        }
    }

    /// Whether a context access is proven to stay inside the context the runtime provides (and is
    /// not one of the converted packet-pointer fields).
    func proven(offset: Int, size: Int) -> Bool {
        guard let guaranteedSize, offset >= 0, offset + size <= guaranteedSize else { return false }
        switch type {
        case .xdp: return offset >= 12
        case _ where skb != nil:
            return offset != SKBLayout.dataOffset && offset != SKBLayout.dataEndOffset && offset != SKBLayout.dataMetaOffset
        default: return true
        }
    }

    func load(offset: Int, size: Int) -> LoadResult {
        guard offset >= 0 else { return .denied("negative context offset \(offset)") }
        guard offset % size == 0 else { return .denied("misaligned context access: offset \(offset), \(size) bytes") }
        if type == .xdp {
            guard offset + size <= XDPLayout.size else {
                return .denied("offset \(offset) is past the end of struct xdp_md (\(XDPLayout.size) bytes)")
            }
            guard size == 4 else { return .denied("struct xdp_md fields are 4 bytes; this load is \(size)") }
            switch offset {
            case XDPLayout.dataOffset: return .packet
            case XDPLayout.dataEndOffset: return .packetEnd
            case XDPLayout.dataMetaOffset: return .packetMeta
            case XDPLayout.egressIfindexOffset where attachType != .xdpDevmap:
                return .denied("xdp_md->egress_ifindex is only readable by programs attached to a devmap")
            default: return .scalar
            }
        }
        if type == .rawTracepointWritable && offset < 8 {
            // raw_tp_writable_prog_is_valid_access: args[0], read whole, is the tracepoint's buffer.
            guard offset == 0 && size == 8 else {
                return .denied("args[0] of a writable raw tracepoint is its buffer pointer, read whole as 8 bytes")
            }
            return .tracepointBuffer
        }
        if type == .flowDissector {
            // A flow dissector reads only its packet (data, data_end) and writes its flow keys.
            switch (offset, size) {
            case (SKBLayout.dataOffset, 4): return .packet
            case (SKBLayout.dataEndOffset, 4): return .packetEnd
            case (SKBLayout.range("flow_keys").lowerBound, 8): return .flowKeys
            default:
                return .denied("flow_dissector programs read only data, data_end (4 bytes) and flow_keys (8 bytes) of __sk_buff, not offset \(offset) (\(size) bytes)")
            }
        }
        if type == .skMsg {
            guard offset + size <= Self.skMsgSize else {
                return .denied("offset \(offset) is past the end of struct sk_msg_md (\(Self.skMsgSize) bytes)")
            }
            switch offset {
            case 0, 8, 72:
                guard size == 8 else { return .denied("sk_msg_md pointer fields are read whole, as 8 bytes") }
                return offset == 0 ? .packet : offset == 8 ? .packetEnd : .socket
            default:
                guard offset >= 16, offset < 72 else { return .denied("offset \(offset) of struct sk_msg_md is inside a pointer field") }
                return size <= 4 ? .scalar : .denied("sk_msg_md fields from family to size are 4 bytes; this load is \(size)")
            }
        }
        if let access = skb {
            var name: String { SKBLayout.fieldName(at: offset) }
            guard offset + size <= SKBLayout.size else {
                return .denied("offset \(offset) is past the end of struct __sk_buff (\(SKBLayout.size) bytes)")
            }
            guard access.canRead(offset: offset, size: size) else {
                return .denied("\(type.kernelName) programs may not read __sk_buff.\(name)")
            }
            for fieldOffset in [SKBLayout.dataOffset, SKBLayout.dataEndOffset, SKBLayout.dataMetaOffset]
            where offset < fieldOffset + 4 && fieldOffset < offset + size {
                guard offset == fieldOffset, size == 4 else {
                    return .denied("__sk_buff.\(SKBLayout.fieldName(at: fieldOffset)) must be read whole, as 4 bytes")
                }
                return fieldOffset == SKBLayout.dataOffset ? .packet : fieldOffset == SKBLayout.dataEndOffset ? .packetEnd : .packetMeta
            }
            if Self.insideWideSKBField(offset) {
                guard size == 8 else { return .denied("__sk_buff.\(name) must be read as 8 bytes") }
            }
            if size == 8 && !Self.startsWideSKBField(offset) {
                return .denied("__sk_buff.\(name) is a 4-byte field; an 8-byte load is not allowed")
            }
            if offset == SKBLayout.range("sk").lowerBound { return .socketCommonOrNull }
            return .scalar
        }
        if let memorySize {
            guard offset + size <= memorySize else {
                return .denied("offset \(offset) (\(size) bytes) is past the \(memorySize)-byte input memory")
            }
            return .scalar
        }
        if type == .skReuseport { return Self.skReuseportLoad(offset: offset, size: size) }
        if type == .netfilter {
            // struct bpf_nf_ctx: two trusted kernel pointers (the kernel's nf_is_valid_access).
            switch (offset, size) {
            case (0, 8): return .kernelStruct("nf_hook_state")
            case (8, 8): return .kernelStruct("sk_buff")
            default: return .denied("netfilter programs read only state and skb of struct bpf_nf_ctx, as 8 bytes at offsets 0 and 8")
            }
        }
        if type == .sockOps, let problem = Self.sockOpsLoadProblem(offset: offset, size: size) { return .denied(problem) }
        if let rules = raw {
            if let field = rules.pointerFields.first(where: { $0.range.overlaps(offset..<(offset + size)) }) {
                guard offset == field.range.lowerBound && size == 8 else {
                    return .denied("\(type.kernelName) context field '\(field.name)' is a pointer: it is read whole, as 8 bytes at offset \(field.range.lowerBound)")
                }
                // The socket: bpf_sock_addr's and bpf_sockopt's always there, bpf_sock_ops' and
                // bpf_sk_lookup's maybe NULL. The packet: sock_ops' skb_data/skb_data_end and
                // sockopt's optval/optval_end buffer, as the kernel types them (PTR_TO_PACKET,
                // PTR_TO_PACKET_END; accesses through them are never proven for the runtime, which
                // does not provide these buffers).
                switch field.name {
                case "sk": return type == .sockOps ? .socketCommonOrNull : type == .skLookup ? .socketOrNull : .socket
                case "skb_data", "optval": return .packet
                case "skb_data_end", "optval_end": return .packetEnd
                default: break
                }
            }
            let limit = rules.fixedSize ?? rules.maxSize
            guard offset + size <= limit else {
                return .denied("offset \(offset) (\(size) bytes) is past the end of the context (\(rules.what), at most \(limit) bytes)")
            }
            return .scalar
        }
        return .denied("\(type.kernelName) programs have no context the verifier knows")
    }

    /// Why the kernel's sock_ops_is_valid_access refuses a load from `struct bpf_sock_ops` (224
    /// bytes), or nil: `bytes_received`, `bytes_acked` and `skb_hwtstamp` are read as 8 bytes, the
    /// pointers (checked with the other contexts' pointers) too, `skb_tcp_flags` in any narrower
    /// load, and every other field whole, as 4 bytes.
    static func sockOpsLoadProblem(offset: Int, size: Int) -> String? {
        guard offset >= 0, offset + size <= 224 else { return "offset \(offset) (\(size) bytes) is past the end of struct bpf_sock_ops (224 bytes)" }
        guard offset % size == 0 else { return "a load from struct bpf_sock_ops is aligned to its size" }
        switch offset {
        case 168..<184, 216..<224:
            return size == 8 ? nil : "bytes_received, bytes_acked and skb_hwtstamp of struct bpf_sock_ops are read whole, as 8 bytes"
        case 184..<208, 212..<216:
            return nil
        default:
            return size == 4 ? nil : "the fields of struct bpf_sock_ops are __u32, read whole (4 bytes)"
        }
    }

    /// struct sk_reuseport_md (56 bytes), as the kernel's sk_reuseport_is_valid_access reads it:
    /// the packet (data, data_end), the socket group's `sk`, the maybe-NULL `migrating_sk`, and
    /// __u32 fields (all but `hash` readable in narrower loads; `eth_protocol` in 2 bytes at least).
    static func skReuseportLoad(offset: Int, size: Int) -> LoadResult {
        guard offset + size <= 56 else { return .denied("offset \(offset) is past the end of struct sk_reuseport_md (56 bytes)") }
        switch offset {
        case 0, 8, 40, 48:
            guard size == 8 else { return .denied("sk_reuseport_md pointer fields are read whole, as 8 bytes") }
            return offset == 0 ? .packet : offset == 8 ? .packetEnd : offset == 40 ? .socket : .socketCommonOrNull
        case 32:
            return size == 4 ? .scalar : .denied("sk_reuseport_md.hash is read as 4 bytes")
        case 16..<32:
            if (20..<24).contains(offset) && size < 2 { return .denied("sk_reuseport_md.eth_protocol is read as 2 bytes at least") }
            guard size <= 4, offset / 4 == (offset + size - 1) / 4 else { return .denied("sk_reuseport_md fields are __u32") }
            return .scalar
        default:
            return .denied("offset \(offset) of struct sk_reuseport_md is inside a pointer field or padding")
        }
    }

    /// nil when the store is allowed, else why not.
    func store(offset: Int, size: Int) -> String? {
        guard offset >= 0, offset % size == 0 else { return "misaligned or negative context store: offset \(offset), \(size) bytes" }
        if type == .skReuseport || type == .netfilter { return "\(type.kernelName) programs may not write their context" }
        if type == .xdp { return "xdp programs may not write struct xdp_md" }
        if type == .skMsg { return "sk_msg programs may not write struct sk_msg_md" }
        if type == .flowDissector { return "flow_dissector programs may not write __sk_buff (they write their flow_keys)" }
        if let access = skb {
            var name: String { SKBLayout.fieldName(at: offset) }
            guard offset + size <= SKBLayout.size else {
                return "offset \(offset) is past the end of struct __sk_buff (\(SKBLayout.size) bytes)"
            }
            guard let field = access.writableField(offset: offset, size: size) else {
                return "\(type.kernelName) programs may not write __sk_buff.\(name)"
            }
            if field == SKBLayout.range("tstamp") { return size == 8 ? nil : "__sk_buff.tstamp must be written as 8 bytes" }
            if field == SKBLayout.range("cb") { return nil }
            return size == 4 ? nil : "__sk_buff.\(name) must be written as 4 bytes"
        }
        if let memorySize {
            return offset + size <= memorySize ? nil : "offset \(offset) (\(size) bytes) is past the \(memorySize)-byte input memory"
        }
        if let rules = raw {
            if !rules.writable && rules.writableField(offset: offset, size: size) != nil { return nil }
            guard rules.writable else {
                let fields = rules.writableFields.map(\.name)
                return "\(type.kernelName) programs may not write their context at offset \(offset) (\(size) bytes)"
                    + (fields.isEmpty ? " (\(rules.what))" : ": only the __u32 fields \(fields.joined(separator: ", "))")
            }
            return offset + size <= rules.maxSize ? nil : "offset \(offset) is past the largest context (\(rules.maxSize) bytes)"
        }
        return "\(type.kernelName) programs have no context the verifier knows"
    }

    /// Whether direct packet access is allowed, and writes. (The kernel reads through any packet
    /// pointer a context gives — sock_ops' skb_data too — and lets sockopt programs write their
    /// optval buffer: may_access_direct_pkt_data.)
    var packetReadable: Bool {
        if type == .xdp || type == .skMsg || type == .flowDissector || type == .sockOps || type == .cgroupSockopt
            || type == .skReuseport { return true }
        if let access = skb { return access.packet != .none }
        return false
    }

    /// Whether the Swift runtime provides the packet its packet pointers point to (so an access
    /// the verifier proves needs no check when run).
    var packetProvided: Bool { type == .xdp || type == .skMsg || type == .flowDissector || skb != nil }

    var packetWritable: Bool {
        if type == .xdp || type == .skMsg || type == .cgroupSockopt { return true }
        if let access = skb { return access.packet == .readWrite }
        return false
    }

    /// LD_ABS/LD_IND are allowed (socket-buffer programs).
    var legacyPacketLoads: Bool { skb != nil }

    /// The range r0 must be in at the program's exit, if the type restricts it.
    var returnRange: ClosedRange<Int64>? {
        switch type {
        case .cgroupSkb: return attachType == .cgroupInetEgress ? 0...3 : 0...1
        case .cgroupSockAddr:
            // getpeername, getsockname and recvmsg hooks may not refuse: they must return 1; bind
            // hooks may also set bit 1 (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE).
            switch attachType {
            case .cgroupInet4Bind, .cgroupInet6Bind:
                return 0...3
            case .cgroupInet4Getpeername, .cgroupInet6Getpeername, .cgroupInet4Getsockname, .cgroupInet6Getsockname,
                 .cgroupUdp4Recvmsg, .cgroupUdp6Recvmsg, .cgroupUnixGetpeername, .cgroupUnixGetsockname, .cgroupUnixRecvmsg:
                return 1...1
            default:
                return 0...1
            }
        case .cgroupSock, .cgroupDevice, .cgroupSysctl, .cgroupSockopt, .skLookup, .netfilter:
            return 0...1
        case .tracing:
            switch attachType {
            case .traceFentry, .traceFexit: return 0...0
            case .traceIter: return 0...1
            default: return nil
            }
        default: return nil
        }
    }
}

