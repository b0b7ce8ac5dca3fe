import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The arm64 JIT's code, run under `qemu-aarch64` by ``ARM64Emulator``.
enum ARM64Emulation {
    static let available = ARM64Emulator.unavailableReason == nil
    static let skipReason = Comment(rawValue: "arm64 code cannot run here: \(ARM64Emulator.unavailableReason ?? "")")
    /// A page-aligned address both engines put the memory at in the differential runs.
    static let memoryAddress: UInt64 = 0x3a_0000_0000
}

@Suite("bpf_conformance suite through the arm64 JIT under qemu-aarch64",
       .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason),
       .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64ConformanceTests {
    func check(blinding: Bool) throws {
        let files = ConformanceSuite.files("tests")
        #expect(files.count >= 313, "expected the 313 conformance programs, found \(files.count)")
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        var tests: [(name: String, test: ConformanceTest, reference: [UInt8])] = []
        for file in files {
            let test = try ConformanceSuite.load(file)
            let program = try Program(validating: try test.program())
            let interpreter = try Interpreter(program: program, helpers: .conformance, options: ExecutionOptions(constantBlinding: blinding))
            var reference = test.memory
            _ = try? interpreter.run(memory: &reference)
            jobs.append((try ARM64Program(interpreter: interpreter), test.memory))
            tests.append((file.lastPathComponent, test, reference))
        }
        let outcomes = try ARM64Emulator.run(jobs)
        var passed = 0
        for (outcome, entry) in zip(outcomes, tests) {
            switch outcome.result {
            case .success(let r0):
                #expect(r0 == entry.test.expectedResult, "\(entry.name): r0 = 0x\(String(r0, radix: 16)), expected \(entry.test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                #expect(outcome.memory == entry.reference, "\(entry.name): memory differs from the interpreter's")
                if r0 == entry.test.expectedResult && outcome.memory == entry.reference { passed += 1 }
            case .failure(let error):
                Issue.record("\(entry.name): \(error)")
            }
        }
        #expect(passed == files.count, "\(passed)/\(files.count) passed")
    }

    @Test("every positive test gives the expected r0 and leaves memory as the interpreter does")
    func allTestsPass() throws { try check(blinding: false) }

    @Test("with constant blinding every positive test still passes")
    func allTestsPassBlinded() throws { try check(blinding: true) }
}
