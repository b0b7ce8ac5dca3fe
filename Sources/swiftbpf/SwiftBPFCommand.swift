import ArgumentParser

/// The `swiftbpf` command: assemble, disassemble, run and test eBPF programs.
@main
struct SwiftBPFCommand: ParsableCommand {
    /// The tool's version, printed by `swiftbpf --version`.
    static let version = "0.12.0"

    static let configuration = CommandConfiguration(
        commandName: "swiftbpf",
        abstract: "Assemble, disassemble, verify and run eBPF programs.",
        version: "swiftbpf \(SwiftBPFCommand.version) (eBPF helpers of Linux 6.18)",
        subcommands: [
            AssembleCommand.self, DisassembleCommand.self, RunCommand.self, ConformancePluginCommand.self, BTFCommand.self, MapCommand.self, LoadCommand.self,
            ProgCommand.self, LinkCommand.self, AttachCommand.self, TraceCommand.self, VerifyCommand.self, HelpersCommand.self, FeatureCommand.self,
        ]
    )
}
