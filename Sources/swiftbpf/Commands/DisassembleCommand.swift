import ArgumentParser
import BPFCore

/// `swiftbpf disasm FILE [--syntax conformance|llvm]`.
struct DisassembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble eBPF bytecode (.bin, .hex), assembly or a conformance test."
    )

    @Argument(help: "The program file.") var file: String
    @Option(help: "conformance (reassemblable) or llvm (kernel/llvm-objdump style).")
    var syntax: Disassembler.Syntax = .conformance

    func run() throws {
        let input = try ProgramInput.load(path: file)
        print(Disassembler(syntax: syntax).text(for: input.program), terminator: "")
    }
}

extension Disassembler.Syntax: ExpressibleByArgument {}
