import BPFCore
import CBPFRuntimeSupport

/// Limits for one run of a program.
public struct ExecutionOptions: Sendable, Hashable {
    /// The most instructions one run may execute before it is stopped.
    public var instructionLimit: UInt64
    /// The most stack frames (the program plus bpf-to-bpf callees), as in Linux.
    public static let maxCallFrames = 8
    /// Stack bytes per frame, as in Linux.
    public static let stackSizePerFrame = 512

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
    nonisolated(unsafe) private let code: UnsafeMutablePointer<Instruction>
    let denseHelpers: [Helper?]
    /// Whether the program has `may_goto`: each call frame then keeps a loop budget (in the
    /// frame's save area, outside the program's stack; the kernel keeps it below the program's stack).
    let usesMayGoto: Bool
    /// The helpers' functions by id, so a call copies no name string.
    let denseFunctions: ContiguousArray<HelperFunction?>

    /// Prepares a program: validates it and resolves every helper it calls.
    ///
    /// - Throws: ``RuntimeError/invalidProgram(_:)`` for an invalid encoding,
    ///   ``RuntimeError/unknownHelper(pc:id:)`` for a call to a helper the registry lacks,
    ///   ``RuntimeError/unsupported(pc:message:)`` for unresolved map references and kfunc calls.
    /// Regions every run may access besides its stack and input (map values, global data).
    public let permanentRegions: [MemoryRegion]
    /// The program compiled by the JIT, once something asked for it (tail calls into this program use it).
    let jitCache = JITCache()

    public init(program: Program, helpers: HelperRegistry = HelperRegistry(), options: ExecutionOptions = ExecutionOptions(),
                permanentRegions: [MemoryRegion] = []) throws(RuntimeError) {
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
        self.program = program
        self.permanentRegions = permanentRegions
        self.options = options
        self.helpers = helpers
        self.slots = resolved + [Instruction(opcode: 0)]
        self.code = .allocate(capacity: slots.count)
        self.code.initialize(from: slots, count: slots.count)
        let maxID = helpers.all.map(\.id).filter { $0 >= 0 && $0 < 4096 }.max() ?? -1
        var dense = [Helper?](repeating: nil, count: Int(maxID) + 1)
        for helper in helpers.all where helper.id >= 0 && helper.id <= maxID { dense[Int(helper.id)] = helper }
        self.denseHelpers = dense
        self.usesMayGoto = instructions.contains { $0.opcode == Opcode.mayGoto }
        self.denseFunctions = ContiguousArray(dense.map { $0?.function })
    }

    deinit { code.deallocate() }

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

    /// Runs with an input region and a second one (the packet), without building region arrays.
    func run(r1: UInt64, input: MemoryRegion, second: MemoryRegion, environment: RunEnvironment?,
             virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        try execute(r1: r1, r2: 0, input: input, packet: nil, second: second, extra: [], environment: environment, virtualFields: virtualFields)
    }

    private func execute(r1: UInt64, r2: UInt64, input: MemoryRegion, packet: UnsafeRawBufferPointer?, second: MemoryRegion = .empty,
                         extra: [MemoryRegion],
                         environment: RunEnvironment?, virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        let total = Self.registerBytes + Self.frameBytes + Self.stackBytes
        let outcome: Result<ExecutionResult, RuntimeError> = withUnsafeTemporaryAllocation(byteCount: total, alignment: 16) { scratch in
            let base = scratch.baseAddress!
            let regs = base.bindMemory(to: UInt64.self, capacity: 16)
            let frames = (base + Self.registerBytes).bindMemory(to: UInt64.self, capacity: Self.frameBytes / 8)
            let stack = base + Self.registerBytes + Self.frameBytes
            for i in 0..<16 { regs[i] = 0 }
            let frameSize = ExecutionOptions.stackSizePerFrame
            // Frame 0 occupies the top 512 bytes; callees grow downwards.
            let stackTop = stack + Self.stackBytes
            (stackTop - frameSize).initializeMemory(as: UInt8.self, repeating: 0, count: frameSize)
            regs[1] = r1
            regs[2] = r2
            regs[10] = UInt64(UInt(bitPattern: stackTop))
            var regions = MemoryRegions(
                stack: MemoryRegion(start: UInt(bitPattern: stack), count: Self.stackBytes, writable: true),
                input: input)
            regions.second = second
            regions.extra = extra
            regions.permanent = permanentRegions
            regions.virtualFields = virtualFields
            regions.hasVirtualFields = !virtualFields.isEmpty
            var state = RunState(regions: regions, frames: frames, packet: packet, environment: environment)
            return withUnsafeMutablePointer(to: &state) { statePointer in
                defer { statePointer.pointee.finish() }
                return Result { () throws(RuntimeError) -> ExecutionResult in
                    let r0 = try loop(start: 0, baseDepth: 0, regs: regs, state: statePointer)
                    return ExecutionResult(returnValue: r0, instructionsExecuted: statePointer.pointee.executed)
                }
            }
        }
        return try outcome.get()
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
        guard depth + 1 < ExecutionOptions.maxCallFrames else { throw .callDepthExceeded(pc: callPC, limit: ExecutionOptions.maxCallFrames) }
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

    @inline(__always)
    private func pointer(_ address: UInt64, _ size: Int, write: Bool, _ regions: UnsafeMutablePointer<MemoryRegions>, pc: Int) throws(RuntimeError) -> UnsafeMutableRawPointer {
        guard regions.pointee.allows(address, size, write: write),
              let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address)) else {
            throw .outOfBounds(pc: pc, address: address, size: size, write: write)
        }
        return p
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
        defer { state.pointee.maps = callerMaps }
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

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    func loop(start: Int, baseDepth: Int, regs r: UnsafeMutablePointer<UInt64>,
                      state: UnsafeMutablePointer<RunState>) throws(RuntimeError) -> UInt64 {
        var pc = start
        var executed = state.pointee.executed
        let limit = options.instructionLimit
        var depth = baseDepth
        let lastSlot = slots.count - 1
        let regions = RunState.regions(state)
        let frames = state.pointee.frames
        let packet = state.pointee.packet
        let insts = UnsafePointer(code)
        // A new frame (the program's, a callback's, a tail call's): a full loop budget.
        if usesMayGoto { Self.mayGotoSlot(frames, depth).pointee = options.mayGotoBudget }

        @inline(__always) func lo(_ v: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: v) }
        @inline(__always) func sx(_ v: UInt64) -> Int64 { Int64(bitPattern: v) }
        @inline(__always) func sx32(_ v: UInt64) -> Int32 { Int32(truncatingIfNeeded: v) }

        while true {
            let ins = insts[pc]
            let d = Int(ins.dst)
            let s = Int(ins.src)
            let imm64 = UInt64(bitPattern: Int64(ins.imm))
            let imm32 = UInt32(bitPattern: ins.imm)
            let here = pc
            executed &+= 1
            if executed > limit { throw .instructionLimitExceeded(pc: here, limit: limit) }
            pc &+= 1

            switch ins.opcode {
            // ALU64, immediate and register forms.
            case 0x07: r[d] = r[d] &+ imm64
            case 0x0f: r[d] = r[d] &+ r[s]
            case 0x17: r[d] = r[d] &- imm64
            case 0x1f: r[d] = r[d] &- r[s]
            case 0x27: r[d] = r[d] &* imm64
            case 0x2f: r[d] = r[d] &* r[s]
            case 0x37: r[d] = Arith.div64(r[d], imm64, signed: ins.offset == 1)
            case 0x3f: r[d] = Arith.div64(r[d], r[s], signed: ins.offset == 1)
            case 0x47: r[d] |= imm64
            case 0x4f: r[d] |= r[s]
            case 0x57: r[d] &= imm64
            case 0x5f: r[d] &= r[s]
            case 0x67: r[d] = r[d] << (imm64 & 63)
            case 0x6f: r[d] = r[d] << (r[s] & 63)
            case 0x77: r[d] = r[d] >> (imm64 & 63)
            case 0x7f: r[d] = r[d] >> (r[s] & 63)
            case 0x87: r[d] = 0 &- r[d]
            case 0x97: r[d] = Arith.mod64(r[d], imm64, signed: ins.offset == 1)
            case 0x9f: r[d] = Arith.mod64(r[d], r[s], signed: ins.offset == 1)
            case 0xa7: r[d] ^= imm64
            case 0xaf: r[d] ^= r[s]
            case 0xb7: r[d] = imm64
            case 0xbf:
                switch ins.offset {
                case 8: r[d] = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: r[s])))
                case 16: r[d] = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: r[s])))
                case 32: r[d] = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: r[s])))
                default: r[d] = r[s]
                }
            case 0xc7: r[d] = UInt64(bitPattern: sx(r[d]) >> Int64(imm64 & 63))
            case 0xcf: r[d] = UInt64(bitPattern: sx(r[d]) >> Int64(r[s] & 63))
            case 0xd7: r[d] = Arith.byteSwap(r[d], width: ins.imm)

            // ALU (32-bit): results zero-extend into the 64-bit register.
            case 0x04: r[d] = UInt64(lo(r[d]) &+ imm32)
            case 0x0c: r[d] = UInt64(lo(r[d]) &+ lo(r[s]))
            case 0x14: r[d] = UInt64(lo(r[d]) &- imm32)
            case 0x1c: r[d] = UInt64(lo(r[d]) &- lo(r[s]))
            case 0x24: r[d] = UInt64(lo(r[d]) &* imm32)
            case 0x2c: r[d] = UInt64(lo(r[d]) &* lo(r[s]))
            case 0x34: r[d] = UInt64(Arith.div32(lo(r[d]), imm32, signed: ins.offset == 1))
            case 0x3c: r[d] = UInt64(Arith.div32(lo(r[d]), lo(r[s]), signed: ins.offset == 1))
            case 0x44: r[d] = UInt64(lo(r[d]) | imm32)
            case 0x4c: r[d] = UInt64(lo(r[d]) | lo(r[s]))
            case 0x54: r[d] = UInt64(lo(r[d]) & imm32)
            case 0x5c: r[d] = UInt64(lo(r[d]) & lo(r[s]))
            case 0x64: r[d] = UInt64(lo(r[d]) << (imm32 & 31))
            case 0x6c: r[d] = UInt64(lo(r[d]) << (lo(r[s]) & 31))
            case 0x74: r[d] = UInt64(lo(r[d]) >> (imm32 & 31))
            case 0x7c: r[d] = UInt64(lo(r[d]) >> (lo(r[s]) & 31))
            case 0x84: r[d] = UInt64(0 &- lo(r[d]))
            case 0x94: r[d] = UInt64(Arith.mod32(lo(r[d]), imm32, signed: ins.offset == 1))
            case 0x9c: r[d] = UInt64(Arith.mod32(lo(r[d]), lo(r[s]), signed: ins.offset == 1))
            case 0xa4: r[d] = UInt64(lo(r[d]) ^ imm32)
            case 0xac: r[d] = UInt64(lo(r[d]) ^ lo(r[s]))
            case 0xb4: r[d] = UInt64(imm32)
            case 0xbc:
                switch ins.offset {
                case 8: r[d] = UInt64(UInt32(bitPattern: Int32(Int8(truncatingIfNeeded: r[s]))))
                case 16: r[d] = UInt64(UInt32(bitPattern: Int32(Int16(truncatingIfNeeded: r[s]))))
                default: r[d] = UInt64(lo(r[s]))
                }
            case 0xc4: r[d] = UInt64(UInt32(bitPattern: sx32(r[d]) >> Int32(imm32 & 31)))
            case 0xcc: r[d] = UInt64(UInt32(bitPattern: sx32(r[d]) >> Int32(lo(r[s]) & 31)))
            case 0xd4: r[d] = Arith.toLittleEndian(r[d], width: ins.imm)
            case 0xdc: r[d] = Arith.byteSwap(r[d], width: ins.imm)

            // JMP: 64-bit comparisons.
            case 0x05: pc &+= Int(ins.offset)
            case 0x06: pc &+= Int(ins.imm)
            case 0x15: if r[d] == imm64 { pc &+= Int(ins.offset) }
            case 0x1d: if r[d] == r[s] { pc &+= Int(ins.offset) }
            case 0x25: if r[d] > imm64 { pc &+= Int(ins.offset) }
            case 0x2d: if r[d] > r[s] { pc &+= Int(ins.offset) }
            case 0x35: if r[d] >= imm64 { pc &+= Int(ins.offset) }
            case 0x3d: if r[d] >= r[s] { pc &+= Int(ins.offset) }
            case 0x45: if r[d] & imm64 != 0 { pc &+= Int(ins.offset) }
            case 0x4d: if r[d] & r[s] != 0 { pc &+= Int(ins.offset) }
            case 0x55: if r[d] != imm64 { pc &+= Int(ins.offset) }
            case 0x5d: if r[d] != r[s] { pc &+= Int(ins.offset) }
            case 0x65: if sx(r[d]) > sx(imm64) { pc &+= Int(ins.offset) }
            case 0x6d: if sx(r[d]) > sx(r[s]) { pc &+= Int(ins.offset) }
            case 0x75: if sx(r[d]) >= sx(imm64) { pc &+= Int(ins.offset) }
            case 0x7d: if sx(r[d]) >= sx(r[s]) { pc &+= Int(ins.offset) }
            case 0xa5: if r[d] < imm64 { pc &+= Int(ins.offset) }
            case 0xad: if r[d] < r[s] { pc &+= Int(ins.offset) }
            case 0xb5: if r[d] <= imm64 { pc &+= Int(ins.offset) }
            case 0xbd: if r[d] <= r[s] { pc &+= Int(ins.offset) }
            case 0xc5: if sx(r[d]) < sx(imm64) { pc &+= Int(ins.offset) }
            case 0xcd: if sx(r[d]) < sx(r[s]) { pc &+= Int(ins.offset) }
            case 0xd5: if sx(r[d]) <= sx(imm64) { pc &+= Int(ins.offset) }
            case 0xdd: if sx(r[d]) <= sx(r[s]) { pc &+= Int(ins.offset) }
            case 0xe5:
                // may_goto: jump once the frame's budget is spent, else spend one unit.
                let slot = Self.mayGotoSlot(frames, depth)
                if slot.pointee == 0 { pc &+= Int(ins.offset) } else { slot.pointee &-= 1 }

            // JMP32: comparisons of the low 32 bits.
            case 0x16: if lo(r[d]) == imm32 { pc &+= Int(ins.offset) }
            case 0x1e: if lo(r[d]) == lo(r[s]) { pc &+= Int(ins.offset) }
            case 0x26: if lo(r[d]) > imm32 { pc &+= Int(ins.offset) }
            case 0x2e: if lo(r[d]) > lo(r[s]) { pc &+= Int(ins.offset) }
            case 0x36: if lo(r[d]) >= imm32 { pc &+= Int(ins.offset) }
            case 0x3e: if lo(r[d]) >= lo(r[s]) { pc &+= Int(ins.offset) }
            case 0x46: if lo(r[d]) & imm32 != 0 { pc &+= Int(ins.offset) }
            case 0x4e: if lo(r[d]) & lo(r[s]) != 0 { pc &+= Int(ins.offset) }
            case 0x56: if lo(r[d]) != imm32 { pc &+= Int(ins.offset) }
            case 0x5e: if lo(r[d]) != lo(r[s]) { pc &+= Int(ins.offset) }
            case 0x66: if sx32(r[d]) > ins.imm { pc &+= Int(ins.offset) }
            case 0x6e: if sx32(r[d]) > sx32(r[s]) { pc &+= Int(ins.offset) }
            case 0x76: if sx32(r[d]) >= ins.imm { pc &+= Int(ins.offset) }
            case 0x7e: if sx32(r[d]) >= sx32(r[s]) { pc &+= Int(ins.offset) }
            case 0xa6: if lo(r[d]) < imm32 { pc &+= Int(ins.offset) }
            case 0xae: if lo(r[d]) < lo(r[s]) { pc &+= Int(ins.offset) }
            case 0xb6: if lo(r[d]) <= imm32 { pc &+= Int(ins.offset) }
            case 0xbe: if lo(r[d]) <= lo(r[s]) { pc &+= Int(ins.offset) }
            case 0xc6: if sx32(r[d]) < ins.imm { pc &+= Int(ins.offset) }
            case 0xce: if sx32(r[d]) < sx32(r[s]) { pc &+= Int(ins.offset) }
            case 0xd6: if sx32(r[d]) <= ins.imm { pc &+= Int(ins.offset) }
            case 0xde: if sx32(r[d]) <= sx32(r[s]) { pc &+= Int(ins.offset) }

            // Calls and exit.
            case 0x85:
                if ins.src == CallKind.local.rawValue {
                    guard depth + 1 < ExecutionOptions.maxCallFrames else {
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
                    pc &+= Int(ins.imm)
                    continue
                }
                // Resolved when the interpreter was made.
                state.pointee.executed = executed
                let outcome = try helperCall(Int(ins.imm), pc: here, regs: r, state: state, depth: depth)
                executed = state.pointee.executed
                if outcome == .finish { return r[0] }
                if outcome == .returnFromFrame {
                    // A tail call replaced this frame's program; its r0 is this frame's result.
                    if depth == baseDepth { return r[0] }
                    depth -= 1
                    let frame = frames + depth * Self.frameWords
                    pc = Int(frame[0])
                    r[6] = frame[1]; r[7] = frame[2]; r[8] = frame[3]; r[9] = frame[4]; r[10] = frame[5]
                }
            case 0x8d:
                // callx: the register holds a helper id (the uBPF and bpf_conformance convention).
                let id = sx(r[d])
                guard let target = helper(id) else { throw .unknownHelper(pc: here, id: id) }
                state.pointee.executed = executed
                let stops = try callHelper(target, regs: r, state: state, pc: here, depth: depth)
                executed = state.pointee.executed
                if stops { state.pointee.executed = executed; return r[0] }
            case 0x95:
                if depth == baseDepth { state.pointee.executed = executed; return r[0] }
                depth -= 1
                let frame = frames + depth * Self.frameWords
                pc = Int(frame[0])
                r[6] = frame[1]; r[7] = frame[2]; r[8] = frame[3]; r[9] = frame[4]; r[10] = frame[5]

            // LD: 64-bit immediates and legacy packet loads.
            case 0x18:
                r[d] = UInt64(imm32) | UInt64(UInt32(bitPattern: insts[pc].imm)) << 32
                pc &+= 1
            case 0x20, 0x28, 0x30, 0x40, 0x48, 0x50:
                let size = MemorySize(rawValue: ins.opcode & 0x18)!.bytes
                var offset = Int64(ins.imm)
                if ins.opcode >= 0x40 { offset &+= sx(r[s]) }
                guard let packet, offset >= 0, offset <= Int64(packet.count) - Int64(size) else {
                    // As in Linux: an out-of-bounds legacy load ends the program with r0 = 0.
                    r[0] = 0
                    state.pointee.executed = executed
                    return 0
                }
                switch size {
                case 1: r[0] = UInt64(packet.load(fromByteOffset: Int(offset), as: UInt8.self))
                case 2: r[0] = UInt64(UInt16(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self)))
                default: r[0] = UInt64(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self)))
                }

            // LDX, plain and sign-extending.
            case 0x61:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                let p = try pointer(a, 4, write: false, regions, pc: here)
                if regions.pointee.hasVirtualFields, let converted = regions.pointee.virtualField(at: a) {
                    r[d] = converted
                } else {
                    r[d] = UInt64(p.loadUnaligned(as: UInt32.self))
                }
            case 0x69:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = UInt64(try pointer(a, 2, write: false, regions, pc: here).loadUnaligned(as: UInt16.self))
            case 0x71:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = UInt64(try pointer(a, 1, write: false, regions, pc: here).load(as: UInt8.self))
            case 0x79:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = try pointer(a, 8, write: false, regions, pc: here).loadUnaligned(as: UInt64.self)
            case 0x81:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = UInt64(bitPattern: Int64(try pointer(a, 4, write: false, regions, pc: here).loadUnaligned(as: Int32.self)))
            case 0x89:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = UInt64(bitPattern: Int64(try pointer(a, 2, write: false, regions, pc: here).loadUnaligned(as: Int16.self)))
            case 0x91:
                let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
                r[d] = UInt64(bitPattern: Int64(try pointer(a, 1, write: false, regions, pc: here).load(as: Int8.self)))

            // ST: immediate stores.
            case 0x62:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 4) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 4, write: true, regions, pc: here).storeBytes(of: imm32, as: UInt32.self)
            case 0x6a:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 2) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 2, write: true, regions, pc: here).storeBytes(of: UInt16(truncatingIfNeeded: imm32), as: UInt16.self)
            case 0x72:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 1) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 1, write: true, regions, pc: here).storeBytes(of: UInt8(truncatingIfNeeded: imm32), as: UInt8.self)
            case 0x7a:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 8) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 8, write: true, regions, pc: here).storeBytes(of: imm64, as: UInt64.self)

            // STX: register stores.
            case 0x63:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 4) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 4, write: true, regions, pc: here).storeBytes(of: lo(r[s]), as: UInt32.self)
            case 0x6b:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 2) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 2, write: true, regions, pc: here).storeBytes(of: UInt16(truncatingIfNeeded: r[s]), as: UInt16.self)
            case 0x73:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 1) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 1, write: true, regions, pc: here).storeBytes(of: UInt8(truncatingIfNeeded: r[s]), as: UInt8.self)
            case 0x7b:
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, 8) {
                    throw .unsupported(pc: here, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
                }
                try pointer(a, 8, write: true, regions, pc: here).storeBytes(of: r[s], as: UInt64.self)

            // Atomics.
            case 0xc3, 0xdb:
                let size = ins.opcode == 0xdb ? 8 : 4
                let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
                let p = try pointer(a, size, write: true, regions, pc: here)
                guard a % UInt64(size) == 0 else { throw .misalignedAtomic(pc: here, address: a, size: size) }
                if size == 8 {
                    Atomics.run64(p, op: ins.imm, src: s, regs: r)
                } else {
                    Atomics.run32(p, op: ins.imm, src: s, regs: r)
                }

            default:
                if here == lastSlot { throw .fellOffEnd(pc: here) }
                throw .unsupported(pc: here, message: "opcode 0x\(String(ins.opcode, radix: 16)) cannot run")
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
