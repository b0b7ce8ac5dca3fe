import ArgumentParser
import BPFCore
import BPFLinux
import BPFObject
import BPFRuntime
import BPFVerifier
import Foundation

/// `swiftbpf verify OBJ [--program NAME] [--type TYPE] [--backend kernel|runtime] [--log-level 1|2] [--json]`:
/// runs the verifier on each program of an object (or on one raw program file) and prints accept or
/// reject, and whether the Swift runtime can run it.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the programs of an object (or a raw program) and explain any rejection.",
        discussion: """
            For each program prints accept or reject, the instructions processed, the peak number of \
            stored states and the verification time. A rejection names the instruction, its disassembly, \
            the C source line, the registers involved and what to do. Raw program files (assembly, .bin, \
            .hex, .data) are verified as unspecified-type programs taking their input memory in r1 and \
            its length in r2. A program whose section names no type (an older loader's object) is \
            verified as the one type under which it is safe, or reported "undecided" with the reason, as is \
            one using an extern or kfunc the verifier cannot resolve. The exit status is 1 when any program \
            is rejected, else 2 when any is undecided. Programs are verified by the kernel's rules \
            (every helper of Linux 6.18, by program type); each accepted program also says whether the \
            Swift runtime can run it, or which helpers and map types it lacks. --backend runtime makes \
            those a rejection. --type gives programs the type their section does not name (the kernel's \
            names, e.g. sched_cls, socket_filter, xdp, kprobe, or a section name such as tc or socket).
            """
    )

    @Argument(help: "A clang-built object (.o), or a raw program file.") var file: String
    @Option(help: "Verify only the program with this name.") var program: String?
    @Option(name: .customLong("log-level"), help: "1: a summary per program; 2: the abstract state at each instruction; 3: also each state pruning (PRUNED), each failed comparison with a stored state (PRUNEMISS, both states) and each precision request (NEEDPRECISE), with no limit on the log's size.")
    var logLevel: Int = 0
    @Option(help: "The program type, for sections that name none (sched_cls, socket_filter, xdp, kprobe, ... or a section name).")
    var type: String?
    @Option(help: "Verify for this backend: kernel (the kernel's rules, the default) or runtime (also what the Swift runtime implements).")
    var backend: String = "kernel"
    @Option(name: .customLong("mem-size"), help: "Raw programs: the size of the input memory in r1 (default: the .data file's, else 0).")
    var memSize: Int?
    @Option(help: "The kernel BTF that types tp_btf, fentry/fexit, iter and lsm programs (default: /sys/kernel/btf/vmlinux).")
    var btf: String?
    @Flag(help: "Print JSON.") var json = false

    /// The kernel BTF given with --btf, else the running kernel's (nil when it has none: those
    /// programs are then undecided, with the reason).
    func loadKernelBTF() throws -> BTF? {
        guard let btf else { return try? KernelBTF.vmlinux() }
        guard let data = FileManager.default.contents(atPath: btf) else { throw CLIError("--btf: cannot read '\(btf)'") }
        do { return try BTF(fileBytes: [UInt8](data)) } catch { throw CLIError("--btf \(btf): \(error)") }
    }

    func validate() throws {
        guard (0...3).contains(logLevel) else { throw ValidationError("--log-level \(logLevel): expected 0, 1, 2 or 3") }
        if let memSize, memSize < 0 { throw ValidationError("--mem-size \(memSize): expected a size in bytes >= 0") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
        // The kernel's BTF, read once when something needs it.
        var loaded: BTF??
        func kernelBTF() throws -> BTF? {
            if let loaded { return loaded }
            let btf = try loadKernelBTF()
            loaded = .some(btf)
            return btf
        }
        let bytes = [UInt8](data)
        var inputs: [VerifierProgram] = []
        if bytes.starts(with: [0x7f, 0x45, 0x4c, 0x46]) {
            let object: ObjectFile
            do { object = try ObjectFile(bytes: bytes) } catch { throw CLIError("\(file): \(error)") }
            // .kconfig externs hold the running kernel's values, as the loader gives them (read-only,
            // so the verifier knows them and prunes the branches they decide).
            var maps = object.maps
            if let i = maps.firstIndex(where: { $0.name == ".kconfig" }), let value = try? KernelConfig.kconfigValue(for: object) {
                maps[i].initialValue = value
            }
            // CO-RE relocations applied against the kernel's BTF, as the loader applies them: the
            // verdict is the one for this kernel's layouts.
            var relocator: CORERelocator?
            if let local = object.btf, object.programs.contains(where: { !$0.coreRelocations.isEmpty }), let kernel = try kernelBTF() {
                relocator = CORERelocator(local: local, target: kernel, index: CORERelocator.CandidateIndex(kernel))
            }
            func relocated(_ spec: ProgramSpec) -> ProgramSpec {
                guard let relocator, !spec.coreRelocations.isEmpty else { return spec }
                return spec.relocated(with: relocator).spec
            }
            for var spec in object.programs where program == nil || spec.name == program {
                if let type {
                    do { spec = try spec.withType(type) } catch { throw CLIError("\(file): \(error)") }
                }
                inputs.append(VerifierProgram(spec: relocated(spec), maps: maps, license: object.license))
                inputs[inputs.count - 1].programBTF = object.btf
            }
            // A global function of .text, named and given a type, is an entry point too.
            if inputs.isEmpty, let program, let function = object.textFunctions.first(where: { $0.name == program }) {
                guard let type else {
                    throw CLIError("\(file): '\(program)' is a global function in .text, which names no program type: give one with --type (e.g. --type sched_cls)")
                }
                do {
                    inputs.append(VerifierProgram(spec: relocated(try function.withType(type)), maps: maps, license: object.license))
                    inputs[inputs.count - 1].programBTF = object.btf
                } catch { throw CLIError("\(file): \(error)") }
            }
            if inputs.isEmpty {
                throw CLIError(program.map { "\(file): no program named '\($0)' (it has \(object.programs.map(\.name).joined(separator: ", ")))" }
                               ?? "\(file): the object has no programs")
            }
        } else {
            let input = try ProgramInput.load(path: file)
            let size = memSize ?? input.memory?.count
            var raw = VerifierProgram(name: URL(fileURLWithPath: file).lastPathComponent, instructions: input.program.instructions,
                                      contextSize: size)
            if let type {
                guard let parsed = ProgramType.parse(type) else {
                    throw CLIError("--type: unknown program type '\(type)': expected one of \(ProgramType.kernelNames.joined(separator: ", "))")
                }
                (raw.type, raw.attachType) = parsed
            }
            inputs.append(raw)
        }
        // BTF-typed programs read their arguments through the kernel's types; kfuncs are typed there too.
        if inputs.contains(where: { $0.type == .tracing || $0.type == .lsm || $0.type == .structOps || !$0.kfuncs.isEmpty || !$0.externs.isEmpty
            || $0.readsKernelStructs }) {
            let kernel = try kernelBTF()
            for i in inputs.indices { inputs[i].kernelBTF = kernel }
        }
        let target: VerificationTarget
        switch backend {
        case "kernel": target = .kernel
        case "runtime": target = .runtime()
        default: throw CLIError("--backend: '\(backend)' is not a backend: expected kernel or runtime")
        }
        var options = VerifierOptions(logLevel: logLevel, target: target)
        if logLevel >= 3 { options.logLimit = Int.max }   // a whole exploration, for comparing with the kernel's log
        let verifier = Verifier(options: options)
        var rejected = false, undecided = false
        var entries: [JSONOutput] = []
        for input in inputs {
            let result = verifier.verify(input)
            switch result.verdict {
            case .accept: break
            case .reject: rejected = true
            case .undecided: undecided = true
            }
            let support = RuntimeSupport(input, result)
            if json {
                entries.append(Self.json(input, result, support))
                continue
            }
            let type = result.inferredType.map { "\($0.kernelName), inferred from its use of the context" }
                ?? (input.typeUndetermined ? "type unknown" : input.type == .unspecified ? "raw" : input.type.kernelName)
            let stats = "\(result.instructionsProcessed) insns processed, \(result.peakStates) peak states, \(Int(result.timeMicroseconds.rounded())) us"
            print("\(input.name) (\(type)): \(result.verdict.rawValue) (\(stats))")
            if let error = result.error {
                for line in error.detailed.split(separator: "\n") { print("  \(line)") }
            } else if let support {
                print(support.runs ? "  runs in the Swift runtime" : "  the Swift runtime cannot run it: it lacks \(support.missing.joined(separator: ", "))")
            }
            if logLevel > 0 { print(result.log, terminator: "") }
        }
        if json { print(JSONOutput.object([("programs", .array(entries))])) }
        if rejected { throw ExitCode(1) }
        if undecided { throw ExitCode(2) }
    }

    /// Whether the Swift runtime implements every helper and map type an accepted program uses.
    struct RuntimeSupport {
        var missingHelpers: [String] = []
        var missingMapTypes: [String] = []
        /// kfuncs the program calls that the runtime does not implement.
        var missingKfuncs: [String] = []
        /// Whether the runtime has a test-run context for the program's type (sk_reuseport,
        /// netfilter, flow_dissector, sk_msg have none yet).
        var hasContext = true
        var runs: Bool { missingHelpers.isEmpty && missingMapTypes.isEmpty && missingKfuncs.isEmpty && hasContext }
        /// For messages: `bpf_redirect, devmap map 'tx_port'`.
        var missing: [String] = []

        /// The runtime's helpers and map types, built once.
        static let runtime = VerificationTarget.runtime()

        init?(_ input: VerifierProgram, _ result: VerificationResult) {
            guard result.error == nil else { return nil }
            let implemented = Self.runtime
            if !LoadedProgram.hasTestRun(for: input.type) {
                hasContext = false
                missing.append("a test-run context for \(input.type.kernelName) programs")
            }
            for id in result.helpersCalled where !(implemented.helpers?.contains(id) ?? true) {
                let name = HelperPrototype[id]?.name ?? "helper \(id)"
                missingHelpers.append(name)
                missing.append(name)
            }
            for name in Set(input.kfuncs.values).sorted() where !(implemented.kfuncs?.contains(name) ?? true) {
                missingKfuncs.append(name)
                missing.append("kfunc \(name)")
            }
            let used = Set(input.mapReferences.values.map(\.map))
            for index in used.sorted() {
                let spec = input.maps[index]
                guard !(implemented.mapTypes?.contains(spec.type) ?? true) else { continue }
                if !missingMapTypes.contains(spec.type.kernelName) { missingMapTypes.append(spec.type.kernelName) }
                missing.append("\(spec.type.kernelName) map '\(spec.name)'")
            }
        }
    }

    static func json(_ input: VerifierProgram, _ result: VerificationResult, _ support: RuntimeSupport?) -> JSONOutput {
        var error = JSONOutput.null
        if let e = result.error {
            var fields: [(String, JSONOutput)] = [
                ("kind", .string(e.kind.rawValue)),
                ("message", .string(e.summary)),
                ("hint", e.hint.map { .string($0) } ?? .null),
                ("instruction", e.instruction.map { .number(UInt64($0)) } ?? .null),
                ("disassembly", e.disassembly.map { .string($0) } ?? .null),
            ]
            if let line = e.sourceLine {
                fields.append(("source", .object([("file", .string(line.file)), ("line", .number(UInt64(line.line))),
                                                   ("text", .string(line.text))])))
            } else {
                fields.append(("source", .null))
            }
            fields.append(("registers", e.registers.map { .string($0) } ?? .null))
            fields.append(("description", .string(e.description)))
            error = .object(fields)
        }
        return .object([
            ("name", .string(input.name)),
            ("section", .string(input.section)),
            ("type", .string(result.inferredType?.kernelName ?? (input.typeUndetermined ? "unknown" : input.type == .unspecified ? "unspec" : input.type.kernelName))),
            ("type_inferred", .bool(result.inferredType != nil)),
            ("verdict", .string(result.verdict.rawValue)),
            ("error", error),
            ("instructions_processed", .number(UInt64(result.instructionsProcessed))),
            ("peak_states", .number(UInt64(result.peakStates))),
            ("time_us", .double((result.timeMicroseconds * 10).rounded() / 10)),
            ("runtime", support.map { s in
                .object([("runs", .bool(s.runs)), ("missing_helpers", .array(s.missingHelpers.map { .string($0) })),
                         ("missing_map_types", .array(s.missingMapTypes.map { .string($0) })),
                         ("missing_kfuncs", .array(s.missingKfuncs.map { .string($0) })),
                         ("has_test_run_context", .bool(s.hasContext))])
            } ?? .null),
        ])
    }
}
