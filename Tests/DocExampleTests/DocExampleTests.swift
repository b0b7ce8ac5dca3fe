import Foundation
import Testing

@Suite("The docs' Swift examples")
struct DocExampleTests {
    /// The ```swift blocks of README.md and Docs/*.md, read now from the pages.
    static func blocksInDocs() throws -> [String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var pages = ["README.md"]
        pages += try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Docs").path)
            .filter { $0.hasSuffix(".md") }.map { "Docs/\($0)" }
        var found: [String] = []
        for page in pages {
            let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
            for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where line.hasPrefix("```swift") {
                found.append("\(page):\(i + 1)")
            }
        }
        return found.sorted()
    }

    @Test("every Swift example of the docs is compiled into this test target (the DocExamples plugin)")
    func everyExampleCompiled() throws {
        let compiled = docExamples.map { "\($0.page):\($0.line)" }.sorted()
        let inDocs = try Self.blocksInDocs()
        #expect(!inDocs.isEmpty)
        #expect(compiled == inDocs)
    }
}
