import BPFCore
import Synchronization

/// Which engine runs a program.
public enum ExecutionEngine: String, Sendable, CaseIterable {
    /// The reference interpreter.
    case interpreter
    /// The x86-64 JIT (``JITProgram``).
    case jit

    /// The JIT where it exists (x86-64), the interpreter elsewhere.
    public static var `default`: ExecutionEngine { JITProgram.isSupported ? .jit : .interpreter }
}

/// A program compiled to x86-64 machine code, with the interpreter's semantics exactly: the same
/// helpers (one registry, called through a C-convention entry point), the same memory regions and
/// context conversions, the same errors.
///
/// Safety: every load, store and atomic operation is checked against the run's regions — inline
/// against the packet, the input and the stack, then in Swift against the rest — unless it is
/// provably inside its region: an access at a constant offset of r10 within the frame, or one the
/// verifier proved (`provenAccesses[pc] == true`). Without proofs (`nil`) every other access is
/// checked, so a program loaded with the verifier off still cannot touch memory outside its regions.
/// Without proofs, backward jumps spend a budget of ``ExecutionOptions/instructionLimit`` so a runaway
/// loop stops, and each frame the program can address starts zeroed; a verified program, whose loops
/// are proven to end and which never reads stack it did not write, needs neither.
/// The JIT does not count instructions: ``ExecutionResult/instructionsExecuted`` is 0.
///
/// ```swift
/// let program = try Assembler().assembleProgram("ldxb %r0, [%r1+2]\nexit")
/// let jit = try JITProgram(interpreter: Interpreter(program: program))
/// var packet: [UInt8] = [0xaa, 0xbb, 0x11]
/// let result = try jit.run(memory: &packet)   // result.returnValue == 0x11
/// ```
public final class JITProgram: Sendable {
    /// The interpreter the program was prepared by (its helpers, options and regions apply).
    public let interpreter: Interpreter
    /// The verifier's proofs the code was compiled with.
    public let provenAccesses: [Bool]?
    let maps: JITMaps

    /// The maps the code reaches without the service, by their handle, for maps that are not
    /// per-CPU and helpers that are the kernel's: array lookups inlined, array updates and hash
    /// lookups, updates and deletes called directly.
    static func directMaps(_ maps: [RuntimeMap], helpers: HelperRegistry) -> JITMaps {
        var direct = JITMaps()
        let lookup = helpers[1]?.name == "bpf_map_lookup_elem", update = helpers[2]?.name == "bpf_map_update_elem"
        let delete = helpers[3]?.name == "bpf_map_delete_elem"
        for (i, map) in maps.enumerated() {
            let handle = RunEnvironment.mapHandleBase + UInt64(i)
            if let array = map as? ArrayMap, !array.perCPU, array.spec.maxEntries > 0 {
                if lookup {
                    direct.arrays[handle] = JITArrayMap(
                        valueBase: UInt64(UInt(bitPattern: array.valueBase)), maxEntries: UInt32(truncatingIfNeeded: array.spec.maxEntries),
                        stride: array.entryStride)
                }
                if update { direct.direct[handle] = JITDirectMap(map: array, lookup: false, update: true, delete: false) }
            } else if let hash = map as? HashMap, !hash.perCPU, lookup || update || delete {
                direct.direct[handle] = JITDirectMap(map: hash, lookup: lookup, update: update, delete: delete)
            }
        }
        return direct
    }

    let code: JITCode

    /// Whether this machine can run JIT code (x86-64; arm64 through the arm64 back end).
    public static var isSupported: Bool {
        #if arch(x86_64) || arch(arm64)
        true
        #else
        false
        #endif
    }

    /// Compiles the interpreter's program. `provenAccesses`, one flag per instruction slot, marks the
    /// loads, stores and atomics the verifier proved inside their regions; they run unchecked.
    public convenience init(interpreter: Interpreter, provenAccesses: [Bool]? = nil) throws(RuntimeError) {
        try self.init(interpreter: interpreter, provenAccesses: provenAccesses, maps: [])
    }

    /// Compiles with `tier` (the optimizing tier falls back to the first for what it declines).
    public convenience init(interpreter: Interpreter, provenAccesses: [Bool]? = nil, tier: JITTier) throws(RuntimeError) {
        try self.init(interpreter: interpreter, provenAccesses: provenAccesses, maps: [], tier: tier)
    }

    /// The tier that compiled the code.
    public let tier: JITTier
    /// Why the optimizing tier, when asked for, declined the program (the first tier compiled it).
    public let declineReason: String?

    /// Compiles with the program's maps known, so lookups of plain array maps are inlined.
    init(interpreter: Interpreter, provenAccesses: [Bool]?, maps: [RuntimeMap], tier: JITTier = .default) throws(RuntimeError) {
        guard Self.isSupported else { throw .unsupported(pc: 0, message: "the JIT generates x86-64 code; this machine is not x86-64") }
        if let provenAccesses, provenAccesses.count != interpreter.program.instructions.count {
            throw .unsupported(pc: 0, message: "provenAccesses has \(provenAccesses.count) entries for \(interpreter.program.instructions.count) instruction slots")
        }
        self.interpreter = interpreter
        self.provenAccesses = provenAccesses
        self.maps = Self.directMaps(maps, helpers: interpreter.helpers)
        var optimized: JITCode?
        var reason: String?
        if tier == .optimizing {
            do {
                #if arch(arm64)
                optimized = try OptimizingCompiler.arm64Code(for: interpreter, proven: provenAccesses, maps: self.maps)
                #else
                optimized = try OptimizingCompiler.code(for: interpreter, proven: provenAccesses, maps: self.maps)
                #endif
            } catch {
                reason = error.description
            }
        }
        self.tier = optimized == nil ? .baseline : .optimizing
        declineReason = reason
        if let optimized { code = optimized } else { code = try interpreter.jitCache.code(for: interpreter, proven: provenAccesses, maps: self.maps) }
    }

    /// Prepares and compiles a program (see ``Interpreter/init(program:helpers:options:permanentRegions:)``).
    public convenience init(program: Program, helpers: HelperRegistry = HelperRegistry(), options: ExecutionOptions = ExecutionOptions(),
                            permanentRegions: [MemoryRegion] = [], provenAccesses: [Bool]? = nil) throws(RuntimeError) {
        try self.init(interpreter: Interpreter(program: program, helpers: helpers, options: options, permanentRegions: permanentRegions),
                      provenAccesses: provenAccesses)
    }

    /// The generated machine code.
    public var machineCode: [UInt8] { code.bytes }

    /// The x86-64 code interleaved with the eBPF instructions it was generated from: each eBPF
    /// instruction (in `syntax`), then its machine code as offset, bytes and Intel-syntax text;
    /// the entry sequence comes first and the out-of-line code (slow paths, the call into Swift) last.
    public func annotatedDisassembly(syntax: Disassembler.Syntax = .llvm) throws(RuntimeError) -> String {
        if tier == .optimizing, let text = try? OptimizingCompiler.listing(for: interpreter, proven: provenAccesses, maps: maps) { return text }
        let listed = try JITCode(slots: Array(interpreter.slots.dropLast()), proven: provenAccesses, maps: maps,
                                 blinding: interpreter.options.constantBlinding, mayGotoBudget: interpreter.options.mayGotoBudget, listing: true)
        let listing = listed.listing ?? []
        let bytes = listed.bytes
        let instructions = interpreter.program.instructions
        let disassembler = Disassembler(syntax: syntax)
        var starts: [(offset: Int, pc: Int)] = []
        for (pc, offset) in listed.pcOffsets.enumerated() where offset >= 0 { starts.append((offset, pc)) }
        var out = "; entry: save the host's registers, load r0-r10 from the run's frame, call the program\n"
        var next = 0
        for (index, item) in listing.enumerated() {
            while next < starts.count && starts[next].offset <= item.offset {
                let pc = starts[next].pc
                if pc < instructions.count {
                    out += String(repeating: " ", count: max(0, 5 - String(pc).count)) + "\(pc): " + disassembler.instruction(at: pc, in: instructions) + "\n"
                } else {
                    out += "; after the last instruction: running off the end, the epilogue, the out-of-line code\n"
                }
                next += 1
            }
            let end = index + 1 < listing.count ? listing[index + 1].offset : bytes.count
            let hex = bytes[item.offset..<end].map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined(separator: " ")
            var offset = String(item.offset, radix: 16)
            offset = String(repeating: "0", count: max(0, 4 - offset.count)) + offset
            out += "        \(offset):  \(hex.padding(30))  \(item.text)\n"
        }
        return out
    }

    /// Runs over raw memory the bpf_conformance way: r1 points at the memory, r2 holds its length.
    public func run(memory: inout [UInt8]) throws(RuntimeError) -> ExecutionResult {
        let count = memory.count
        let outcome: Result<ExecutionResult, RuntimeError> = memory.withUnsafeMutableBytes { buffer in
            let base = count == 0 ? 0 : UInt64(UInt(bitPattern: buffer.baseAddress))
            return Result { () throws(RuntimeError) -> ExecutionResult in
                try execute(r1: base, r2: UInt64(count), input: MemoryRegion(buffer), second: .empty, packet: UnsafeRawBufferPointer(buffer),
                            extra: [], environment: nil, virtualFields: [])
            }
        }
        return try outcome.get()
    }

    /// Runs with no input.
    public func run() throws(RuntimeError) -> ExecutionResult {
        try execute(r1: 0, r2: 0, input: .empty, second: .empty, packet: nil, extra: [], environment: nil, virtualFields: [])
    }

    /// Runs with explicit arguments and regions, as ``Interpreter/run(r1:r2:regions:packet:environment:virtualFields:)``.
    public func run(r1: UInt64, r2: UInt64 = 0, regions: [MemoryRegion], packet: UnsafeRawBufferPointer? = nil,
                    environment: RunEnvironment? = nil, virtualFields: [(address: UInt, value: UInt64)] = []) throws(RuntimeError) -> ExecutionResult {
        try execute(r1: r1, r2: r2, input: regions.first ?? .empty, second: regions.count > 1 ? regions[1] : .empty, packet: packet,
                    extra: regions.count > 2 ? Array(regions.dropFirst(2)) : [], environment: environment, virtualFields: virtualFields)
    }

    /// Runs with an input and a second (packet) region.
    func run(r1: UInt64, input: MemoryRegion, second: MemoryRegion, environment: RunEnvironment?,
             virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        try execute(r1: r1, r2: 0, input: input, second: second, packet: nil, extra: [], environment: environment, virtualFields: virtualFields)
    }

    static let scratchBytes = JITFrame.size + Interpreter.frameBytes + Interpreter.stackBytes
    /// A run's scratch area for this program: more frames when it tail-calls (``Interpreter/frameCapacity``).
    var scratchBytes: Int { JITFrame.size + interpreter.runFrameBytes + interpreter.runStackBytes }

    /// Lays out a run's scratch area of `frameCapacity` frames: the call frames and the stack after
    /// the JIT frame, the call limit, and the stack as region 2 of the load and store tables.
    static func layOut(scratch ctx: UnsafeMutableRawPointer, frameCapacity: Int = ExecutionOptions.maxCallFrames)
        -> (frames: UnsafeMutablePointer<UInt64>, stackTop: UInt64, stack: MemoryRegion) {
        let frameBytes = frameCapacity * Interpreter.frameWords * 8, stackBytes = frameCapacity * ExecutionOptions.stackSizePerFrame
        let frames = (ctx + JITFrame.size).bindMemory(to: UInt64.self, capacity: frameBytes / 8)
        let stack = ctx + JITFrame.size + frameBytes
        let stackTop = UInt64(UInt(bitPattern: stack + stackBytes))
        let stackRegion = MemoryRegion(start: UInt(bitPattern: stack), count: stackBytes, writable: true)
        ctx.storeBytes(of: callLimit(programTop: stackTop, stack: stackRegion), toByteOffset: Int(JITFrame.callLimit), as: UInt64.self)
        JITFrame.setRegion(ctx, table: JITFrame.loadRegions, index: 2, stackRegion)
        JITFrame.setRegion(ctx, table: JITFrame.storeRegions, index: 2, stackRegion)
        return (frames, stackTop, stackRegion)
    }

    /// The lowest r10 a frame may call from (the code compares before each bpf-to-bpf call): the
    /// program whose first frame's r10 is `programTop` keeps to 8 frames, and a new frame must fit
    /// in the stack.
    static func callLimit(programTop: UInt64, stack: MemoryRegion) -> UInt64 {
        let frame = UInt64(ExecutionOptions.stackSizePerFrame)
        let program = programTop &- UInt64(ExecutionOptions.maxCallFrames - 2) * frame
        return max(program, UInt64(stack.start) + 2 * frame)
    }
    /// One scratch block (frame, call frames, stack) kept from the last run for the next, so a run
    /// does not allocate: its address, or 0 while a run holds it.
    private let spareScratch = Atomic<UInt>(0)

    deinit {
        if let block = UnsafeMutableRawPointer(bitPattern: spareScratch.load(ordering: .acquiring)) { block.deallocate() }
    }

    /// The spare scratch block, or a new one when a run holds it.
    private func takeScratch() -> UnsafeMutableRawPointer {
        if let spare = UnsafeMutableRawPointer(bitPattern: spareScratch.exchange(0, ordering: .acquiring)) { return spare }
        return UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
    }

    /// Keeps `block` as the spare, or frees it when there is one already.
    private func giveBack(_ block: UnsafeMutableRawPointer) {
        if !spareScratch.compareExchange(expected: 0, desired: UInt(bitPattern: block), ordering: .releasing).exchanged {
            block.deallocate()
        }
    }

    private func execute(r1: UInt64, r2: UInt64, input: MemoryRegion, second: MemoryRegion, packet: UnsafeRawBufferPointer?,
                         extra: [MemoryRegion], environment: RunEnvironment?,
                         virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        if code.lean {
            // Code that never leaves the machine code needs only its registers and a stack.
            let ctx = takeScratch()
            defer { giveBack(ctx) }
            let regs = (ctx + Int(JITFrame.registers)).assumingMemoryBound(to: UInt64.self)
            regs[1] = r1
            regs[2] = r2
            regs[10] = UInt64(UInt(bitPattern: ctx + scratchBytes))
            return ExecutionResult(returnValue: code.entry(ctx), instructionsExecuted: 0)
        }
        return try withSession(r1: r1, r2: r2, input: input, second: second, packet: packet, extra: extra, environment: environment,
                        virtualFields: virtualFields) { session throws(RuntimeError) in try session.run() }
    }

    /// Prepares one run over raw memory, the bpf_conformance way (r1 points at `memory`, r2 holds
    /// its length), for `body` to run any number of times: each ``PreparedRun/run()`` only resets the
    /// registers and the instruction budget, so calling a small program costs a few nanoseconds.
    /// What a run writes to `memory` (and its stack) is what the next run finds.
    ///
    /// ```swift
    /// var packet: [UInt8] = [0xaa, 0xbb, 0x11]
    /// try packet.withUnsafeMutableBytes { memory in
    ///     try jit.withPreparedRun(memory: memory) { prepared in
    ///         for _ in 0..<1_000_000 { _ = try prepared.run().returnValue }
    ///     }
    /// }
    /// ```
    public func withPreparedRun<T>(memory: UnsafeMutableRawBufferPointer, _ body: (PreparedRun) throws -> T) throws -> T {
        let base = memory.count == 0 ? 0 : UInt64(UInt(bitPattern: memory.baseAddress))
        var failure: (any Error)?
        let result = try withSession(r1: base, r2: UInt64(memory.count), input: MemoryRegion(memory), second: .empty,
                                     packet: UnsafeRawBufferPointer(memory), extra: [], environment: nil,
                                     virtualFields: []) { session throws(RuntimeError) -> T? in
            do { return try body(session) } catch {
                failure = error
                return nil
            }
        }
        if let failure { throw failure }
        return result!
    }

    /// Prepares one run context — the frame the code addresses, the call frames and stack, the run's
    /// state and regions — and hands it to `body`, which may run the program on it any number of
    /// times (``PreparedRun/run()``); only the registers and the instruction budget are reset between
    /// runs, so memory the program wrote stays written, as in the repetitions of BPF_PROG_TEST_RUN.
    func withSession<T>(r1: UInt64, r2: UInt64, input: MemoryRegion, second: MemoryRegion, packet: UnsafeRawBufferPointer?,
                        extra: [MemoryRegion], environment: RunEnvironment?, virtualFields: [(address: UInt, value: UInt64)],
                        _ body: (PreparedRun) throws(RuntimeError) -> T) throws(RuntimeError) -> T {
        let ctx = takeScratch()
        defer { giveBack(ctx) }
        let (frames, stackTop, stackRegion) = Self.layOut(scratch: ctx, frameCapacity: interpreter.frameCapacity)
        var regions = MemoryRegions(stack: stackRegion, input: input)
        regions.second = second
        regions.extra = extra
        regions.permanent = interpreter.permanentRegions
        regions.virtualFields = virtualFields
        regions.hasVirtualFields = !virtualFields.isEmpty
        var state = RunState(regions: regions, frames: frames, packet: packet, environment: environment, frameCapacity: interpreter.frameCapacity)
        state.jitFrame = ctx
        withUnsafePointer(to: &state.regions) { JITFrame.refresh(ctx, $0) }
        ctx.storeBytes(of: 0, toByteOffset: Int(JITFrame.touched), as: UInt64.self)
        var info = JITRunInfo(interpreter: Unmanaged.passUnretained(interpreter), stackTop: stackTop, error: nil)
        let outcome: Result<T, RuntimeError> = withUnsafeMutablePointer(to: &state) { statePointer in
            defer { statePointer.pointee.finish() }
            return withUnsafeMutablePointer(to: &info) { infoPointer in
                ctx.storeBytes(of: statePointer, toByteOffset: Int(JITFrame.state), as: UnsafeMutablePointer<RunState>.self)
                ctx.storeBytes(of: infoPointer, toByteOffset: Int(JITFrame.info), as: UnsafeMutablePointer<JITRunInfo>.self)
                let session = PreparedRun(ctx: ctx, state: statePointer, info: infoPointer, entry: code.entry, r1: r1, r2: r2,
                                         stackTop: stackTop, budget: interpreter.options.instructionLimit,
                                         extraRegions: extra.count)
                return Result { () throws(RuntimeError) -> T in try body(session) }
            }
        }
        return try outcome.get()
    }
}

/// A prepared JIT run context (see ``JITProgram/withPreparedRun(memory:_:)``), valid only inside
/// the closure it was handed to: each ``run()`` is little more than the call into the machine code.
public struct PreparedRun {
    let ctx: UnsafeMutableRawPointer
    let state: UnsafeMutablePointer<RunState>
    let info: UnsafeMutablePointer<JITRunInfo>
    let entry: JITCode.Entry
    let r1: UInt64, r2: UInt64, stackTop: UInt64, budget: UInt64
    /// How many extra regions the run started with (regions granted during a run end with it).
    let extraRegions: Int

    /// Runs the program once: r1, r2 and r10 as prepared, the other registers zero, a full
    /// instruction budget, no tail calls taken yet.
    @inline(__always)
    public func run() throws(RuntimeError) -> ExecutionResult {
        let regs = (ctx + Int(JITFrame.registers)).assumingMemoryBound(to: UInt64.self)
        regs[0] = 0
        regs[1] = r1
        regs[2] = r2
        for i in 3..<10 { regs[i] = 0 }
        regs[10] = stackTop
        ctx.storeBytes(of: 0, toByteOffset: Int(JITFrame.savedRSP), as: UInt64.self)
        ctx.storeBytes(of: budget, toByteOffset: Int(JITFrame.budget), as: UInt64.self)
        let r0 = entry(ctx)
        if ctx.load(fromByteOffset: Int(JITFrame.touched), as: UInt64.self) == 0 {
            return ExecutionResult(returnValue: r0, instructionsExecuted: 0)
        }
        return try afterService(r0)
    }

    /// The end of a run that called into Swift: its error, and the state reset for the next run.
    private func afterService(_ r0: UInt64) throws(RuntimeError) -> ExecutionResult {
        ctx.storeBytes(of: 0, toByteOffset: Int(JITFrame.touched), as: UInt64.self)
        var r0 = r0
        if let error = info.pointee.error, state.pointee.thrown != nil {
            // A bpf_throw unwound the code: the exception callback's result (run in the interpreter).
            info.pointee.error = nil
            do {
                r0 = try Interpreter.afterThrow(error, state: state, stackTop: stackTop)
            } catch {
                info.pointee.error = error
            }
        }
        let executed = state.pointee.executed
        state.pointee.executed = 0
        if state.pointee.needsReset(extraRegions: extraRegions) {
            state.pointee.reset(extraRegions: extraRegions)
            JITFrame.refresh(ctx, RunState.regions(state))
        }
        if let error = info.pointee.error {
            info.pointee.error = nil
            throw error
        }
        return ExecutionResult(returnValue: r0, instructionsExecuted: executed)
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
