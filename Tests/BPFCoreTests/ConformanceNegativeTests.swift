import BPFCore
import BPFTestSupport
import Foundation
import Testing

enum ConformanceVectors {
    static let available = TestPaths.conformance != nil
    static let skipReason = Comment(rawValue: TestPaths.conformanceSkipReason)
    static func files(_ folder: String, prefix: String = "") -> [URL] { TestPaths.conformanceFiles(folder, prefix: prefix) }
    static func text(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }
}

@Suite("bpf_conformance vectors: assembler, decoder, round trip", .enabled(if: ConformanceVectors.available, ConformanceVectors.skipReason))
struct ConformanceVectorTests {
    @Test("every program assembles and validates")
    func everyProgramAssembles() throws {
        let files = ConformanceVectors.files("tests")
        #expect(files.count >= 313)
        for file in files {
            let test = try ConformanceTest(parsing: ConformanceVectors.text(file))
            #expect(throws: Never.self, "\(file.lastPathComponent)") { _ = try Program(validating: try test.program()) }
        }
    }

    @Test("disassembling any program and assembling the text gives the same bytes, in both directions")
    func roundTrip() throws {
        for file in ConformanceVectors.files("tests") {
            let test = try ConformanceTest(parsing: ConformanceVectors.text(file))
            let program = try Program(validating: try test.program())
            let text = Disassembler(syntax: .conformance).text(for: program)
            let again = try Assembler().assemble(text)
            #expect(again == program.instructions, "\(file.lastPathComponent):\n\(text)")
            // The llvm syntax names every instruction (no invalid placeholders).
            let llvm = Disassembler(syntax: .llvm).text(for: program)
            #expect(!llvm.contains("invalid"), "\(file.lastPathComponent):\n\(llvm)")
        }
    }

    @Test("every invalid_* source fails to assemble with a message naming the line")
    func invalidSourcesAreRefused() throws {
        let files = ConformanceVectors.files("negative", prefix: "invalid_")
        #expect(files.count >= 10)
        for file in files {
            let test = try? ConformanceTest(parsing: ConformanceVectors.text(file))
            guard let test else { continue }  // an unknown directive is refused by the file reader itself
            do {
                _ = try Assembler().assembleProgram(test.assembly ?? "")
                Issue.record("\(file.lastPathComponent) assembled but must be refused")
            } catch let error as AssemblerError {
                #expect(error.line >= 1, "\(file.lastPathComponent): \(error)")
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("\(file.lastPathComponent): unexpected error \(error)")
            }
        }
    }

    @Test("the unknown-directive case is refused by the test-file reader, naming the line")
    func unknownDirective() throws {
        let files = ConformanceVectors.files("negative", prefix: "invalid_unknown_directive")
        #expect(files.count == 1)
        for file in files {
            #expect(throws: ConformanceTestError.self) { try ConformanceTest(parsing: ConformanceVectors.text(file)) }
        }
    }

    @Test("every raw encoding with a reserved field set is refused by the decoder")
    func rawEncodingsAreRefused() throws {
        var refused = 0
        for file in ConformanceVectors.files("negative") {
            guard let test = try? ConformanceTest(parsing: ConformanceVectors.text(file)), let raw = test.raw else { continue }
            do {
                _ = try Program(validating: raw)
                Issue.record("\(file.lastPathComponent) decoded but must be refused")
            } catch {
                #expect(error.index == 0, "\(file.lastPathComponent): \(error)")
                refused += 1
            }
        }
        #expect(refused == 45)
    }

    @Test("empty programs are refused")
    func emptyPrograms() throws {
        for name in ["empty.data", "empty_instructions.data"] {
            guard let url = ConformanceVectors.files("negative").first(where: { $0.lastPathComponent == name }) else {
                Issue.record("\(name) missing"); continue
            }
            let test = try ConformanceTest(parsing: ConformanceVectors.text(url))
            #expect(throws: (any Error).self, "\(name)") { _ = try Program(validating: try test.program()) }
        }
    }
}
