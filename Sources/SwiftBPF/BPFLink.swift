import BPFLinux
import BPFObject

/// How an XDP program runs on an interface: `.automatic`, `.generic`, `.driver`, `.hardware`.
public typealias XDPMode = BPFLinux.XDPMode

/// Where ``BPFCollection/attach(_:to:)`` attaches a program.
///
/// ```swift
/// try bpf.attach("count_execs")                                   // where the section name says
/// try bpf.attach("filter", to: .xdp(interface: "eth0", mode: .generic))
/// try bpf.attach("on_open", to: .kprobe(function: "do_sys_openat2"))
/// ```
public enum AttachPoint: Sendable, Hashable {
    /// Where the program's section name says (`tp/sched/sched_process_exec`, `kprobe/F`, `fentry/F`, ...).
    case section
    /// A tracepoint, `category:name` as in tracefs.
    case tracepoint(category: String, name: String)
    /// A raw tracepoint.
    case rawTracepoint(String)
    /// A kernel function's entry (plus `offset` bytes).
    case kprobe(function: String, offset: UInt64 = 0)
    /// A kernel function's return.
    case kretprobe(function: String)
    /// A user-space function of `binary` (a path, or a library name such as `libc.so.6`), or its return.
    case uprobe(binary: String, symbol: String, returnProbe: Bool = false)
    /// Every site of the USDT probe `provider:name` in `binary` (a path, or a library name), for a
    /// program reading its arguments through the object's `__bpf_usdt_specs` map (libbpf's `usdt.bpf.h`).
    case usdt(binary: String, provider: String, name: String)
    /// An XDP program on a network interface.
    case xdp(interface: String, mode: XDPMode = .automatic)
    /// A TC program (tcx) on a network interface.
    case tc(interface: String, direction: TCDirection)
    /// A cgroup program on a cgroup v2 directory; the attach type comes from the section name.
    case cgroup(path: String)

    /// The interface or cgroup a plan needs, resolved when attaching.
    struct Targets {
        var interface: String?
        var cgroup: String?
        var xdpMode: XDPMode = .automatic

        func resolved() throws -> AutoAttachOptions {
            var options = AutoAttachOptions(cgroup: cgroup)
            if let interface { options.interface = try NetworkInterface(named: interface) }
            options.xdpMode = xdpMode
            return options
        }
    }

    /// The kernel backend's plan for this point, for a program in `section`.
    func plan(section: String) -> (AutoAttach, Targets) {
        switch self {
        case .section: (AutoAttach(section: section), Targets())
        case .tracepoint(let category, let name): (.tracepoint(category: category, name: name), Targets())
        case .rawTracepoint(let name): (.rawTracepoint(name), Targets())
        case .kprobe(let function, let offset): (.kprobe(function: function, offset: offset, returnProbe: false), Targets())
        case .kretprobe(let function): (.kprobe(function: function, offset: 0, returnProbe: true), Targets())
        case .uprobe(let binary, let symbol, let returnProbe):
            (.uprobe(binary: binary, symbol: symbol, offset: 0, returnProbe: returnProbe), Targets())
        case .usdt(let binary, let provider, let name): (.usdt(binary: binary, provider: provider, name: name), Targets())
        case .xdp(let interface, let mode): (.xdp, Targets(interface: interface, xdpMode: mode))
        case .tc(let interface, let direction): (.tcx(direction), Targets(interface: interface))
        case .cgroup(let path):
            if case .cgroup(let type) = AutoAttach(section: section) { (.cgroup(type), Targets(cgroup: path)) }
            else { (.manual(reason: "section '\(section)' names no cgroup attach type (cgroup_skb/ingress, cgroup/connect4, sockops, ...)"), Targets()) }
        }
    }
}

/// A program attached to a hook. It stays attached while the link (or the ``BPFCollection`` that
/// made it) lives, detaching when released or at ``close()``; ``pin(at:)`` keeps it attached after
/// the process exits.
///
/// ```swift
/// let link = try bpf.attach("count_execs")
/// print(link.program, link.target)          // count_execs tracepoint sched:sched_process_exec
/// try link.pin(at: "/sys/fs/bpf/count_execs")
/// ```
public final class BPFLink: Sendable, CustomStringConvertible {
    /// The program's name.
    public let program: String
    /// The kernel's link.
    public let kernelLink: KernelLink

    init(program: String, _ link: KernelLink) {
        self.program = program
        kernelLink = link
    }

    /// What the program is attached to, e.g. `tracepoint sched:sched_process_exec`.
    public var target: String { kernelLink.target }
    public var description: String { "\(program) → \(target)" }

    /// Pins the link in bpffs so it outlives this process (BPF links only).
    public func pin(at path: String) throws(SwiftBPFError) {
        try bridged("link of '\(program)'") { try kernelLink.pin(at: path) }
    }

    /// Detaches now, even if pinned or held elsewhere (XDP, tcx, cgroup and netns links).
    public func detach() throws(SwiftBPFError) {
        try bridged("link of '\(program)'") { try kernelLink.detach() }
    }

    /// Releases the link: detaches unless it is pinned. Later calls do nothing.
    public func close() { kernelLink.close() }
}
