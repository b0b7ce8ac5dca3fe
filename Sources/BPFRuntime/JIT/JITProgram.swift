import BPFCore

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
/// Backward jumps spend a budget of ``ExecutionOptions/instructionLimit`` so a runaway loop stops.
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
    let arrays: [UInt64: JITArrayMap]

    /// Array maps (not per-CPU) by their handle, when helper 1 is the kernel's map lookup.
    static func inlinableArrays(_ maps: [RuntimeMap], helpers: HelperRegistry) -> [UInt64: JITArrayMap] {
        guard helpers[1]?.name == "bpf_map_lookup_elem" else { return [:] }
        var arrays: [UInt64: JITArrayMap] = [:]
        for (i, map) in maps.enumerated() {
            guard let array = map as? ArrayMap, !array.perCPU, array.spec.maxEntries > 0 else { continue }
            arrays[RunEnvironment.mapHandleBase + UInt64(i)] = JITArrayMap(
                valueBase: UInt64(UInt(bitPattern: array.valueBase)), maxEntries: UInt32(truncatingIfNeeded: array.spec.maxEntries),
                stride: array.entryStride)
        }
        return arrays
    }
    let code: JITCode

    /// Whether this machine can run JIT code (x86-64).
    public static var isSupported: Bool {
        #if arch(x86_64)
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

    /// Compiles with the program's maps known, so lookups of plain array maps are inlined.
    init(interpreter: Interpreter, provenAccesses: [Bool]?, maps: [RuntimeMap]) throws(RuntimeError) {
        guard Self.isSupported else { throw .unsupported(pc: 0, message: "the JIT generates x86-64 code; this machine is not x86-64") }
        if let provenAccesses, provenAccesses.count != interpreter.program.instructions.count {
            throw .unsupported(pc: 0, message: "provenAccesses has \(provenAccesses.count) entries for \(interpreter.program.instructions.count) instruction slots")
        }
        self.interpreter = interpreter
        self.provenAccesses = provenAccesses
        arrays = Self.inlinableArrays(maps, helpers: interpreter.helpers)
        code = try interpreter.jitCache.code(for: interpreter, proven: provenAccesses, arrays: arrays)
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
        let listed = try JITCode(slots: Array(interpreter.slots.dropLast()), proven: provenAccesses, arrays: arrays, listing: true)
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

    private static let scratchBytes = JITFrame.size + Interpreter.frameBytes + Interpreter.stackBytes

    private func execute(r1: UInt64, r2: UInt64, input: MemoryRegion, second: MemoryRegion, packet: UnsafeRawBufferPointer?,
                         extra: [MemoryRegion], environment: RunEnvironment?,
                         virtualFields: [(address: UInt, value: UInt64)]) throws(RuntimeError) -> ExecutionResult {
        let entry = code.entry
        let outcome: Result<ExecutionResult, RuntimeError> = withUnsafeTemporaryAllocation(byteCount: Self.scratchBytes, alignment: 64) { scratch in
            let ctx = scratch.baseAddress!
            let frames = (ctx + JITFrame.size).bindMemory(to: UInt64.self, capacity: Interpreter.frameBytes / 8)
            let stack = ctx + JITFrame.size + Interpreter.frameBytes
            let stackTop = UInt64(UInt(bitPattern: stack + Interpreter.stackBytes))
            let regs = (ctx + Int(JITFrame.registers)).bindMemory(to: UInt64.self, capacity: 11)
            for i in 0..<11 { regs[i] = 0 }
            regs[1] = r1
            regs[2] = r2
            regs[10] = stackTop
            ctx.storeBytes(of: 0, toByteOffset: Int(JITFrame.savedRSP), as: UInt64.self)
            ctx.storeBytes(of: interpreter.options.instructionLimit, toByteOffset: Int(JITFrame.budget), as: UInt64.self)
            let stackRegion = MemoryRegion(start: UInt(bitPattern: stack), count: Interpreter.stackBytes, writable: true)
            ctx.storeBytes(of: UInt64(stackRegion.start) + 2 * UInt64(ExecutionOptions.stackSizePerFrame), toByteOffset: Int(JITFrame.callLimit), as: UInt64.self)
            var low: UInt = 0, high: UInt = 0
            if !virtualFields.isEmpty {
                low = virtualFields.map(\.address).min()!
                high = virtualFields.map(\.address).max()! + 4
            }
            ctx.storeBytes(of: low, toByteOffset: Int(JITFrame.virtualLow), as: UInt.self)
            ctx.storeBytes(of: high - low, toByteOffset: Int(JITFrame.virtualLength), as: UInt.self)
            JITFrame.setRegion(ctx, table: JITFrame.loadRegions, index: 0, second)
            JITFrame.setRegion(ctx, table: JITFrame.loadRegions, index: 1, input)
            JITFrame.setRegion(ctx, table: JITFrame.loadRegions, index: 2, stackRegion)
            JITFrame.setRegion(ctx, table: JITFrame.storeRegions, index: 0, second.writable ? second : .empty)
            // Stores into a context with converted fields go to Swift, which refuses those fields.
            JITFrame.setRegion(ctx, table: JITFrame.storeRegions, index: 1, input.writable && virtualFields.isEmpty ? input : .empty)
            JITFrame.setRegion(ctx, table: JITFrame.storeRegions, index: 2, stackRegion)
            var regions = MemoryRegions(stack: stackRegion, input: input)
            regions.second = second
            regions.extra = extra
            regions.permanent = interpreter.permanentRegions
            regions.virtualFields = virtualFields
            regions.hasVirtualFields = !virtualFields.isEmpty
            var state = RunState(regions: regions, frames: frames, packet: packet, environment: environment)
            var info = JITRunInfo(interpreter: Unmanaged.passUnretained(interpreter), stackTop: stackTop, error: nil)
            return withUnsafeMutablePointer(to: &state) { statePointer in
                defer { statePointer.pointee.finish() }
                return withUnsafeMutablePointer(to: &info) { infoPointer in
                    ctx.storeBytes(of: statePointer, toByteOffset: Int(JITFrame.state), as: UnsafeMutablePointer<RunState>.self)
                    ctx.storeBytes(of: infoPointer, toByteOffset: Int(JITFrame.info), as: UnsafeMutablePointer<JITRunInfo>.self)
                    let r0 = entry(ctx)
                    if let error = infoPointer.pointee.error { return .failure(error) }
                    return .success(ExecutionResult(returnValue: r0, instructionsExecuted: statePointer.pointee.executed))
                }
            }
        }
        return try outcome.get()
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
