import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// `prog dump` of a program with bpf-to-bpf calls (issue 16: the targets were the subprogram index
/// read as an offset).
@Suite("swiftbpf prog dump: calls to subprograms", .requires(KernelForCommands.bpf))
struct ProgDumpCommandTests {
    @Test("each call shows its relative offset and the instruction it enters, as bpftool's call pc+N")
    func callTargets() throws {
        let object = try ObjectFile(bytes: [UInt8](try Data(contentsOf: TestPaths.repository.appendingPathComponent("Tests/Fixtures/bpf/obj/subprograms.o"))))
        let loaded = try KernelObject(object)
        let program = try #require(loaded.program(named: "sub_xdp"))
        let id = try program.info().id
        let result = try SwiftBPFTool.run(["prog", "dump", String(id), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let dump = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let items = try #require(dump["xlated"] as? [[String: Any]])
        let calls = items.filter { ($0["text"] as? String)?.hasPrefix("call pc") == true }
        // sub_xdp calls clamp_len, scale_global and chain_level1; chain_level1 → chain_level2 → chain_level3.
        #expect(calls.map { $0["index"] as? Int } == [4, 6, 10, 25, 28])
        #expect(calls.map { $0["call_target"] as? Int } == [17, 21, 25, 28, 31])
        #expect(calls.map { $0["text"] as? String } == ["call pc+12", "call pc+14", "call pc+14", "call pc+2", "call pc+2"])
        // Every target starts a subprogram: the instruction before it is an exit.
        let exits = Set(items.filter { $0["text"] as? String == "exit" }.compactMap { $0["index"] as? Int })
        #expect(calls.allSatisfy { exits.contains(($0["call_target"] as? Int ?? 0) - 1) })
        let text = try SwiftBPFTool.run(["prog", "dump", String(id)])
        #expect(text.stdout.contains("   4: call pc+12  (to 17)"), "\(text.stdout)")
    }
}
