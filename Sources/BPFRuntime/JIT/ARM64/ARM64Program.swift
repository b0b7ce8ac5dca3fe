import BPFCore

/// A program compiled to AArch64 machine code by ``ARM64Compiler``: on any host (a cross-compile:
/// the bytes are made, not run). The code calls its service through the run frame's word at
/// ``ARM64Compiler/serviceSlot``, which whoever runs it fills: ``ARM64Emulator``'s runner under
/// `qemu-aarch64` on other hosts.
///
/// ```swift
/// let program = try Assembler().assembleProgram("mov %r0, 7\nexit")
/// let arm64 = try ARM64Program(interpreter: Interpreter(program: program))
/// // arm64.machineCode holds the AArch64 code; ARM64Emulator.run runs it under qemu-aarch64.
/// ```
public struct ARM64Program: Sendable {
    /// The interpreter the program was prepared by (its slots, options and instruction limit apply).
    public let interpreter: Interpreter
    /// The AArch64 code: the entry, `entry(frame) -> r0`, is at offset 0.
    public let machineCode: [UInt8]
    /// Code offset of every instruction slot (-1 for the second half of a `lddw`); the last entry is
    /// where the code for running off the end starts. Empty for the optimizing tier's code, which
    /// follows blocks, not instructions.
    public let pcOffsets: [Int]

    /// The tier that compiled the code (the optimizing tier, when asked for, may decline: the first
    /// tier then compiles the program).
    public let tier: JITTier
    /// Why the optimizing tier, when asked for, declined the program.
    public let declineReason: String?
    /// Listing comments by code offset (the optimizing tier's blocks; empty for the first tier).
    let comments: [(offset: Int, text: String)]

    /// Compiles the interpreter's program. `provenAccesses` (one flag per slot) marks the accesses
    /// the verifier proved; they run unchecked, as in ``JITProgram``. `tier` as ``JITProgram``'s:
    /// ``JITTier/optimizing`` compiles with the optimizing tier's arm64 back end, falling back to
    /// the first tier for what it declines.
    public init(interpreter: Interpreter, provenAccesses: [Bool]? = nil, tier: JITTier = .default) throws(RuntimeError) {
        if let provenAccesses, provenAccesses.count != interpreter.program.instructions.count {
            throw .unsupported(pc: 0, message: "provenAccesses has \(provenAccesses.count) entries for \(interpreter.program.instructions.count) instruction slots")
        }
        self.interpreter = interpreter
        let slots = Array(interpreter.slots.dropLast())
        var reason: String?
        if tier == .optimizing {
            do {
                let optimized = try OptimizingCompiler.arm64(slots: slots, proven: provenAccesses, blinding: interpreter.options.constantBlinding,
                                                             serviceAddress: nil)
                machineCode = optimized.code
                comments = optimized.comments
                pcOffsets = []
                self.tier = .optimizing
                declineReason = nil
                return
            } catch {
                reason = error.description
            }
        }
        var compiler = ARM64Compiler(slots: slots, proven: provenAccesses, blinding: interpreter.options.constantBlinding)
        compiler.mayGotoBudget = interpreter.options.mayGotoBudget
        guard let code = compiler.compile() else { throw .unsupported(pc: 0, message: "the program is too large for the arm64 JIT (over 128 MiB of code)") }
        machineCode = code
        pcOffsets = compiler.pcOffsets
        comments = []
        self.tier = .baseline
        declineReason = reason
    }

    /// The instruction slots the code was compiled from (the runner's service decodes them).
    var slots: [Instruction] { Array(interpreter.slots.dropLast()) }

    /// Runs over raw memory the bpf_conformance way (r1 the memory, r2 its length) under
    /// `qemu-aarch64`, with the conformance helpers (id 5, `unwind`).
    public func runEmulated(memory: inout [UInt8]) throws(RuntimeError) -> ExecutionResult {
        let outcome = try ARM64Emulator.run([(self, memory)])[0]
        memory = outcome.memory
        return ExecutionResult(returnValue: try outcome.result.get(), instructionsExecuted: 0)
    }
}

extension ARM64Program {
    /// The AArch64 code interleaved with the eBPF instructions it was generated from: each eBPF
    /// instruction (in `syntax`), then its machine code as offset, word and text (from
    /// `llvm-objdump` where one is found, else the word alone); the entry sequence comes first and
    /// the out-of-line code (epilogue, slow paths, the thunk) last.
    public func annotatedDisassembly(syntax: Disassembler.Syntax = .llvm) -> String {
        let texts = ARM64Emulator.disassemble(machineCode)
        let instructions = interpreter.program.instructions
        let disassembler = Disassembler(syntax: syntax)
        var starts: [Int: [Int]] = [:]
        for (pc, offset) in pcOffsets.enumerated() where offset >= 0 { starts[offset, default: []].append(pc) }
        var notes: [Int: [String]] = [:]
        for (offset, text) in comments { notes[offset, default: []].append(text) }
        var out = tier == .optimizing
            ? "; optimizing tier: \(instructions.count) eBPF instructions, \(machineCode.count) bytes of AArch64\n"
            : "; entry: save the host's registers, load r0-r10 from the run's frame, call the program\n"
        var offset = 0
        while offset + 4 <= machineCode.count {
            for text in notes[offset] ?? [] { out += text + "\n" }
            // Instructions that generated no code share the offset of the next.
            for pc in starts[offset] ?? [] {
                if pc < instructions.count {
                    out += String(repeating: " ", count: max(0, 5 - String(pc).count)) + "\(pc): " + disassembler.instruction(at: pc, in: instructions) + "\n"
                } else {
                    out += "; after the last instruction: running off the end, the epilogue, the out-of-line code\n"
                }
            }
            let word = UInt32(machineCode[offset]) | UInt32(machineCode[offset + 1]) << 8 | UInt32(machineCode[offset + 2]) << 16 | UInt32(machineCode[offset + 3]) << 24
            var hex = String(word, radix: 16)
            hex = String(repeating: "0", count: 8 - hex.count) + hex
            var position = String(offset, radix: 16)
            position = String(repeating: "0", count: max(0, 4 - position.count)) + position
            out += "        \(position):  \(hex)  \(texts?[offset / 4] ?? "")\n"
            offset += 4
        }
        return out
    }
}
