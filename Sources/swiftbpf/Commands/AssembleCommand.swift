import ArgumentParser
import BPFCore
import Foundation

/// `swiftbpf asm FILE [-o OUT]`: assemble conformance-syntax text into bytecode.
struct AssembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asm",
        abstract: "Assemble bpf_conformance-syntax assembly into eBPF bytecode.",
        discussion: """
            Without -o, prints the bytecode as hex, one instruction per line. --json prints {"slots": [hex \
            per instruction slot], "bytes": hex, "output": the -o path or null, "size": bytes written or \
            null}.
            """
    )

    @Argument(help: "The assembly file.") var file: String
    @Option(name: .shortAndLong, help: "Write raw little-endian bytecode to this file.") var output: String?
    @Flag(help: "Print JSON: {\"slots\": [hex per instruction slot], \"bytes\": hex, \"output\", \"size\"}.") var json = false

    func run() throws {
        let input = try ProgramInput.load(path: file)
        if let output {
            do { try Data(input.program.bytes).write(to: URL(fileURLWithPath: output)) } catch {
                throw CLIError("-o \(output): cannot write the file (\(error.localizedDescription))")
            }
        }
        if json {
            print(JSONOutput.object([("slots", .array(input.program.instructions.map { .string(hexString($0.bytes)) })),
                                     ("bytes", .string(hexString(input.program.bytes))),
                                     ("output", output.map { .string($0) } ?? .null),
                                     ("size", output == nil ? .null : .number(UInt64(input.program.bytes.count)))]))
        } else if output == nil {
            for slot in input.program.instructions { print(Hex.string(slot.bytes)) }
        }
    }
}
