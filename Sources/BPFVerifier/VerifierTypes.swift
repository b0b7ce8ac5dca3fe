import BPFCore
import BPFObject

/// What a verifier run needs: the instructions (as loaded: `lddw` of maps still carrying their
/// references), the program type, the maps `lddw` instructions name, and source lines for messages.
///
/// ```swift
/// let input = VerifierProgram(spec: object.programs[0], maps: object.maps)
/// let result = Verifier().verify(input)
/// ```
public struct VerifierProgram: Sendable {
    /// A `lddw`'s map: the map's index in `maps`, and for a value address the offset into it.
    public struct MapReference: Hashable, Sendable {
        public var map: Int
        public var valueOffset: Int?
        public init(map: Int, valueOffset: Int? = nil) {
            self.map = map
            self.valueOffset = valueOffset
        }
    }

    public var name: String
    public var section: String
    public var instructions: [Instruction]
    public var type: ProgramType
    public var attachType: AttachType?
    public var maps: [MapSpec]
    /// `lddw` instruction index → map.
    public var mapReferences: [Int: MapReference]
    /// `lddw`/call instruction index → what the verifier cannot resolve (externs, maps the object lacks).
    public var unresolved: [Int: String]
    /// Call instruction index → the kfunc it calls (checked against ``kernelBTF``'s prototype).
    public var kfuncs: [Int: String] = [:]
    /// `lddw` instruction index → the kernel symbol (`__ksym` extern) it loads, typed by ``kernelBTF``.
    public var externs: [Int: String] = [:]
    public var sourceLines: [Int: SourceLine]
    /// For `.unspecified` programs: the size of the memory given in r1 (its length is in r2).
    public var contextSize: Int?
    /// The program comes from an object section that names no program type (`type` is then
    /// ignored): the verifier infers the type from how the program uses its context, or says
    /// it cannot decide.
    public var typeUndetermined = false
    /// The object's license: GPL-only helpers are refused to programs whose license is not
    /// GPL-compatible, as the kernel refuses them (nil: not checked).
    public var license: String?
    /// What a tracing program attaches to (`tp_btf/NAME`, `fentry/NAME`, `lsm/NAME`, `iter/NAME`): its
    /// arguments are typed by that target's prototype in ``kernelBTF``.
    public var attachTarget = ""
    /// The kernel's BTF (`/sys/kernel/btf/vmlinux`): types the arguments of BTF-typed programs
    /// (tp_btf, fentry/fexit, iter, lsm) and what they read through typed kernel pointers. Without it
    /// such programs' pointer arguments cannot be decided.
    public var kernelBTF: BTF?
    /// Whether ``kernelBTF`` is the program's own BTF, standing in for a kernel's (how the Swift
    /// runtime verifies the kfuncs it knows): every struct is then the program's, none the kernel's.
    var kernelBTFIsProgramBTF = false
    /// The object's own BTF: types the objects `bpf_obj_new` allocates and the lists and rbtrees of
    /// map values (their `__contains` tags). Without it, programs using them are undecided.
    public var programBTF: BTF?
    /// The functions of the program and where they start (`.BTF.ext` func_info), for the rules that
    /// name functions (the exception callback's).
    public var functionInfos: [FunctionInfo] = []
    /// Global functions loaders send as static (`__hidden`): verified inline, not alone.
    public var hiddenFunctions: Set<String> = []
    /// Instructions poisoned by a CO-RE relocation that failed, and why (``ProgramSpec/poisoned``).
    public var poisoned: [Int: String] = [:]
    /// A sleepable program (`fentry.s/`, `lsm.s/`...): it does not run in an RCU read-side section.
    public var sleepable = false
    /// A struct_ops program: the struct_ops member it implements (its arguments are typed by the
    /// member's prototype in ``kernelBTF``).
    public var structOps: StructOpsImplementation?

    public init(name: String = "program", section: String = "", instructions: [Instruction], type: ProgramType = .unspecified,
                attachType: AttachType? = nil, maps: [MapSpec] = [], mapReferences: [Int: MapReference] = [:],
                sourceLines: [Int: SourceLine] = [:], contextSize: Int? = nil) {
        self.name = name
        self.section = section
        self.instructions = instructions
        self.type = type
        self.attachType = attachType
        self.maps = maps
        self.mapReferences = mapReferences
        self.unresolved = [:]
        self.sourceLines = sourceLines
        self.contextSize = contextSize
    }

    /// A program of an object, with the object's maps.
    public init(spec: ProgramSpec, maps: [MapSpec], license: String? = nil) {
        self.init(name: spec.name, section: spec.section, instructions: spec.instructions, type: spec.type,
                  attachType: spec.attachType, maps: maps, sourceLines: spec.sourceLines)
        self.license = license
        typeUndetermined = spec.type == .unspecified
        attachTarget = spec.attachTarget
        structOps = spec.structOps
        functionInfos = spec.functionInfos
        hiddenFunctions = spec.hiddenFunctions
        poisoned = spec.poisoned
        sleepable = spec.isSleepable
        for (index, reference) in spec.references {
            switch reference {
            case .map(let name):
                if let i = maps.firstIndex(where: { $0.name == name }) { mapReferences[index] = MapReference(map: i) }
                else { unresolved[index] = "map '\(name)', which the object does not define" }
            case let .mapValue(name, offset):
                if let i = maps.firstIndex(where: { $0.name == name }) { mapReferences[index] = MapReference(map: i, valueOffset: offset) }
                else { unresolved[index] = "map '\(name)', which the object does not define" }
            case .external(let name):
                externs[index] = name
            case .kfunc(let name):
                kfuncs[index] = name
            }
        }
    }

    /// A program of `object`, with its maps, license and BTF (which types its allocated objects and
    /// names its exception callback).
    public init(spec: ProgramSpec, object: ObjectFile) {
        self.init(spec: spec, maps: object.maps, license: object.license)
        programBTF = object.btf
    }

    /// Raw instructions whose `lddw src=1` immediates are map file descriptors (or any handles)
    /// named by `mapsByHandle`.
    public init(instructions: [Instruction], type: ProgramType, attachType: AttachType? = nil,
                mapsByHandle: [Int32: MapSpec], contextSize: Int? = nil) {
        let handles = mapsByHandle.keys.sorted()
        self.init(instructions: instructions, type: type, attachType: attachType, maps: handles.map { mapsByHandle[$0]! },
                  contextSize: contextSize)
        var i = 0
        while i < instructions.count {
            let ins = instructions[i]
            if ins.opcode == Opcode.lddw, ins.src == LoadImmediateSource.mapFD.rawValue || ins.src == LoadImmediateSource.mapValue.rawValue,
               let m = handles.firstIndex(of: ins.imm) {
                let offset = i + 1 < instructions.count ? Int(instructions[i + 1].imm) : 0
                mapReferences[i] = MapReference(map: m, valueOffset: ins.src == LoadImmediateSource.mapValue.rawValue ? offset : nil)
            }
            i += ins.opcode == Opcode.lddw ? 2 : 1
        }
    }
}

/// Verifier settings.
public struct VerifierOptions: Sendable {
    /// The complexity limit: instructions processed over all paths (the kernel's is 1,000,000).
    public var instructionLimit = 1_000_000
    /// 0: no log; 1: a summary; 2: the abstract state at each instruction processed.
    public var logLevel = 0
    /// The log's size limit in bytes (level 2 grows fast).
    public var logLimit = 16 << 20
    /// The backend the program is verified for: the kernel's rules, or those and what the Swift
    /// runtime implements.
    public var target: VerificationTarget
    public init(instructionLimit: Int = 1_000_000, logLevel: Int = 0, target: VerificationTarget = .kernel) {
        self.instructionLimit = instructionLimit
        self.logLevel = logLevel
        self.target = target
    }
}

/// What a program is verified for. The kernel's rules decide safety and which helpers a program
/// type may call (``HelperPrototype``); a backend that implements only some helpers and map types
/// (the Swift runtime) also refuses the others.
///
/// ```swift
/// Verifier(options: VerifierOptions(target: .kernel))     // what the kernel would accept
/// ```
public struct VerificationTarget: Sendable {
    /// For messages: "the Linux kernel", "the Swift runtime".
    public var name: String
    /// The helper ids the backend implements (nil: every helper of the table).
    public var helpers: Set<Int32>?
    /// The map types the backend implements (nil: every type).
    public var mapTypes: MapTypeSet?
    /// The kfuncs the backend implements, by name (nil: every kfunc the kernel's BTF has).
    public var kfuncs: Set<String>?
    /// Whether a read through a kernel pointer whose struct the verifier cannot name (no kernel BTF
    /// types it) is allowed, giving a number: for a backend with no kernel objects, whose engines
    /// check every such read against the run's memory (the Swift runtime). The kernel's rules refuse it.
    public var untypedKernelReads: Bool

    public init(name: String, helpers: Set<Int32>? = nil, mapTypes: MapTypeSet? = nil, kfuncs: Set<String>? = nil,
                untypedKernelReads: Bool = false) {
        self.name = name
        self.helpers = helpers
        self.mapTypes = mapTypes
        self.kfuncs = kfuncs ?? (helpers == nil ? nil : [])
        self.untypedKernelReads = untypedKernelReads
    }

    /// The Linux kernel's rules (Linux 6.18).
    public static let kernel = VerificationTarget(name: "the Linux kernel")
}

/// Why a program was rejected: where (instruction, its disassembly, its C source line), the
/// registers involved, and what to do about it.
///
/// ```swift
/// // R1 may be NULL at insn 19 (line 42: v->count++): check the result of bpf_map_lookup_elem (insn 18) before dereferencing
/// print(error)
/// ```
public struct VerifierError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of rule was broken.
    public enum Kind: String, Hashable, Sendable {
        case invalidProgram = "invalid_program"
        case uninitializedRegister = "uninitialized_register"
        case uninitializedStack = "uninitialized_stack"
        case nullPointer = "null_pointer"
        case outOfBounds = "out_of_bounds"
        case invalidPointer = "invalid_pointer"
        case contextAccess = "context_access"
        case helperArgument = "helper_argument"
        case helperUnavailable = "helper_unavailable"
        case unreachable = "unreachable"
        case controlFlow = "control_flow"
        case loop = "loop"
        case tooComplex = "too_complex"
        case callStack = "call_stack"
        case returnValue = "return_value"
        case referenceLeak = "reference_leak"
        case lock = "lock"
        case unsupported = "unsupported"
        /// The verifier cannot decide: the program uses what it cannot resolve (an extern, a
        /// kfunc, a kernel variable) or its type is neither named nor inferable.
        case undecided = "undecided"
    }

    public var kind: Kind
    /// The instruction index (slot), when the error is about one.
    public var instruction: Int?
    /// The instruction in the kernel log syntax.
    public var disassembly: String?
    /// The C source line, from BTF line info.
    public var sourceLine: SourceLine?
    /// The registers that made the access or call unsafe, e.g. `R1=map_value_or_null(map=counts,id=1)`.
    public var registers: String?
    /// What is wrong, e.g. `R1 may be NULL`.
    public var summary: String
    /// What to do about it.
    public var hint: String?

    public init(kind: Kind, instruction: Int?, summary: String, hint: String? = nil) {
        self.kind = kind
        self.instruction = instruction
        self.summary = summary
        self.hint = hint
    }

    /// One line: summary, place, hint.
    public var description: String {
        var text = summary
        if let instruction {
            text += " at insn \(instruction)"
            if let sourceLine {
                let code = sourceLine.text.drop { $0 == " " || $0 == "\t" }
                text += " (line \(sourceLine.line)" + (code.isEmpty ? ")" : ": \(code))")
            }
        }
        if let hint { text += ": \(hint)" }
        return text
    }

    /// The one-line description, then the instruction and the registers.
    public var detailed: String {
        var lines = [description]
        if let instruction, let disassembly { lines.append("  \(instruction): \(disassembly)") }
        if let sourceLine { lines.append("  source: \(sourceLine)") }
        if let registers { lines.append("  registers: \(registers)") }
        return lines.joined(separator: "\n")
    }
}

/// The outcome of verifying one program.
public struct VerificationResult: Sendable {
    /// The three possible answers.
    public enum Verdict: String, Sendable {
        case accept, reject, undecided
    }

    /// nil when the program is accepted.
    public var error: VerifierError?
    public var accepted: Bool { error == nil }
    /// Accept, reject, or undecided (an error of kind `.undecided`: the verifier could not
    /// tell, and says why).
    public var verdict: Verdict { error == nil ? .accept : error!.kind == .undecided ? .undecided : .reject }
    /// For a program whose section names no type: the type it was verified as, inferred from
    /// how it uses its context (the only type under which it is safe).
    public var inferredType: ProgramType?
    /// Instructions processed over all paths.
    public var instructionsProcessed: Int
    /// The most states stored for pruning at once.
    public var peakStates: Int
    /// Wall-clock verification time in microseconds.
    public var timeMicroseconds: Double
    /// One entry per instruction slot: true when the load, store or atomic there is proven to
    /// stay inside its memory region on every path (the engine may skip its bounds check).
    /// Context loads of converted fields (`data`, `data_end`, `data_meta`) are never marked.
    /// All false for a rejected program.
    public var provenAccesses: [Bool]
    /// The verifier log (level 1: summary; level 2: states per instruction).
    public var log: String
    /// The largest stack any chain of calls uses, in bytes.
    public var stackDepth: Int
    /// The helpers the program calls on some path the verifier explored, by id (sorted).
    public var helpersCalled: [Int32] = []
    /// One flag per instruction slot: loads through typed kernel pointers, which the kernel makes
    /// fault-tolerant (`BPF_PROBE_MEM`: a read the kernel cannot make gives 0). An engine gives 0
    /// for such a read outside the run's memory instead of stopping the run. Empty for a rejected
    /// program or one with no such load.
    public var probeLoads: [Bool] = []
}

extension VerifierProgram {
    /// Whether verifying the program needs the kernel's BTF beyond its kfuncs and externs: a
    /// netfilter context (its fields are kernel structs), a helper returning a typed kernel pointer
    /// (`bpf_skc_to_tcp_sock`, `bpf_get_current_task_btf`...), or a read through a map pointer (a
    /// `lddw` of a map whose register is read before it changes: `((struct bpf_map *)&m)->id`).
    public var readsKernelStructs: Bool {
        if type == .netfilter { return true }
        var i = 0
        while i < instructions.count {
            let ins = instructions[i]
            // A helper returning a typed kernel pointer (bpf_skc_to_tcp_sock...): its fields are read through BTF.
            if ins.opcode == Opcode.call && ins.src == 0, let proto = HelperPrototype[ins.imm] {
                switch proto.returns {
                case .btfID, .btfIDOrNull: return true
                default: break
                }
            }
            if ins.opcode == Opcode.lddw, let ref = mapReferences[i], ref.valueOffset == nil {
                var j = i + 2
                while j < instructions.count && j < i + 16 {
                    let next = instructions[j]
                    if next.instructionClass == .ldx && next.src == ins.dst { return true }
                    if next.instructionClass == .jmp || next.instructionClass == .jmp32 { break }
                    if next.dst == ins.dst && next.instructionClass != .st && next.instructionClass != .stx { break }
                    j += next.opcode == Opcode.lddw ? 2 : 1
                }
            }
            i += ins.opcode == Opcode.lddw ? 2 : 1
        }
        return false
    }
}

extension Array {
    /// `count` copies of `value`, as `Array(repeating:count:)`, whose allocation is an
    /// unspecialized call into the standard library that looks the storage's metadata up at every
    /// call (about 1,500 instructions; a verification makes a dozen such arrays). This one grows
    /// through the specialized append, whose metadata is cached at its call site.
    @inline(__always) init(filled value: Element, count: Int) {
        self.init()
        append(contentsOf: repeatElement(value, count: count))
    }
}
