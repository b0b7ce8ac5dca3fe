import BPFCore
import BPFObject
import CBPFRuntimeSupport
import Synchronization

/// Limits for one run of a program.
public struct ExecutionOptions: Sendable, Hashable {
    /// The most instructions one run may execute before it is stopped.
    public var instructionLimit: UInt64
    /// The most stack frames (the program plus bpf-to-bpf callees), as in Linux.
    public static let maxCallFrames = 8
    /// Stack bytes per frame, as in Linux.
    public static let stackSizePerFrame = 512
    /// The most frames a run that tail-calls can hold: a tail call replaces the frame it is made
    /// from, so each program a run reaches (the first and at most 33 tail-called) starts where its
    /// caller stood and may add up to 7 frames of its own, as the kernel's JITs allow (its verifier
    /// limits each program to 8 frames; the tail call counter limits the chain).
    public static let maxTailCallFrames = maxCallFrames + 33 * (maxCallFrames - 1)

    /// Whether the JIT blinds the program's constants (as Linux's `bpf_jit_harden`): each immediate
    /// is emitted XORed with a random key and restored at run time, so a program cannot plant chosen
    /// bytes in executable memory. Costs an instruction or two per constant.
    public var constantBlinding: Bool

    /// The loop budget each call frame starts with: its `may_goto`s fall through this many times,
    /// then jump. The kernel's `BPF_MAX_LOOPS` (8M) by default; smaller values make tests of the
    /// exhausted path quick (at most `Int32.max`).
    public var mayGotoBudget: UInt64

    public init(instructionLimit: UInt64 = 1_000_000, constantBlinding: Bool = false, mayGotoBudget: UInt64 = Opcode.mayGotoBudget) {
        self.instructionLimit = instructionLimit
        self.constantBlinding = constantBlinding
        self.mayGotoBudget = min(mayGotoBudget, UInt64(Int32.max))
    }
}

/// What one run produced.
public struct ExecutionResult: Sendable, Hashable {
    /// r0 at the final `exit`.
    public var returnValue: UInt64
    /// How many instructions were executed (a `lddw` counts once).
    public var instructionsExecuted: UInt64
}

/// The reference execution engine: runs eBPF with exact Linux semantics, checking every memory
/// access against the regions the program was given, so even unverified bytecode cannot touch host
/// memory outside them.
///
/// ```swift
/// let program = try Assembler().assembleProgram("ldxb %r0, [%r1+2]\nexit")
/// let interpreter = try Interpreter(program: program)
/// var packet: [UInt8] = [0xaa, 0xbb, 0x11]
/// let result = try interpreter.run(memory: &packet)   // result.returnValue == 0x11
/// ```
public final class Interpreter: Sendable {
    /// The program being run.
    public let program: Program
    /// The limits every run observes.
    public let options: ExecutionOptions
    /// The helpers the program may call.
    public let helpers: HelperRegistry

    // Slots plus one sentinel (opcode 0, never valid) that catches running off the end.
    let slots: [Instruction]
    /// The same slots at a fixed address for the engine's loop (freed with the interpreter).
    /// The slots pre-decoded for the loop (`DecodedInstruction`), at a fixed address (freed with the interpreter).
    nonisolated(unsafe) private let code: UnsafeMutablePointer<DecodedInstruction>
    let denseHelpers: [Helper?]
    /// Whether the program has `may_goto`: each call frame then keeps a loop budget (in the
    /// frame's save area, outside the program's stack; the kernel keeps it below the program's stack).
    let usesMayGoto: Bool
    /// The frames a run of this program can hold: ``ExecutionOptions/maxCallFrames``, or
    /// ``ExecutionOptions/maxTailCallFrames`` when the program tail-calls (the programs it reaches run
    /// on its run's frames and stack).
    let frameCapacity: Int
    /// The helpers' functions by id, so a call copies no name string.
    let denseFunctions: ContiguousArray<HelperFunction?>
    /// The first instruction of the program's exception callback (`__exception_cb`): what runs,
    /// with the cookie in r1, after `bpf_throw`. nil: a throw returns the cookie, as the kernel's
    /// default callback does.
    public let exceptionCallback: Int?
    /// The BTF of the object the program came from: the types `bpf_obj_new` allocates.
    public let programBTF: BTF?
    /// Loads the verifier found reading through typed kernel pointers (``VerificationResult/probeLoads``):
    /// as the kernel's `BPF_PROBE_MEM` loads, one outside the run's memory reads 0 instead of
    /// stopping the run (both engines; nothing outside the run's memory is read). One flag per
    /// instruction slot; empty when there is none.
    let probeLoads: [Bool]

    /// Prepares a program: validates it and resolves every helper it calls.
    ///
    /// - Throws: ``RuntimeError/invalidProgram(_:)`` for an invalid encoding,
    ///   ``RuntimeError/unknownHelper(pc:id:)`` for a call to a helper the registry lacks,
    ///   ``RuntimeError/unsupported(pc:message:)`` for unresolved map references and kfunc calls.
    /// Regions every run may access besides its stack and input (map values, global data).
    public let permanentRegions: [MemoryRegion]
    /// The program compiled by the JIT, once something asked for it (tail calls into this program use it).
    let jitCache = JITCache()
    /// One run's memory (registers, call frames, stack, run state) kept for the next run, so a run
    /// allocates nothing; a run that finds it taken (another thread is running) allocates its own.
    private let spareScratch = Atomic<UInt>(0)

    public init(program: Program, helpers: HelperRegistry = HelperRegistry(), options: ExecutionOptions = ExecutionOptions(),
                permanentRegions: [MemoryRegion] = [], exceptionCallback: Int? = nil, programBTF: BTF? = nil,
                probeLoads: [Bool] = []) throws(RuntimeError) {
        do {
            try Program.validate(program.instructions)
        } catch {
            throw .invalidProgram(error)
        }
        var index = 0
        let instructions = program.instructions
        var resolved = instructions
        while index < instructions.count {
            let ins = instructions[index]
            if ins.opcode == Opcode.call {
                switch CallKind(rawValue: ins.src) {
                case .helper?:
                    if helpers[ins.imm] == nil { throw .unknownHelper(pc: index, id: Int64(ins.imm)) }
                case .kfunc?:
                    throw .unsupported(pc: index, message: "kfunc call \(ins.imm) is not available in the Swift runtime")
                default: break
                }
            }
            if ins.opcode == Opcode.lddw && ins.src == LoadImmediateSource.function.rawValue {
                // A callback (bpf_loop, for_each_map_elem): becomes a handle naming its first instruction.
                let target = index + 1 + Int(ins.imm)
                guard target >= 0 && target < instructions.count else {
                    throw .unsupported(pc: index, message: "function reference to instruction \(target), outside the program")
                }
                resolved[index].src = 0
                resolved[index].imm = Int32(truncatingIfNeeded: target)
                resolved[index + 1].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: Interpreter.callbackHandleBase >> 32))
            } else if ins.opcode == Opcode.lddw && ins.src != LoadImmediateSource.constant.rawValue {
                throw .unsupported(pc: index, message: "lddw with src=\(ins.src) (\(LoadImmediateSource(rawValue: ins.src).map { "\($0)" } ?? "?")) must be resolved by an object loader before it can run")
            }
            index += ins.opcode == Opcode.lddw ? 2 : 1
        }
        if let start = exceptionCallback, start < 0 || start >= instructions.count {
            throw .unsupported(pc: start, message: "the exception callback starts at instruction \(start), outside the program")
        }
        self.exceptionCallback = exceptionCallback
        self.programBTF = programBTF
        self.probeLoads = probeLoads
        self.program = program
        self.permanentRegions = permanentRegions
        self.options = options
        self.helpers = helpers
        let decoded: [DecodedInstruction]
        do {
            decoded = try DecodedInstruction.decode(resolved)
        } catch {
            throw .invalidProgram(error)
        }
        self.slots = resolved + [Instruction(opcode: 0)]
        self.code = .allocate(capacity: decoded.count)
        self.code.initialize(from: decoded, count: decoded.count)
        let maxID = helpers.all.map(\.id).filter { $0 >= 0 && $0 < 4096 }.max() ?? -1
        var dense = [Helper?](repeating: nil, count: Int(maxID) + 1)
        for helper in helpers.all where helper.id >= 0 && helper.id <= maxID { dense[Int(helper.id)] = helper }
        self.denseHelpers = dense
        self.usesMayGoto = instructions.contains { $0.opcode == Opcode.mayGoto }
        let tailCalls = instructions.contains { $0.opcode == Opcode.call && $0.src == CallKind.helper.rawValue && $0.imm == KernelHelperID.tailCall }
        self.frameCapacity = tailCalls ? ExecutionOptions.maxTailCallFrames : ExecutionOptions.maxCallFrames
        self.denseFunctions = ContiguousArray(dense.map { $0?.function })
    }

    deinit {
        code.deallocate()
        if let spare = UnsafeMutableRawPointer(bitPattern: spareScratch.load(ordering: .acquiring)) { spare.deallocate() }
    }

    /// Runs over raw memory the bpf_conformance way: r1 points at the memory, r2 holds its length.
    /// The program may read and write the memory; legacy packet loads read it as the packet.
    public func run(memory: inout [UInt8]) throws(RuntimeError) -> ExecutionResult {
        let count = memory.count
        let outcome: Result<ExecutionResult, RuntimeError> = memory.withUnsafeMutableBytes { buffer in
            let base = count == 0 ? 0 : UInt64(UInt(bitPattern: buffer.baseAddress))
            return Result { () throws(RuntimeError) -> ExecutionResult in
                try execute(r1: base, r2: UInt64(count), input: MemoryRegion(buffer), packet: UnsafeRawBufferPointer(buffer), extra: [],
                            environment: nil, virtualFields: [])
            }
        }
        return try outcome.get()
    }

    /// Runs with no input: every register but r10 starts at 0.
    public func run() throws(RuntimeError) -> ExecutionResult {
        try execute(r1: 0, r2: 0, input: .empty, packet: nil, extra: [], environment: nil, virtualFields: [])
    }

    /// Runs with explicit arguments and regions: `r1` (usually a context pointer) and `r2`, the
    /// regions the program may access besides its stack, and the packet legacy loads read.
    ///
    /// `environment` gives helpers the maps, packet and trace sink; `virtualFields` are context
    /// fields whose 32-bit loads yield 64-bit pointers (the context conversion of XDP and skb programs).
    public func run(r1: UInt64, r2: UInt64 = 0, regions: [MemoryRegion], packet: UnsafeRawBufferPointer? = nil,
                    environment: RunEnvironment? = nil, virtualFields: [(address: UInt, value: UInt64)] = []) throws(RuntimeError) -> ExecutionResult {
        try execute(r1: r1, r2: r2, input: regions.first ?? .empty, packet: packet,
                    second: regions.count > 1 ? regions[1] : .empty, extra: regions.count > 2 ? Array(regions.dropFirst(2)) : [],
                    environment: environment, virtualFields: virtualFields)
    }

    // MARK: - The engine

    /// Where the `may_goto` budget of the frame at call depth `depth` lives: the last word of the
    /// depth's save area (a call saves the caller's registers in the others).
    @inline(__always)
    static func mayGotoSlot(_ frames: UnsafeMutablePointer<UInt64>, _ depth: Int) -> UnsafeMutablePointer<UInt64> {
        frames + depth * frameWords + 6
    }

    static let frameWords = 7  // return pc, r6-r9, r10; the may_goto budget
    private static let registerBytes = 16 * 8
    static let frameBytes = ExecutionOptions.maxCallFrames * frameWords * 8
    static let stackBytes = ExecutionOptions.maxCallFrames * ExecutionOptions.stackSizePerFrame
    /// The call frames' save areas and the stack of a run of this program (see ``frameCapacity``).
    var runFrameBytes: Int { frameCapacity * Self.frameWords * 8 }
    var runStackBytes: Int { frameCapacity * ExecutionOptions.stackSizePerFrame }

    /// Runs with an input region and a second one (the packet), without building region arrays.
    func run(r1: UInt64, input: MemoryRegion, second: MemoryRegion, environment: RunEnvironment?,
             virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        try execute(r1: r1, r2: 0, input: input, packet: nil, second: second, extra: [], environment: environment, virtualFields: virtualFields)
    }

    private var stateOffset: Int { (Self.registerBytes + runFrameBytes + runStackBytes + 15) & ~15 }
    private var scratchBytes: Int { stateOffset + MemoryLayout<RunState>.stride }

    private func execute(r1: UInt64, r2: UInt64, input: MemoryRegion, packet: UnsafeRawBufferPointer?, second: MemoryRegion = .empty,
                         extra: [MemoryRegion],
                         environment: RunEnvironment?, virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        let base = UnsafeMutableRawPointer(bitPattern: spareScratch.exchange(0, ordering: .acquiring)) ?? {
            // Fresh memory starts zeroed, so no run sees what the allocator left there.
            let fresh = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: max(16, MemoryLayout<RunState>.alignment))
            fresh.initializeMemory(as: UInt8.self, repeating: 0, count: stateOffset)
            return fresh
        }()
        defer {
            if !spareScratch.compareExchange(expected: 0, desired: UInt(bitPattern: base), ordering: .releasing).exchanged {
                base.deallocate()
            }
        }
        let regs = base.bindMemory(to: UInt64.self, capacity: 16)
        let frames = (base + Self.registerBytes).bindMemory(to: UInt64.self, capacity: runFrameBytes / 8)
        let stack = base + Self.registerBytes + runFrameBytes
        for i in 0..<16 { regs[i] = 0 }
        let frameSize = ExecutionOptions.stackSizePerFrame
        // Frame 0 occupies the top 512 bytes; callees grow downwards.
        let stackTop = stack + runStackBytes
        (stackTop - frameSize).initializeMemory(as: UInt8.self, repeating: 0, count: frameSize)
        regs[1] = r1
        regs[2] = r2
        regs[10] = UInt64(UInt(bitPattern: stackTop))
        var regions = MemoryRegions(
            stack: MemoryRegion(start: UInt(bitPattern: stack), count: runStackBytes, writable: true),
            input: input)
        regions.second = second
        regions.extra = extra
        regions.permanent = permanentRegions
        regions.virtualFields = virtualFields
        regions.hasVirtualFields = !virtualFields.isEmpty
        let state = (base + stateOffset).bindMemory(to: RunState.self, capacity: 1)
        state.initialize(to: RunState(regions: regions, frames: frames, packet: packet, environment: environment, frameCapacity: frameCapacity))
        defer {
            state.pointee.finish()
            state.deinitialize(count: 1)
        }
        let r0: UInt64
        do {
            r0 = try loop(start: 0, baseDepth: 0, regs: regs, state: state)
        } catch {
            r0 = try Self.afterThrow(error, state: state, stackTop: UInt64(UInt(bitPattern: stackTop)))
        }
        return ExecutionResult(returnValue: r0, instructionsExecuted: state.pointee.executed)
    }

    /// The end of a run that stopped with `error`: when that is a `bpf_throw` (the run's state holds
    /// the cookie), the result of the throwing program's exception callback, run from frame 0 with
    /// the cookie in r1 — or the cookie itself when it has none, as the kernel's default callback
    /// returns it. Any other error is rethrown. Both engines end here (the JIT runs the callback in
    /// the interpreter, on the same state and stack).
    static func afterThrow(_ error: RuntimeError, state: UnsafeMutablePointer<RunState>, stackTop: UInt64) throws(RuntimeError) -> UInt64 {
        guard let thrown = state.pointee.thrown else { throw error }
        state.pointee.thrown = nil
        state.pointee.pendingTailCall = nil
        state.pointee.programBase = 0
        state.pointee.releaseSpinLock()
        guard let start = thrown.program.exceptionCallback else { return thrown.cookie }
        let regs = UnsafeMutablePointer<UInt64>.allocate(capacity: 16)
        defer { regs.deallocate() }
        regs.initialize(repeating: 0, count: 16)
        regs[1] = thrown.cookie
        regs[10] = stackTop
        let callerMaps = state.pointee.maps, jitFrame = state.pointee.jitFrame
        state.pointee.maps = thrown.maps
        state.pointee.jitFrame = nil   // its callbacks run in the interpreter too
        defer {
            state.pointee.maps = callerMaps
            state.pointee.jitFrame = jitFrame
        }
        return try thrown.program.loop(start: start, baseDepth: 0, regs: regs, state: state)
    }

    /// Handles of callback functions (`lddw` of a `BPF_PSEUDO_FUNC`): this base plus the first instruction.
    public static let callbackHandleBase: UInt64 = 0xffff_e000_0000_0000

    /// Runs the subprogram at `pc` as a callback of a helper (bpf_loop, for_each_map_elem): in a new
    /// frame below the caller's, with `arguments` in r1–r5; the caller's registers are restored after.
    func invokeCallback(pc: Int, arguments: [UInt64], regs: UnsafeMutablePointer<UInt64>, depth: Int,
                        state: UnsafeMutablePointer<RunState>, callPC: Int) throws(RuntimeError) -> UInt64 {
        guard pc >= 0 && pc < slots.count - 1 else {
            throw .helperFailed(pc: callPC, helper: "callback", message: "callback instruction \(pc) is outside the program")
        }
        guard state.pointee.allowsCall(from: depth) else { throw .callDepthExceeded(pc: callPC, limit: ExecutionOptions.maxCallFrames) }
        let saved = (regs[0], regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7], regs[8], regs[9], regs[10])
        defer {
            regs[0] = saved.0; regs[1] = saved.1; regs[2] = saved.2; regs[3] = saved.3; regs[4] = saved.4; regs[5] = saved.5
            regs[6] = saved.6; regs[7] = saved.7; regs[8] = saved.8; regs[9] = saved.9; regs[10] = saved.10
        }
        let frameSize = ExecutionOptions.stackSizePerFrame
        regs[10] = regs[10] &- UInt64(frameSize)
        (UnsafeMutableRawPointer(bitPattern: UInt(regs[10]))! - frameSize).initializeMemory(as: UInt8.self, repeating: 0, count: frameSize)
        for i in 0..<5 { regs[i + 1] = i < arguments.count ? arguments[i] : 0 }
        return try loop(start: pc, baseDepth: depth + 1, regs: regs, state: state)
    }

    func callHelper(_ helper: Helper, regs: UnsafeMutablePointer<UInt64>, state: UnsafeMutablePointer<RunState>,
                            pc: Int, depth: Int) throws(RuntimeError) -> Bool {
        try callHelper(helper.function, name: helper.name, regs: regs, state: state, pc: pc, depth: depth)
    }

    @inline(__always)
    func callHelper(_ function: HelperFunction, name: @autoclosure () -> String, regs: UnsafeMutablePointer<UInt64>,
                            state: UnsafeMutablePointer<RunState>, pc: Int, depth: Int) throws(RuntimeError) -> Bool {
        var call = HelperCall(arguments: (regs[1], regs[2], regs[3], regs[4], regs[5]), pc: pc, state: state,
                              interpreter: self, registers: regs, depth: depth)
        do {
            regs[0] = try function(&call)
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw .helperFailed(pc: pc, helper: name(), message: "\(error)")
        }
        return call.stopsProgram
    }

    /// What the loop does after a helper call.
    enum CallOutcome { case proceed, finish, returnFromFrame }

    /// Calls helper `id` and takes a tail call it asked for (kept out of the loop so the loop's
    /// registers stay in machine registers).
    @inline(never)
    private func helperCall(_ id: Int, pc here: Int, regs r: UnsafeMutablePointer<UInt64>, state: UnsafeMutablePointer<RunState>,
                            depth: Int) throws(RuntimeError) -> CallOutcome {
        let stops: Bool
        if id >= 0 && id < denseFunctions.count, let function = denseFunctions[id] {
            stops = try callHelper(function, name: denseHelpers[id]!.name, regs: r, state: state, pc: here, depth: depth)
        } else {
            stops = try callHelper(helper(Int64(id))!, regs: r, state: state, pc: here, depth: depth)
        }
        if stops { return .finish }
        guard state.pointee.pendingTailCall != nil else { return .proceed }
        let callerMaps = state.pointee.maps
        guard let target = state.pointee.takeTailCall() else { return .proceed }
        // The target replaces this frame: its own frames count from here.
        let callerBase = state.pointee.programBase
        state.pointee.programBase = depth
        defer {
            state.pointee.maps = callerMaps
            state.pointee.programBase = callerBase
        }
        r[1] = state.pointee.tailCallContext
        r[0] = try target.loop(start: 0, baseDepth: depth, regs: r, state: state)
        return .returnFromFrame
    }

    @inline(__always)
    func helper(_ id: Int64) -> Helper? {
        if id >= 0 && id < Int64(denseHelpers.count) { return denseHelpers[Int(id)] }
        guard let id32 = Int32(exactly: id) else { return nil }
        return helpers[id32]
    }

    /// The slow path of a checked access: every region of the run (the fast path in `loop` tried the
    /// stack, the input and the second region as they were when the loop last looked).
    @inline(never)
    private func checkedPointer(_ address: UInt64, _ size: Int, write: Bool, _ regions: UnsafeMutablePointer<MemoryRegions>,
                                pc: Int) throws(RuntimeError) -> UnsafeMutableRawPointer {
        guard regions.pointee.allows(address, size, write: write),
              let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address)) else {
            if !write && pc < probeLoads.count && probeLoads[pc] { return Interpreter.probeZeros }
            throw .outOfBounds(pc: pc, address: address, size: size, write: write)
        }
        return p
    }

    /// What a probe load outside the run's memory reads: 8 zero bytes, never written.
    nonisolated(unsafe) static let probeZeros: UnsafeMutableRawPointer = {
        let p = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        return p
    }()

    /// The budget ran out during the straight-line run that ended at `last` (`before` instructions
    /// had run before it): names the instruction that went past it, as if counted one by one.
    @inline(never)
    private func limitExceeded(before: UInt64, runStart: Int, last: Int) -> RuntimeError {
        // The run's instructions, walking back from its last (a lddw's second slot is no instruction).
        let length = last + 1 - runStart
        var positions: [Int] = []
        var p = last
        while positions.count < length && p >= 0 {
            if p > 0 && code[p].op == .fellOff && code[p - 1].op == .lddw { p -= 1 }
            positions.append(p)
            p -= 1
        }
        positions.reverse()
        let index = Int(options.instructionLimit - before)
        return .instructionLimitExceeded(pc: index < positions.count ? positions[index] : last, limit: options.instructionLimit)
    }

    /// A store to a converted context field (read-only): an error naming the address.
    @inline(never)
    private static func contextStore(pc: Int, address: UInt64) -> RuntimeError {
        .unsupported(pc: pc, message: "store to a read-only context field at 0x\(String(address, radix: 16))")
    }

    /// The regions the loop checks inline, copied out of the run's regions (and copied again after
    /// anything that may change them: a helper call, a tail call).
    struct InlineRegions {
        var stackStart: UInt, stackCount: UInt
        var inputStart: UInt, inputCount: UInt, inputWritable: Bool
        var secondStart: UInt, secondCount: UInt, secondWritable: Bool

        @inline(__always)
        init(_ regions: MemoryRegions) {
            stackStart = regions.stack.start
            stackCount = regions.stack.end &- regions.stack.start
            inputStart = regions.input.start
            inputCount = regions.input.end &- regions.input.start
            inputWritable = regions.input.writable
            secondStart = regions.second.start
            secondCount = regions.second.end &- regions.second.start
            secondWritable = regions.second.writable
        }

        /// Whether `size` bytes at `address` lie in the stack, the input or the second region.
        @inline(__always)
        func allows(_ address: UInt, _ size: UInt, write: Bool) -> Bool {
            let inStack = address &- stackStart
            if inStack < stackCount && stackCount &- inStack >= size { return true }
            let inInput = address &- inputStart
            if inInput < inputCount && inputCount &- inInput >= size && (!write || inputWritable) { return true }
            let inSecond = address &- secondStart
            return inSecond < secondCount && secondCount &- inSecond >= size && (!write || secondWritable)
        }
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    func loop(start: Int, baseDepth: Int, regs r: UnsafeMutablePointer<UInt64>,
                      state: UnsafeMutablePointer<RunState>) throws(RuntimeError) -> UInt64 {
        var pc = start
        // Instructions are counted per straight-line run (from `runStart` to the instruction that
        // jumps, calls or exits), and the budget checked there: no count or check per instruction.
        var executed = state.pointee.executed
        var runStart = start
        let limit = options.instructionLimit
        var depth = baseDepth
        let regions = RunState.regions(state)
        let frames = state.pointee.frames
        let packet = state.pointee.packet
        let code = UnsafePointer(self.code)
        var inline = InlineRegions(regions.pointee)
        let hasVirtualFields = regions.pointee.hasVirtualFields
        // A new frame (the program's, a callback's, a tail call's): a full loop budget.
        if usesMayGoto { Self.mayGotoSlot(frames, depth).pointee = options.mayGotoBudget }

        @inline(__always) func lo(_ v: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: v) }
        @inline(__always) func sx(_ v: UInt64) -> Int64 { Int64(bitPattern: v) }
        @inline(__always) func sx32(_ v: UInt64) -> Int32 { Int32(truncatingIfNeeded: v) }
        /// Counts the run ending with the instruction at `last` and checks the budget (the error
        /// names the instruction that went past it).
        // (The helpers below take what they change as arguments: a local function capturing a
        // `var` costs a dynamic exclusivity check per run.)
        @inline(__always) func account(_ last: Int, _ executed: inout UInt64, _ runStart: Int) throws(RuntimeError) {
            let before = executed
            executed &+= UInt64(truncatingIfNeeded: last &+ 1 &- runStart)
            if executed > limit { throw limitExceeded(before: before, runStart: runStart, last: last) }
        }
        /// A taken jump from `here`: the run ends.
        @inline(__always) func jump(from here: Int, to target: Int32, _ pc: inout Int, _ executed: inout UInt64, _ runStart: inout Int) throws(RuntimeError) {
            try account(here, &executed, runStart)
            pc = Int(target)
            runStart = pc
        }
        /// A checked access: inline against the stack, input and second region, else every region.
        @inline(__always) func pointer(_ address: UInt64, _ size: Int, write: Bool, pc: Int,
                                       _ inline: InlineRegions) throws(RuntimeError) -> UnsafeMutableRawPointer {
            let a = UInt(truncatingIfNeeded: address)
            if inline.allows(a, UInt(size), write: write), let p = UnsafeMutableRawPointer(bitPattern: a) { return p }
            return try checkedPointer(address, size, write: write, regions, pc: pc)
        }
        /// An access at r10 plus a constant inside the frame: always inside the stack.
        @inline(__always) func frame(_ ins: DecodedInstruction) -> UnsafeMutableRawPointer {
            UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: r[10] &+ UInt64(bitPattern: Int64(ins.target))))!
        }
        /// A checked store's address (the converted context fields are read-only).
        @inline(__always) func store(_ ins: DecodedInstruction, _ size: Int, pc: Int, _ inline: InlineRegions) throws(RuntimeError) -> UnsafeMutableRawPointer {
            let a = r[Int(ins.dst)] &+ UInt64(bitPattern: Int64(ins.target))
            if hasVirtualFields && regions.pointee.touchesVirtualField(a, size) { throw Self.contextStore(pc: pc, address: a) }
            return try pointer(a, size, write: true, pc: pc, inline)
        }

        while true {
            let ins = code[pc]
            let d = Int(ins.dst)
            let s = Int(ins.src)
            let here = pc
            pc &+= 1

            switch ins.op {
            case .add64i: r[d] = r[d] &+ ins.imm
            case .add64r: r[d] = r[d] &+ r[s]
            case .sub64i: r[d] = r[d] &- ins.imm
            case .sub64r: r[d] = r[d] &- r[s]
            case .mul64i: r[d] = r[d] &* ins.imm
            case .mul64r: r[d] = r[d] &* r[s]
            case .div64i: r[d] = Arith.div64(r[d], ins.imm, signed: false)
            case .div64r: r[d] = Arith.div64(r[d], r[s], signed: false)
            case .sdiv64i: r[d] = Arith.div64(r[d], ins.imm, signed: true)
            case .sdiv64r: r[d] = Arith.div64(r[d], r[s], signed: true)
            case .mod64i: r[d] = Arith.mod64(r[d], ins.imm, signed: false)
            case .mod64r: r[d] = Arith.mod64(r[d], r[s], signed: false)
            case .smod64i: r[d] = Arith.mod64(r[d], ins.imm, signed: true)
            case .smod64r: r[d] = Arith.mod64(r[d], r[s], signed: true)
            case .or64i: r[d] |= ins.imm
            case .or64r: r[d] |= r[s]
            case .and64i: r[d] &= ins.imm
            case .and64r: r[d] &= r[s]
            case .xor64i: r[d] ^= ins.imm
            case .xor64r: r[d] ^= r[s]
            case .lsh64i: r[d] = r[d] &<< ins.imm
            case .lsh64r: r[d] = r[d] &<< r[s]
            case .rsh64i: r[d] = r[d] &>> ins.imm
            case .rsh64r: r[d] = r[d] &>> r[s]
            case .arsh64i: r[d] = UInt64(bitPattern: sx(r[d]) &>> Int64(ins.imm))
            case .arsh64r: r[d] = UInt64(bitPattern: sx(r[d]) &>> Int64(r[s] & 63))
            case .neg64: r[d] = 0 &- r[d]
            case .mov64i: r[d] = ins.imm
            case .mov64r: r[d] = r[s]
            case .movsx8to64: r[d] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: r[s])))
            case .movsx16to64: r[d] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: r[s])))
            case .movsx32to64: r[d] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: r[s])))
            case .bswap16: r[d] = UInt64(UInt16(truncatingIfNeeded: r[d]).byteSwapped)
            case .bswap32: r[d] = UInt64(UInt32(truncatingIfNeeded: r[d]).byteSwapped)
            case .bswap64: r[d] = r[d].byteSwapped

            case .add32i: r[d] = UInt64(lo(r[d]) &+ lo(ins.imm))
            case .add32r: r[d] = UInt64(lo(r[d]) &+ lo(r[s]))
            case .sub32i: r[d] = UInt64(lo(r[d]) &- lo(ins.imm))
            case .sub32r: r[d] = UInt64(lo(r[d]) &- lo(r[s]))
            case .mul32i: r[d] = UInt64(lo(r[d]) &* lo(ins.imm))
            case .mul32r: r[d] = UInt64(lo(r[d]) &* lo(r[s]))
            case .div32i: r[d] = UInt64(Arith.div32(lo(r[d]), lo(ins.imm), signed: false))
            case .div32r: r[d] = UInt64(Arith.div32(lo(r[d]), lo(r[s]), signed: false))
            case .sdiv32i: r[d] = UInt64(Arith.div32(lo(r[d]), lo(ins.imm), signed: true))
            case .sdiv32r: r[d] = UInt64(Arith.div32(lo(r[d]), lo(r[s]), signed: true))
            case .mod32i: r[d] = UInt64(Arith.mod32(lo(r[d]), lo(ins.imm), signed: false))
            case .mod32r: r[d] = UInt64(Arith.mod32(lo(r[d]), lo(r[s]), signed: false))
            case .smod32i: r[d] = UInt64(Arith.mod32(lo(r[d]), lo(ins.imm), signed: true))
            case .smod32r: r[d] = UInt64(Arith.mod32(lo(r[d]), lo(r[s]), signed: true))
            case .or32i: r[d] = UInt64(lo(r[d]) | lo(ins.imm))
            case .or32r: r[d] = UInt64(lo(r[d]) | lo(r[s]))
            case .and32i: r[d] = UInt64(lo(r[d]) & lo(ins.imm))
            case .and32r: r[d] = UInt64(lo(r[d]) & lo(r[s]))
            case .xor32i: r[d] = UInt64(lo(r[d]) ^ lo(ins.imm))
            case .xor32r: r[d] = UInt64(lo(r[d]) ^ lo(r[s]))
            case .lsh32i: r[d] = UInt64(lo(r[d]) &<< lo(ins.imm))
            case .lsh32r: r[d] = UInt64(lo(r[d]) &<< lo(r[s]))
            case .rsh32i: r[d] = UInt64(lo(r[d]) &>> lo(ins.imm))
            case .rsh32r: r[d] = UInt64(lo(r[d]) &>> lo(r[s]))
            case .arsh32i: r[d] = UInt64(UInt32(bitPattern: sx32(r[d]) &>> Int32(lo(ins.imm))))
            case .arsh32r: r[d] = UInt64(UInt32(bitPattern: sx32(r[d]) &>> Int32(lo(r[s]) & 31)))
            case .neg32: r[d] = UInt64(0 &- lo(r[d]))
            case .mov32i: r[d] = UInt64(lo(ins.imm))
            case .mov32r: r[d] = UInt64(lo(r[s]))
            case .movsx8to32: r[d] = UInt64(UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: r[s]))))
            case .movsx16to32: r[d] = UInt64(UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: r[s]))))
            case .le16: r[d] &= 0xffff
            case .le32: r[d] &= 0xffff_ffff
            case .nop: break

            case .ja: try jump(from: here, to: ins.target, &pc, &executed, &runStart)
            case .jeq64i: if r[d] == ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jeq64r: if r[d] == r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jgt64i: if r[d] > ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jgt64r: if r[d] > r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jge64i: if r[d] >= ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jge64r: if r[d] >= r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jset64i: if r[d] & ins.imm != 0 { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jset64r: if r[d] & r[s] != 0 { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jne64i: if r[d] != ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jne64r: if r[d] != r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsgt64i: if sx(r[d]) > sx(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsgt64r: if sx(r[d]) > sx(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsge64i: if sx(r[d]) >= sx(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsge64r: if sx(r[d]) >= sx(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jlt64i: if r[d] < ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jlt64r: if r[d] < r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jle64i: if r[d] <= ins.imm { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jle64r: if r[d] <= r[s] { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jslt64i: if sx(r[d]) < sx(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jslt64r: if sx(r[d]) < sx(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsle64i: if sx(r[d]) <= sx(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsle64r: if sx(r[d]) <= sx(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jeq32i: if lo(r[d]) == lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jeq32r: if lo(r[d]) == lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jgt32i: if lo(r[d]) > lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jgt32r: if lo(r[d]) > lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jge32i: if lo(r[d]) >= lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jge32r: if lo(r[d]) >= lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jset32i: if lo(r[d]) & lo(ins.imm) != 0 { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jset32r: if lo(r[d]) & lo(r[s]) != 0 { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jne32i: if lo(r[d]) != lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jne32r: if lo(r[d]) != lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsgt32i: if sx32(r[d]) > sx32(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsgt32r: if sx32(r[d]) > sx32(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsge32i: if sx32(r[d]) >= sx32(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsge32r: if sx32(r[d]) >= sx32(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jlt32i: if lo(r[d]) < lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jlt32r: if lo(r[d]) < lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jle32i: if lo(r[d]) <= lo(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jle32r: if lo(r[d]) <= lo(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jslt32i: if sx32(r[d]) < sx32(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jslt32r: if sx32(r[d]) < sx32(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsle32i: if sx32(r[d]) <= sx32(ins.imm) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .jsle32r: if sx32(r[d]) <= sx32(r[s]) { try jump(from: here, to: ins.target, &pc, &executed, &runStart) }
            case .mayGoto:
                // Jump once the frame's budget is spent, else spend one unit.
                let slot = Self.mayGotoSlot(frames, depth)
                if slot.pointee == 0 { try jump(from: here, to: ins.target, &pc, &executed, &runStart) } else { slot.pointee &-= 1 }

            case .callLocal:
                try account(here, &executed, runStart)
                guard state.pointee.allowsCall(from: depth) else {
                    throw .callDepthExceeded(pc: here, limit: ExecutionOptions.maxCallFrames)
                }
                let frame = frames + depth * Self.frameWords
                frame[0] = UInt64(pc)
                frame[1] = r[6]; frame[2] = r[7]; frame[3] = r[8]; frame[4] = r[9]; frame[5] = r[10]
                depth += 1
                r[10] = r[10] &- UInt64(ExecutionOptions.stackSizePerFrame)
                let frameSize = ExecutionOptions.stackSizePerFrame
                (UnsafeMutableRawPointer(bitPattern: UInt(r[10]))! - frameSize)
                    .initializeMemory(as: UInt8.self, repeating: 0, count: frameSize)
                if usesMayGoto { Self.mayGotoSlot(frames, depth).pointee = options.mayGotoBudget }
                pc = Int(ins.target)
                runStart = pc
            case .callHelper:
                // Resolved when the interpreter was made.
                try account(here, &executed, runStart)
                runStart = pc
                state.pointee.executed = executed
                let outcome = try helperCall(Int(Int32(truncatingIfNeeded: ins.imm)), pc: here, regs: r, state: state, depth: depth)
                executed = state.pointee.executed
                inline = InlineRegions(regions.pointee)
                if outcome == .finish { return r[0] }
                if outcome == .returnFromFrame {
                    // A tail call replaced this frame's program; its r0 is this frame's result.
                    if depth == baseDepth { return r[0] }
                    depth -= 1
                    let frame = frames + depth * Self.frameWords
                    pc = Int(frame[0])
                    runStart = pc
                    r[6] = frame[1]; r[7] = frame[2]; r[8] = frame[3]; r[9] = frame[4]; r[10] = frame[5]
                }
            case .callx:
                // The register holds a helper id (the uBPF and bpf_conformance convention).
                let id = sx(r[d])
                guard let target = helper(id) else { throw .unknownHelper(pc: here, id: id) }
                try account(here, &executed, runStart)
                runStart = pc
                state.pointee.executed = executed
                let stops = try callHelper(target, regs: r, state: state, pc: here, depth: depth)
                executed = state.pointee.executed
                inline = InlineRegions(regions.pointee)
                if stops { state.pointee.executed = executed; return r[0] }
            case .exit:
                try account(here, &executed, runStart)
                if depth == baseDepth { state.pointee.executed = executed; return r[0] }
                depth -= 1
                let frame = frames + depth * Self.frameWords
                pc = Int(frame[0])
                runStart = pc
                r[6] = frame[1]; r[7] = frame[2]; r[8] = frame[3]; r[9] = frame[4]; r[10] = frame[5]

            case .lddw:
                r[d] = ins.imm
                pc &+= 1
                runStart &+= 1  // two slots, one instruction
            case .ldAbs, .ldInd:
                let size = Int(ins.aux)
                var offset = sx(ins.imm)
                if ins.op == .ldInd { offset &+= sx(r[s]) }
                guard let packet, offset >= 0, offset <= Int64(packet.count) - Int64(size) else {
                    // As in Linux: an out-of-bounds legacy load ends the program with r0 = 0.
                    try account(here, &executed, runStart)
                    r[0] = 0
                    state.pointee.executed = executed
                    return 0
                }
                switch size {
                case 1: r[0] = UInt64(packet.load(fromByteOffset: Int(offset), as: UInt8.self))
                case 2: r[0] = UInt64(UInt16(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self)))
                default: r[0] = UInt64(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self)))
                }

            case .ldx32:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.target))
                let p = try pointer(a, 4, write: false, pc: here, inline)
                if hasVirtualFields, let converted = regions.pointee.virtualField(at: a) {
                    r[d] = converted
                } else {
                    r[d] = UInt64(p.loadUnaligned(as: UInt32.self))
                }
            case .ldx16:
                r[d] = UInt64(try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 2, write: false, pc: here, inline).loadUnaligned(as: UInt16.self))
            case .ldx8:
                r[d] = UInt64(try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 1, write: false, pc: here, inline).load(as: UInt8.self))
            case .ldx64:
                r[d] = try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 8, write: false, pc: here, inline).loadUnaligned(as: UInt64.self)
            case .ldxs32:
                let p = try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 4, write: false, pc: here, inline)
                r[d] = UInt64(bitPattern: Int64(p.loadUnaligned(as: Int32.self)))
            case .ldxs16:
                let p = try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 2, write: false, pc: here, inline)
                r[d] = UInt64(bitPattern: Int64(p.loadUnaligned(as: Int16.self)))
            case .ldxs8:
                let p = try pointer(r[s] &+ UInt64(bitPattern: Int64(ins.target)), 1, write: false, pc: here, inline)
                r[d] = UInt64(bitPattern: Int64(p.load(as: Int8.self)))
            case .ldxFrame32: r[d] = UInt64(frame(ins).loadUnaligned(as: UInt32.self))
            case .ldxFrame16: r[d] = UInt64(frame(ins).loadUnaligned(as: UInt16.self))
            case .ldxFrame8: r[d] = UInt64(frame(ins).load(as: UInt8.self))
            case .ldxFrame64: r[d] = frame(ins).loadUnaligned(as: UInt64.self)
            case .ldxsFrame32: r[d] = UInt64(bitPattern: Int64(frame(ins).loadUnaligned(as: Int32.self)))
            case .ldxsFrame16: r[d] = UInt64(bitPattern: Int64(frame(ins).loadUnaligned(as: Int16.self)))
            case .ldxsFrame8: r[d] = UInt64(bitPattern: Int64(frame(ins).load(as: Int8.self)))

            case .st8: try store(ins, 1, pc: here, inline).storeBytes(of: UInt8(truncatingIfNeeded: ins.imm), as: UInt8.self)
            case .st16: try store(ins, 2, pc: here, inline).storeBytes(of: UInt16(truncatingIfNeeded: ins.imm), as: UInt16.self)
            case .st32: try store(ins, 4, pc: here, inline).storeBytes(of: UInt32(truncatingIfNeeded: ins.imm), as: UInt32.self)
            case .st64: try store(ins, 8, pc: here, inline).storeBytes(of: ins.imm, as: UInt64.self)
            case .stFrame8: frame(ins).storeBytes(of: UInt8(truncatingIfNeeded: ins.imm), as: UInt8.self)
            case .stFrame16: frame(ins).storeBytes(of: UInt16(truncatingIfNeeded: ins.imm), as: UInt16.self)
            case .stFrame32: frame(ins).storeBytes(of: UInt32(truncatingIfNeeded: ins.imm), as: UInt32.self)
            case .stFrame64: frame(ins).storeBytes(of: ins.imm, as: UInt64.self)
            case .stx8: try store(ins, 1, pc: here, inline).storeBytes(of: UInt8(truncatingIfNeeded: r[s]), as: UInt8.self)
            case .stx16: try store(ins, 2, pc: here, inline).storeBytes(of: UInt16(truncatingIfNeeded: r[s]), as: UInt16.self)
            case .stx32: try store(ins, 4, pc: here, inline).storeBytes(of: UInt32(truncatingIfNeeded: r[s]), as: UInt32.self)
            case .stx64: try store(ins, 8, pc: here, inline).storeBytes(of: r[s], as: UInt64.self)
            case .stxFrame8: frame(ins).storeBytes(of: UInt8(truncatingIfNeeded: r[s]), as: UInt8.self)
            case .stxFrame16: frame(ins).storeBytes(of: UInt16(truncatingIfNeeded: r[s]), as: UInt16.self)
            case .stxFrame32: frame(ins).storeBytes(of: UInt32(truncatingIfNeeded: r[s]), as: UInt32.self)
            case .stxFrame64: frame(ins).storeBytes(of: r[s], as: UInt64.self)

            case .atomic:
                let size = Int(ins.aux)
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.target))
                let p = try pointer(a, size, write: true, pc: here, inline)
                guard a % UInt64(size) == 0 else { throw .misalignedAtomic(pc: here, address: a, size: size) }
                let op = Int32(truncatingIfNeeded: ins.imm)
                if size == 8 {
                    Atomics.run64(p, op: op, src: s, regs: r)
                } else {
                    Atomics.run32(p, op: op, src: s, regs: r)
                }

            case .fellOff:
                throw .fellOffEnd(pc: here)
            }
        }
    }
}

/// The arithmetic whose Linux semantics differ from a plain machine instruction.
enum Arith {
    /// Unsigned or signed 64-bit division; x/0 = 0 and INT64_MIN/-1 = INT64_MIN.
    @inline(__always)
    static func div64(_ a: UInt64, _ b: UInt64, signed: Bool) -> UInt64 {
        if b == 0 { return 0 }
        if !signed { return a / b }
        return UInt64(bitPattern: Int64(bitPattern: a).dividedReportingOverflow(by: Int64(bitPattern: b)).partialValue)
    }

    /// Unsigned or signed 64-bit remainder; x%0 = x and INT64_MIN%-1 = 0. The sign follows the dividend.
    @inline(__always)
    static func mod64(_ a: UInt64, _ b: UInt64, signed: Bool) -> UInt64 {
        if b == 0 { return a }
        if !signed { return a % b }
        return UInt64(bitPattern: Int64(bitPattern: a).remainderReportingOverflow(dividingBy: Int64(bitPattern: b)).partialValue)
    }

    @inline(__always)
    static func div32(_ a: UInt32, _ b: UInt32, signed: Bool) -> UInt32 {
        if b == 0 { return 0 }
        if !signed { return a / b }
        return UInt32(bitPattern: Int32(bitPattern: a).dividedReportingOverflow(by: Int32(bitPattern: b)).partialValue)
    }

    @inline(__always)
    static func mod32(_ a: UInt32, _ b: UInt32, signed: Bool) -> UInt32 {
        if b == 0 { return a }
        if !signed { return a % b }
        return UInt32(bitPattern: Int32(bitPattern: a).remainderReportingOverflow(dividingBy: Int32(bitPattern: b)).partialValue)
    }

    /// `be16/32/64` and `bswap16/32/64` on a little-endian host: swap the low `width` bits, clear the rest.
    @inline(__always)
    static func byteSwap(_ v: UInt64, width: Int32) -> UInt64 {
        switch width {
        case 16: UInt64(UInt16(truncatingIfNeeded: v).byteSwapped)
        case 32: UInt64(UInt32(truncatingIfNeeded: v).byteSwapped)
        default: v.byteSwapped
        }
    }

    /// `le16/32/64` on a little-endian host: keep the low `width` bits.
    @inline(__always)
    static func toLittleEndian(_ v: UInt64, width: Int32) -> UInt64 {
        switch width {
        case 16: v & 0xffff
        case 32: v & 0xffff_ffff
        default: v
        }
    }
}

/// Atomic read-modify-write on program memory, shared by the interpreter and helpers.
enum Atomics {
    static func run64(_ p: UnsafeMutableRawPointer, op: Int32, src: Int, regs r: UnsafeMutablePointer<UInt64>) {
        let v = r[src]
        switch op {
        case 0x00, 0x01:
            let old = cbpf_atomic_fetch_add64(p, v); if op == 0x01 { r[src] = old }
        case 0x40, 0x41:
            let old = cbpf_atomic_fetch_or64(p, v); if op == 0x41 { r[src] = old }
        case 0x50, 0x51:
            let old = cbpf_atomic_fetch_and64(p, v); if op == 0x51 { r[src] = old }
        case 0xa0, 0xa1:
            let old = cbpf_atomic_fetch_xor64(p, v); if op == 0xa1 { r[src] = old }
        case 0xe1:
            r[src] = cbpf_atomic_exchange64(p, v)
        default:  // 0xf1, cmpxchg: compare with r0, old value into r0
            r[0] = cbpf_atomic_compare_exchange64(p, r[0], v)
        }
    }

    static func run32(_ p: UnsafeMutableRawPointer, op: Int32, src: Int, regs r: UnsafeMutablePointer<UInt64>) {
        let v = UInt32(truncatingIfNeeded: r[src])
        switch op {
        case 0x00, 0x01:
            let old = cbpf_atomic_fetch_add32(p, v); if op == 0x01 { r[src] = UInt64(old) }
        case 0x40, 0x41:
            let old = cbpf_atomic_fetch_or32(p, v); if op == 0x41 { r[src] = UInt64(old) }
        case 0x50, 0x51:
            let old = cbpf_atomic_fetch_and32(p, v); if op == 0x51 { r[src] = UInt64(old) }
        case 0xa0, 0xa1:
            let old = cbpf_atomic_fetch_xor32(p, v); if op == 0xa1 { r[src] = UInt64(old) }
        case 0xe1:
            r[src] = UInt64(cbpf_atomic_exchange32(p, v))
        default:
            r[0] = UInt64(cbpf_atomic_compare_exchange32(p, UInt32(truncatingIfNeeded: r[0]), v))
        }
    }
}
