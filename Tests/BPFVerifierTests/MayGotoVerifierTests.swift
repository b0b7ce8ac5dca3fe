import BPFCore
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// `may_goto` loops: they converge (a loop bounded only by the budget verifies in a few
/// instructions, not iteration by iteration), and what the verifier accepts runs cleanly.
struct MayGotoVerifierTests {
    /// Programs over 16 bytes of input memory (r1), with loops bounded by `may_goto`.
    static let seeds: [(name: String, source: String)] = [
        ("scan", MayGotoPrograms.scan),
        ("stack counter", """
            stdw [%r10-8], 0
            mov %r0, 0
            loop:
            may_goto out
            ldxdw %r3, [%r10-8]
            add %r3, 1
            stxdw [%r10-8], %r3
            jgt %r3, 15, out
            mov %r4, %r1
            add %r4, %r3
            ldxb %r5, [%r4]
            add %r0, %r5
            ja loop
            out:
            exit
            """),
        ("nested", """
            mov %r0, 0
            mov %r6, 0
            outer:
            may_goto done
            jge %r6, 4, done
            mov %r7, 0
            inner:
            may_goto next
            jge %r7, 4, next
            mov %r3, %r6
            lsh %r3, 2
            add %r3, %r7
            mov %r4, %r1
            add %r4, %r3
            ldxb %r5, [%r4]
            add %r0, %r5
            add %r7, 1
            ja inner
            next:
            add %r6, 1
            ja outer
            done:
            exit
            """),
        ("function", """
            mov %r6, %r1
            call local f
            mov %r1, %r6
            call local f
            exit
            f:
            mov %r0, 0
            mov %r3, 0
            loop:
            may_goto out
            mov %r4, %r3
            and %r4, 15
            mov %r5, %r1
            add %r5, %r4
            ldxb %r5, [%r5]
            add %r0, %r5
            add %r3, 1
            ja loop
            out:
            exit
            """),
    ]

    static func entry(_ name: String, _ slots: [Instruction]) -> ConformancePrograms.Entry {
        ConformancePrograms.Entry(name: name, instructions: slots, memory: [UInt8](repeating: 7, count: 16))
    }

    /// Runs with every runtime check on and a small budget; any error but a missing helper is a
    /// broken proof (an instruction limit reached: an accepted loop that does not end).
    static func run(_ slots: [Instruction], memory: [UInt8]) -> RuntimeError? {
        do {
            let options = ExecutionOptions(instructionLimit: 2_000_000, mayGotoBudget: 40)
            let interpreter = try Interpreter(program: Program(unchecked: slots), helpers: .conformance, options: options)
            var bytes = memory
            _ = try interpreter.run(memory: &bytes)
            return nil
        } catch let error as RuntimeError {
            if case .unknownHelper = error { return nil }
            return error
        } catch {
            return nil
        }
    }

    static func returnValue(_ slots: [Instruction], memory: [UInt8]) -> UInt64? {
        let options = ExecutionOptions(instructionLimit: 2_000_000, mayGotoBudget: 40)
        guard let interpreter = try? Interpreter(program: Program(unchecked: slots), helpers: .conformance, options: options) else { return nil }
        var bytes = memory
        return try? interpreter.run(memory: &bytes).returnValue
    }

    @Test func seedsVerifyQuicklyAndRunCleanly() throws {
        for seed in Self.seeds {
            let slots = try Assembler().assemble(seed.source)
            let result = ConformancePrograms.verify(Self.entry(seed.name, slots))
            #expect(result.accepted, "\(seed.name): \(result.error?.detailed ?? "")")
            #expect(result.instructionsProcessed < 2_000, "\(seed.name): \(result.instructionsProcessed) instructions")
            #expect(Self.run(slots, memory: [UInt8](repeating: 7, count: 16)) == nil, "\(seed.name)")
        }
    }

    /// A loop bounded only by may_goto whose counter decides nothing converges after two visits,
    /// and so does one with a million-iteration bound its counter does not decide (as in the kernel,
    /// a counter only added to a pointer is widened too).
    @Test func loopsConverge() throws {
        let simple = try Assembler().assemble("mov %r0, 0\nloop:\nmay_goto out\nadd %r0, 1\nja loop\nout:\nexit")
        let a = ConformancePrograms.verify(Self.entry("simple", simple))
        #expect(a.accepted && a.instructionsProcessed < 20, "\(a.instructionsProcessed)")
        let long = try Assembler().assemble("""
            mov %r0, 0
            ldxdw %r3, [%r1+0]
            loop:
            may_goto out
            jge %r3, 1000000, out
            mov %r4, %r3
            and %r4, 15
            mov %r5, %r1
            add %r5, %r4
            ldxb %r5, [%r5]
            add %r0, %r5
            add %r3, 1
            ja loop
            out:
            exit
            """)
        let b = ConformancePrograms.verify(Self.entry("long", long))
        #expect(b.accepted, "\(b.error?.detailed ?? "")")
        #expect(b.instructionsProcessed < 30_000, "\(b.instructionsProcessed)")
    }

    /// Mutation fuzz over the seeds (fields changed, instructions turned into may_goto): whatever
    /// the verifier accepts must run without a check firing and end. `SWIFTBPF_VERIFIER_FUZZ=N`
    /// runs N mutants (default 400).
    @Test func mutatedMayGotoProgramsThatVerifyRunCleanly() throws {
        let count = Int(ProcessInfo.processInfo.environment["SWIFTBPF_VERIFIER_FUZZ"] ?? "") ?? 400
        let seeds = try Self.seeds.map { (name: $0.name, slots: try Assembler().assemble($0.source)) }
        var rng = SplitMix(state: 0x6A7E)
        var accepted = 0
        for _ in 0..<count {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            var slots = seed.slots
            for _ in 0...(rng.next() % 3) {
                let i = Int(rng.next() % UInt64(slots.count))
                switch rng.next() % 7 {
                case 0: slots[i].imm = Int32(truncatingIfNeeded: Int64(rng.next() % 64) - 16)
                case 1: slots[i].offset = Int16(truncatingIfNeeded: Int64(slots[i].offset) + Int64(rng.next() % 17) - 8)
                case 2: slots[i].dst = UInt8(rng.next() % 11)
                case 3: slots[i].src = UInt8(rng.next() % 11)
                case 4: slots[i] = Instruction(opcode: Opcode.mayGoto, offset: Int16(Int64(rng.next() % 9) - 4))
                case 5: slots[i].imm = Int32(truncatingIfNeeded: rng.next())
                default: slots[i].opcode = slots[Int(rng.next() % UInt64(slots.count))].opcode
                }
            }
            let mutant = Self.entry(seed.name + "-mutant", slots)
            let verification = ConformancePrograms.verify(mutant, limit: 20_000)
            guard verification.accepted else { continue }
            accepted += 1
            for _ in 0..<3 {
                let memory = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if let error = Self.run(slots, memory: memory) {
                    Issue.record("mutant of \(seed.name) was accepted but failed: \(error)\n\(Disassembler(syntax: .llvm).lines(for: slots).joined(separator: "\n"))")
                    return
                }
                // It ran cleanly with every check on: the JIT with the proofs (no checks, no loop
                // budget but may_goto's) must give the same r0 (unless r0 is an address: the runs'
                // buffers differ).
                if JITProgram.isSupported, let expected = Self.returnValue(slots, memory: memory), expected < 1 << 40 {
                    let interpreter = try Interpreter(program: Program(unchecked: slots), helpers: .conformance,
                                                      options: ExecutionOptions(mayGotoBudget: 40))
                    var bytes = memory
                    let r0 = try JITProgram(interpreter: interpreter, provenAccesses: verification.provenAccesses).run(memory: &bytes).returnValue
                    #expect(r0 == expected, "mutant of \(seed.name): the JIT returned \(r0), the interpreter \(expected)")
                }
            }
        }
        print("may_goto fuzz: \(accepted) of \(count) mutants accepted and ran cleanly")
        #expect(accepted > 0)
    }
}
