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
            A clang-built ELF object is disassembled program by program (every one, or the one named \
            by --program) in llvm syntax, with the C source lines from its BTF line info, helper names on \
            calls and the maps lddw loads. --jited compiles the program with the JIT and prints each eBPF \
            instruction followed by the x86-64 instructions generated for it (offset, bytes, Intel syntax).
            """
    )

    @Argument(help: "The program file.") var file: String
    @Option(help: "conformance (reassemblable) or llvm (kernel/llvm-objdump style).")
    var syntax: Disassembler.Syntax?
    @Flag(help: "Show the x86-64 code the JIT generates, interleaved with the eBPF instructions.") var jited = false
    @Option(help: "With --jited: the back end whose code to show, x86-64 or arm64 (arm64 text from llvm-objdump when found, else the words).")
    var arch: JITArchitecture?
    @Option(help: "With an ELF object: the program to show.") var program: String?
    @Option(help: "With --jited: the JIT tier, baseline (single-pass) or optimizing (default: $SWIFTBPF_JIT_TIER, else baseline).")
    var tier: String?
    @Flag(help: "Print JSON: {\"programs\": [{\"name\", \"section\", \"type\", \"instructions\": [{\"index\", \"text\", \"source\"}]}]} (one unnamed program for a raw file); with --jited, \"jited\": [lines] instead of \"instructions\".") var json = false

    func run() throws {
        if arch == .arm64 && !jited { throw ValidationError("--arch goes with --jited") }
        var jitTier = JITTier.default
        if let tier {
            guard let chosen = JITTier(rawValue: tier) else { throw CLIError("--tier must be baseline or optimizing, not '\(tier)'") }
            jitTier = chosen
        }
        if ObjectRun.isELF(path: file) {
            if arch == .arm64 { throw CLIError("--arch arm64 shows bytecode, assembly and conformance tests; not ELF objects yet") }
            let object: ObjectFile
            do { object = try ObjectFile(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))) } catch { throw CLIError("\(file): \(error)") }
            let names = program.map { [$0] } ?? object.programs.map(\.name)
            guard jited else {
                var programs: [JSONOutput] = []
                for name in names {
                    guard let spec = object.program(named: name) else {
                        throw CLIError("\(file): no program named '\(name)' (programs: \(object.programs.map(\.name).joined(separator: ", ")))")
                    }
                    if json {
                        programs.append(Self.json(name: spec.name, section: spec.section, type: spec.type.kernelName,
                                                  instructions: spec.instructions) { spec.sourceLines[$0] })
                    } else {
                        print(Self.listing(spec), terminator: "")
                    }
                }
                if json { print(JSONOutput.object([("programs", .array(programs))])) }
                return
            }
            let loaded: LoadedObject
            do {
                loaded = try LoadedObject(object, programs: Set(names), engine: .jit, jitTier: jitTier)
            } catch {
                // Show the code anyway: compiled without proofs, every access checked, as `run --no-verify` runs it.
                FileHandle.standardError.write(Data("note: \(error)\nnote: showing the code compiled without the verifier's proofs\n".utf8))
                do { loaded = try LoadedObject(object, programs: Set(names), verification: .off, engine: .jit, jitTier: jitTier) } catch { throw CLIError("\(file): \(error)") }
            }
            var programs: [JSONOutput] = []
            for name in names {
                guard let loadedProgram = loaded.program(named: name) else { throw CLIError("\(file): no program named '\(name)'") }
                let spec = loadedProgram.spec
                let listing: String
                do {
                    let jit = try loadedProgram.jit ?? JITProgram(interpreter: loadedProgram.interpreter, tier: jitTier)
                    if let reason = jit.declineReason {
                        FileHandle.standardError.write(Data("note: the optimizing tier declined '\(name)' (\(reason)); showing the first tier's code\n".utf8))
                    }
                    listing = try jit.annotatedDisassembly(syntax: syntax ?? .llvm)
                } catch { throw CLIError("\(file): program '\(name)': \(error)") }
                if json {
                    programs.append(Self.jitedJSON(name: name, section: spec.section, type: spec.type.kernelName, listing: listing))
                } else {
                    print("\(name) (\(spec.section), \(spec.type.kernelName)):")
                    print(listing, terminator: "")
                }
            }
            if json { print(JSONOutput.object([("programs", .array(programs))])) }
            return
        }
        let input = try ProgramInput.load(path: file)
        guard jited else {
            if json {
                let program = Self.json(name: nil, section: nil, type: nil, instructions: input.program.instructions) { _ in nil }
                print(JSONOutput.object([("programs", .array([program]))]))
                return
            }
            print(Disassembler(syntax: syntax ?? .conformance).text(for: input.program), terminator: "")
            return
        }
        var helpers = HelperRegistry.kernel
        for helper in HelperRegistry.conformance.all { helpers.register(helper) }
        do {
            let interpreter = try Interpreter(program: input.program, helpers: helpers)
            let listing: String
            if arch == .arm64 {
                let arm64 = try ARM64Program(interpreter: interpreter, tier: jitTier)
                if let reason = arm64.declineReason {
                    FileHandle.standardError.write(Data("note: the optimizing tier declined the program (\(reason)); showing the first tier's code\n".utf8))
                }
                listing = arm64.annotatedDisassembly(syntax: syntax ?? .llvm)
            } else {
                listing = try JITProgram(interpreter: interpreter, tier: jitTier).annotatedDisassembly(syntax: syntax ?? .llvm)
            }
            if json {
                print(JSONOutput.object([("programs", .array([Self.jitedJSON(name: nil, section: nil, type: nil, listing: listing)]))]))
            } else {
                print(listing, terminator: "")
            }
        } catch { throw CLIError("\(file): \(error)") }
    }
}

extension DisassembleCommand {
    /// One program's JIT listing as JSON: `{"name", "section", "type", "jited": [line]}`, the lines of
    /// the text listing (eBPF instructions, each followed by its machine code).
    static func jitedJSON(name: String?, section: String?, type: String?, listing: String) -> JSONOutput {
        .object([("name", name.map { .string($0) } ?? .null), ("section", section.map { .string($0) } ?? .null),
                 ("type", type.map { .string($0) } ?? .null),
                 ("jited", .array(listing.split(separator: "\n", omittingEmptySubsequences: false).dropLast(listing.hasSuffix("\n") ? 1 : 0).map { .string(String($0)) }))])
    }

    /// One program's instructions as JSON (llvm syntax, with their C source lines when known).
    static func json(name: String?, section: String?, type: String?, instructions slots: [Instruction],
                     source: (Int) -> SourceLine?) -> JSONOutput {
        let disassembler = Disassembler(syntax: .llvm)
        var rows: [JSONOutput] = []
        var index = 0
        while index < slots.count {
            let line = source(index)
            rows.append(.object([("index", .number(UInt64(index))), ("text", .string(disassembler.instruction(at: index, in: slots))),
                                 ("source", line.map { .object([("file", .string($0.file)), ("line", .number(UInt64($0.line))), ("text", .string($0.text))]) } ?? .null)]))
            index += slots[index].opcode == Opcode.lddw ? 2 : 1
        }
        return .object([("name", name.map { .string($0) } ?? .null), ("section", section.map { .string($0) } ?? .null),
                        ("type", type.map { .string($0) } ?? .null), ("instructions", .array(rows))])
    }

    /// A program of an object in llvm syntax, with its C source lines (BTF line info) before the
    /// instructions they produced, helper and kfunc names on calls, and the maps `lddw` loads.
    static func listing(_ spec: ProgramSpec) -> String {
        let disassembler = Disassembler(syntax: .llvm)
        var text = "\(spec.name) (\(spec.section), \(spec.type.kernelName)):\n"
        var lastLine: SourceLine?
        var index = 0
        let slots = spec.instructions
        while index < slots.count {
            if let line = spec.sourceLines[index], line.line != lastLine?.line || line.file != lastLine?.file {
                text += "; \(line.text.trimmingCharacters(in: .whitespaces)) [\(line.file.split(separator: "/").last.map(String.init) ?? line.file):\(line.line)]\n"
                lastLine = line
            }
            var row = String(repeating: " ", count: max(0, 5 - String(index).count)) + "\(index): " + disassembler.instruction(at: index, in: slots)
            let ins = slots[index]
            switch spec.references[index] {
            case .map(let name): row += "  ; map '\(name)'"
            case let .mapValue(name, offset): row += "  ; '\(name)' + \(offset)"
            case .external(let name): row += "  ; extern '\(name)'"
            case .kfunc(let name): row += "  ; kfunc \(name)"
            case nil:
                if ins.opcode == Opcode.call && ins.src == 0, let helper = HelperPrototype[ins.imm] { row += "  ; \(helper.name)" }
            }
            text += row + "\n"
            index += ins.opcode == Opcode.lddw ? 2 : 1
        }
        return text
    }
}

extension Disassembler.Syntax: ExpressibleByArgument {}
