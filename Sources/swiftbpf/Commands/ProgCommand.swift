import ArgumentParser
import BPFCore
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf prog list | show ID | dump ID`: programs in the running kernel (any program, not only ours).
struct ProgCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prog",
        abstract: "Inspect the programs loaded in the running kernel (needs root or CAP_SYS_ADMIN).",
        subcommands: [ProgListCommand.self, ProgShowCommand.self, ProgDumpCommand.self, ProgRunCommand.self, ProgPinCommand.self]
    )

    static func open(_ id: UInt32) throws -> KernelProgram {
        do { return try KernelProgram.open(id: id) } catch { throw CLIError("program \(id): \(error)") }
    }

    /// A program named by `ID` alone, or by bpftool's selectors (`id N`, `pinned PATH`, `name NAME`,
    /// `tag TAG`), and its id.
    static func open(_ arguments: [String]) throws -> (program: KernelProgram, id: UInt32) {
        if arguments.count == 1, let id = UInt32(arguments[0]) { return (try open(id), id) }
        guard arguments.count == 2 else { throw CLIError("expected ID, or id N | pinned PATH | name NAME | tag TAG") }
        let (program, label) = try ProgramSelector.parse(arguments).open()
        do { return (program, try program.info().id) } catch { throw CLIError("\(label): \(error)") }
    }

    /// One program as a text line and a JSON object.
    static func describe(_ program: KernelProgram) throws -> (text: String, json: JSONOutput) {
        let info = try program.info()
        let maps = (try? program.mapIDs()) ?? []
        var text = "\(info.id): \(info.typeName)  name \(info.name.isEmpty ? "-" : info.name)  tag \(info.tag)"
        if info.gplCompatible { text += "  gpl" }
        text += "\n\tloaded_at \(info.loadTime)ns  uid \(info.createdByUID)"
        text += "\n\txlated \(info.xlatedLength)B  jited \(info.jitedLength)B"
        if !maps.isEmpty { text += "  map_ids \(maps.map(String.init).joined(separator: ","))" }
        if info.btfID != 0 { text += "  btf_id \(info.btfID)" }
        if info.runCount > 0 { text += "\n\trun_time_ns \(info.runTimeNanoseconds)  run_cnt \(info.runCount)" }
        let json = JSONOutput.object([
            ("id", .number(UInt64(info.id))),
            ("type", .string(info.typeName)),
            ("name", .string(info.name)),
            ("tag", .string(info.tag)),
            ("gpl_compatible", .bool(info.gplCompatible)),
            ("loaded_at_ns", .number(info.loadTime)),
            ("uid", .number(UInt64(info.createdByUID))),
            ("bytes_xlated", .number(UInt64(info.xlatedLength))),
            ("bytes_jited", .number(UInt64(info.jitedLength))),
            ("map_ids", .array(maps.map { .number(UInt64($0)) })),
            ("btf_id", .number(UInt64(info.btfID))),
            ("run_time_ns", .number(info.runTimeNanoseconds)),
            ("run_cnt", .number(info.runCount)),
            ("verified_insns", .number(UInt64(info.verifiedInstructions))),
        ])
        return (text, json)
    }
}

/// `swiftbpf prog list [--json]`.
struct ProgListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every program in the kernel.")
    @Flag(help: "Print a JSON array of program objects.") var json = false

    func run() throws {
        let ids: [UInt32]
        do { ids = try KernelObjects.programIDs() } catch { throw CLIError("listing programs: \(error)") }
        let rows = try forEachKernelObject(ids) { id -> (String, JSONOutput)? in
            guard let program = try? KernelProgram.open(id: id) else { return nil }
            return try ProgCommand.describe(program)
        }
        if json { print(JSONOutput.array(rows.map(\.1))) } else { rows.forEach { print($0.0) } }
    }
}

/// `swiftbpf prog show (ID | id N | pinned PATH | name NAME | tag TAG) [--json]`.
struct ProgShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one program: ID, or id N | pinned PATH | name NAME | tag TAG.")
    @Argument(help: "The program's kernel id (see `prog list`), or a selector and its value.") var selector: [String]
    @Flag(help: "Print a JSON object.") var json = false

    func run() throws {
        let (text, object) = try ProgCommand.describe(try ProgCommand.open(selector).program)
        print(json ? object.description : text)
    }
}

/// `swiftbpf prog dump ID [--xlated | --jited] [--json]`.
struct ProgDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print a program's instructions as the kernel translated them, or its JIT code.",
        discussion: """
            --xlated (the default) disassembles the kernel's translated instructions (map references \
            show map ids; helper calls are named by the kernel function they enter, from /proc/kallsyms; \
            the C source lines come from the program's BTF line info). --jited prints the machine \
            code in hex, 16 bytes a line with offsets. Calls to subprograms show their \
            relative offset and the instruction they enter: `call pc+12  (to 17)`. --json prints \
            {"id", "xlated": [{"index", "insn", "text", "call_target" (calls to subprograms), "helper", \
            "source": {"file", "line", "text"}}]} or \
            {"id", "jited": "hex"}.
            """
    )
    @Argument(help: "The program's kernel id, or id N | pinned PATH | name NAME | tag TAG.") var selector: [String]
    @Flag(help: "The translated instructions (default).") var xlated = false
    @Option(help: "llvm (the default, as bpftool and the verifier log print) or conformance (reassemblable).")
    var syntax: Disassembler.Syntax = .llvm
    @Flag(help: "The JIT-compiled machine code.") var jited = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if xlated && jited { throw ValidationError("choose one of --xlated and --jited") }
    }

    func run() throws {
        let (program, id) = try ProgCommand.open(selector)
        if jited {
            let code: [UInt8]
            do { code = try program.jitedCode() } catch { throw CLIError("program \(id): \(error)") }
            if json {
                print(JSONOutput.object([("id", .number(UInt64(id))), ("jited", .string(hexString(code)))]))
            } else if code.isEmpty {
                print("program \(id) is not JIT-compiled (or the kernel hides its code)")
            } else {
                for offset in stride(from: 0, to: code.count, by: 16) {
                    let line = code[offset..<min(offset + 16, code.count)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
                    print(String(repeating: "0", count: max(0, 4 - String(offset, radix: 16).count)) + String(offset, radix: 16) + ":  " + line.joined(separator: " "))
                }
            }
            return
        }
        let instructions: [Instruction]
        do { instructions = try program.translatedInstructions() } catch { throw CLIError("program \(id): \(error)") }
        // Without slot indices: the dump prints its own.
        let disassembler = Disassembler(syntax: syntax)
        var lines: [String] = []
        var at = 0
        while at < instructions.count {
            lines.append(disassembler.instruction(at: at, in: instructions))
            at += instructions[at].opcode == Opcode.lddw ? 2 : 1
        }
        /// The instruction a bpf-to-bpf call at `slot` enters.
        func callTarget(_ slot: Int) -> Int? {
            let ins = instructions[slot]
            return ins.opcode == Opcode.call && ins.src == CallKind.local.rawValue ? slot + Int(ins.imm) + 1 : nil
        }
        // Helper calls by the kernel function they enter (kallsyms, for root), and the C source lines
        // of the program's BTF line info, as bpftool prints them.
        let symbols = KernelSymbols.load()
        func helper(_ slot: Int) -> String? {
            let ins = instructions[slot]
            guard ins.opcode == Opcode.call, ins.src == 0 else { return nil }
            return symbols?.helperName(imm: ins.imm)
        }
        var sources: [Int: (file: String, line: Int, text: String)] = [:]
        if let info = try? program.info(), info.btfID != 0, let lineInfo = try? program.lineInfo(), !lineInfo.isEmpty,
           let btfObject = try? KernelBTF.open(id: info.btfID), let raw = try? btfObject.bytes(), let btf = try? BTF(bytes: raw) {
            btfObject.close()
            for record in lineInfo {
                let file = btf.string(at: record.fileNameOffset) ?? "?"
                sources[record.instruction] = ((file as NSString).lastPathComponent, record.line, btf.string(at: record.lineOffset) ?? "")
            }
        }
        if json {
            var items: [JSONOutput] = []
            var slot = 0
            for text in lines {
                var fields: [(String, JSONOutput)] = [("index", .number(UInt64(slot))), ("insn", .string(String(instructions[slot].rawValue, radix: 16))),
                                                      ("text", .string(text))]
                if let target = callTarget(slot) { fields.append(("call_target", .number(UInt64(max(target, 0))))) }
                if let name = helper(slot) { fields.append(("helper", .string(name))) }
                if let source = sources[slot] {
                    fields.append(("source", .object([("file", .string(source.file)), ("line", .number(UInt64(source.line))), ("text", .string(source.text))])))
                }
                items.append(.object(fields))
                slot += instructions[slot].opcode == Opcode.lddw ? 2 : 1
                if slot >= instructions.count { break }
            }
            print(JSONOutput.object([("id", .number(UInt64(id))), ("xlated", .array(items))]))
        } else {
            var slot = 0
            var lastLine: (String, Int)?
            for text in lines {
                if let source = sources[slot], lastLine == nil || lastLine! != (source.file, source.line) {
                    print("; \(source.text.trimmingCharacters(in: .whitespaces)) [\(source.file):\(source.line)]")
                    lastLine = (source.file, source.line)
                }
                let target = callTarget(slot).map { "  (to \($0))" } ?? ""
                let name = helper(slot).map { "  ; \($0)" } ?? ""
                print(String(repeating: " ", count: max(0, 4 - String(slot).count)) + "\(slot): \(text)\(target)\(name)")
                slot += instructions[slot].opcode == Opcode.lddw ? 2 : 1
                if slot >= instructions.count { break }
            }
        }
    }
}
