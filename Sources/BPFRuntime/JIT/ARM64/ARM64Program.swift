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
    /// where the code for running off the end starts.
    public let pcOffsets: [Int]

    /// Compiles the interpreter's program. `provenAccesses` (one flag per slot) marks the accesses
    /// the verifier proved; they run unchecked, as in ``JITProgram``.
    public init(interpreter: Interpreter, provenAccesses: [Bool]? = nil) throws(RuntimeError) {
        if let provenAccesses, provenAccesses.count != interpreter.program.instructions.count {
            throw .unsupported(pc: 0, message: "provenAccesses has \(provenAccesses.count) entries for \(interpreter.program.instructions.count) instruction slots")
        }
        self.interpreter = interpreter
        var compiler = ARM64Compiler(slots: Array(interpreter.slots.dropLast()), proven: provenAccesses,
                                     blinding: interpreter.options.constantBlinding)
        compiler.mayGotoBudget = interpreter.options.mayGotoBudget
        machineCode = compiler.compile()
        pcOffsets = compiler.pcOffsets
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
