import BPFCore
import BPFObject
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The verifier: proves a program safe before it runs, by path-sensitive abstract interpretation
/// over every path (as the Linux verifier does): register types, scalar ranges and known bits,
/// stack contents, packet bounds, NULL checks, helper prototypes, context rules, calls, loops
/// (bounded by the processed-instruction limit, with state pruning) and references.
///
/// ```swift
/// let result = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
/// if let error = result.error { print(error) }      // R1 may be NULL at insn 19 (line 42: ...): ...
/// ```
public struct Verifier: Sendable {
    public var options: VerifierOptions

    public init(options: VerifierOptions = VerifierOptions()) {
        self.options = options
    }

    /// Verifies one program.
    public func verify(_ program: VerifierProgram) -> VerificationResult {
        if program.typeUndetermined { return inferType(program) }
        var program = program
        if program.kernelBTF == nil, let own = program.programBTF, !program.kfuncs.isEmpty, ![.tracing, .lsm, .structOps, .ext].contains(program.type),
           program.kfuncs.values.allSatisfy({ KfuncFlags.parameterNames(of: $0) != nil }) {
            // Without a kernel's BTF, kfuncs whose kernel declarations this verifier knows (iterators,
            // dynptrs, RCU sections) are typed by the object's own declarations: how the Swift
            // runtime, which has no kernel, verifies them.
            program.kernelBTF = own
            program.kernelBTFIsProgramBTF = true
        }
        let start = Verifier.now()
        let analysis = Analysis(program: program, options: options)
        var error: VerifierError?
        do {
            try analysis.run()
        } catch let e {
            error = analysis.enrich(e)
        }
        let elapsed = Double(Verifier.now() - start) / 1000
        var proven = [Bool](filled: false, count: program.instructions.count)
        if error == nil {
            for i in proven.indices { proven[i] = analysis.proven.count > i && analysis.proven[i] == 1 }
        }
        if options.logLevel >= 1 {
            analysis.log += error.map { "REJECTED: \($0.detailed)\n" } ?? "ACCEPTED\n"
            analysis.log += "processed \(analysis.processed) insns (limit \(options.instructionLimit)), peak_states \(analysis.peakStates), stack depth \(analysis.maxStackDepth)\n"
        }
        return VerificationResult(error: error, instructionsProcessed: analysis.processed, peakStates: analysis.peakStates,
                                  timeMicroseconds: elapsed, provenAccesses: proven, log: analysis.log,
                                  stackDepth: analysis.maxStackDepth,
                                  helpersCalled: (1...HelperPrototype.lastID).filter { analysis.helpersCalled[Int($0) >> 6] & (1 << UInt64($0 & 63)) != 0 },
                                  probeLoads: error != nil ? [] : analysis.probeLoads)
    }

    /// The types tried for a program whose section names none (their contexts differ).
    static let inferenceCandidates: [ProgramType] = [.socketFilter, .kprobe, .schedCls, .tracepoint, .xdp, .perfEvent,
                                                     .cgroupSkb, .rawTracepoint]

    /// Verifies a program of unknown type under each candidate type: the type is inferred when
    /// exactly one accepts it; otherwise the verifier says it cannot decide, and why.
    func inferType(_ program: VerifierProgram) -> VerificationResult {
        let start = Verifier.now()
        var accepted: [(ProgramType, VerificationResult)] = []
        var rejected: [(ProgramType, VerifierError)] = []
        var processed = 0, peak = 0
        for type in Verifier.inferenceCandidates {
            var candidate = program
            candidate.typeUndetermined = false
            candidate.type = type
            candidate.attachType = type == .xdp ? .xdp : type == .cgroupSkb ? .cgroupInetIngress : nil
            let result = verify(candidate)
            processed += result.instructionsProcessed
            peak = max(peak, result.peakStates)
            if let error = result.error {
                // Undecidable for another reason (an extern...): the type does not matter.
                if error.kind == .undecided { return result }
                rejected.append((type, error))
            } else {
                accepted.append((type, result))
            }
        }
        let elapsed = Double(Verifier.now() - start) / 1000
        if accepted.count == 1 {
            var result = accepted[0].1
            result.inferredType = accepted[0].0
            result.instructionsProcessed = processed
            result.timeMicroseconds = elapsed
            if options.logLevel >= 1 {
                result.log = "section '\(program.section)' names no program type; only \(accepted[0].0.kernelName) accepts it\n" + result.log
            }
            return result
        }
        let section = program.section.isEmpty ? "the program's section" : "section '\(program.section)'"
        var error: VerifierError
        if accepted.isEmpty {
            let first = rejected[0]
            error = VerifierError(kind: .undecided, instruction: nil,
                                  summary: "cannot decide: \(section) names no program type, and no type it could be accepts it (as \(first.0.kernelName): \(first.1.description))",
                                  hint: "name the section after the program's type (e.g. SEC(\"xdp\"), SEC(\"socket\"), SEC(\"kprobe/...\")) to get that type's verdict")
        } else {
            let names = accepted.map { $0.0.kernelName }.joined(separator: ", ")
            error = VerifierError(kind: .undecided, instruction: nil,
                                  summary: "cannot decide: \(section) names no program type, and the program is safe as any of \(names)",
                                  hint: "name the section after the program's type (e.g. SEC(\"xdp\")); its rules decide what it may do")
        }
        error.registers = nil
        var log = ""
        if options.logLevel >= 1 {
            log = "UNDECIDED: \(error.description)\n"
            for (type, e) in rejected { log += "  as \(type.kernelName): \(e.description)\n" }
        }
        return VerificationResult(error: error, instructionsProcessed: processed, peakStates: peak, timeMicroseconds: elapsed,
                                  provenAccesses: [Bool](filled: false, count: program.instructions.count), log: log, stackDepth: 0)
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A stored state at a prune point. `branches` counts the paths still being explored below it;
/// at 0 everything reachable from it has been proven safe and it may prune other states.
/// Every prune point a path reaches gets one (they chain the path for precision backtracking);
/// only some are kept in the lists pruning searches.
final class Checkpoint {
    let state: VerifierState
    let parent: Checkpoint?
    /// The instruction this state is at.
    let pc: Int
    /// Its number of frames (read without copying `state`).
    let depth: Int
    /// The instruction executed just before (the end of the parent's segment); -1 at the start.
    let entryFrom: Int
    @exclusivity(unchecked) var branches = 1
    /// Kept for pruning (moves to the instruction's list of explored states when complete).
    @exclusivity(unchecked) var registered = false
    /// Prune attempts against this state that succeeded and failed (failing ones get evicted).
    @exclusivity(unchecked) var hits = 0, misses = 0
    /// Scalars whose values mattered below this state, per frame (see Precision.swift).
    @exclusivity(unchecked) var preciseRegisters = SIMD8<UInt16>()
    @exclusivity(unchecked) var preciseSlots = SIMD8<UInt64>()
    /// Stack slots (per frame, bit s: the slot fp-8(s+1)...) its future reads before writing them
    /// (StackLiveness.swift).
    @exclusivity(unchecked) var liveSlots = SIMD8<UInt64>()
    /// Stack loads and stores between this state and the next one on the path.
    @exclusivity(unchecked) var stackAccesses: [StackAccess] = []
    /// The slots (per frame) 8-byte stores of the segment overwrite whole, and the last such
    /// store's instruction (see `screenedSlots`).
    @exclusivity(unchecked) var wholeStores = SIMD8<UInt64>()
    @exclusivity(unchecked) var lastWholeStore = -1
    /// Equal states have equal fingerprints (a quick test before the exact loop check).
    let fingerprint: UInt64
    /// The part of the precise scalars whose values matter for more than a pointer offset (a
    /// branch they decide, a helper argument...): what `may_goto` loops keep exact (MayGoto.swift).
    @exclusivity(unchecked) var strongRegisters = SIMD8<UInt16>()
    @exclusivity(unchecked) var strongSlots = SIMD8<UInt64>()
    /// Set when this state's future may run through a `may_goto` loop that converged (see
    /// MayGoto.swift): its precision marks may then be incomplete, so it prunes only states all of
    /// whose scalars it contains.
    @exclusivity(unchecked) var exact = false

    /// Whether this state, with its precise scalars (all when `exact`), subsumes `cur` (see
    /// ``VerifierState/subsumes(_:live:preciseRegisters:preciseSlots:lockMaps:)``); `cur` is
    /// borrowed, not copied, for the comparison.
    func subsumes(_ cur: borrowing VerifierState, live: UInt16, lockMaps: UInt64) -> Bool {
        state.subsumes(cur, live: live, preciseRegisters: exact ? Analysis.allRegisters : preciseRegisters,
                       preciseSlots: exact ? Analysis.allSlots : preciseSlots, lockMaps: lockMaps, liveSlots: exact ? nil : liveSlots)
    }

    init(state: VerifierState, parent: Checkpoint?, pc: Int, entryFrom: Int, fingerprint: UInt64) {
        self.state = state
        self.fingerprint = fingerprint
        self.parent = parent
        self.pc = pc
        depth = state.frames.count
        self.entryFrom = entryFrom
    }
}

/// A multiset of 64-bit keys (open addressing in one `[UInt64]`: a key, then its count). The
/// exact loop check asks it whether a state still being explored at an instruction has the
/// current state's fingerprint, rather than reading the fingerprint of each (a scan of
/// `loopCheckWindow` objects per prune point was a quarter of a long loop's verification).
struct FingerprintCounts {
    private var table = [UInt64](filled: 0, count: 2 * 64)
    /// Slots holding a key, counted or not (a key whose count fell to 0 keeps its slot until the
    /// table is rebuilt).
    private var used = 0

    /// The key of a fingerprint at an instruction (never 0, which marks an empty slot).
    static func key(_ pc: Int, _ fingerprint: UInt64) -> UInt64 {
        let k = fingerprint ^ (UInt64(pc) &+ 1) &* 0x9e37_79b9_7f4a_7c15
        return k == 0 ? 1 : k
    }

    private func slot(of key: UInt64) -> Int {
        let capacity = table.count / 2
        var i = Int(truncatingIfNeeded: (key &* 0xff51_afd7_ed55_8ccd) >> 32) & (capacity - 1)
        while table[2 * i] != 0 && table[2 * i] != key { i = (i + 1) & (capacity - 1) }
        return i
    }

    func contains(_ key: UInt64) -> Bool {
        let i = slot(of: key)
        return table[2 * i] == key && table[2 * i + 1] > 0
    }

    mutating func insert(_ key: UInt64) {
        if 2 * (used + 1) > table.count / 2 { rebuild() }
        let i = slot(of: key)
        if table[2 * i] == 0 {
            table[2 * i] = key
            used += 1
        }
        table[2 * i + 1] += 1
    }

    mutating func remove(_ key: UInt64) {
        let i = slot(of: key)
        if table[2 * i] == key && table[2 * i + 1] > 0 { table[2 * i + 1] -= 1 }
    }

    /// Drops the keys counted 0, doubling the table if it would stay over a quarter full.
    private mutating func rebuild() {
        let old = table
        var live = 0
        for i in stride(from: 0, to: old.count, by: 2) where old[i] != 0 && old[i + 1] > 0 { live += 1 }
        var capacity = old.count / 2
        while 4 * (live + 1) > capacity { capacity *= 2 }
        table = [UInt64](filled: 0, count: 2 * capacity)
        used = 0
        for i in stride(from: 0, to: old.count, by: 2) where old[i] != 0 && old[i + 1] > 0 {
            let j = slot(of: old[i])
            table[2 * j] = old[i]
            table[2 * j + 1] = old[i + 1]
            used += 1
        }
    }
}

/// One verification run.
///
/// Its stored properties, and a checkpoint's, are `@exclusivity(unchecked)`: an analysis runs
/// on one thread and never overlaps two accesses to one property, and the run-time exclusivity
/// checks of a class's properties were a tenth of a long loop's verification.
final class Analysis {
    let program: VerifierProgram
    let options: VerifierOptions
    let insns: [Instruction]
    /// The program's maps, then the inner maps of maps of maps.
    @exclusivity(unchecked) var maps: [MapSpec]
    /// Map index → its inner map's index, -1 for none. (Arrays, not dictionaries or sets, here and
    /// below: a process's first `[Int: Int]` costs a scan of every protocol conformance in the binary.)
    @exclusivity(unchecked) var innerMap: [Int]
    let rules: ContextRules
    /// What a BTF-typed program's context holds (read on its first context access).
    lazy var tracingContext = TracingContext(program)
    /// The special fields (locks, lists, rbtrees) of map values and allocated objects (GraphObjects.swift).
    lazy var graphRecords = GraphRecords(btf: program.programBTF, maps: maps)
    /// The kernel's per-CPU variables (`.data..percpu`), by BTF id (read on the first kernel symbol).
    lazy var percpuVariables: Set<Int> = {
        guard let btf = program.kernelBTF else { return [] }
        var ids: Set<Int> = []
        for t in btf.types where t.kind == .dataSection && t.name == ".data..percpu" {
            if case .variables(let vars) = t.detail { for v in vars { ids.insert(v.type) } }
        }
        return ids
    }()

    @exclusivity(unchecked) var processed = 0
    @exclusivity(unchecked) var peakStates = 0
    @exclusivity(unchecked) var storedStates = 0
    @exclusivity(unchecked) var nextID: UInt32 = 1
    /// Per instruction: stored states whose every path has been proven safe (they may prune).
    @exclusivity(unchecked) var explored: [[Checkpoint]]
    /// Per instruction: stored states still being explored (for the loop check; each carries its
    /// fingerprint, compared first); each moves to `explored` when its last path ends.
    @exclusivity(unchecked) var inProgress: [[Checkpoint]]
    /// The (instruction, fingerprint) pairs of `inProgress`: the loop check scans an instruction's
    /// list only when the current state's fingerprint is among them.
    @exclusivity(unchecked) var inProgressKeys = FingerprintCounts()
    /// Per instruction: 0, or where the exploration compares states (a prune point): 1 where a
    /// checkpoint is made only when the path comes by a jump or has gone far enough since the last
    /// one (the kernel's heuristic), 2 where it is always made (see `checkControlFlow`).
    @exclusivity(unchecked) var prunePoint: [UInt8]
    /// Instructions and jumps processed when the last checkpoint was made, and jumps processed.
    @exclusivity(unchecked) var lastCheckpointInsns = 0, lastCheckpointJumps = 0, jumpsProcessed = 0
    /// Per instruction: how many states its stored ones have pruned.
    @exclusivity(unchecked) var pruneHits: [Int] = []
    /// Per instruction: how many of its stored states were dropped for failing to prune.
    @exclusivity(unchecked) var evictions: [Int] = []
    @exclusivity(unchecked) var live: [UInt16]
    @exclusivity(unchecked) var secondSlot: [Bool]
    /// Subprogram entry for each instruction.
    @exclusivity(unchecked) var subprogramOf: [Int]
    @exclusivity(unchecked) var subprograms: [Int] = [0]
    /// Per subprogram (indexed by its first instruction): the stack it uses.
    @exclusivity(unchecked) var stackDepth: [Int]
    /// The helpers called on the paths explored, and their prototypes (built once per run).
    /// Per load/store instruction: the class of pointer it was first reached with (see `samePointerClass`).
    @exclusivity(unchecked) var pointerClassAt: [UInt8] = []
    @exclusivity(unchecked) var helpersCalled = SIMD4<UInt64>()   // a bit per helper id (0...255)
    /// The helper ids whose prototype has passed the checks of ``helperPrototype(_:_:id:)`` (a bit
    /// per id): later calls rebuild the prototype (a switch, no allocation) and skip the checks.
    @exclusivity(unchecked) var checkedHelpers = SIMD4<UInt64>()
    /// Calls between subprograms, as (caller, callee) pairs of first instructions, each once.
    @exclusivity(unchecked) var callEdges: [Int] = []
    @exclusivity(unchecked) var maxStackDepth = 0
    /// 0: not reached; 1: every access proven; 2: some access not proven.
    @exclusivity(unchecked) var proven: [UInt8]
    /// Loads through typed kernel pointers (the kernel's `BPF_PROBE_MEM` loads), per instruction;
    /// empty until the first one (most programs have none).
    @exclusivity(unchecked) var probeLoads: [Bool] = []

    func markProbeLoad(_ pc: Int) {
        if probeLoads.isEmpty { probeLoads = [Bool](filled: false, count: insns.count) }
        probeLoads[pc] = true
    }
    @exclusivity(unchecked) var log = ""
    /// The state when an error was found (for the register dump).
    @exclusivity(unchecked) var failingState: VerifierState?

    struct Path {
        var state: VerifierState
        var pc: Int
        var parent: Checkpoint?
        /// The instruction that forked this path (-1 for the first).
        var from: Int
        /// A continuation after a helper that calls a callback: the callback function whose
        /// writes to its callers' stacks this path forgets when it starts (-1: none).
        var afterCallback = -1
        /// For such a continuation: the callback's first state before any stack bytes were
        /// forgotten, and the bytes its start forgot (see `explore`).
        var callback: CallbackStart?
    }
    /// A callback's first state (its frame pushed, the callers' stacks as at the call) and the
    /// caller-stack bytes forgotten in it (8 words of a 512-bit set, as `callbackWriteBits`).
    struct CallbackStart {
        var state: VerifierState
        var forgotten: [UInt64]
    }
    @exclusivity(unchecked) var pending: [Path] = []
    /// The maps whose values hold a `bpf_spin_lock` (bit i: map i; see `VerifierState.subsumes`).
    @exclusivity(unchecked) var lockMaps: UInt64 = 0
    /// A callback the helper call being executed starts: forked after its continuation, so the
    /// callback's paths are all explored before the continuation is (see `startCallback`).
    @exclusivity(unchecked) var deferredCallback: DeferredCallback?
    /// A class, so that its optional is a pointer: a process's first verification then builds no
    /// metadata for an optional tuple of states (a one-time lookup by mangled name).
    final class DeferredCallback {
        let state: VerifierState
        let target: Int
        let start: CallbackStart
        init(_ state: VerifierState, _ target: Int, _ start: CallbackStart) {
            self.state = state
            self.target = target
            self.start = start
        }
    }
    /// Per callback function (by first instruction), the stack bytes of its callers it may write
    /// (8 words of a 512-bit set per function, offset -1 is bit 0): `callbackWriteTargets[i]`'s
    /// bits are words `8 * i ..< 8 * i + 8` of `callbackWriteBits`.
    @exclusivity(unchecked) var callbackWriteTargets: [Int] = []
    @exclusivity(unchecked) var callbackWriteBits: [UInt64] = []
    /// The checkpoint whose segment the instruction being executed belongs to.
    @exclusivity(unchecked) var segmentOwner: Checkpoint?
    /// While set, backtracking marks the checkpoints' strong precision (see `Checkpoint.strongRegisters`).
    @exclusivity(unchecked) var markingStrong = false
    /// Whether the program has `may_goto` (only its loops need strong precision).
    let hasMayGoto: Bool
    /// Whether the program calls `bpf_loop` (CallbackLoops.swift).
    let hasLoopCalls: Bool
    /// bpf_fastcall spills and fills, which the kernel's stack depth leaves out (Fastcall.swift).
    @exclusivity(unchecked) var fastcall = FastcallPatterns()
    /// The first instruction of the program's exception callback (`__exception_cb`), if it names one.
    @exclusivity(unchecked) var exceptionCallbackStart: Int?
    /// Whether the exception callback is being explored (it may not throw).
    @exclusivity(unchecked) var exploringExceptionCallback = false
    /// Global functions (GlobalFunctions.swift): their prototypes, those called so far (verified
    /// after the program, in this order), the calls between them, and the one being verified.
    @exclusivity(unchecked) var globalPrototypes: [GlobalPrototype] = []
    @exclusivity(unchecked) var globalFunctionsCalled: [Int] = []
    @exclusivity(unchecked) var globalCallEdges: [GlobalCallEdge] = []
    @exclusivity(unchecked) var rootPeaks: [GlobalCallEdge] = []
    @exclusivity(unchecked) var verifyingGlobalFunction: GlobalPrototype?
    /// The function whose verification is under way (0: the program) and the most frames it has had.
    @exclusivity(unchecked) var verificationRoot = 0
    @exclusivity(unchecked) var verificationRootPeak = 1
    /// The instruction executed before the current one on this path (-1 at the start).
    @exclusivity(unchecked) var previousPC = -1
    /// The instruction being executed.
    @exclusivity(unchecked) var currentPC = 0

    init(program: VerifierProgram, options: VerifierOptions) {
        self.program = program
        self.options = options
        insns = program.instructions
        // Loops that converge (may_goto, open-coded iterators) need the strong precision marks.
        hasMayGoto = program.instructions.contains { $0.opcode == Opcode.mayGoto }
            || program.kfuncs.values.contains { Analysis.iteratorCall($0)?.operation == "next" }
        hasLoopCalls = program.instructions.contains { $0.opcode == Opcode.call && $0.src == 0 && $0.imm == Analysis.loopHelper }
        maps = program.maps
        innerMap = [Int](filled: -1, count: program.maps.count)
        for i in program.maps.indices {
            if let inner = program.maps[i].innerMap?.spec {
                innerMap[i] = maps.count
                maps.append(inner)
            }
        }
        while innerMap.count < maps.count { innerMap.append(-1) }
        for (i, map) in maps.enumerated() where map.spinLockOffset != nil { lockMaps |= i < 64 ? 1 << UInt64(i) : 0 }
        rules = ContextRules(type: program.type, attachType: program.attachType, contextSize: program.contextSize)
        explored = [[Checkpoint]](filled: [], count: insns.count)
        inProgress = [[Checkpoint]](filled: [], count: insns.count)
        prunePoint = [UInt8](filled: 0, count: insns.count)
        pruneHits = [Int](filled: 0, count: insns.count)
        evictions = pruneHits
        live = [UInt16](filled: 0x7ff, count: insns.count)
        secondSlot = [Bool](filled: false, count: insns.count)
        subprogramOf = [Int](filled: 0, count: insns.count)
        proven = [UInt8](filled: 0, count: insns.count)
        stackDepth = [Int](filled: 0, count: insns.count)
    }

    /// Records a call from the subprogram at `caller` to the one at `callee`.
    func addCallEdge(_ caller: Int, _ callee: Int) {
        var i = 0
        while i < callEdges.count {
            if callEdges[i] == caller && callEdges[i + 1] == callee { return }
            i += 2
        }
        callEdges.append(caller)
        callEdges.append(callee)
    }

    func freshID() -> UInt32 {
        nextID += 1
        return nextID
    }

    // MARK: Errors

    func fail(_ kind: VerifierError.Kind, _ pc: Int?, _ summary: String, _ hint: String? = nil,
              state: VerifierState? = nil, registers: [Int] = []) -> VerifierError {
        var e = VerifierError(kind: kind, instruction: pc, summary: summary, hint: hint)
        if let state, !registers.isEmpty {
            e.registers = registers.map { "R\($0)=\(state[$0].describe(maps: maps))" }.joined(separator: " ")
        }
        failingState = state
        return e
    }

    func enrich(_ error: VerifierError) -> VerifierError {
        var e = error
        if let pc = e.instruction, pc >= 0, pc < insns.count {
            if e.disassembly == nil { e.disassembly = Disassembler(syntax: .llvm).instruction(at: pc, in: insns) }
            var i = pc
            while i >= 0 {
                if let line = program.sourceLines[i] { e.sourceLine = line; break }
                i -= 1
            }
        }
        return e
    }

    func helperName(_ pc: Int) -> String {
        if insns[pc].src == CallKind.kfunc.rawValue { return program.kfuncs[pc] ?? "kfunc \(insns[pc].imm)" }
        return HelperPrototype[insns[pc].imm]?.name ?? "helper \(insns[pc].imm)"
    }

    // MARK: Driver

    func run() throws(VerifierError) {
        do { try Program.validate(insns, framePointerWrites: true) } catch {
            throw fail(.invalidProgram, error.index, error.message)
        }
        if let (pc, what) = program.unresolved.min(by: { $0.key < $1.key }) {
            throw fail(.undecided, pc, "cannot decide: the program uses \(what)",
                       "the verifier checks only what it can resolve; load it where this is defined")
        }
        if program.kernelBTF == nil, let (pc, name) = program.externs.min(by: { $0.key < $1.key }) {
            throw fail(.undecided, pc, "cannot decide: the program uses extern '\(name)' (a .ksyms or unresolved symbol)",
                       "kernel symbols are typed by the kernel's BTF: give it (verify --btf, or the running kernel's)")
        }
        if program.kernelBTF == nil, let (pc, name) = program.kfuncs.min(by: { $0.key < $1.key }) {
            throw fail(.undecided, pc, "cannot decide: the program uses kfunc '\(name)'",
                       "kfuncs are typed by the kernel's BTF: give it (verify --btf, or the running kernel's)")
        }
        try checkExceptionCallback()
        try checkProgramRules()
        try checkControlFlow()
        markFastcallPatterns()
        computeLiveness()

        var state = VerifierState(frames: [Frame(callSite: -1, subprogram: 0)])
        state[10] = stackPointer(frame: 0)
        if program.type == .unspecified {
            let size = program.contextSize ?? 0
            if size > 0 {
                var r1 = Register()
                r1.kind = .memory
                r1.size = size
                state[1] = r1
            } else {
                state[1] = .scalar(.constant(0))
            }
            state[2] = .scalar(.constant(UInt64(size)))
        } else {
            var ctx = Register()
            ctx.kind = .context
            state[1] = ctx
        }
        pending = [Path(state: state, pc: 0, parent: nil, from: -1)]
        while !pending.isEmpty {
            try explore(pending.removeLast())
        }
        if let start = exceptionCallbackStart {
            // The exception callback: called by the kernel after a throw, with the cookie.
            var callback = VerifierState(frames: [Frame(callSite: -1, subprogram: start)])
            callback[10] = stackPointer(frame: 0)
            callback[1] = .unknownScalar
            exploringExceptionCallback = true
            verificationRoot = start
            pending = [Path(state: callback, pc: start, parent: nil, from: -1)]
            while !pending.isEmpty {
                try explore(pending.removeLast())
            }
            exploringExceptionCallback = false
        }
        try verifyGlobalFunctions()
        try checkGlobalCallDepth()
        try checkStackDepth()
    }

    func stackPointer(frame: Int) -> Register {
        var r = Register()
        r.kind = .stack
        r.frame = frame
        return r
    }

    func finish(_ parent: Checkpoint?) {
        var p = parent
        while let c = p {
            c.branches -= 1
            if c.branches > 0 { break }
            if c.registered {
                // Usually the most recent one: paths end in the reverse order they started.
                if let i = inProgress[c.pc].lastIndex(where: { $0 === c }) {
                    inProgress[c.pc].remove(at: i)
                    inProgressKeys.remove(FingerprintCounts.key(c.pc, c.fingerprint))
                }
                explored[c.pc].append(c)
            }
            p = c.parent
        }
    }

    func fork(_ state: VerifierState, at pc: Int, parent: Checkpoint?, afterCallback: Int = -1, callback: CallbackStart? = nil) {
        parent?.branches += 1
        pending.append(Path(state: state, pc: pc, parent: parent, from: currentPC, afterCallback: afterCallback, callback: callback))
    }

    func explore(_ path: Path) throws(VerifierError) {
        var st = path.state
        var pc = path.pc
        var parent = path.parent
        previousPC = path.from
        if path.afterCallback >= 0 {
            let written = callbackWrites(path.afterCallback)
            if let start = path.callback, zip(written, start.forgotten).contains(where: { $0 & ~$1 != 0 }) {
                // The callback's paths wrote caller-stack bytes its first state still knew: a later
                // iteration starts with those changed. Explore the callback again with them
                // forgotten too, then come back here (the set only grows: this ends).
                currentPC = path.from
                fork(st, at: pc, parent: parent, afterCallback: path.afterCallback,
                     callback: CallbackStart(state: start.state, forgotten: written))
                fork(callbackFirstState(start.state, forgetting: written), at: path.afterCallback, parent: parent)
                finish(parent)
                return
            }
            forgetCallbackWrites(&st, callback: path.afterCallback)
        }
        while true {
            processed += 1
            if processed > options.instructionLimit {
                throw fail(.tooComplex, pc, "the program is too complex: \(options.instructionLimit) instructions processed",
                           "a loop may not terminate (its exit condition is never proven), or there are too many paths; bound loops with a constant or simplify the branches")
            }
            if prunePoint[pc] != 0 {
                let (pruned, fingerprint) = try prune(&st, pc, parent)
                if pruned {
                    finish(parent)
                    return
                }
                if needsCheckpoint(pc) {
                    lastCheckpointInsns = processed
                    lastCheckpointJumps = jumpsProcessed
                    let cp = Checkpoint(state: st, parent: parent, pc: pc, entryFrom: previousPC, fingerprint: fingerprint)
                    if explored[pc].count < Analysis.statesPerInstruction {
                        cp.registered = true
                        inProgress[pc].append(cp)
                        inProgressKeys.insert(FingerprintCounts.key(pc, fingerprint))
                        storedStates += 1
                        peakStates = max(peakStates, storedStates)
                    }
                    parent = cp
                }
            }
            segmentOwner = parent
            currentPC = pc
            if options.logLevel >= 2 && log.utf8.count < options.logLimit {
                log += "\(pc): \(Disassembler(syntax: .llvm).instruction(at: pc, in: insns)) ; \(describe(st))\n"
            }
            let result = try step(&st, pc, parent)
            if insns[pc].instructionClass == .jmp || insns[pc].instructionClass == .jmp32 { jumpsProcessed += 1 }
            if pending.count > Analysis.jumpSequenceLimit {
                throw fail(.tooComplex, pc, "the sequence of \(pending.count) jumps is too complex: more than \(Analysis.jumpSequenceLimit) branches wait to be explored",
                           "there are too many paths; simplify the branches (the kernel's BPF_COMPLEXITY_LIMIT_JMP_SEQ)")
            }
            previousPC = pc
            switch result {
            case .next(let n):
                pc = n
            case .exit:
                finish(parent)
                return
            }
        }
    }

    /// Whether a state not pruned at prune point `pc` is stored as a checkpoint. At a point whose
    /// stored states have pruned nothing and of which at least 4 were dropped for failing or at
    /// least 8 are still being explored (a loop going round), a path that came straight on (from
    /// the fall-through of a branch or a helper call, not a jump, another call or an exit) and
    /// made fewer than 8 instructions or 2 jumps since the last checkpoint goes on without one, as
    /// the kernel's verifier adds states: the previous checkpoint's segment stays a straight line
    /// (Precision.swift), a long run of branches whose states never match stores a fraction of
    /// them (`branches-1500`, `benchmarks.md`), and a loop's body stores no state a round besides
    /// its head's. Where loops converge, after bpf-to-bpf and kfunc calls and helpers that run a
    /// callback, and at function entries a checkpoint is always made.
    func needsCheckpoint(_ pc: Int) -> Bool {
        if prunePoint[pc] == 2 || previousPC != pc - 1 || previousPC < 0 { return true }
        let before = insns[previousPC]
        if before.instructionClass == .jmp || before.instructionClass == .jmp32 {
            // Only the fall-through of a conditional jump or of a helper call continues the
            // straight line (after any other call the prune point is forced, see checkControlFlow).
            guard JumpOperation(rawValue: before.opcode & 0xf0)?.isConditional == true || before.opcode == Opcode.call else { return true }
        }
        // Only where stored states have proven useless: none pruned anything, and a few were
        // dropped for failing or several are still being explored (a loop going round; elsewhere
        // a state stored now may prune a later path).
        if pruneHits[pc] > 0 || (evictions[pc] < 4 && inProgress[pc].count < 8) { return true }
        return processed - lastCheckpointInsns >= 8 && jumpsProcessed - lastCheckpointJumps >= 2
    }

    /// How many of the most recent states still being explored at an instruction the exact loop
    /// check compares with.
    static let loopCheckWindow = 256

    /// The most paths waiting to be explored (the kernel's BPF_COMPLEXITY_LIMIT_JMP_SEQ).
    static let jumpSequenceLimit = 8192

    /// The most states kept for pruning at one instruction.
    static let statesPerInstruction = 4096

    /// Looks for a stored state at `pc` that proves the current one safe (then its precise
    /// scalars become precise on this path too); detects loops that come back unchanged.
    /// Returns whether the state was pruned, and its fingerprint.
    /// Prepares the state for storing: dead registers are cleared, and so are scalar ids no
    /// other register shares.
    func prune(_ st: inout VerifierState, _ pc: Int, _ parent: Checkpoint?) throws(VerifierError) -> (Bool, UInt64) {
        let liveHere = live[pc]
        let top = st.frames.count - 1
        for r in 0..<10 where liveHere & (1 << UInt16(r)) == 0 && st.frames[top].registers[r].kind != .uninitialized {
            st.frames[top].registers[r] = .uninitialized
        }
        clearSingularIDs(&st)
        let fingerprint = st.fingerprint
        // A state still being explored, met again unchanged: the path loops forever.
        // Only the most recent ones are compared: a loop that repeats itself does so soon, and
        // one that does not is stopped by the complexity limit (its verdict is the same).
        if inProgressKeys.contains(FingerprintCounts.key(pc, fingerprint)) {
            let pending = inProgress[pc]
            var j = hasLoopCalls && isLoopCall(pc) ? -1 : pending.count - 1   // not at a bpf_loop call (CallbackLoops.swift)
            while j >= 0 && j >= pending.count - Analysis.loopCheckWindow {
                if pending[j].fingerprint == fingerprint && pending[j].state == st {
                    throw fail(.loop, pc, "infinite loop: the program comes back to insn \(pc) in exactly the same state",
                               "make sure the loop's condition changes on every iteration")
                }
                j -= 1
            }
        }
        if insns[pc].opcode == Opcode.mayGoto || (hasMayGoto && isIteratorNext(pc) && iteratorActive(st)) || (hasLoopCalls && isLoopCall(pc)),
           let loop = isLoopCall(pc) ? convergedCallbackLoop(st, pc, parent, live: liveHere) : convergedLoop(st, pc, parent, live: liveHere) {
            loop.hits += 1
            var set = PrecisionSet(registers: loop.preciseRegisters, slots: loop.preciseSlots)
            set.registers[top] &= liveHere
            if let parent {
                if isLoopCall(pc) { markCallbackRunsDependent(parent, below: loop) } else { markLoopDependent(parent) }
                if !set.isEmpty {
                    backtrack(set, depth: st.frames.count, from: previousPC, node: parent)
                    backtrackStrong(loop, top: top, live: liveHere, parent: parent, depth: st.frames.count)
                }
            }
            return (true, fingerprint)
        }
        // Work on the list alone (unshared), and put it back on every way out.
        var list = explored[pc]
        explored[pc] = []
        defer { explored[pc] = list }
        // Newest first: the states completed last are the likeliest to match.
        var i = list.count - 1
        while i >= 0 {
            let cp = list[i]
            if cp.subsumes(st, live: liveHere, lockMaps: lockMaps),
               !hasLoopCalls || callbackRunsCover(cp.state, st) {
                cp.hits += 1
                pruneHits[pc] += 1
                if options.logLevel >= 3 && log.utf8.count < options.logLimit { log += "PRUNED \(pc) regs=\(String(cp.preciseRegisters[top] & liveHere, radix: 2))\n" }
                if cp.exact, let parent { markLoopDependent(parent) }
                if let parent { propagateStackReads(cp, frames: st.frames.count, parent: parent) }
                var set = PrecisionSet(registers: cp.preciseRegisters, slots: cp.preciseSlots)
                set.registers[top] &= liveHere
                if !set.isEmpty, let parent {
                    backtrack(set, depth: st.frames.count, from: previousPC, node: parent)
                    backtrackStrong(cp, top: top, live: liveHere, parent: parent, depth: st.frames.count)
                }
                return (true, fingerprint)
            }
            if options.logLevel >= 3 && log.utf8.count < options.logLimit {
                log += "PRUNEMISS \(pc) exact=\(cp.exact) regs=\(String(cp.preciseRegisters[top], radix: 2)) slots=\(String(cp.preciseSlots[top], radix: 16)) live=\(String(liveHere, radix: 2))\n   old: \(describe(cp.state))\n   cur: \(describe(st))\n"
            }
            cp.misses += 1
            if cp.misses > cp.hits * 3 + 3 {
                // It keeps failing: stop trying it (the kernel's heuristic).
                list.remove(at: i)
                evictions[pc] += 1
                storedStates -= 1
            }
            i -= 1
        }
        return (false, fingerprint)
    }

    /// Scalar ids link copies so that a range check on one refines all; an id held by one
    /// scalar alone links nothing and would only make states look different.
    func clearSingularIDs(_ st: inout VerifierState) {
        for f in st.frames.indices {
            for r in 0..<11 where st.frames[f].registers[r].kind == .scalar && st.frames[f].registers[r].id != 0 {
                if st.holders(of: st.frames[f].registers[r].id) == 1 {
                    st.frames[f].registers[r].id = 0
                    st.frames[f].registers[r].offset = 0
                }
            }
            for s in st.frames[f].spills.storage.indices {
                let spill = st.frames[f].spills.storage[s]
                guard spill.kind == .scalar, spill.id != 0 else { continue }
                if st.holders(of: spill.id) == 1 {
                    st.frames[f].spills.storage[s].id = 0
                    st.frames[f].spills.storage[s].offset = 0
                }
            }
        }
    }

    func describe(_ st: VerifierState) -> String {
        var parts: [String] = []
        if st.frames.count > 1 { parts.append("frame\(st.frames.count - 1)") }
        for r in 0..<11 where st[r].kind != .uninitialized {
            parts.append("R\(r)=\(st[r].describe(maps: maps))")
        }
        let frame = st.current
        var slot = 0
        while slot * 8 < frame.bytes.count {
            let off = -8 * (slot + 1)
            if let s = frame.spills[slot] {
                parts.append("fp\(off)=\(s.describe(maps: maps))")
            } else {
                let chars = (0..<8).map { i -> Character in
                    switch frame.byte(off + 7 - i) {
                    case .invalid: "?"
                    case .misc: "m"
                    case .zero: "0"
                    case .spill: "r"
                    }
                }
                if chars.contains(where: { $0 != "?" }) { parts.append("fp\(off)=\(String(chars))") }
            }
            slot += 1
        }
        if !st.references.isEmpty { parts.append("refs=" + st.references.map { "\($0.id)" }.joined(separator: ",")) }
        if st.lock != nil { parts.append("lock held") }
        return parts.joined(separator: " ")
    }

    enum StepResult {
        case next(Int)
        case exit
    }

    // MARK: Control flow graph

    func successors(_ pc: Int) -> Successors {
        let ins = insns[pc]
        let cls = ins.instructionClass
        if ins.opcode == Opcode.lddw { return Successors(pc + 2) }
        guard cls == .jmp || cls == .jmp32 else { return Successors(pc + 1) }
        if ins.opcode == Opcode.mayGoto { return Successors(pc + 1, pc + 1 + Int(ins.offset)) }
        let op = JumpOperation(rawValue: ins.opcode & 0xf0)!
        switch op {
        case .exit: return Successors()
        case .call: return Successors(pc + 1)
        case .ja: return Successors(pc + 1 + (cls == .jmp32 ? Int(ins.imm) : Int(ins.offset)))
        default: return Successors(pc + 1, pc + 1 + Int(ins.offset))
        }
    }

    func checkControlFlow() throws(VerifierError) {
        // Built in locals and stored once at the end: each store to the analysis's own arrays
        // is a dynamic exclusivity check.
        var secondSlot = self.secondSlot, prunePoint = self.prunePoint, subprogramOf = self.subprogramOf
        defer {
            self.secondSlot = secondSlot
            self.prunePoint = prunePoint
            self.subprogramOf = subprogramOf
        }
        var i = 0
        // Subprogram starts, marked per instruction (a start outside the program is kept aside:
        // it is caught below as a jump off the end or into another function).
        var isStart = [Bool](filled: false, count: insns.count)
        var outside: [Int] = []
        func addStart(_ s: Int) {
            if s >= 0 && s < insns.count { isStart[s] = true } else if !outside.contains(s) { outside.append(s) }
        }
        addStart(0)
        if let start = exceptionCallbackStart { addStart(start) }
        while i < insns.count {
            let ins = insns[i]
            if ins.opcode == Opcode.lddw {
                secondSlot[i + 1] = true
                if ins.src == LoadImmediateSource.function.rawValue { addStart(i + 1 + Int(ins.imm)) }
                i += 2
                continue
            }
            if ins.opcode == Opcode.call && ins.src == CallKind.local.rawValue { addStart(i + 1 + Int(ins.imm)) }
            i += 1
        }
        func startsContains(_ s: Int) -> Bool { s >= 0 && s < insns.count ? isStart[s] : outside.contains(s) }
        subprograms = outside.filter { $0 < 0 }.sorted() + insns.indices.filter { isStart[$0] } + outside.filter { $0 >= insns.count }.sorted()
        var current = 0
        for pc in insns.indices {
            if isStart[pc] { current = pc }
            subprogramOf[pc] = current
        }
        let loadsFunctions = insns.contains { $0.opcode == Opcode.lddw && $0.src == LoadImmediateSource.function.rawValue }
        // Each jump stays in its function; nothing falls off a function's end.
        for pc in insns.indices where !secondSlot[pc] {
            for s in successors(pc) {
                if s >= insns.count {
                    throw fail(.controlFlow, pc, "execution falls off the end of the program after insn \(pc)",
                               "the last instruction must be an exit or a jump")
                }
                if subprogramOf[s] != subprogramOf[pc] || (startsContains(s) && s != subprogramOf[pc]) {
                    let isFallthrough = s == pc + 1 || (insns[pc].opcode == Opcode.lddw && s == pc + 2)
                    throw fail(.controlFlow, pc, isFallthrough
                               ? "execution falls from the function at insn \(subprogramOf[pc]) into the next one at insn \(s)"
                               : "jump from insn \(pc) to insn \(s) crosses into another function",
                               "every function must end with an exit or a jump back into itself")
                }
                if s != pc + 1 && !(insns[pc].opcode == Opcode.lddw) { prunePoint[s] = max(prunePoint[s], 1) }
                if insns[pc].instructionClass == .jmp || insns[pc].instructionClass == .jmp32 {
                    if JumpOperation(rawValue: insns[pc].opcode & 0xf0)?.isConditional == true { prunePoint[s] = max(prunePoint[s], 1) }
                }
                if insns[pc].opcode == Opcode.mayGoto {
                    // Both outcomes, and the instruction itself (where loops converge), as the kernel's forced checkpoint.
                    prunePoint[s] = 2
                    prunePoint[pc] = 2
                }
            }
            // After a call: a checkpoint always after a bpf-to-bpf or kfunc call or a helper that
            // runs a callback (a segment never runs through one, see Precision.swift); after another
            // helper call an ordinary prune point, as the kernel's `visit_func_call_insn` marks it.
            if insns[pc].opcode == Opcode.call && pc + 1 < insns.count {
                // (A helper runs a callback only when given a function, which only a `lddw` of a
                // function makes: without one no prototype need be looked at.)
                let linear = insns[pc].src == 0 && !(loadsFunctions && HelperPrototype.takesCallback(insns[pc].imm))
                prunePoint[pc + 1] = linear ? max(prunePoint[pc + 1], 1) : 2
            }
            // A bpf_loop call: its callback's runs come back to it (CallbackLoops.swift).
            if hasLoopCalls && isLoopCall(pc) { prunePoint[pc] = 2 }
            // An iterator's next: where its loop converges.
            if hasMayGoto && isIteratorNext(pc) { prunePoint[pc] = 2 }
        }
        for s in subprograms where s >= 0 && s < insns.count { prunePoint[s] = 2 }
        // Every instruction is reachable.
        var seen = [Bool](filled: false, count: insns.count)
        var work = [0]
        seen[0] = true
        if let start = exceptionCallbackStart, start < insns.count, !seen[start] {
            seen[start] = true
            work.append(start)
        }
        while let pc = work.popLast() {
            var next = successors(pc)
            let ins = insns[pc]
            if ins.opcode == Opcode.call && ins.src == CallKind.local.rawValue { next.append(pc + 1 + Int(ins.imm)) }
            if ins.opcode == Opcode.lddw && ins.src == LoadImmediateSource.function.rawValue { next.append(pc + 1 + Int(ins.imm)) }
            for s in next where s < insns.count && !seen[s] {
                seen[s] = true
                work.append(s)
            }
        }
        for pc in insns.indices where !seen[pc] && !secondSlot[pc] {
            throw fail(.unreachable, pc, "insn \(pc) is unreachable", "remove dead code; the kernel refuses it too")
        }
    }

    /// Registers each instruction reads and writes, for liveness.
    func usesAndDefs(_ pc: Int) -> (use: UInt16, def: UInt16) {
        let ins = insns[pc]
        let d = UInt16(1) << UInt16(ins.dst), s = UInt16(1) << UInt16(ins.src)
        let clobbered: UInt16 = 0b111111
        switch ins.instructionClass {
        case .alu, .alu64:
            let op = ins.opcode & 0xf0
            let reg = ins.opcode & 0x08 != 0
            if op == ALUOperation.mov.rawValue { return (reg ? s : 0, d) }
            return (d | (reg && op != ALUOperation.end.rawValue ? s : 0), d)
        case .jmp, .jmp32:
            if ins.opcode == Opcode.mayGoto { return (0, 0) }
            let op = JumpOperation(rawValue: ins.opcode & 0xf0)!
            switch op {
            case .exit: return (1, 0)
            case .call: return (callArguments(pc) | (ins.opcode == Opcode.callx ? d : 0), clobbered)
            case .ja: return (0, 0)
            default: return (d | (ins.opcode & 0x08 != 0 ? s : 0), 0)
            }
        case .ld:
            if ins.opcode == Opcode.lddw { return (0, d) }
            let indirect = ins.opcode & 0xe0 == MemoryMode.indirect.rawValue
            return ((1 << 6) | (indirect ? s : 0), clobbered)
        case .ldx: return (s, d)
        case .st: return (d, 0)
        case .stx:
            if ins.opcode & 0xe0 == MemoryMode.atomic.rawValue {
                if ins.imm == AtomicOperation.compareExchange.rawValue { return (d | s | 1, 1) }
                return (d | s, ins.imm & AtomicOperation.fetchFlag != 0 ? s : 0)
            }
            return (d | s, 0)
        }
    }

    /// The registers a call reads: a helper's or kfunc's parameters (the kernel's
    /// compute_insn_live_regs with get_call_summary), R1-R5 for a bpf-to-bpf call or an unknown callee.
    func callArguments(_ pc: Int) -> UInt16 {
        let ins = insns[pc]
        var count = 5
        if ins.opcode == Opcode.call && ins.src == CallKind.helper.rawValue, let proto = HelperPrototype[ins.imm, for: program.type] {
            count = proto.arguments.count
        } else if ins.opcode == Opcode.call && ins.src == CallKind.kfunc.rawValue, let name = program.kfuncs[pc], let btf = kernelBTF,
                  let function = btf.typeID(named: name, kind: .function), let f = btf[function], let proto = btf[f.referencedType],
                  case .parameters(let parameters) = proto.detail {
            count = min(parameters.count, 5)
        }
        return UInt16((1 << (count + 1)) - 2)
    }

    func computeLiveness() {
        var liveIn = [UInt16](filled: 0, count: insns.count)
        // Uses and defs as two arrays of a type the verifier needs anyway (an array of tuples
        // would be one more array type for the process to build at run time).
        var uses = [UInt16](filled: 0, count: insns.count), defs = uses
        for pc in insns.indices where !secondSlot[pc] { (uses[pc], defs[pc]) = usesAndDefs(pc) }
        var changed = true
        while changed {
            changed = false
            for pc in insns.indices.reversed() where !secondSlot[pc] {
                var out: UInt16 = 0
                for s in successors(pc) where s < insns.count { out |= liveIn[s] }
                let new = uses[pc] | (out & ~defs[pc]) | (1 << 10)
                if new != liveIn[pc] {
                    liveIn[pc] = new
                    changed = true
                }
            }
        }
        live = liveIn
    }

    func checkStackDepth() throws(VerifierError) {
        func rounded(_ d: Int) -> Int { (max(d, 0) + 15) / 16 * 16 }
        var memo = [Int](filled: -1, count: insns.count)
        var visiting = [Bool](filled: false, count: insns.count)
        func deepest(_ sub: Int) -> Int {
            if memo[sub] >= 0 { return memo[sub] }
            if visiting[sub] { return 0 }
            visiting[sub] = true
            var best = 0
            var i = 0
            while i < callEdges.count {
                if callEdges[i] == sub { best = max(best, deepest(callEdges[i + 1])) }
                i += 2
            }
            visiting[sub] = false
            let total = rounded(depthAfterFastcall(sub)) + best
            memo[sub] = total
            return total
        }
        maxStackDepth = deepest(0)
        if maxStackDepth > 512 {
            throw fail(.callStack, nil, "the combined stack of the deepest call chain is \(maxStackDepth) bytes, more than 512",
                       "use less stack in the functions that call each other, or keep large buffers in a per-CPU array map")
        }
    }

    func markAccess(_ pc: Int, proven isProven: Bool) {
        if !isProven { proven[pc] = 2 } else if proven[pc] == 0 { proven[pc] = 1 }
    }
}

/// The instructions control may move to from one instruction (up to three: a jump's two and a
/// call's target), kept inline so the pre-passes allocate nothing per instruction.
struct Successors: Sequence, IteratorProtocol {
    private var slots: (Int, Int, Int) = (0, 0, 0)
    private(set) var count = 0
    private var position = 0

    init() {}
    init(_ a: Int) { slots.0 = a; count = 1 }
    init(_ a: Int, _ b: Int) { slots = (a, b, 0); count = 2 }

    mutating func append(_ s: Int) {
        switch count {
        case 0: slots.0 = s
        case 1: slots.1 = s
        default: slots.2 = s
        }
        count = Swift.min(count + 1, 3)
    }

    mutating func next() -> Int? {
        guard position < count else { return nil }
        defer { position += 1 }
        switch position {
        case 0: return slots.0
        case 1: return slots.1
        default: return slots.2
        }
    }
}
