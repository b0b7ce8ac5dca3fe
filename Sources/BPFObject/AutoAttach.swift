/// The direction of a TC program.
public enum TCDirection: String, Sendable, Hashable, CaseIterable {
    case ingress, egress

    /// The tcx attach type of this direction.
    public var tcxAttachType: AttachType { self == .ingress ? .tcxIngress : .tcxEgress }
}

/// How a program is attached from its section name alone, as a libbpf skeleton's attach does:
/// `tracepoint/CAT/NAME`, `raw_tp/NAME`, `fentry/F`, `kprobe/F+OFF`, `uprobe/PATH:SYMBOL`, ...
/// Sections that need something the name does not give (an interface, a cgroup, a socket, a
/// sampling frequency) say so.
///
/// ```swift
/// switch AutoAttach(section: "tp/syscalls/sys_enter_getppid") {
/// case .tracepoint(let category, let name): print(category, name)   // syscalls sys_enter_getppid
/// default: break
/// }
/// ```
public enum AutoAttach: Sendable, Hashable {
    /// `tracepoint/CAT/NAME`, `tp/CAT/NAME`.
    case tracepoint(category: String, name: String)
    /// `raw_tracepoint/NAME`, `raw_tp/NAME` (and their writable `.w` forms).
    case rawTracepoint(String)
    /// `fentry/F`, `fexit/F`, `fmod_ret/F`, `tp_btf/NAME` (and sleepable forms): the hook was fixed at load.
    case tracing(String)
    /// `lsm/HOOK`, `lsm.s/HOOK`.
    case lsm(hook: String)
    /// `kprobe/F[+OFFSET]`, `kretprobe/F`, `ksyscall/NAME`, `kretsyscall/NAME`.
    case kprobe(function: String, offset: UInt64, returnProbe: Bool)
    /// `uprobe/PATH:SYMBOL[+OFFSET]`, `uretprobe/...`, `uprobe.s/...` (PATH may be a library name such as `libc.so.6`).
    case uprobe(binary: String, symbol: String?, offset: UInt64, returnProbe: Bool)
    /// `usdt/PATH:PROVIDER:NAME`: every site of the USDT probe `PROVIDER:NAME` in the binary (PATH
    /// may be a library name such as `libc.so.6`).
    case usdt(binary: String, provider: String, name: String)
    /// `xdp`, `xdp.frags`: needs a network interface.
    case xdp
    /// `tcx/ingress`, `tc/egress`, ...: needs a network interface.
    case tcx(TCDirection)
    /// `cgroup/...`, `cgroup_skb/...`, `sockops`, `lsm_cgroup/...`: needs a cgroup.
    case cgroup(AttachType)
    /// Cannot be attached from the section name; `reason` says why.
    case manual(reason: String)

    /// The attachment the section name `section` describes.
    public init(section: String) {
        guard let kind = SectionKind(section: section) else {
            self = .manual(reason: "unknown section name '\(section)'")
            return
        }
        self.init(kind: kind, section: section)
    }

    /// The attachment for a section already classified as `kind`.
    public init(kind: SectionKind, section: String) {
        let target = kind.attachTarget
        func needsTarget(_ what: String) -> AutoAttach {
            .manual(reason: "section '\(section)' names no \(what) (expected \(kind.convention)/\(what.uppercased()))")
        }
        switch kind.convention {
        case "tracepoint/", "tp/":
            let parts = target.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                self = .manual(reason: "section '\(section)': expected \(kind.convention)CATEGORY/NAME")
                return
            }
            self = .tracepoint(category: String(parts[0]), name: String(parts[1]))
        case "raw_tracepoint/", "raw_tp/", "raw_tracepoint.w/", "raw_tp.w/":
            self = target.isEmpty ? needsTarget("tracepoint") : .rawTracepoint(target)
        case "tp_btf/", "fentry/", "fexit/", "fmod_ret/", "fentry.s/", "fexit.s/", "fmod_ret.s/":
            self = target.isEmpty ? needsTarget("function") : .tracing("\(kind.convention)\(target)")
        case "lsm/", "lsm.s/":
            self = target.isEmpty ? needsTarget("hook") : .lsm(hook: target)
        case "kprobe", "kretprobe":
            guard !target.isEmpty else { self = needsTarget("function"); return }
            guard let (function, offset) = Self.splitOffset(target) else {
                self = .manual(reason: "section '\(section)': bad offset (expected \(kind.convention)/FUNCTION[+OFFSET])")
                return
            }
            self = .kprobe(function: function, offset: offset, returnProbe: kind.isReturnProbe)
        case "ksyscall", "kretsyscall":
            guard !target.isEmpty else { self = needsTarget("syscall"); return }
            self = .kprobe(function: Self.syscallPrefix + target, offset: 0, returnProbe: kind.isReturnProbe)
        case "uprobe", "uretprobe", "uprobe.s", "uretprobe.s":
            // libbpf's BINARY:FUNCTION[+OFFSET] or BINARY:OFFSET; the binary may contain ':' only before the last one.
            guard !target.isEmpty else {
                self = .manual(reason: "section '\(section)' names no binary and function (expected \(kind.convention)/PATH:FUNCTION); attach it with attachUprobe")
                return
            }
            guard let colon = target.lastIndex(of: ":"), colon != target.startIndex else {
                self = .manual(reason: "section '\(section)': expected \(kind.convention)/PATH:FUNCTION[+OFFSET]")
                return
            }
            let binary = String(target[..<colon])
            let rest = String(target[target.index(after: colon)...])
            let returnProbe = kind.convention.hasPrefix("uret")
            if let offset = Self.number(rest) {
                self = .uprobe(binary: binary, symbol: nil, offset: offset, returnProbe: returnProbe)
            } else if let (symbol, offset) = Self.splitOffset(rest), !symbol.isEmpty {
                self = .uprobe(binary: binary, symbol: symbol, offset: offset, returnProbe: returnProbe)
            } else {
                self = .manual(reason: "section '\(section)': expected \(kind.convention)/PATH:FUNCTION[+OFFSET]")
            }
        case "xdp", "xdp.frags":
            self = .xdp
        case "tcx/ingress", "tc/ingress":
            self = .tcx(.ingress)
        case "tcx/egress", "tc/egress":
            self = .tcx(.egress)
        case "perf_event":
            self = .manual(reason: "perf_event programs need an event and a sampling frequency; attach them with attachPerfEvent")
        case "socket":
            self = .manual(reason: "socket filters need a socket; attach them with attachSocketFilter")
        case "usdt":
            // libbpf's usdt/PATH:PROVIDER:NAME; the path cannot contain ':'.
            guard !target.isEmpty else {
                self = .manual(reason: "section '\(section)' names no binary and probe (expected usdt/PATH:PROVIDER:NAME); attach it with attachUSDT")
                return
            }
            let parts = target.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
                self = .manual(reason: "section '\(section)': expected usdt/PATH:PROVIDER:NAME")
                return
            }
            self = .usdt(binary: String(parts[0]), provider: String(parts[1]), name: String(parts[2]))
        case "syscall":
            self = .manual(reason: "syscall programs are run (BPF_PROG_TEST_RUN), not attached")
        default:
            if let attachType = kind.attachType,
               kind.convention.hasPrefix("cgroup") || kind.convention == "sockops" || kind.convention == "lsm_cgroup/" {
                self = .cgroup(attachType)
            } else if kind.convention.hasPrefix("cgroup") {
                self = .manual(reason: "section '\(section)' does not say which cgroup hook (e.g. cgroup_skb/ingress)")
            } else {
                self = .manual(reason: "\(kind.type) programs (section '\(section)') are not attached automatically")
            }
        }
    }

    /// What the interface or cgroup this attachment needs is; nil when the section name is enough.
    public var needs: String? {
        switch self {
        case .xdp, .tcx: "a network interface"
        case .cgroup: "a cgroup"
        default: nil
        }
    }

    /// The architecture's syscall wrapper prefix, as `ksyscall/NAME` uses it.
    public static var syscallPrefix: String {
        #if arch(arm64)
        "__arm64_sys_"
        #elseif arch(s390x)
        "__s390x_sys_"
        #else
        "__x64_sys_"
        #endif
    }

    /// `NAME+OFFSET` (decimal or 0x hex) into its parts; `NAME` alone has offset 0.
    static func splitOffset(_ text: String) -> (String, UInt64)? {
        guard let plus = text.firstIndex(of: "+") else { return (text, 0) }
        guard let offset = number(String(text[text.index(after: plus)...])) else { return nil }
        return (String(text[..<plus]), offset)
    }

    static func number(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }
}

