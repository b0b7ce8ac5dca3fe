import BPFCore
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// The JIT with the verifier's proofs — no bounds checks where proven, no loop budget, no frame
/// zeroing, function 0 in the entry's frame, lean entries — on every conformance program the
/// verifier accepts: the expected r0 and the interpreter's memory.
@Suite(.enabled(if: TestPaths.conformance != nil, "\(TestPaths.conformanceSkipReason)"),
       .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct VerifiedJITTests {
    @Test func acceptedConformanceProgramsRunCompiledWithTheirProofs() throws {
        var ran = 0, lean = 0
        for url in TestPaths.conformanceFiles("tests") {
            let test = try ConformanceTest(parsing: String(contentsOf: url, encoding: .utf8))
            let name = url.deletingPathExtension().lastPathComponent
            let entry = ConformancePrograms.Entry(name: name, instructions: try test.program(), memory: test.memory)
            let verification = ConformancePrograms.verify(entry)
            guard verification.accepted else { continue }
            let interpreter = try Interpreter(program: Program(unchecked: entry.instructions), helpers: .conformance)
            let jit = try JITProgram(interpreter: interpreter, provenAccesses: verification.provenAccesses)
            var memory = test.memory, reference = test.memory
            let result = try jit.run(memory: &memory)
            _ = try interpreter.run(memory: &reference)
            #expect(result.returnValue == test.expectedResult, "\(name): r0 = 0x\(String(result.returnValue, radix: 16))")
            #expect(memory == reference, "\(name): memory differs from the interpreter's")
            // A lean entry loads r1 straight from the frame pointer's register block (no r12).
            if try !jit.annotatedDisassembly().contains("mov r12, rdi") { lean += 1 }
            ran += 1
        }
        print("verified JIT: \(ran) conformance programs, \(lean) with a lean entry")
        #expect(ran >= 300)
        #expect(lean > 100)
    }

    /// The optimizing tier with the proofs: unchecked loads let it recombine bytes, and none is declined.
    @Test func acceptedConformanceProgramsRunInTheOptimizingTier() throws {
        var ran = 0
        var declined: [String] = []
        for url in TestPaths.conformanceFiles("tests") {
            let test = try ConformanceTest(parsing: String(contentsOf: url, encoding: .utf8))
            let name = url.deletingPathExtension().lastPathComponent
            let entry = ConformancePrograms.Entry(name: name, instructions: try test.program(), memory: test.memory)
            let verification = ConformancePrograms.verify(entry)
            guard verification.accepted else { continue }
            let interpreter = try Interpreter(program: Program(unchecked: entry.instructions), helpers: .conformance)
            let jit = try JITProgram(interpreter: interpreter, provenAccesses: verification.provenAccesses, tier: .optimizing)
            if let reason = jit.declineReason { declined.append("\(name): \(reason)") }
            var memory = test.memory, reference = test.memory
            let result = try jit.run(memory: &memory)
            _ = try interpreter.run(memory: &reference)
            #expect(result.returnValue == test.expectedResult, "\(name): r0 = 0x\(String(result.returnValue, radix: 16))")
            #expect(memory == reference, "\(name): memory differs from the interpreter's")
            ran += 1
        }
        #expect(ran >= 300)
        #expect(declined.isEmpty, "declined: \(declined.joined(separator: "; "))")
    }
}
