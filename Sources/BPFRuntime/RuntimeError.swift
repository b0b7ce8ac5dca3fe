import BPFCore

/// Why a program could not be prepared or stopped while running. Every case names the
/// instruction (`pc`, the slot index) where it happened.
///
/// ```swift
/// do { _ = try interpreter.run(memory: &bytes) }
/// catch let error as RuntimeError { print(error) }
/// // instruction 3: out-of-bounds read of 8 bytes at 0x7ffd1234 (not inside the stack or input memory)
/// ```
public enum RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The program failed validation.
    case invalidProgram(DecodeError)
    /// A load or store touched memory outside every region the program was given.
    case outOfBounds(pc: Int, address: UInt64, size: Int, write: Bool)
    /// An atomic operation on an address that is not aligned to its size.
    case misalignedAtomic(pc: Int, address: UInt64, size: Int)
    /// The instruction budget ran out.
    case instructionLimitExceeded(pc: Int, limit: UInt64)
    /// A bpf-to-bpf call would exceed the frame limit.
    case callDepthExceeded(pc: Int, limit: Int)
    /// A call to a helper id no registry entry has.
    case unknownHelper(pc: Int, id: Int64)
    /// A helper reported a failure.
    case helperFailed(pc: Int, helper: String, message: String)
    /// Execution ran past the last instruction.
    case fellOffEnd(pc: Int)
    /// The instruction cannot run in this engine (e.g. an unresolved map reference).
    case unsupported(pc: Int, message: String)

    /// The instruction index the error is about, when it has one.
    public var pc: Int? {
        switch self {
        case .invalidProgram(let e): e.index
        case .outOfBounds(let pc, _, _, _), .misalignedAtomic(let pc, _, _), .instructionLimitExceeded(let pc, _),
             .callDepthExceeded(let pc, _), .unknownHelper(let pc, _), .helperFailed(let pc, _, _),
             .fellOffEnd(let pc), .unsupported(let pc, _):
            pc
        }
    }

    public var description: String {
        switch self {
        case .invalidProgram(let e):
            return "invalid program: \(e)"
        case let .outOfBounds(pc, address, size, write):
            return "instruction \(pc): out-of-bounds \(write ? "write" : "read") of \(size) bytes at 0x\(String(address, radix: 16)) (not inside the stack, the input memory or any region the program was given)"
        case let .misalignedAtomic(pc, address, size):
            return "instruction \(pc): atomic operation of \(size) bytes at misaligned address 0x\(String(address, radix: 16))"
        case let .instructionLimitExceeded(pc, limit):
            return "instruction \(pc): instruction limit of \(limit) executed instructions exceeded (a runaway loop?)"
        case let .callDepthExceeded(pc, limit):
            return "instruction \(pc): call depth limit of \(limit) frames exceeded"
        case let .unknownHelper(pc, id):
            return "instruction \(pc): call to unknown helper \(id)"
        case let .helperFailed(pc, helper, message):
            return "instruction \(pc): helper \(helper) failed: \(message)"
        case let .fellOffEnd(pc):
            return "instruction \(pc): execution fell off the end of the program (no exit)"
        case let .unsupported(pc, message):
            return "instruction \(pc): \(message)"
        }
    }
}
