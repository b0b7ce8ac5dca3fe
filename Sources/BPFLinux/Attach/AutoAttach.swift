import BPFObject
import Foundation

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
            self = .manual(reason: "usdt probes are not attached automatically")
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

    /// What this attachment needs that `options` does not give; nil when it can be attached.
    func missing(in options: AutoAttachOptions) -> String? {
        switch self {
        case .xdp, .tcx: options.interface == nil ? needs : nil
        case .cgroup: options.cgroup == nil ? needs : nil
        default: nil
        }
    }

    /// The architecture's syscall wrapper prefix, as `ksyscall/NAME` uses it.
    static var syscallPrefix: String {
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

/// Where `KernelObject.attachAll` attaches the programs whose section names do not say: XDP and TC
/// programs on `interface`, cgroup programs on `cgroup`.
public struct AutoAttachOptions: Sendable {
    /// The interface XDP and TC programs are attached to; nil skips them.
    public var interface: NetworkInterface?
    /// The XDP mode.
    public var xdpMode: XDPMode = .automatic
    /// The cgroup (a cgroup2 directory) cgroup programs are attached to; nil skips them.
    public var cgroup: String?
    /// Attach only these programs (by function name); nil attaches every loaded program.
    public var programs: Set<String>?

    public init(interface: NetworkInterface? = nil, cgroup: String? = nil) {
        self.interface = interface
        self.cgroup = cgroup
    }
}

/// What `KernelObject.attachAll` did with one program.
public struct AutoAttachResult: Sendable {
    /// What happened: attached (with its link), skipped (and why), or failed (with the error).
    public enum Outcome: Sendable {
        case attached(KernelLink)
        case skipped(String)
        case failed(BPFError)
    }

    /// The program's function name.
    public var program: String
    /// Its section name.
    public var section: String
    public var outcome: Outcome

    /// The link, when attached.
    public var link: KernelLink? {
        if case .attached(let link) = outcome { return link }
        return nil
    }
}

extension KernelProgram {
    /// Attaches this program as `plan` says (see `AutoAttach(section:)`); `options` gives the
    /// interface and cgroup the section name cannot. Throws when the plan cannot be carried out.
    ///
    /// ```swift
    /// let link = try program.attach(AutoAttach(section: "tracepoint/syscalls/sys_enter_getppid"))
    /// ```
    public func attach(_ plan: AutoAttach, options: AutoAttachOptions = AutoAttachOptions()) throws(BPFError) -> KernelLink {
        switch plan {
        case .tracepoint(let category, let name):
            return try attachTracepoint(category: category, name: name)
        case .rawTracepoint(let name):
            return try attachRawTracepoint(name)
        case .tracing(let description):
            return try attachTracing(description: description)
        case .lsm(let hook):
            return try attachLSM(hook: hook)
        case .kprobe(let function, let offset, let returnProbe):
            return try attachKprobe(function: function, offset: offset, returnProbe: returnProbe)
        case .uprobe(let binary, let symbol, let offset, let returnProbe):
            var path = binary
            if !binary.contains("/") {
                guard let found = UprobeTarget.libraryPath(binary) else {
                    throw BPFError(command: nil, errno: .ENOENT, message: "uprobe: '\(binary)' is not a path and no library of that name is mapped into this process")
                }
                path = found
            }
            return try attachUprobe(binary: path, symbol: symbol, offset: offset, returnProbe: returnProbe)
        case .xdp:
            guard let interface = options.interface else { throw BPFError.invalidArgument("program \(name): XDP needs a network interface") }
            return try attachXDP(to: interface, mode: options.xdpMode)
        case .tcx(let direction):
            guard let interface = options.interface else { throw BPFError.invalidArgument("program \(name): TC needs a network interface") }
            return try attachTCX(to: interface, direction: direction)
        case .cgroup(let attachType):
            guard let path = options.cgroup else { throw BPFError.invalidArgument("program \(name): \(attachType) needs a cgroup") }
            return try attachCgroup(Cgroup(path: path), attachType: attachType)
        case .manual(let reason):
            throw BPFError.invalidArgument("program \(name): \(reason)")
        }
    }
}

extension KernelObject {
    /// Attaches every loaded program by its section name, in the object's order, as a libbpf
    /// skeleton's attach does. Programs whose sections need an interface or a cgroup that `options`
    /// does not give, or that cannot be attached from a name at all (perf_event, socket, syscall,
    /// ...), are skipped with the reason; a failing attach is reported, not thrown, so that the
    /// others still attach. Release the links (or the results) to detach.
    ///
    /// ```swift
    /// let results = loaded.attachAll()
    /// for result in results { print(result.program, result.link?.target ?? "not attached") }
    /// ```
    public func attachAll(_ options: AutoAttachOptions = AutoAttachOptions()) -> [AutoAttachResult] {
        var results: [AutoAttachResult] = []
        for spec in object.programs {
            guard let program = programs[spec.name], options.programs?.contains(spec.name) ?? true else { continue }
            let plan = AutoAttach(section: spec.section)
            let outcome: AutoAttachResult.Outcome
            if case .manual(let reason) = plan {
                outcome = .skipped(reason)
            } else if let needs = plan.missing(in: options) {
                outcome = .skipped("needs \(needs) to attach to (none given)")
            } else {
                do { outcome = .attached(try program.attach(plan, options: options)) } catch { outcome = .failed(error) }
            }
            results.append(AutoAttachResult(program: spec.name, section: spec.section, outcome: outcome))
        }
        return results
    }
}
