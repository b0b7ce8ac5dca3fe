import ArgumentParser
import BPFLinux
import BPFObject

/// `swiftbpf net list|detach`: programs on network interfaces, whoever attached them.
struct NetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "List and detach the XDP, tc and tcx programs of network interfaces (as bpftool net).",
        discussion: "net attach IF xdp attaches as ip does (it stays until detached, no link or pin needed); swiftbpf attach xdp|tcx-ingress|tcx-egress attaches through a link. Programs attached by ip, tc or bpftool are listed and detached here too.",
        subcommands: [NetListCommand.self, NetAttachCommand.self, NetDetachCommand.self]
    )
}

struct NetListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the programs attached to network interfaces.")
    @Option(help: "Only this interface.") var interface: String?
    @Flag(help: "Print a JSON array of {ifname, ifindex, hook, prog_id, name, link_id}.") var json = false

    func run() throws {
        var entries: [NetworkAttachments.Entry]
        do { entries = try NetworkAttachments.list() } catch { throw CLIError("listing network attachments: \(error)") }
        if let interface { entries = entries.filter { $0.interface.name == interface } }
        if json {
            print(JSONOutput.array(entries.map { e in
                let link = (try? NetworkAttachments.holdingLink(e)).flatMap { $0 }
                return .object([("ifname", .string(e.interface.name)), ("ifindex", .number(UInt64(e.interface.index))),
                                ("hook", .string(e.hook)), ("prog_id", .number(UInt64(e.programID))), ("name", .string(e.name)),
                                ("link_id", link.map { .number(UInt64($0)) } ?? .null)])
            }))
        } else {
            for e in entries {
                let link = (try? NetworkAttachments.holdingLink(e)).flatMap { $0 }
                print(e.description + (link.map { "  (link \($0))" } ?? ""))
            }
        }
    }
}

struct NetDetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach",
        abstract: "Detach a program from an interface's hook (xdp, tc/ingress, tc/egress, tcx/ingress, tcx/egress).",
        discussion: "A program a BPF link holds is detached through its link (even when pinned); one attached over rtnetlink (ip, tc) is removed as ip and tc remove it. With several programs on the hook, --id chooses one."
    )
    @Argument(help: "The interface.") var interface: String
    @Argument(help: "The hook: xdp, tc/ingress, tc/egress, tcx/ingress or tcx/egress.") var hook: String
    @Option(help: "The program's id, when the hook has several.") var id: UInt32?
    @Flag(help: "Print JSON: {\"ifname\", \"hook\", \"prog_id\"} detached.") var json = false

    func run() throws {
        guard ["xdp", "tc/ingress", "tc/egress", "tcx/ingress", "tcx/egress"].contains(hook) else {
            throw CLIError("'\(hook)': the hooks are xdp, tc/ingress, tc/egress, tcx/ingress and tcx/egress")
        }
        var entries: [NetworkAttachments.Entry]
        do { entries = try NetworkAttachments.list() } catch { throw CLIError("listing network attachments: \(error)") }
        entries = entries.filter { $0.interface.name == interface && ($0.hook == hook || $0.hook.hasPrefix(hook + "/")) }
        if let id { entries = entries.filter { $0.programID == id } }
        guard !entries.isEmpty else { throw CLIError("\(interface): no program on \(hook)\(id.map { " with id \($0)" } ?? "")") }
        guard entries.count == 1 else {
            throw CLIError("\(interface) \(hook) has \(entries.count) programs (ids \(entries.map { String($0.programID) }.joined(separator: ", "))): choose one with --id")
        }
        do { try NetworkAttachments.detach(entries[0]) } catch { throw CLIError("\(error)") }
        if json {
            print(JSONOutput.object([("ifname", .string(interface)), ("hook", .string(entries[0].hook)),
                                     ("prog_id", .number(UInt64(entries[0].programID)))]))
        }
    }
}

struct NetAttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach",
        abstract: "Attach a loaded program as an interface's XDP program over rtnetlink (as bpftool net attach xdp).",
        discussion: "The attachment stays after swiftbpf exits, until net detach removes it. --replace replaces a program already there."
    )
    @Argument(help: "The interface.") var interface: String
    @Argument(help: "The hook: xdp.") var hook: String
    @Argument(help: "The program: id N, pinned PATH, name NAME or tag TAG.") var program: [String]
    @Option(help: "auto, generic, driver or offload.") var mode: String = "auto"
    @Flag(help: "Replace a program already attached.") var replace = false
    @Flag(help: "Print JSON: {\"ifname\", \"hook\", \"prog_id\"}.") var json = false

    func run() throws {
        guard hook == "xdp" else { throw CLIError("'\(hook)': net attach attaches xdp; attach tcx programs with swiftbpf attach tcx-ingress|tcx-egress") }
        guard let xdpMode = NetworkAttachments.XDPMode(rawValue: mode) else { throw CLIError("--mode \(mode): expected auto, generic, driver or offload") }
        let (prog, id) = try ProgCommand.open(program)
        let target: NetworkInterface
        do { target = try NetworkInterface(named: interface) } catch { throw CLIError("\(error)") }
        do { try NetworkAttachments.attachXDP(prog, to: target, mode: xdpMode, replace: replace) } catch { throw CLIError("\(error)") }
        if json { print(JSONOutput.object([("ifname", .string(interface)), ("hook", .string("xdp")), ("prog_id", .number(UInt64(id)))])) }
    }
}
