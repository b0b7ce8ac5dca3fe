import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// What the optimizing tier drops because the verifier proved it (region and converted-field
/// checks of proven loads, address arithmetic folded into the accesses), and what it keeps for
/// unverified code: each program runs in the tier and in the interpreter, which checks everything.
@Suite("optimizing JIT tier: the verifier's facts", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct OptimizingJITFactsTests {
    /// Sums the packet's first 64 bytes as 32-bit words through `data + i` (a proven load whose
    /// address add is folded into it), writes each word back one byte further on (a proven store
    /// through a folded address), and returns the sum (1 for a packet shorter than 68 bytes). The
    /// loop's bound is read back from the stack (the verifier knows it, the tier's constants do
    /// not), so the loop is not unrolled and its accesses keep the index register.
    static let packetLoop = """
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 68
        jgt %r4, %r3, short
        mov %r9, 60
        stxdw [%r10-8], %r9
        ldxdw %r9, [%r10-8]
        mov %r0, 0
        mov %r5, 0
        loop:
        mov %r6, %r2
        add %r6, %r5
        ldxw %r7, [%r6+0]
        add %r0, %r7
        mov %r8, %r2
        add %r8, %r5
        stxw [%r8+1], %r7
        add %r5, 4
        jlt %r5, %r9, loop
        exit
        short:
        mov %r0, 1
        exit
        """

    static func object(_ source: String, name: String = "facts") throws -> ObjectFile {
        let spec = ProgramSpec(name: name, section: "xdp", type: .xdp, attachType: .xdp, instructions: try Assembler().assemble(source))
        return ObjectFile(programs: [spec], maps: [])
    }

    static let packet = (0..<128).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    @Test("a verified program runs without the checks the verifier made redundant and gives the interpreter's answer")
    func verifiedChecksDropped() throws {
        let object = try Self.object(Self.packetLoop)
        let optimized = try #require(try LoadedObject(object, engine: .jit, jitTier: .optimizing).program(named: "facts"))
        let reference = try #require(try LoadedObject(object, engine: .interpreter).program(named: "facts"))
        #expect(optimized.verification?.accepted == true)
        #expect(optimized.jit?.tier == .optimizing, "declined: \(optimized.jit?.declineReason ?? "")")
        for length in [128, 68, 67] {
            let packet = Array(Self.packet.prefix(length))
            let a = try optimized.testRun(packet: packet), b = try reference.testRun(packet: packet)
            #expect(a.returnValue == b.returnValue, "length \(length): optimizing r0 \(a.returnValue), interpreter r0 \(b.returnValue)")
            #expect(a.packetOut == b.packetOut, "length \(length): the packet differs from the interpreter's")
        }
        // The loop's load and store address the packet as [data + i + offset], with no check: no
        // add of their own, no region or converted-field check between.
        let listing = try #require(try optimized.jit?.annotatedDisassembly())
        let indexed = listing.split(separator: "\n").filter { line in
            (line.contains("dword [") && line.contains("mov ")) && line.range(of: #"\[r[a-z0-9]+\+r[a-z0-9]+(\+0x1)?\]"#, options: .regularExpression) != nil
        }
        #expect(indexed.count == 2, "expected the loop's load and store indexed, found: \(indexed)")
    }

    @Test("an unverified program keeps every check: out-of-bounds loads and stores through folded-looking addresses stop the run")
    func unverifiedContained() throws {
        // The same loop without the bounds check, walking far past the packet.
        let source = """
            ldxw %r2, [%r1+0]
            mov %r0, 0
            mov %r5, 0
            mov %r6, %r2
            add %r6, %r5
            ldxw %r7, [%r6+0]
            add %r0, %r7
            mov %r8, %r2
            add %r8, %r5
            stxw [%r8+1], %r7
            add %r5, 4
            jlt %r5, 4096, -9
            exit
            """
        let object = try Self.object(source)
        let optimized = try #require(try LoadedObject(object, verification: .off, engine: .jit, jitTier: .optimizing).program(named: "facts"))
        let reference = try #require(try LoadedObject(object, verification: .off, engine: .interpreter).program(named: "facts"))
        #expect(optimized.jit?.tier == .optimizing, "declined: \(optimized.jit?.declineReason ?? "")")
        var optimizedError: Error?, referenceError: Error?
        do { _ = try optimized.testRun(packet: Self.packet) } catch { optimizedError = error }
        do { _ = try reference.testRun(packet: Self.packet) } catch { referenceError = error }
        #expect(referenceError != nil, "the interpreter ran past the packet")
        #expect(optimizedError != nil, "the optimizing tier ran past the packet")
        // The same instruction and kind of error (the packet's address differs between the two loads).
        func shape(_ error: Error) -> String { "\(error)".components(separatedBy: " at 0x").first ?? "" }
        if let optimizedError, let referenceError { #expect(shape(optimizedError) == shape(referenceError)) }
    }

    @Test("converted fields: ctx->data and data_end read through the table in verified and unverified code; address 1 is no field")
    func convertedFields() throws {
        let source = """
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            mov %r0, 0
            mov %r4, %r2
            add %r4, 100
            jgt %r4, %r3, +2
            ldxb %r0, [%r2+99]
            add %r0, 1000
            exit
            """
        for verification in [VerificationPolicy.strict, .off] {
            let object = try Self.object(source)
            let optimized = try #require(try LoadedObject(object, verification: verification, engine: .jit, jitTier: .optimizing).program(named: "facts"))
            #expect(optimized.jit?.tier == .optimizing)
            for n in [14, 100, 128] {
                let expected: UInt64 = n >= 100 ? UInt64(Self.packet[99]) + 1000 : 0
                #expect(try optimized.testRun(packet: Array(Self.packet.prefix(n))).returnValue == expected, "\(verification) \(n) bytes")
            }
        }
        // An unverified 32-bit load at address 1 (offset 0: the first field's entry) is out of bounds,
        // never a converted field.
        let stray = try Self.object("mov %r2, 1\nldxw %r0, [%r2+0]\nexit")
        let optimized = try #require(try LoadedObject(stray, verification: .off, engine: .jit, jitTier: .optimizing).program(named: "facts"))
        let reference = try #require(try LoadedObject(stray, verification: .off, engine: .interpreter).program(named: "facts"))
        var optimizedError: Error?, referenceError: Error?
        do { _ = try optimized.testRun(packet: Self.packet) } catch { optimizedError = error }
        do { _ = try reference.testRun(packet: Self.packet) } catch { referenceError = error }
        #expect(optimizedError != nil && referenceError != nil, "a load at address 1 did not stop the run")
    }

    @Test("a 64-bit constant added in a loop is loaded once, with the same results")
    func hoistedConstants() throws {
        // Three wide constants (two hoisted, the third left in the loop), added to the counter.
        let source = """
            mov %r0, 0
            mov %r3, 0
            lddw %r2, 0x123456789
            add %r2, %r3
            xor %r0, %r2
            lddw %r4, 0xfedcba987654
            add %r4, %r0
            add %r0, %r4
            lddw %r5, 0x7777777777
            add %r5, %r1
            add %r0, %r5
            add %r3, 1
            jlt %r3, 50, -14
            exit
            """
        let program = try Assembler().assembleProgram(source)
        let interpreter = try Interpreter(program: program)
        let jit = try JITProgram(interpreter: interpreter, tier: .optimizing)
        #expect(jit.tier == .optimizing, "declined: \(jit.declineReason ?? "")")
        for input: UInt64 in [0, 5, 0xffff_ffff_ffff_ffff] {
            let expected = try interpreter.run(r1: input, regions: []).returnValue
            #expect(try jit.run(r1: input, regions: []).returnValue == expected, "r1 = \(input)")
        }
        let listing = try jit.annotatedDisassembly()
        for constant in ["0x123456789", "0xfedcba987654", "0x7777777777"] {
            #expect(listing.components(separatedBy: constant + "\n").count - 1 == 1, "\(constant) loaded more than once or not at all: \(listing)")
        }
    }
}
