import Foundation
import SwiftBPF
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

    @Test("the C of Docs/getting-started.md is counter.bpf.c, which the BPFSkeletons plugin builds into this target")
    func gettingStartedC() throws {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let page = try String(contentsOf: here.appendingPathComponent("../../Docs/getting-started.md"), encoding: .utf8)
        let start = try #require(page.range(of: "```c\n"))
        let end = try #require(page.range(of: "```", range: start.upperBound..<page.endIndex))
        let c = try String(contentsOf: here.appendingPathComponent("counter.bpf.c"), encoding: .utf8)
        #expect(String(page[start.upperBound..<end.lowerBound]) == c)
        // And the page's Swift runs: the skeleton it uses is the generated one.
        var skeleton = try Counter()
        skeleton.min_len = 60
        let bpf = try skeleton.load(backend: .runtime)
        _ = try #require(bpf.count).testRun(packet: [UInt8](repeating: 0, count: 64))
        _ = try bpf.count!.testRun(packet: [UInt8](repeating: 0, count: 20))   // under min_len
        #expect(try bpf.packets == 1)
        #expect(try bpf.by_len[64] == 1)
    }

    @Test("every Swift example of the docs is compiled into this test target (the DocExamples plugin)")
    func everyExampleCompiled() throws {
        let compiled = docExamples.map { "\($0.page):\($0.line)" }.sorted()
        let inDocs = try Self.blocksInDocs()
        #expect(!inDocs.isEmpty)
        #expect(compiled == inDocs)
    }
}
