import BPFCore
import Synchronization

/// Compiled code: the executable memory, its entry point and, when asked for, the listing.
final class JITCode: Sendable {
    let memory: ExecutableMemory
    /// Code offset of every instruction slot (-1 for the second half of a `lddw`); the last entry is
    /// where the code for running off the end starts.
    let pcOffsets: [Int]
    /// Code offset of each function's prologue, by its first instruction.
    let functionOffsets: [Int: Int]
    /// Whether the code has a lean entry: it never calls into Swift, never reaches the run's frame
    /// beyond r1, r2 and r10, so a run needs no run state at all.
    let lean: Bool
    /// Where helpers enter callback functions (-1: the program names none).
    let callbackEntryOffset: Int
    /// Offset and Intel-syntax text of every x86 instruction, when compiled with a listing.
    let listing: [(offset: Int, text: String)]?

    typealias Entry = @convention(c) (UnsafeMutableRawPointer) -> UInt64

    var entry: Entry { unsafeBitCast(memory.base, to: Entry.self) }

    typealias CallbackEntry = @convention(c) (UnsafeMutableRawPointer, UnsafeRawPointer) -> UInt64

    var callbackEntry: CallbackEntry { unsafeBitCast(memory.base + callbackEntryOffset, to: CallbackEntry.self) }

    /// The maps the code calls or reads directly (kept alive with it).
    let maps: JITMaps

    init(slots: [Instruction], proven: [Bool]?, maps: JITMaps = JITMaps(), blinding: Bool = false,
         mayGotoBudget: UInt64 = Opcode.mayGotoBudget, listing: Bool) throws(RuntimeError) {
        self.maps = maps
        #if arch(arm64)
        // On an arm64 host the arm64 back end is the JIT (no inlined maps, lean entry or callbacks yet).
        var compiler = ARM64Compiler(slots: slots, proven: proven, blinding: blinding, serviceAddress: JITCompiler.serviceAddress)
        compiler.mayGotoBudget = mayGotoBudget
        guard let code = compiler.compile() else { throw .unsupported(pc: 0, message: "the program is too large for the arm64 JIT (over 128 MiB of code)") }
        memory = try ExecutableMemory(code: code)
        pcOffsets = compiler.pcOffsets
        functionOffsets = compiler.functionOffsets
        lean = false
        callbackEntryOffset = -1
        self.listing = nil
        #else
        var compiler = JITCompiler(slots: slots, proven: proven, maps: maps, blinding: blinding, listing: listing)
        compiler.mayGotoBudget = mayGotoBudget
        let bytes = compiler.compile()
        memory = try ExecutableMemory(code: bytes)
        pcOffsets = compiler.pcOffsets
        functionOffsets = compiler.functionOffsets
        lean = compiler.lean
        callbackEntryOffset = compiler.callbackEntryOffset
        self.listing = compiler.asm.listing
        #endif
    }

    /// Code the optimizing tier made (``OptimizingCompiler``): same entry convention, no per-instruction offsets.
    init(optimized bytes: [UInt8], maps: JITMaps, listing: [(offset: Int, text: String)]?) throws(RuntimeError) {
        self.maps = maps
        memory = try ExecutableMemory(code: bytes)
        pcOffsets = []
        functionOffsets = [:]
        lean = false
        callbackEntryOffset = -1
        self.listing = listing
    }

    /// The machine code bytes.
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: memory.base, count: memory.count)) }
}

/// An interpreter's compiled code, made once and shared (tail calls into a program use it).
final class JITCache: Sendable {
    private let code = Mutex<JITCode?>(nil)

    /// The code, compiling it with `proven` if there is none yet.
    func code(for interpreter: Interpreter, proven: [Bool]?, maps: JITMaps = JITMaps()) throws(RuntimeError) -> JITCode {
        if let existing = code.withLock({ $0 }) { return existing }
        let made = try JITCode(slots: Array(interpreter.slots.dropLast()), proven: proven, maps: maps,
                               blinding: interpreter.options.constantBlinding, mayGotoBudget: interpreter.options.mayGotoBudget, listing: false)
        return code.withLock { slot in
            if let existing = slot { return existing }
            slot = made
            return made
        }
    }
}

/// The entry points the JIT's code calls.
enum JITRuntime {
    /// Status codes the service returns to the thunk.
    static let proceed: UInt64 = 0, finish: UInt64 = 1, returnFromFrame: UInt64 = 2, failed: UInt64 = 3

    static let serviceEntry: @convention(c) (UnsafeMutableRawPointer?, UInt32) -> UInt64 = { ctx, pc in
        JITRuntime.service(ctx!, pc: Int(pc))
    }

    /// Everything the machine code does not do itself, for instruction `pc`: helper calls (and the
    /// tail calls they ask for), accesses the inline checks did not allow (the full region check,
    /// converted context fields, misaligned atomics), legacy packet loads, and the errors of call
    /// depth, instruction budget and running off the end.
    static func service(_ ctx: UnsafeMutableRawPointer, pc: Int) -> UInt64 {
        ctx.storeBytes(of: 1, toByteOffset: Int(JITFrame.touched), as: UInt64.self)
        let info = ctx.load(fromByteOffset: Int(JITFrame.info), as: UnsafeMutablePointer<JITRunInfo>.self)
        let state = ctx.load(fromByteOffset: Int(JITFrame.state), as: UnsafeMutablePointer<RunState>.self)
        let regs = (ctx + Int(JITFrame.registers)).assumingMemoryBound(to: UInt64.self)
        let interpreter = info.pointee.interpreter.takeUnretainedValue()
        do {
            return try serve(interpreter, pc: pc, regs: regs, state: state, info: info, ctx: ctx)
        } catch {
            info.pointee.error = error
            return failed
        }
    }

    private static func serve(_ interpreter: Interpreter, pc: Int, regs r: UnsafeMutablePointer<UInt64>,
                              state: UnsafeMutablePointer<RunState>, info: UnsafeMutablePointer<JITRunInfo>,
                              ctx: UnsafeMutableRawPointer) throws(RuntimeError) -> UInt64 {
        let slots = interpreter.slots
        guard pc < slots.count - 1 else { throw .fellOffEnd(pc: pc) }
        let ins = slots[pc]
        let d = Int(ins.dst), s = Int(ins.src)
        let regions = RunState.regions(state)
        let depth = Int((info.pointee.stackTop &- r[10]) / UInt64(ExecutionOptions.stackSizePerFrame))
        func pointer(_ address: UInt64, _ size: Int, write: Bool) throws(RuntimeError) -> UnsafeMutableRawPointer {
            guard regions.pointee.allows(address, size, write: write),
                  let p = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address)) else {
                // A probe load (a read through a typed kernel pointer) reads 0, as the kernel's.
                if !write && pc < interpreter.probeLoads.count && interpreter.probeLoads[pc] { return Interpreter.probeZeros }
                throw .outOfBounds(pc: pc, address: address, size: size, write: write)
            }
            return p
        }
        let cls = ins.opcode & 7
        switch cls {
        case 1:
            let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
            let a = r[s] &+ UInt64(bitPattern: Int64(ins.offset))
            let p = try pointer(a, size, write: false)
            JITFrame.cache(ctx, regions, address: a, size: size)
            if ins.opcode == 0x61, regions.pointee.hasVirtualFields, let converted = regions.pointee.virtualField(at: a) {
                r[d] = converted
                return proceed
            }
            let signed = ins.opcode & 0xe0 == 0x80
            switch size {
            case 1: r[d] = signed ? UInt64(bitPattern: Int64(p.load(as: Int8.self))) : UInt64(p.load(as: UInt8.self))
            case 2: r[d] = signed ? UInt64(bitPattern: Int64(p.loadUnaligned(as: Int16.self))) : UInt64(p.loadUnaligned(as: UInt16.self))
            case 4: r[d] = signed ? UInt64(bitPattern: Int64(p.loadUnaligned(as: Int32.self))) : UInt64(p.loadUnaligned(as: UInt32.self))
            default: r[d] = p.loadUnaligned(as: UInt64.self)
            }
            return proceed
        case 2, 3:
            let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
            let a = r[d] &+ UInt64(bitPattern: Int64(ins.offset))
            if cls == 3 && ins.opcode & 0xe0 == 0xc0 {
                let p = try pointer(a, size, write: true)
                guard a % UInt64(size) == 0 else { throw .misalignedAtomic(pc: pc, address: a, size: size) }
                if size == 8 { Atomics.run64(p, op: ins.imm, src: s, regs: r) } else { Atomics.run32(p, op: ins.imm, src: s, regs: r) }
                return proceed
            }
            if regions.pointee.hasVirtualFields && regions.pointee.touchesVirtualField(a, size) {
                throw .unsupported(pc: pc, message: "store to a read-only context field at 0x\(String(a, radix: 16))")
            }
            let p = try pointer(a, size, write: true)
            JITFrame.cache(ctx, regions, address: a, size: size)
            let value = cls == 2 ? UInt64(bitPattern: Int64(ins.imm)) : r[s]
            switch size {
            case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value), as: UInt16.self)
            case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value), as: UInt32.self)
            default: p.storeBytes(of: value, as: UInt64.self)
            }
            return proceed
        case 0:
            // Legacy packet loads (LD_ABS / LD_IND).
            let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
            var offset = Int64(ins.imm)
            if ins.opcode >= 0x40 { offset &+= Int64(bitPattern: r[s]) }
            guard let packet = state.pointee.packet, offset >= 0, offset <= Int64(packet.count) - Int64(size) else {
                r[0] = 0
                return finish
            }
            switch size {
            case 1: r[0] = UInt64(packet.load(fromByteOffset: Int(offset), as: UInt8.self))
            case 2: r[0] = UInt64(UInt16(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt16.self)))
            default: r[0] = UInt64(UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self)))
            }
            return proceed
        default:
            break
        }
        switch ins.opcode {
        case 0x85 where ins.src == CallKind.local.rawValue:
            throw .callDepthExceeded(pc: pc, limit: ExecutionOptions.maxCallFrames)
        case 0x85, 0x8d:
            let id = ins.opcode == 0x85 ? Int64(ins.imm) : Int64(bitPattern: r[d])
            return try callHelper(interpreter, id: id, pc: pc, regs: r, state: state, info: info, ctx: ctx, depth: depth)
        default:
            // A backward jump found the budget spent.
            throw .instructionLimitExceeded(pc: pc, limit: interpreter.options.instructionLimit)
        }
    }

    /// Runs callback function `pc` of the running program's code for a helper: the frame's
    /// registers (the caller's, spilled) are kept and restored, r1–r5 hold the arguments, and the
    /// callback's frame opens below the caller's, as the interpreter does it.
    private static func state(_ ctx: UnsafeMutableRawPointer) -> UnsafeMutablePointer<RunState> {
        ctx.load(fromByteOffset: Int(JITFrame.state), as: UnsafeMutablePointer<RunState>.self)
    }

    static func invokeCallback(_ ctx: UnsafeMutableRawPointer, pc: Int, arguments: [UInt64], depth: Int,
                               callPC: Int) throws(RuntimeError) -> UInt64 {
        let info = ctx.load(fromByteOffset: Int(JITFrame.info), as: UnsafeMutablePointer<JITRunInfo>.self)
        let interpreter = info.pointee.interpreter.takeUnretainedValue()
        let code = try interpreter.jitCache.code(for: interpreter, proven: nil)
        guard let offset = code.functionOffsets[pc], code.callbackEntryOffset >= 0 else {
            throw .helperFailed(pc: callPC, helper: "callback", message: "instruction \(pc) does not start a callback function")
        }
        guard state(ctx).pointee.allowsCall(from: depth) else { throw .callDepthExceeded(pc: callPC, limit: ExecutionOptions.maxCallFrames) }
        let regs = (ctx + Int(JITFrame.registers)).assumingMemoryBound(to: UInt64.self)
        let saved = (regs[0], regs[1], regs[2], regs[3], regs[4], regs[5], regs[6], regs[7], regs[8], regs[9], regs[10])
        defer {
            regs[0] = saved.0; regs[1] = saved.1; regs[2] = saved.2; regs[3] = saved.3; regs[4] = saved.4; regs[5] = saved.5
            regs[6] = saved.6; regs[7] = saved.7; regs[8] = saved.8; regs[9] = saved.9; regs[10] = saved.10
        }
        for i in 0..<5 { regs[i + 1] = i < arguments.count ? arguments[i] : 0 }
        let r0 = code.callbackEntry(ctx, code.memory.base + offset)
        if info.pointee.error != nil {
            // The callback failed; the error stays in the run's info and ends the helper's caller too.
            throw info.pointee.error!
        }
        return r0
    }

    private static func callHelper(_ interpreter: Interpreter, id: Int64, pc: Int, regs r: UnsafeMutablePointer<UInt64>,
                                   state: UnsafeMutablePointer<RunState>, info: UnsafeMutablePointer<JITRunInfo>,
                                   ctx: UnsafeMutableRawPointer, depth: Int) throws(RuntimeError) -> UInt64 {
        let stops: Bool
        if id >= 0 && id < Int64(interpreter.denseFunctions.count), let function = interpreter.denseFunctions[Int(id)] {
            stops = try interpreter.callHelper(function, name: interpreter.denseHelpers[Int(id)]!.name, regs: r, state: state, pc: pc, depth: depth)
        } else {
            guard let helper = interpreter.helper(id) else { throw .unknownHelper(pc: pc, id: id) }
            stops = try interpreter.callHelper(helper, regs: r, state: state, pc: pc, depth: depth)
        }
        JITFrame.refresh(ctx, RunState.regions(state))
        if stops { return finish }
        guard state.pointee.pendingTailCall != nil else { return proceed }
        let callerMaps = state.pointee.maps
        guard let target = state.pointee.takeTailCall() else { return proceed }
        defer { state.pointee.maps = callerMaps }
        r[1] = state.pointee.tailCallContext
        // The target runs in this frame (same r10), in its own compiled code.
        let code = try target.jitCache.code(for: target, proven: nil)
        let caller = info.pointee.interpreter
        info.pointee.interpreter = Unmanaged.passUnretained(target)
        // The target replaces this frame: its 8 frames count from here.
        let callerBase = state.pointee.programBase, callerLimit = ctx.load(fromByteOffset: Int(JITFrame.callLimit), as: UInt64.self)
        state.pointee.programBase = depth
        ctx.storeBytes(of: JITProgram.callLimit(programTop: r[10], stack: state.pointee.regions.stack), toByteOffset: Int(JITFrame.callLimit), as: UInt64.self)
        let r0 = code.entry(ctx)
        ctx.storeBytes(of: callerLimit, toByteOffset: Int(JITFrame.callLimit), as: UInt64.self)
        state.pointee.programBase = callerBase
        info.pointee.interpreter = caller
        JITFrame.refresh(ctx, RunState.regions(state))
        if info.pointee.error != nil { return failed }
        r[0] = r0
        return returnFromFrame
    }
}
