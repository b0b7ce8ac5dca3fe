import BPFObject
import Foundation

extension AutoAttach {
    /// What this attachment needs that `options` does not give; nil when it can be attached.
    func missing(in options: AutoAttachOptions) -> String? {
        switch self {
        case .xdp, .tcx: options.interface == nil ? needs : nil
        case .cgroup: options.cgroup == nil ? needs : nil
        default: nil
        }
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
        case .usdt(let binary, let provider, let probe):
            // The spec maps this program uses (KernelObject.attachUSDT takes the object's).
            let maps = try usdtMaps()
            guard let specs = maps.specs else {
                throw BPFError.invalidArgument("program \(name): a usdt program must use the '\(USDTAttach.specsMap)' map (usdt.bpf.h's), and this one does not")
            }
            return try attachUSDT(binary: binary, provider: provider, name: probe, specs: specs, ipToSpecID: maps.ipToSpecID)
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
                do {
                    if case .usdt(let binary, let provider, let probe) = plan {
                        outcome = .attached(try attachUSDT(program: spec.name, binary: binary, provider: provider, name: probe))
                    } else {
                        outcome = .attached(try program.attach(plan, options: options))
                    }
                } catch { outcome = .failed(error) }
            }
            results.append(AutoAttachResult(program: spec.name, section: spec.section, outcome: outcome))
        }
        return results
    }
}
