import ArgumentParser
import Foundation

/// The `swiftbpf` command: assemble, disassemble, run and test eBPF programs.
@main
struct SwiftBPFCommand: ParsableCommand {
    /// The tool's version, printed by `swiftbpf --version`.
    static let version = "0.12.0"

    static let configuration = CommandConfiguration(
        commandName: "swiftbpf",
        abstract: "Assemble, disassemble, verify and run eBPF programs.",
        discussion: """
            Shell completion: swiftbpf --generate-completion-script bash|zsh|fish. Every command takes \
            --json (field names documented in Docs/cli.md, added to but never renamed); with --json, a \
            failure is also printed as {"error": MESSAGE} on standard output (the last line of a \
            streaming command's output), with the same exit status. Program, map and attach types are \
            spelled as the kernel and bpftool spell them (sched_cls, percpu_hash, ringbuf, prog_array, \
            cgroup_inet_ingress), in output and in the options that take them.
            """,
        version: "swiftbpf \(SwiftBPFCommand.version) (eBPF helpers of Linux 6.18)",
        subcommands: [
            AssembleCommand.self, DisassembleCommand.self, RunCommand.self, ConformancePluginCommand.self, BTFCommand.self, MapCommand.self, LoadCommand.self,
            ProgCommand.self, LinkCommand.self, AttachCommand.self, TraceCommand.self, VerifyCommand.self, HelpersCommand.self, FeatureCommand.self, GenCommand.self, NetCommand.self, CgroupCommand.self, PerfCommand.self,
        ]
    )

    /// Runs the command; under `--json` an error becomes `{"error": ...}` on standard output, and an
    /// unknown command is answered with the list of commands.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // Help, --version and exit codes a command chose (after printing its own output) pass through.
            if code == .success || error is ExitCode { exit(withError: error) }
            let names = configuration.subcommands.map { $0._commandName }
            if let first = arguments.first, !first.hasPrefix("-"), !names.contains(first) {
                let text = "unknown command '\(first)': the commands are \(names.joined(separator: ", ")) (swiftbpf --help)"
                report(text, json: arguments.contains("--json"), code: code)
            }
            if arguments.contains("--json") { report(message(for: error), json: true, code: code) }
            exit(withError: error)
        }
    }

    /// The message on standard error, and under `--json` also as `{"error": ...}` on standard output.
    static func report(_ message: String, json: Bool, code: ExitCode) -> Never {
        if json { print(JSONOutput.object([("error", .string(message))])) }
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Foundation.exit(code.rawValue)
    }
}
