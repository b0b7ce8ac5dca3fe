import BPFCore
import BPFRuntime
import Testing

/// The Swift API examples of Docs/runtime.md, as written there.
@Suite("Swift API guide examples")
struct ReadmeExampleTests {
    @Test("the interpreter example returns 17")
    func interpreterExample() throws {
        let program = try Assembler().assembleProgram("""
            ldxb %r0, [%r1+2]
            exit
            """)
        let interpreter = try Interpreter(program: program)
        var packet: [UInt8] = [0xaa, 0xbb, 0x11, 0xcc]
        let result = try interpreter.run(memory: &packet)
        #expect(result.returnValue == 17)
        #expect(Disassembler(syntax: .llvm).text(for: program).contains("0: r0 = *(u8 *)(r1 + 2)"))
    }

    @Test("the custom helper example sums bytes")
    func helperExample() throws {
        var helpers = HelperRegistry.conformance
        helpers.register(Helper(id: 1000, name: "sum_bytes") { call in
            let bytes = try call.read(at: call.argument(1), size: Int(call.argument(2)))   // checked access
            return bytes.reduce(0) { $0 + UInt64($1) }
        })
        #expect(try run("call 1000\nexit", memory: [5, 6, 7], helpers: helpers) == 18)
    }

    @Test("the JIT example returns 17, also through a prepared run", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
    func jitExample() throws {
        let program = try Assembler().assembleProgram("ldxb %r0, [%r1+2]\nexit")
        let jit = try JITProgram(interpreter: try Interpreter(program: program))
        var bytes: [UInt8] = [0xaa, 0xbb, 0x11, 0xcc]
        #expect(try jit.run(memory: &bytes).returnValue == 17)
        var seen: [UInt64] = []
        try bytes.withUnsafeMutableBytes { memory in
            try jit.withPreparedRun(memory: memory) { prepared in
                for _ in 0..<1_000 { seen.append(try prepared.run().returnValue) }
            }
        }
        #expect(seen.count == 1_000 && seen.allSatisfy { $0 == 17 })
    }
}
