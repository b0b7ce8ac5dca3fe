import ArgumentParser
import BPFCore
import BPFRuntime
import Foundation

/// `swiftbpf run FILE [--mem HEX | --mem-file F] [--json]`.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a program (JIT or interpreter) and print r0.",
        discussion: """
            Bytecode and assembly: the input memory is given to the program in r1, its length in r2 (as \
            bpf_conformance does), and the conformance helpers are available (5: unwind). --json prints \
            {"r0": <u64>, "engine": "jit"|"interpreter", "instructions": <count, interpreter only>} or \
            {"error": "...", "pc": <index>}. --engine chooses the JIT (the default on x86-64) or the interpreter; \
            --arch arm64 runs the arm64 JIT's code (under qemu-aarch64 on an x86-64 host); --tier optimizing \
            compiles with the optimizing tier (x86-64 or arm64), which leaves what it declines to the first tier.

            ELF objects (clang -target bpf): one program runs on a packet (--packet-hex, --packet-file) or \
            on every packet of a capture (--pcap, pcap or pcapng), as BPF_PROG_TEST_RUN would; the maps are \
            printed by their BTF types afterwards. See README.md for the JSON fields.
            """
    )

    @Argument(help: "The program: an ELF object, assembly, .bin/.bpf bytecode, .hex, or a conformance .data test.") var file: String
    @Option(help: "Input memory as hex bytes, e.g. \"aa bb 11\".") var mem: String?
    @Option(help: "Input memory from a file (raw bytes).") var memFile: String?
    @Option(help: "Stop after this many executed instructions.") var instructionLimit: UInt64 = 1_000_000
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "With the JIT: the machine code to generate, x86-64 or arm64 (run under qemu-aarch64 on other hosts). Default: this machine's.")
    var arch: JITArchitecture?
    @Option(help: "With the JIT: the tier, baseline (single-pass) or optimizing (default: $SWIFTBPF_JIT_TIER, else baseline).")
    var tier: String?
    @OptionGroup var object: ObjectRunOptions

    func validate() throws {
        if mem != nil && memFile != nil { throw ValidationError("give --mem or --mem-file, not both") }
    }

    func run() throws {
        var jitTier = JITTier.default
        if let tier {
            guard let chosen = JITTier(rawValue: tier) else { throw CLIError("--tier must be baseline or optimizing, not '\(tier)'") }
            jitTier = chosen
            // Objects are loaded with the default tier, which the environment sets.
            setenv("SWIFTBPF_JIT_TIER", chosen.rawValue, 1)
        }
        if ObjectRun.isELF(path: file) {
            if let arch, arch.isEmulated { throw CLIError("--arch \(arch.rawValue) runs bytecode, assembly and conformance tests; ELF objects run on this machine's JIT") }
            try ObjectRun(path: file, options: object, json: json).run()
            return
        }
        let input = try ProgramInput.load(path: file)
        var memory = input.memory ?? []
        if let mem {
            do { memory = try Hex.bytes(mem) } catch { throw CLIError("--mem: \(error)") }
        } else if let memFile {
            guard let data = FileManager.default.contents(atPath: memFile) else {
                throw CLIError("cannot read '\(memFile)'")
            }
            memory = [UInt8](data)
        }
        let limit = instructionLimit
        let engine = arch != nil ? .jit : object.engine
        let emulated = arch?.isEmulated == true
        if emulated && arch != .arm64 { throw CLIError("--arch \(arch!.rawValue): that code runs only on an x86-64 machine") }
        if emulated, let reason = ARM64Emulator.unavailableReason { throw CLIError("--arch arm64: \(reason)") }
        var compiledTier: JITTier?
        let outcome = Result { () throws(RuntimeError) -> ExecutionResult in
            let interpreter = try Interpreter(program: input.program, helpers: .conformance,
                                              options: ExecutionOptions(instructionLimit: limit))
            if emulated {
                let arm64 = try ARM64Program(interpreter: interpreter, tier: jitTier)
                compiledTier = arm64.tier
                return try arm64.runEmulated(memory: &memory)
            }
            if engine == .jit {
                let jit = try JITProgram(interpreter: interpreter, tier: jitTier)
                compiledTier = jit.tier
                return try jit.run(memory: &memory)
            }
            return try interpreter.run(memory: &memory)
        }
        switch outcome {
        case .success(let result):
            if json {
                var fields: [(String, JSONOutput)] = [("r0", .number(result.returnValue)), ("engine", .string(engine.rawValue))]
                if let arch { fields.append(("arch", .string(arch.rawValue))) }
                // The tier that compiled the code (baseline when the optimizing tier declined it).
                if let compiledTier { fields.append(("tier", .string(compiledTier.rawValue))) }
                if engine == .interpreter { fields.append(("instructions", .number(result.instructionsExecuted))) }
                print(JSONOutput.object(fields))
            } else {
                print("r0 = 0x\(String(result.returnValue, radix: 16)) (\(result.returnValue))")
                if engine == .interpreter { print("instructions executed: \(result.instructionsExecuted)") }
            }
        case .failure(let error):
            var message = error.description
            if let pc = error.pc, pc < input.program.instructions.count {
                message += "\n  at instruction \(pc): " + Disassembler().instruction(at: pc, in: input.program.instructions)
            }
            if json {
                var fields: [(String, JSONOutput)] = [("error", .string(error.description))]
                if let pc = error.pc { fields.append(("pc", .number(UInt64(pc)))) }
                print(JSONOutput.object(fields))
                throw ExitCode.failure
            }
            throw CLIError(message)
        }
    }
}

extension JITArchitecture: ExpressibleByArgument {}
