import ArgumentParser
import BPFLinux

/// `swiftbpf perf list [--json]`: programs attached through perf events and raw tracepoints.
struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "perf", abstract: "Show programs attached through perf events (as bpftool perf).",
                                                    subcommands: [PerfListCommand.self])
}

struct PerfListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the tracepoint, kprobe, uprobe and raw tracepoint attachments of every process (needs root).",
        discussion: "Asks the kernel about each process's file descriptors (BPF_TASK_FD_QUERY). --json prints [{pid, fd, prog_id, fd_type, name, offset, addr}]."
    )
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let entries = PerfAttachments.list()
        if json {
            print(JSONOutput.array(entries.map { e in
                .object([("pid", .number(UInt64(e.pid))), ("fd", .number(UInt64(e.fd))), ("prog_id", .number(UInt64(e.programID))),
                         ("fd_type", .string(e.kind)), ("name", .string(e.name)), ("offset", .number(e.offset)), ("addr", .number(e.address))])
            }))
        } else {
            for e in entries { print(e) }
        }
    }
}
