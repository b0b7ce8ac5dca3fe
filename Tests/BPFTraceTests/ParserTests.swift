import Testing
@testable import BPFTrace

@Suite struct ParserTests {
    @Test func parsesAProbe() throws {
        let script = try TraceScript(parsing: "tracepoint:syscalls:sys_enter_openat /pid > 1/ { @[comm] = count(); }")
        #expect(script.probes.count == 1)
        #expect(script.probes[0].attachPoints.map(\.text) == ["tracepoint:syscalls:sys_enter_openat"])
        #expect(script.probes[0].predicate != nil)
        #expect(script.probes[0].body.count == 1)
    }
}
