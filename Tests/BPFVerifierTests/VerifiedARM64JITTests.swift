import BPFCore
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// The arm64 JIT with the verifier's proofs (no bounds checks where proven, no loop budget, no
/// frame zeroing), under qemu-aarch64, on every conformance program the verifier accepts: the
/// expected r0 and the interpreter's memory.
@Suite(.enabled(if: TestPaths.conformance != nil, "\(TestPaths.conformanceSkipReason)"),
       .enabled(if: ARM64Emulator.unavailableReason == nil, "arm64 code cannot run here: \(ARM64Emulator.unavailableReason ?? "")"))
struct VerifiedARM64JITTests {
    @Test func acceptedConformanceProgramsRunCompiledWithTheirProofs() throws {
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        var expected: [(name: String, r0: UInt64?, memory: [UInt8])] = []
        var unchecked = 0
        for url in TestPaths.conformanceFiles("tests") {
            let test = try ConformanceTest(parsing: String(contentsOf: url, encoding: .utf8))
            let name = url.deletingPathExtension().lastPathComponent
            let entry = ConformancePrograms.Entry(name: name, instructions: try test.program(), memory: test.memory)
            let verification = ConformancePrograms.verify(entry)
            guard verification.accepted else { continue }
            let interpreter = try Interpreter(program: Program(unchecked: entry.instructions), helpers: .conformance)
            let checked = try ARM64Program(interpreter: interpreter)
            let proven = try ARM64Program(interpreter: interpreter, provenAccesses: verification.provenAccesses)
            // Proofs drop the region checks (each four pairs of loads and compares).
            if proven.machineCode.count < checked.machineCode.count { unchecked += 1 }
            var reference = test.memory
            _ = try interpreter.run(memory: &reference)
            jobs.append((proven, test.memory))
            expected.append((name, test.expectedResult, reference))
        }
        let outcomes = try ARM64Emulator.run(jobs)
        for (outcome, e) in zip(outcomes, expected) {
            switch outcome.result {
            case .success(let r0):
                #expect(r0 == e.r0, "\(e.name): r0 = 0x\(String(r0, radix: 16))")
                #expect(outcome.memory == e.memory, "\(e.name): memory differs from the interpreter's")
            case .failure(let error):
                Issue.record("\(e.name): \(error)")
            }
        }
        print("verified arm64 JIT: \(jobs.count) conformance programs, \(unchecked) with shorter code")
        #expect(jobs.count >= 300)
        #expect(unchecked > 50, "proofs shortened \(unchecked) programs' code")
    }

    /// The optimizing tier's arm64 back end with the proofs: unchecked accesses let it recombine
    /// bytes and fold addresses; none is declined.
    @Test func acceptedConformanceProgramsRunInTheOptimizingTier() throws {
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        var expected: [(name: String, r0: UInt64?, memory: [UInt8])] = []
        var declined: [String] = []
        var optimizedBytes = 0, baselineBytes = 0
        for url in TestPaths.conformanceFiles("tests") {
            let test = try ConformanceTest(parsing: String(contentsOf: url, encoding: .utf8))
            let name = url.deletingPathExtension().lastPathComponent
            let entry = ConformancePrograms.Entry(name: name, instructions: try test.program(), memory: test.memory)
            let verification = ConformancePrograms.verify(entry)
            guard verification.accepted else { continue }
            let interpreter = try Interpreter(program: Program(unchecked: entry.instructions), helpers: .conformance)
            let optimized = try ARM64Program(interpreter: interpreter, provenAccesses: verification.provenAccesses, tier: .optimizing)
            optimizedBytes += optimized.machineCode.count
            baselineBytes += try ARM64Program(interpreter: interpreter, provenAccesses: verification.provenAccesses, tier: .baseline).machineCode.count
            if let reason = optimized.declineReason { declined.append("\(name): \(reason)") }
            var reference = test.memory
            _ = try interpreter.run(memory: &reference)
            jobs.append((optimized, test.memory))
            expected.append((name, test.expectedResult, reference))
        }
        let outcomes = try ARM64Emulator.run(jobs)
        var passed = 0
        for (outcome, e) in zip(outcomes, expected) {
            switch outcome.result {
            case .success(let r0):
                #expect(r0 == e.r0, "\(e.name): r0 = 0x\(String(r0, radix: 16))")
                #expect(outcome.memory == e.memory, "\(e.name): memory differs from the interpreter's")
                if r0 == e.r0 && outcome.memory == e.memory { passed += 1 }
            case .failure(let error):
                Issue.record("\(e.name): \(error)")
            }
        }
        print("verified arm64 optimizing tier: \(passed)/\(jobs.count) accepted conformance programs pass, \(declined.count) declined; code \(optimizedBytes) bytes, first tier \(baselineBytes)")
        #expect(jobs.count >= 300)
        #expect(declined.isEmpty, "declined: \(declined.joined(separator: "; "))")
    }
}
