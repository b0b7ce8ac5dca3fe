import ArgumentParser
import BPFCore
import Foundation

/// `swiftbpf asm FILE [-o OUT]`: assemble conformance-syntax text into bytecode.
struct AssembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asm",
        abstract: "Assemble bpf_conformance-syntax assembly into eBPF bytecode.",
        discussion: "Without -o, prints the bytecode as hex, one instruction per line."
    )

    @Argument(help: "The assembly file.") var file: String
    @Option(name: .shortAndLong, help: "Write raw little-endian bytecode to this file.") var output: String?
    @Flag(help: "Print JSON: {\"slots\": [hex per instruction slot], \"bytes\": hex}.") var json = false

    func run() throws {
        let input = try ProgramInput.load(path: file)
        if let output {
            do { try Data(input.program.bytes).write(to: URL(fileURLWithPath: output)) } catch {
                throw CLIError("-o \(output): cannot write the file (\(error.localizedDescription))")
            }
        }
        if json {
            print(JSONOutput.object([("slots", .array(input.program.instructions.map { .string(hexString($0.bytes)) })),
                                     ("bytes", .string(hexString(input.program.bytes)))]))
        } else if output == nil {
            for slot in input.program.instructions { print(Hex.string(slot.bytes)) }
        }
    }
}
