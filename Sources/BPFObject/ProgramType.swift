/// A program type, with the kernel's `BPF_PROG_TYPE_*` number.
public enum ProgramType: UInt32, Sendable, Hashable, CaseIterable {
    case unspecified = 0, socketFilter, kprobe, schedCls, schedAct, tracepoint, xdp, perfEvent
    case cgroupSkb, cgroupSock, lwtIn, lwtOut, lwtXmit, sockOps, skSkb, cgroupDevice, skMsg
    case rawTracepoint, cgroupSockAddr, lwtSeg6local, lircMode2, skReuseport, flowDissector
    case cgroupSysctl, rawTracepointWritable, cgroupSockopt, tracing, structOps, ext, lsm
    case skLookup, syscall, netfilter
}

/// An expected attach type, with the kernel's `BPF_*` attach-type number.
public enum AttachType: UInt32, Sendable, Hashable, CaseIterable {
    case cgroupInetIngress = 0, cgroupInetEgress, cgroupInetSockCreate, cgroupSockOps
    case skSkbStreamParser, skSkbStreamVerdict, cgroupDevice, skMsgVerdict
    case cgroupInet4Bind, cgroupInet6Bind, cgroupInet4Connect, cgroupInet6Connect
    case cgroupInet4PostBind, cgroupInet6PostBind, cgroupUdp4Sendmsg, cgroupUdp6Sendmsg
    case lircMode2, flowDissector, cgroupSysctl, cgroupUdp4Recvmsg, cgroupUdp6Recvmsg
    case cgroupGetsockopt, cgroupSetsockopt, traceRawTp, traceFentry, traceFexit, modifyReturn
    case lsmMac, traceIter, cgroupInet4Getpeername, cgroupInet6Getpeername
    case cgroupInet4Getsockname, cgroupInet6Getsockname, xdpDevmap, cgroupInetSockRelease
    case xdpCpumap, skLookup, xdp, skSkbVerdict, skReuseportSelect, skReuseportSelectOrMigrate
    case perfEvent, traceKprobeMulti, lsmCgroup, structOps, netfilter, tcxIngress, tcxEgress
    case traceUprobeMulti, cgroupUnixConnect, cgroupUnixSendmsg, cgroupUnixRecvmsg, cgroupUnixGetpeername, cgroupUnixGetsockname
    case netkitPrimary, netkitPeer, traceKprobeSession, traceUprobeSession
}

extension AttachType: CustomStringConvertible {
    /// The name as libbpf and bpftool spell it (`cgroup_inet_ingress`, `trace_fentry`, `tcx_ingress`).
    public var kernelName: String {
        switch self {
        case .cgroupInetIngress: "cgroup_inet_ingress"
        case .cgroupInetEgress: "cgroup_inet_egress"
        case .cgroupInetSockCreate: "cgroup_inet_sock_create"
        case .cgroupSockOps: "cgroup_sock_ops"
        case .skSkbStreamParser: "sk_skb_stream_parser"
        case .skSkbStreamVerdict: "sk_skb_stream_verdict"
        case .cgroupDevice: "cgroup_device"
        case .skMsgVerdict: "sk_msg_verdict"
        case .cgroupInet4Bind: "cgroup_inet4_bind"
        case .cgroupInet6Bind: "cgroup_inet6_bind"
        case .cgroupInet4Connect: "cgroup_inet4_connect"
        case .cgroupInet6Connect: "cgroup_inet6_connect"
        case .cgroupInet4PostBind: "cgroup_inet4_post_bind"
        case .cgroupInet6PostBind: "cgroup_inet6_post_bind"
        case .cgroupUdp4Sendmsg: "cgroup_udp4_sendmsg"
        case .cgroupUdp6Sendmsg: "cgroup_udp6_sendmsg"
        case .lircMode2: "lirc_mode2"
        case .flowDissector: "flow_dissector"
        case .cgroupSysctl: "cgroup_sysctl"
        case .cgroupUdp4Recvmsg: "cgroup_udp4_recvmsg"
        case .cgroupUdp6Recvmsg: "cgroup_udp6_recvmsg"
        case .cgroupGetsockopt: "cgroup_getsockopt"
        case .cgroupSetsockopt: "cgroup_setsockopt"
        case .traceRawTp: "trace_raw_tp"
        case .traceFentry: "trace_fentry"
        case .traceFexit: "trace_fexit"
        case .modifyReturn: "modify_return"
        case .lsmMac: "lsm_mac"
        case .traceIter: "trace_iter"
        case .cgroupInet4Getpeername: "cgroup_inet4_getpeername"
        case .cgroupInet6Getpeername: "cgroup_inet6_getpeername"
        case .cgroupInet4Getsockname: "cgroup_inet4_getsockname"
        case .cgroupInet6Getsockname: "cgroup_inet6_getsockname"
        case .xdpDevmap: "xdp_devmap"
        case .cgroupInetSockRelease: "cgroup_inet_sock_release"
        case .xdpCpumap: "xdp_cpumap"
        case .skLookup: "sk_lookup"
        case .xdp: "xdp"
        case .skSkbVerdict: "sk_skb_verdict"
        case .skReuseportSelect: "sk_reuseport_select"
        case .skReuseportSelectOrMigrate: "sk_reuseport_select_or_migrate"
        case .perfEvent: "perf_event"
        case .traceKprobeMulti: "trace_kprobe_multi"
        case .lsmCgroup: "lsm_cgroup"
        case .structOps: "struct_ops"
        case .netfilter: "netfilter"
        case .tcxIngress: "tcx_ingress"
        case .tcxEgress: "tcx_egress"
        case .traceUprobeMulti: "trace_uprobe_multi"
        case .cgroupUnixConnect: "cgroup_unix_connect"
        case .cgroupUnixSendmsg: "cgroup_unix_sendmsg"
        case .cgroupUnixRecvmsg: "cgroup_unix_recvmsg"
        case .cgroupUnixGetpeername: "cgroup_unix_getpeername"
        case .cgroupUnixGetsockname: "cgroup_unix_getsockname"
        case .netkitPrimary: "netkit_primary"
        case .netkitPeer: "netkit_peer"
        case .traceKprobeSession: "trace_kprobe_session"
        case .traceUprobeSession: "trace_uprobe_session"
        }
    }

    public var description: String { kernelName }
}


/// What a section name (libbpf's `SEC()` conventions) says about a program.
public struct SectionKind: Hashable, Sendable {
    public var type: ProgramType
    public var attachType: AttachType?
    /// The part after the prefix: the tracepoint, function or hook to attach to (may be empty).
    public var attachTarget: String
    /// For kprobe-family sections: whether it is a return probe (kretprobe, uretprobe).
    public var isReturnProbe: Bool = false
    /// The matched convention, e.g. `xdp`, `tracepoint/`, `uprobe`.
    public var convention: String
    /// Matched only as an older loader's loose prefix (e.g. `socket1`, `xdp_prog`).
    public var isLegacyPrefix = false

    /// libbpf's section conventions: prefix, type, attach type. A prefix ending in `/` matches
    /// names starting with it; others match exactly or followed by `/`.
    static let table: [(String, ProgramType, AttachType?)] = [
        ("socket", .socketFilter, nil),
        ("sk_reuseport/migrate", .skReuseport, .skReuseportSelectOrMigrate),
        ("sk_reuseport", .skReuseport, .skReuseportSelect),
        ("kprobe.multi/", .kprobe, .traceKprobeMulti), ("kretprobe.multi/", .kprobe, .traceKprobeMulti),
        ("kprobe.session/", .kprobe, .traceKprobeSession),
        ("uprobe.session.s/", .kprobe, .traceUprobeSession), ("uprobe.session/", .kprobe, .traceUprobeSession),
        ("uprobe.multi.s", .kprobe, .traceUprobeMulti), ("uretprobe.multi.s", .kprobe, .traceUprobeMulti),
        ("uprobe.multi", .kprobe, .traceUprobeMulti), ("uretprobe.multi", .kprobe, .traceUprobeMulti),
        ("kprobe", .kprobe, nil), ("kretprobe", .kprobe, nil),
        ("uprobe.s", .kprobe, nil), ("uretprobe.s", .kprobe, nil),
        ("uprobe", .kprobe, nil), ("uretprobe", .kprobe, nil),
        ("ksyscall", .kprobe, nil), ("kretsyscall", .kprobe, nil),
        ("usdt", .kprobe, nil),
        ("tcx/ingress", .schedCls, .tcxIngress), ("tcx/egress", .schedCls, .tcxEgress),
        ("tc/ingress", .schedCls, .tcxIngress), ("tc/egress", .schedCls, .tcxEgress),
        ("tc", .schedCls, nil), ("classifier", .schedCls, nil), ("action", .schedAct, nil),
        ("tracepoint/", .tracepoint, nil), ("tp/", .tracepoint, nil),
        ("raw_tracepoint.w/", .rawTracepointWritable, nil), ("raw_tp.w/", .rawTracepointWritable, nil),
        ("raw_tracepoint/", .rawTracepoint, nil), ("raw_tp/", .rawTracepoint, nil),
        ("tp_btf/", .tracing, .traceRawTp),
        ("fentry.s/", .tracing, .traceFentry), ("fmod_ret.s/", .tracing, .modifyReturn), ("fexit.s/", .tracing, .traceFexit),
        ("fentry/", .tracing, .traceFentry), ("fmod_ret/", .tracing, .modifyReturn), ("fexit/", .tracing, .traceFexit),
        ("freplace/", .ext, nil),
        ("lsm.s/", .lsm, .lsmMac), ("lsm_cgroup/", .lsm, .lsmCgroup), ("lsm/", .lsm, .lsmMac),
        ("iter.s/", .tracing, .traceIter), ("iter/", .tracing, .traceIter),
        ("syscall", .syscall, nil),
        ("xdp.frags/devmap", .xdp, .xdpDevmap), ("xdp/devmap", .xdp, .xdpDevmap),
        ("xdp.frags/cpumap", .xdp, .xdpCpumap), ("xdp/cpumap", .xdp, .xdpCpumap),
        ("xdp.frags", .xdp, .xdp), ("xdp", .xdp, .xdp),
        ("perf_event", .perfEvent, nil),
        ("lwt_in", .lwtIn, nil), ("lwt_out", .lwtOut, nil), ("lwt_xmit", .lwtXmit, nil),
        ("lwt_seg6local", .lwtSeg6local, nil),
        ("sockops", .sockOps, .cgroupSockOps),
        ("sk_skb/stream_parser", .skSkb, .skSkbStreamParser), ("sk_skb/stream_verdict", .skSkb, .skSkbStreamVerdict),
        ("sk_skb/verdict", .skSkb, .skSkbVerdict), ("sk_skb", .skSkb, nil),
        ("sk_msg", .skMsg, .skMsgVerdict),
        ("lirc_mode2", .lircMode2, .lircMode2),
        ("flow_dissector", .flowDissector, .flowDissector),
        ("cgroup_skb/ingress", .cgroupSkb, .cgroupInetIngress), ("cgroup_skb/egress", .cgroupSkb, .cgroupInetEgress),
        ("cgroup/skb", .cgroupSkb, nil),
        ("cgroup/sock_create", .cgroupSock, .cgroupInetSockCreate), ("cgroup/sock_release", .cgroupSock, .cgroupInetSockRelease),
        ("cgroup/sock", .cgroupSock, .cgroupInetSockCreate),
        ("cgroup/post_bind4", .cgroupSock, .cgroupInet4PostBind), ("cgroup/post_bind6", .cgroupSock, .cgroupInet6PostBind),
        ("cgroup/bind4", .cgroupSockAddr, .cgroupInet4Bind), ("cgroup/bind6", .cgroupSockAddr, .cgroupInet6Bind),
        ("cgroup/connect4", .cgroupSockAddr, .cgroupInet4Connect), ("cgroup/connect6", .cgroupSockAddr, .cgroupInet6Connect),
        ("cgroup/connect_unix", .cgroupSockAddr, .cgroupUnixConnect), ("cgroup/sendmsg_unix", .cgroupSockAddr, .cgroupUnixSendmsg),
        ("cgroup/recvmsg_unix", .cgroupSockAddr, .cgroupUnixRecvmsg), ("cgroup/getpeername_unix", .cgroupSockAddr, .cgroupUnixGetpeername),
        ("cgroup/getsockname_unix", .cgroupSockAddr, .cgroupUnixGetsockname),
        ("cgroup/sendmsg4", .cgroupSockAddr, .cgroupUdp4Sendmsg), ("cgroup/sendmsg6", .cgroupSockAddr, .cgroupUdp6Sendmsg),
        ("cgroup/recvmsg4", .cgroupSockAddr, .cgroupUdp4Recvmsg), ("cgroup/recvmsg6", .cgroupSockAddr, .cgroupUdp6Recvmsg),
        ("cgroup/getpeername4", .cgroupSockAddr, .cgroupInet4Getpeername), ("cgroup/getpeername6", .cgroupSockAddr, .cgroupInet6Getpeername),
        ("cgroup/getsockname4", .cgroupSockAddr, .cgroupInet4Getsockname), ("cgroup/getsockname6", .cgroupSockAddr, .cgroupInet6Getsockname),
        ("cgroup/sysctl", .cgroupSysctl, .cgroupSysctl),
        ("cgroup/getsockopt", .cgroupSockopt, .cgroupGetsockopt), ("cgroup/setsockopt", .cgroupSockopt, .cgroupSetsockopt),
        ("cgroup/dev", .cgroupDevice, .cgroupDevice),
        ("struct_ops.s", .structOps, nil), ("struct_ops", .structOps, nil),
        ("sk_lookup", .skLookup, .skLookup),
        ("netfilter", .netfilter, .netfilter),
    ]

    /// Classifies a section name; nil when no convention matches.
    public init?(section rawSection: String) {
        // libbpf: a leading '?' only turns off autoloading ("?tc").
        let section = rawSection.hasPrefix("?") ? String(rawSection.dropFirst()) : rawSection
        for (prefix, type, attach) in Self.table {
            var target: Substring
            if prefix.hasSuffix("/") {
                // libbpf's "name+" conventions: the target is optional ("tracepoint", "raw_tp", "kprobe").
                if section == prefix.dropLast() {
                    target = ""
                } else {
                    guard section.hasPrefix(prefix) else { continue }
                    target = section.dropFirst(prefix.count)
                }
            } else if section == prefix {
                target = ""
            } else if section.hasPrefix(prefix + "/") {
                target = section.dropFirst(prefix.count + 1)
            } else {
                continue
            }
            self.type = type
            self.attachType = attach
            self.attachTarget = String(target)
            self.convention = prefix
            self.isReturnProbe = prefix.hasPrefix("kret") || prefix.hasPrefix("uret")
            return
        }
        // Loaders before libbpf 1.0 (samples/bpf's bpf_load, libbpf's "sloppy" prefixes,
        // iproute2) took these names as prefixes: "socket1", "xdp_prog", "classifier_in".
        for (prefix, type) in Self.legacyPrefixes where section.hasPrefix(prefix) && section.count > prefix.count {
            self.type = type
            self.attachType = type == .xdp ? .xdp : nil
            self.attachTarget = ""
            self.convention = prefix
            self.isLegacyPrefix = true
            return
        }
        return nil
    }

    /// Prefixes older loaders matched loosely, and the type each gives.
    static let legacyPrefixes: [(String, ProgramType)] = [
        ("socket", .socketFilter), ("xdp", .xdp), ("classifier", .schedCls), ("action", .schedAct),
        ("perf_event", .perfEvent), ("sockops", .sockOps), ("sk_skb", .skSkb), ("sk_msg", .skMsg),
        ("cgroup_skb", .cgroupSkb), ("lwt_in", .lwtIn), ("lwt_out", .lwtOut), ("lwt_xmit", .lwtXmit),
        ("flow_dissector", .flowDissector),
    ]
}

extension ProgramType {
    /// A type by the kernel's name (`sched_cls`, `socket_filter`, `xdp`, ...; `BPF_PROG_TYPE_` and
    /// case optional, as `bpftool prog load ... type` takes it) or by a libbpf section name
    /// (`tc`, `socket`, `kprobe/do_sys_open`, `cgroup/connect4`), with the attach type the section
    /// name implies. Nil when neither matches.
    ///
    /// ```swift
    /// ProgramType.parse("sched_cls")?.type        // .schedCls
    /// ProgramType.parse("cgroup/connect4")?.attach // .cgroupInet4Connect
    /// ```
    public static func parse(_ name: String) -> (type: ProgramType, attach: AttachType?)? {
        var lower = name.lowercased()
        if lower.hasPrefix("bpf_prog_type_") { lower.removeFirst("bpf_prog_type_".count) }
        if let type = ProgramType.allCases.first(where: { $0.kernelName == lower }) {
            return (type, SectionKind.table.first { $0.1 == type && $0.2 != nil }.flatMap { $0.2 } ?? (type == .xdp ? .xdp : nil))
        }
        // bpftool's shorter spellings.
        let aliases: [String: ProgramType] = ["socket": .socketFilter, "tc": .schedCls, "classifier": .schedCls, "action": .schedAct,
                                              "sockops": .sockOps, "raw_tp": .rawTracepoint, "tp": .tracepoint]
        if let type = aliases[lower] { return (type, nil) }
        if let kind = SectionKind(section: name), !kind.isLegacyPrefix { return (kind.type, kind.attachType) }
        return nil
    }

    /// The names ``parse(_:)`` takes, for messages.
    public static var kernelNames: [String] { allCases.filter { $0 != .unspecified }.map(\.kernelName) }
}

extension ProgramSpec {
    /// The program with its type given by the caller (an older loader's object whose section names
    /// none, or `bpftool prog load ... type`): `type` as ``ProgramType/parse(_:)`` reads it.
    ///
    /// ```swift
    /// let spec = try object.programs[0].withType("sched_cls")
    /// ```
    public func withType(_ name: String) throws(ObjectError) -> ProgramSpec {
        guard let parsed = ProgramType.parse(name) else {
            throw ObjectError("program '\(self.name)' (section '\(section)')", "unknown program type '\(name)': expected one of \(ProgramType.kernelNames.joined(separator: ", ")), or a section name such as tc, socket, kprobe/FUNCTION")
        }
        var spec = self
        spec.type = parsed.type
        spec.attachType = parsed.attach
        return spec
    }
}
