import ArgumentParser

/// The `swiftbpf` command: assemble, disassemble, run and test eBPF programs.
@main
struct SwiftBPFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftbpf",
        abstract: "Assemble, disassemble, verify and run eBPF programs.",
        subcommands: [
            AssembleCommand.self, DisassembleCommand.self, RunCommand.self, ConformancePluginCommand.self, BTFCommand.self, MapCommand.self, LoadCommand.self,
            ProgCommand.self, LinkCommand.self, AttachCommand.self, TraceCommand.self, VerifyCommand.self, HelpersCommand.self, FeatureCommand.self,
        ]
    )
}
