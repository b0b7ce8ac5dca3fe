import BPFCore
#if canImport(Glibc)
import Glibc
#endif

/// Which JIT compiles a program: the single-pass first tier, or the optimizing tier (lifted to
/// ``OptProgram``, optimized, register-allocated). A program the optimizing tier declines runs on
/// the first tier (``JITProgram/tier`` says which compiled it, ``JITProgram/declineReason`` why).
///
/// ```swift
/// let jit = try JITProgram(interpreter: interpreter, provenAccesses: proofs, tier: .optimizing)
/// ```
public enum JITTier: String, Sendable, CaseIterable {
    /// The single-pass JIT: fast to compile, one eBPF instruction at a time.
    case baseline
    /// The optimizing tier.
    case optimizing

    /// `SWIFTBPF_JIT_TIER=optimizing` in the environment, else ``baseline``.
    public static var `default`: JITTier {
        guard let value = getenv("SWIFTBPF_JIT_TIER") else { return .baseline }
        return JITTier(rawValue: String(cString: value)) ?? .baseline
    }
}

/// The optimizing tier's driver: lift, passes, register allocation, x86-64 emission.
enum OptimizingCompiler {
    static func compile(slots: [Instruction], proven: [Bool]?, maps: JITMaps, listing: Bool) throws(OptDecline) -> X86Assembler {
        var lifter = OptLifter(slots: slots, proven: proven, maps: maps)
        var program = try lifter.lift()
        OptPasses.run(&program)
        var emitter = OptX86Emitter(program: program, listing: listing)
        _ = emitter.emit()
        return emitter.asm
    }

    static func code(for interpreter: Interpreter, proven: [Bool]?, maps: JITMaps) throws(OptDecline) -> JITCode {
        if interpreter.options.constantBlinding { throw OptDecline(pc: 0, reason: "constant blinding is left to the first tier") }
        let asm = try compile(slots: Array(interpreter.slots.dropLast()), proven: proven, maps: maps, listing: false)
        do {
            return try JITCode(optimized: asm.bytes, maps: maps, listing: nil)
        } catch {
            throw OptDecline(pc: 0, reason: "\(error)")
        }
    }

    /// The optimized code's listing: the machine code with its Intel-syntax text.
    static func listing(for interpreter: Interpreter, proven: [Bool]?, maps: JITMaps) throws(OptDecline) -> String {
        let asm = try compile(slots: Array(interpreter.slots.dropLast()), proven: proven, maps: maps, listing: true)
        var out = "; optimizing tier: \(interpreter.program.instructions.count) eBPF instructions, \(asm.bytes.count) bytes of x86-64\n"
        let items = asm.listing ?? []
        for (index, item) in items.enumerated() {
            let end = index + 1 < items.count ? items[index + 1].offset : asm.bytes.count
            let hex = asm.bytes[item.offset..<max(item.offset, end)].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
            var offset = String(item.offset, radix: 16)
            offset = String(repeating: "0", count: max(0, 4 - offset.count)) + offset
            if item.text.hasPrefix(";") { out += item.text + "\n"; continue }
            out += "        \(offset):  \(hex + String(repeating: " ", count: max(0, 30 - hex.count)))  \(item.text)\n"
        }
        return out
    }
}
