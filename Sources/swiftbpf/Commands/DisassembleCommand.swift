import ArgumentParser
import BPFCore
import BPFObject
import BPFRuntime
import Foundation

/// `swiftbpf disasm FILE [--syntax conformance|llvm] [--jited [--program NAME]]`.
struct DisassembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble eBPF bytecode (.bin, .hex), assembly or a conformance test; --jited also shows the x86-64 code.",
        discussion: """
            --jited compiles the program with the JIT and prints each eBPF instruction followed by the \
            x86-64 instructions generated for it (offset, bytes, Intel syntax). It also takes clang-built \
            ELF objects: every program, or the one named by --program.
            """
    )

    @Argument(help: "The program file.") var file: String
    @Option(help: "conformance (reassemblable) or llvm (kernel/llvm-objdump style).")
    var syntax: Disassembler.Syntax?
    @Flag(help: "Show the x86-64 code the JIT generates, interleaved with the eBPF instructions.") var jited = false
    @Option(help: "With --jited and an ELF object: the program to show.") var program: String?

    func run() throws {
        if ObjectRun.isELF(path: file) {
            guard jited else { throw CLIError("\(file): ELF objects are disassembled with --jited (or use llvm-objdump -d)") }
            let object: ObjectFile
            do { object = try ObjectFile(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))) } catch { throw CLIError("\(file): \(error)") }
            let names = program.map { [$0] } ?? object.programs.map(\.name)
            let loaded: LoadedObject
            do {
                loaded = try LoadedObject(object, programs: Set(names), engine: .jit)
            } catch {
                // Show the code anyway: compiled without proofs, every access checked, as `run --no-verify` runs it.
                FileHandle.standardError.write(Data("note: \(error)\nnote: showing the code compiled without the verifier's proofs\n".utf8))
                do { loaded = try LoadedObject(object, programs: Set(names), verification: .off, engine: .jit) } catch { throw CLIError("\(file): \(error)") }
            }
            for name in names {
                guard let loadedProgram = loaded.program(named: name) else { throw CLIError("\(file): no program named '\(name)'") }
                print("\(name) (\(loadedProgram.spec.section)):")
                do {
                    let jit = try loadedProgram.jit ?? JITProgram(interpreter: loadedProgram.interpreter)
                    print(try jit.annotatedDisassembly(syntax: syntax ?? .llvm), terminator: "")
                } catch { throw CLIError("\(file): program '\(name)': \(error)") }
            }
            return
        }
        let input = try ProgramInput.load(path: file)
        guard jited else {
            print(Disassembler(syntax: syntax ?? .conformance).text(for: input.program), terminator: "")
            return
        }
        var helpers = HelperRegistry.kernel
        for helper in HelperRegistry.conformance.all { helpers.register(helper) }
        do {
            let jit = try JITProgram(interpreter: try Interpreter(program: input.program, helpers: helpers))
            print(try jit.annotatedDisassembly(syntax: syntax ?? .llvm), terminator: "")
        } catch { throw CLIError("\(file): \(error)") }
    }
}

extension Disassembler.Syntax: ExpressibleByArgument {}
