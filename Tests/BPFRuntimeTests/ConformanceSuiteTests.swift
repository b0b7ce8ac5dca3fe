import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// Where the bpf_conformance vectors are: `$SWIFTBPF_CONFORMANCE_DIR`, else `../shared/conformance`
/// beside the repository.
enum ConformanceSuite {
    static let available = TestPaths.conformance != nil
    static let skipReason = Comment(rawValue: TestPaths.conformanceSkipReason)
    static func files(_ folder: String) -> [URL] { TestPaths.conformanceFiles(folder) }
    static func load(_ url: URL) throws -> ConformanceTest {
        try ConformanceTest(parsing: String(contentsOf: url, encoding: .utf8))
    }
}

@Suite("bpf_conformance suite through the interpreter", .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason))
struct ConformanceSuiteTests {
    @Test("every positive test gives the expected r0")
    func allTestsPass() throws {
        let files = ConformanceSuite.files("tests")
        #expect(files.count >= 313, "expected the 313 conformance programs, found \(files.count)")
        var passed = 0
        for file in files {
            let name = file.lastPathComponent
            let test = try ConformanceSuite.load(file)
            do {
                let program = try Program(validating: try test.program())
                var memory = test.memory
                let result = try Interpreter(program: program, helpers: .conformance).run(memory: &memory)
                #expect(result.returnValue == test.expectedResult, "\(name): r0 = 0x\(String(result.returnValue, radix: 16)), expected \(test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                if result.returnValue == test.expectedResult { passed += 1 }
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
        #expect(passed == files.count)
    }

    @Test("tests with both asm and raw sections assemble to the raw bytes")
    func assemblyMatchesRaw() throws {
        var compared = 0
        for file in ConformanceSuite.files("tests") {
            let test = try ConformanceSuite.load(file)
            guard let raw = test.raw, let assembly = test.assembly else { continue }
            #expect(try Assembler().assemble(assembly) == raw, "\(file.lastPathComponent)")
            compared += 1
        }
        #expect(compared >= 1)
    }
}
