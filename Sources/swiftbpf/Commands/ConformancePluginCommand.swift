import ArgumentParser
import BPFCore
import BPFRuntime
import Foundation

/// `swiftbpf conformance-plugin`: the bpf_conformance runner's plugin protocol.
///
/// Started once per test with argv `[MEMORY] [options...] [--elf]`; MEMORY is hex bytes separated by
/// spaces (absent or empty when the test has none). The program arrives on stdin as one line of hex
/// bytes. Success: exit 0 with r0 in hex alone on stdout. Failure: a non-zero exit with the error.
/// With `--json` (not a runner option: for people and scripts), `{"r0": N, "engine": "jit" |
/// "interpreter"}` or `{"error": MESSAGE}`. `--arch arm64` (with `--jit`) runs the arm64 JIT's code,
/// under `qemu-aarch64` on an x86-64 host; `--tier optimizing` (or `SWIFTBPF_JIT_TIER`) compiles with
/// the optimizing tier on either architecture.
struct ConformancePluginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance-plugin",
        abstract: "Act as a bpf_conformance plugin (program as hex on stdin, r0 in hex on stdout).",
        discussion: """
            --json prints {"r0": N, "engine": "jit" | "interpreter"} instead of r0 in hex, and \
            {"error": MESSAGE} on failure.
            """
    )

    @Argument(parsing: .captureForPassthrough, help: "[MEMORY] [--jit [--arch x86-64|arm64] [--tier baseline|optimizing]] [--elf] [--json]")
    var arguments: [String] = []

    /// Set from the arguments before anything can fail (the runner's argv is parsed by hand).
    private var json: Bool { arguments.contains { $0.trimmingCharacters(in: .whitespaces) == "--json" } }

    func run() throws {
        // Everything is passed through to the protocol's own parsing, so --help is answered here.
        if arguments.contains(where: { ["--help", "-h"].contains($0.trimmingCharacters(in: .whitespaces)) }) {
            print(Self.helpMessage())
            return
        }
        var memoryText = ""
        var jit = false
        var elf = false
        var arch = JITArchitecture.host
        var expectArch = false
        var tier = JITTier.default
        var expectTier = false
        // The runner may pass its options as one argument ("--jit --arch arm64"): every word counts.
        for argument in arguments.flatMap({ $0.split(whereSeparator: \.isWhitespace).map(String.init) }) {
            let trimmed = argument.trimmingCharacters(in: .whitespaces)
            if expectTier || trimmed.hasPrefix("--tier=") {
                let name = expectTier ? trimmed : String(trimmed.dropFirst("--tier=".count))
                expectTier = false
                guard let chosen = JITTier(rawValue: name) else { throw fail("unknown --tier \(name) (baseline or optimizing)") }
                tier = chosen
                continue
            }
            if expectArch || trimmed.hasPrefix("--arch=") {
                let name = expectArch ? trimmed : String(trimmed.dropFirst("--arch=".count))
                expectArch = false
                guard let chosen = JITArchitecture(rawValue: name) else { throw fail("unknown --arch \(name) (x86-64 or arm64)") }
                arch = chosen
                continue
            }
            switch trimmed {
            case "", "--json": continue
            case "--arch": expectArch = true
            case "--tier": expectTier = true
            case "--jit": jit = true
            case "--elf": elf = true
            case "--interpret", "--interpreter": jit = false
            default:
                if trimmed.hasPrefix("--") { throw fail("unknown option \(trimmed)") }
                memoryText += " " + trimmed
            }
        }
        let emulated = jit && arch?.isEmulated == true
        if emulated && arch != .arm64 { throw fail("the x86-64 JIT needs an x86-64 machine") }
        if emulated, let reason = ARM64Emulator.unavailableReason { throw fail("--arch arm64: \(reason)") }
        if jit && !emulated && !JITProgram.isSupported { throw fail("the JIT needs an x86-64 or arm64 machine; run without --jit to use the interpreter") }
        if elf { throw fail("ELF input is not supported by the plugin yet") }
        var memory: [UInt8]
        do { memory = try Hex.bytes(memoryText) } catch { throw fail("memory argument: \(error)") }
        var input = ""
        while let line = readLine() { input += line + " " }
        let bytes: [UInt8]
        do { bytes = try Hex.bytes(input) } catch { throw fail("program on stdin: \(error)") }
        let program: Program
        do { program = try Program(bytes: bytes) } catch { throw fail("\(error)") }
        do {
            let interpreter = try Interpreter(program: program, helpers: .conformance)
            let result = emulated ? try ARM64Program(interpreter: interpreter, tier: tier).runEmulated(memory: &memory)
                : jit ? try JITProgram(interpreter: interpreter, tier: tier).run(memory: &memory) : try interpreter.run(memory: &memory)
            if json {
                var fields: [(String, JSONOutput)] = [("r0", .number(result.returnValue)), ("engine", .string(jit ? "jit" : "interpreter"))]
                if jit, let arch { fields.append(("arch", .string(arch.rawValue))) }
                print(JSONOutput.object(fields))
            } else {
                print(String(result.returnValue, radix: 16))
            }
        } catch {
            throw fail("\(error)")
        }
    }

    private func fail(_ message: String) -> Error {
        print(json ? JSONOutput.object([("error", .string(message))]).description : message)
        FileHandle.standardError.write(Data((message + "\n").utf8))
        return ExitCode.failure
    }
}
