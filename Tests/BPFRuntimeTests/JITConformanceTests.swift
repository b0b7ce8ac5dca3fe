import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

@Suite("bpf_conformance suite through the JIT",
       .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason),
       .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITConformanceTests {
    @Test("every positive test gives the expected r0 and leaves memory as the interpreter does")
    func allTestsPass() throws {
        let files = ConformanceSuite.files("tests")
        #expect(files.count >= 313, "expected the 313 conformance programs, found \(files.count)")
        var passed = 0
        for file in files {
            let name = file.lastPathComponent
            let test = try ConformanceSuite.load(file)
            do {
                let program = try Program(validating: try test.program())
                let interpreter = try Interpreter(program: program, helpers: .conformance)
                var memory = test.memory
                let result = try JITProgram(interpreter: interpreter).run(memory: &memory)
                var reference = test.memory
                _ = try? interpreter.run(memory: &reference)
                #expect(result.returnValue == test.expectedResult, "\(name): r0 = 0x\(String(result.returnValue, radix: 16)), expected \(test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                #expect(memory == reference, "\(name): memory differs from the interpreter's")
                if result.returnValue == test.expectedResult { passed += 1 }
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
        #expect(passed == files.count)
    }
}
