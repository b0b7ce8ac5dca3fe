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

    @Test("with constant blinding every positive test still gives the expected r0")
    func allTestsPassBlinded() throws {
        var passed = 0, files = 0
        for file in ConformanceSuite.files("tests") {
            files += 1
            let test = try ConformanceSuite.load(file)
            let program = try Program(validating: try test.program())
            let interpreter = try Interpreter(program: program, helpers: .conformance, options: ExecutionOptions(constantBlinding: true))
            var memory = test.memory
            let result = try JITProgram(interpreter: interpreter).run(memory: &memory)
            #expect(result.returnValue == test.expectedResult, "\(file.lastPathComponent) blinded: r0 = 0x\(String(result.returnValue, radix: 16))")
            if result.returnValue == test.expectedResult { passed += 1 }
        }
        #expect(passed == files)
    }
}

@Suite("JIT constant blinding", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITBlindingTests {
    @Test("the program's constants never appear in blinded machine code; unblinded code holds them")
    func constantsAreBlinded() throws {
        let source = """
            mov %r0, 0x3c3c3c3c
            add %r0, 0x12345678
            lddw %r1, 0x1122334455667788
            stw [%r10-4], 0x7a7a7a7a
            jeq %r0, 0x4e4e4e4e, +1
            xor %r0, %r1
            exit
            """
        let program = try Assembler().assembleProgram(source)
        let patterns: [[UInt8]] = [[0x3c, 0x3c, 0x3c, 0x3c], [0x78, 0x56, 0x34, 0x12], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11],
                                   [0x7a, 0x7a, 0x7a, 0x7a], [0x4e, 0x4e, 0x4e, 0x4e]]
        func contains(_ code: [UInt8], _ pattern: [UInt8]) -> Bool {
            code.count >= pattern.count && (0...(code.count - pattern.count)).contains { Array(code[$0..<($0 + pattern.count)]) == pattern }
        }
        let plain = try JITProgram(interpreter: Interpreter(program: program))
        let blinded = try JITProgram(interpreter: Interpreter(program: program, options: ExecutionOptions(constantBlinding: true)))
        for pattern in patterns {
            #expect(contains(plain.machineCode, pattern), "unblinded code should hold \(pattern)")
            #expect(!contains(blinded.machineCode, pattern), "blinded code holds \(pattern)")
        }
        #expect(try blinded.run().returnValue == plain.run().returnValue)
    }
}
