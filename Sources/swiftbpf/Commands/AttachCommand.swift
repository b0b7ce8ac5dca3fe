import ArgumentParser
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf attach KIND TARGET (--prog-pinned PATH | --prog-id ID) [--pin PATH | --wait]`: attaches a
/// program already in the kernel to a hook and pins the link so it stays after swiftbpf exits.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a loaded program (by pin path or id) to a kernel hook and pin the link.",
        discussion: """
            Kinds and targets (raw_tracepoint, tcx_ingress and tcx_egress as the kernel spells them are \
            taken too): tracepoint CATEGORY:NAME, raw-tracepoint NAME, kprobe FUNCTION, \
            kretprobe FUNCTION, uprobe BINARY:SYMBOL, uretprobe BINARY:SYMBOL, usdt BINARY:PROVIDER:NAME \
            (every site of the probe; the program's __bpf_usdt_specs map gets the argument specs), xdp INTERFACE \
            (--mode auto|skb|drv|hw), tcx-ingress INTERFACE, tcx-egress INTERFACE, cgroup CGROUP_DIR \
            (--attach-type as libbpf and bpftool spell it, e.g. cgroup_inet_egress, or a section name \
            such as cgroup/connect4), tracing (fentry, fexit, tp_btf and lsm programs: \
            the hook was fixed at load; TARGET is ignored). The link is pinned at --pin; with --wait the \
            process holds it until SIGINT (Ctrl-C) or SIGTERM, then detaches it and exits 0. --json prints {"link_id", "prog_id", "target", "pinned"}.
            """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case tracepoint, rawTracepoint = "raw-tracepoint", kprobe, kretprobe, uprobe, uretprobe, usdt, xdp
        case tcxIngress = "tcx-ingress", tcxEgress = "tcx-egress", cgroup, tracing

        /// The kernel's spellings too: `raw_tracepoint`, `tcx_ingress`, `tcx_egress`.
        init?(argument: String) {
            self.init(rawValue: argument.lowercased().replacingOccurrences(of: "_", with: "-"))
        }
    }

    @Argument(help: "The kind of hook.") var kind: Kind
    @Argument(help: "The hook (see the discussion).") var target: String = ""
    @Option(help: "The program's pin path in bpffs.") var progPinned: String?
    @Option(help: "The program's kernel id (see `prog list`).") var progID: UInt32?
    @Option(help: "Pin the link here (in bpffs) so it outlives swiftbpf.") var pin: String?
    @Flag(help: "Hold the link until interrupted instead of pinning it.") var wait = false
    @Option(help: "XDP mode: auto, skb (generic), drv (native) or hw.") var mode: String = "auto"
    @Option(help: "uprobe, usdt: only this process.") var pid: Int32?
    @Option(help: "cgroup: the attach type, e.g. cgroup_inet_ingress, cgroup_inet_egress, cgroup_inet_sock_create (BPF_ and case optional), or a section name such as cgroup/connect4.") var attachType: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if (progPinned == nil) == (progID == nil) { throw ValidationError("give exactly one of --prog-pinned PATH and --prog-id ID") }
        if pin == nil && !wait { throw ValidationError("the link would detach when swiftbpf exits: give --pin PATH (bpffs) or --wait") }
        if kind != .tracing && target.isEmpty { throw ValidationError("\(kind.rawValue) needs a target") }
        if kind == .cgroup { _ = try cgroupAttachType() }
    }

    /// `--attach-type` read as libbpf and bpftool spell attach types (or as a section name), checked
    /// before anything touches the kernel.
    func cgroupAttachType() throws -> AttachType {
        guard let name = attachType else {
            throw ValidationError("cgroup needs --attach-type (e.g. cgroup_inet_ingress, cgroup_inet_egress, cgroup_inet_sock_create)")
        }
        guard let type = AttachType.parse(name) else {
            let cgroupTypes = AttachType.allCases.map(\.kernelName).filter { $0.hasPrefix("cgroup_") }
            throw ValidationError("--attach-type \(name): not an attach type (the cgroup ones: \(cgroupTypes.joined(separator: ", ")); or a section name such as cgroup/connect4)")
        }
        return type
    }

    func run() throws {
        if let pin { try PinLocation.prepare((pin as NSString).deletingLastPathComponent, option: "--pin") }
        // With --wait, SIGINT and SIGTERM are taken by sigwait below (blocked from here on, so one that
        // comes while attaching waits for it rather than killing the process with the link half made).
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        if wait { pthread_sigmask(SIG_BLOCK, &stopSignals, nil) }
        let program: KernelProgram
        do {
            if let progPinned { program = try KernelProgram.pinned(at: progPinned) } else { program = try KernelProgram.open(id: progID!) }
        } catch { throw CLIError("opening the program: \(error)") }
        let link: KernelLink
        do { link = try attach(program) } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
        var linkID: UInt32?
        if link.kind == .bpfLink { linkID = try? link.info().id }
        if let pin {
            do { try link.pin(at: pin) } catch { throw CLIError("pinning the link: \(error)") }
        }
        let programID = (try? program.info().id) ?? progID ?? 0
        if json {
            print(JSONOutput.object([
                ("link_id", linkID.map { .number(UInt64($0)) } ?? .null),
                ("prog_id", .number(UInt64(programID))),
                ("target", .string(link.target)),
                ("pinned", pin.map { .string($0) } ?? .null),
            ]))
        } else {
            print("attached program \(programID) (\(program.name)) to \(link.target)" + (linkID.map { ": link \($0)" } ?? "")
                  + (pin.map { ", pinned at \($0)" } ?? ""))
        }
        if wait {
            if !json { print("holding the link; press Ctrl-C to detach") }
            fflush(nil)   // every output stream: stdout may be a pipe
            // The link is owned here until a signal comes: released earlier, its fd would close and the
            // program detach while we claim to hold it.
            var received: Int32 = 0
            withExtendedLifetime(link) {
                while sigwait(&stopSignals, &received) != 0 {}
                if pin == nil { link.close() }
            }
            if !json { print("\(received == SIGINT ? "interrupted" : "terminated"): detached from \(link.target)" + (pin.map { " (the pin at \($0) still holds it)" } ?? "")) }
        }
    }

    func attach(_ program: KernelProgram) throws -> KernelLink {
        switch kind {
        case .tracepoint:
            let parts = target.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw CLIError("tracepoint target '\(target)': expected CATEGORY:NAME, e.g. syscalls:sys_enter_openat") }
            return try program.attachTracepoint(category: parts[0], name: parts[1])
        case .rawTracepoint:
            return try program.attachRawTracepoint(target)
        case .kprobe, .kretprobe:
            return try program.attachKprobe(function: target, returnProbe: kind == .kretprobe)
        case .uprobe, .uretprobe:
            guard let colon = target.lastIndex(of: ":") else { throw CLIError("uprobe target '\(target)': expected BINARY:SYMBOL") }
            return try program.attachUprobe(binary: String(target[..<colon]), symbol: String(target[target.index(after: colon)...]),
                                            returnProbe: kind == .uretprobe, pid: pid)
        case .usdt:
            // BINARY:PROVIDER:NAME; the binary may contain ':' only before the last two.
            let parts = target.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3, parts.suffix(2).allSatisfy({ !$0.isEmpty }), !parts.dropLast(2).joined(separator: ":").isEmpty else {
                throw CLIError("usdt target '\(target)': expected BINARY:PROVIDER:NAME, e.g. /usr/bin/app:app:request")
            }
            let maps = try program.usdtMaps()
            guard let specs = maps.specs else {
                throw CLIError("program \(program.name) uses no '\(USDTAttach.specsMap)' map: it is not a usdt program (libbpf's usdt.bpf.h declares the map)")
            }
            return try program.attachUSDT(binary: parts.dropLast(2).joined(separator: ":"), provider: String(parts[parts.count - 2]),
                                          name: String(parts[parts.count - 1]), pid: pid, specs: specs, ipToSpecID: maps.ipToSpecID)
        case .xdp:
            guard let xdpMode = XDPMode(rawValue: mode) else { throw CLIError("unknown XDP mode '\(mode)' (auto, skb, drv, hw)") }
            return try program.attachXDP(to: NetworkInterface(named: target), mode: xdpMode)
        case .tcxIngress, .tcxEgress:
            return try program.attachTCX(to: NetworkInterface(named: target), direction: kind == .tcxIngress ? .ingress : .egress)
        case .cgroup:
            return try program.attachCgroup(Cgroup(path: target), attachType: try cgroupAttachType())
        case .tracing:
            return try program.attachTracing()
        }
    }
}
