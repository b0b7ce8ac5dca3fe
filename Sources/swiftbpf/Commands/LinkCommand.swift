import ArgumentParser
import BPFLinux
import BPFObject

/// `swiftbpf link list [--json]`: every BPF link in the running kernel.
struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Inspect the BPF links in the running kernel.",
        subcommands: [LinkListCommand.self, LinkShowCommand.self, LinkPinCommand.self, LinkDetachCommand.self]
    )
}

struct LinkListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every link in the kernel.")
    @Flag(help: "Print a JSON array of link objects.") var json = false

    static func json(_ info: LinkInfo) -> JSONOutput {
        func optional<T: BinaryInteger>(_ value: T?) -> JSONOutput { value.map { .number(UInt64($0)) } ?? .null }
        return .object([
            ("id", .number(UInt64(info.id))),
            ("type", .string(info.type?.name ?? "type \(info.rawType)")),
            ("prog_id", .number(UInt64(info.programID))),
            ("attach_type", info.attachType.map { .string($0.kernelName) } ?? .null),
            ("tracepoint", info.tracepoint.map { .string($0) } ?? .null),
            ("perf_event_type", info.perfEventType.map { .string($0) } ?? .null),
            ("ifindex", optional(info.ifindex)),
            ("cgroup_id", optional(info.cgroupID)),
            ("target_obj_id", optional(info.targetObjectID)),
            ("target_btf_id", optional(info.targetBTFID)),
            ("probe_offset", optional(info.probeOffset)),
        ])
    }

    static func text(_ info: LinkInfo) -> String {
        var line = "\(info.id): \(info.type?.name ?? "type \(info.rawType)")  prog \(info.programID)"
        if let attachType = info.attachType { line += "  attach_type \(attachType.kernelName)" }
        if let kind = info.perfEventType { line += "  \(kind)" }
        if let name = info.tracepoint { line += "  \(name)" }
        if let offset = info.probeOffset, offset != 0 { line += "+0x\(String(offset, radix: 16))" }
        if let ifindex = info.ifindex {
            line += "  ifindex \(ifindex)"
            if let interface = try? NetworkInterface(index: ifindex) { line += " (\(interface.name))" }
        }
        if let cgroup = info.cgroupID { line += "  cgroup_id \(cgroup)" }
        if let btf = info.targetBTFID { line += "  target_obj_id \(info.targetObjectID ?? 0) target_btf_id \(btf)" }
        return line
    }

    func run() throws {
        let ids: [UInt32]
        do { ids = try KernelObjects.linkIDs() } catch { throw CLIError("listing links: \(error)") }
        let infos = forEachKernelObject(ids) { id -> LinkInfo? in try? KernelLink.open(id: id).info() }
        if json { print(JSONOutput.array(infos.map(Self.json))) } else { infos.forEach { print(Self.text($0)) } }
    }
}
