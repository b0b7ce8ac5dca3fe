import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Testing

/// `may_goto` runs with the kernel's semantics in the interpreter and the JIT (with and without
/// the verifier's proofs): each call frame starts with a budget (8M, `BPF_MAX_LOOPS`, unless the
/// options say otherwise); a `may_goto` spends one unit and falls through, and jumps once none is left.
@Suite("may_goto in the interpreter and the JIT")
struct MayGotoRuntimeTests {
    /// Counts the fall-throughs of one loop: r0 is the budget.
    static let counter = """
        mov %r0, 0
        loop:
        may_goto done
        add %r0, 1
        ja loop
        done:
        exit
        """

    /// Two calls of a function that spends its whole budget, then the main frame's own loop:
    /// every frame has its own budget, so r0 is three budgets.
    static let frames = """
        call local f
        mov %r6, %r0
        call local f
        add %r6, %r0
        mov %r0, 0
        loop:
        may_goto done
        add %r0, 1
        ja loop
        done:
        add %r0, %r6
        exit
        f:
        mov %r0, 0
        floop:
        may_goto fdone
        add %r0, 1
        ja floop
        fdone:
        exit
        """

    /// See `MayGotoPrograms.scan`.
    static let scan = MayGotoPrograms.scan

    /// The whole 512-byte stack written on every iteration: the budget lives outside it.
    static let fullStack = """
        mov %r0, 0
        stdw [%r10-512], 0
        loop:
        may_goto done
        stdw [%r10-512], 0
        stdw [%r10-8], 0
        add %r0, 1
        ja loop
        done:
        ldxdw %r1, [%r10-512]
        add %r0, %r1
        exit
        """

    enum Engine: CaseIterable { case interpreter, jit, verifiedJIT }

    func run(_ source: String, budget: UInt64, memory: [UInt8] = [], engine: Engine) throws -> UInt64 {
        let program = try Assembler().assembleProgram(source)
        let options = ExecutionOptions(instructionLimit: 200_000_000, mayGotoBudget: budget)
        let interpreter = try Interpreter(program: program, helpers: .conformance, options: options)
        var bytes = memory
        switch engine {
        case .interpreter:
            return try interpreter.run(memory: &bytes).returnValue
        case .jit:
            return try JITProgram(interpreter: interpreter).run(memory: &bytes).returnValue
        case .verifiedJIT:
            let result = Verifier().verify(VerifierProgram(name: "may_goto", instructions: program.instructions, contextSize: memory.count))
            if let error = result.error { Issue.record("not verified: \(error.detailed)") }
            return try JITProgram(interpreter: interpreter, provenAccesses: result.provenAccesses).run(memory: &bytes).returnValue
        }
    }

    static var engines: [Engine] { JITProgram.isSupported ? Engine.allCases : [.interpreter] }

    @Test(arguments: engines)
    func fallsThroughUntilTheBudgetIsSpent(_ engine: Engine) throws {
        #expect(try run(Self.counter, budget: 100, engine: engine) == 100)
        #expect(try run(Self.counter, budget: 0, engine: engine) == 0)
        #expect(try run(Self.counter, budget: 1, engine: engine) == 1)
    }

    @Test(arguments: engines)
    func theKernelBudgetIsEightMillion(_ engine: Engine) throws {
        guard engine != .interpreter else { return }  // 25M instructions: the JIT's job
        #expect(try run(Self.counter, budget: Opcode.mayGotoBudget, engine: engine) == 8 * 1024 * 1024)
    }

    @Test(arguments: engines)
    func everyCallFrameHasItsOwnBudget(_ engine: Engine) throws {
        #expect(try run(Self.frames, budget: 1000, engine: engine) == 3000)
    }

    @Test(arguments: engines)
    func theBudgetIsNotOnTheProgramsStack(_ engine: Engine) throws {
        #expect(try run(Self.fullStack, budget: 300, engine: engine) == 300)
    }

    @Test(arguments: engines)
    func aLoopBoundedOnlyByMayGoto(_ engine: Engine) throws {
        var memory = [UInt8](repeating: 1, count: 16)
        memory[11] = 0
        #expect(try run(Self.scan, budget: Opcode.mayGotoBudget, memory: memory, engine: engine) == 11)
        memory[11] = 1
        #expect(try run(Self.scan, budget: 50, memory: memory, engine: engine) == 0xffff)
    }
}

/// The C fixture (`may_goto.c`) in the runtime: the results its comment gives.
@Suite("may_goto.c fixture")
struct MayGotoFixtureTests {
    @Test func resultsOfTheFixture() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/may_goto.o"))
        func run(_ name: String, _ packet: [UInt8]) throws -> UInt64 {
            try #require(loaded.program(named: name)).testRun(packet: packet).returnValue
        }
        let tcp = Frames.ipv4(length: 54), udp = Frames.ipv4(length: 42, proto: 17)
        #expect(try run("mg_scan", tcp) == 1)
        #expect(try run("mg_scan", [UInt8](repeating: 0xff, count: 40)) == 1026)
        #expect(try run("mg_scan", Frames.arp) == 0)
        #expect(try run("mg_collatz", tcp) == 16)
        #expect(try run("mg_collatz", udp) == 12)
        #expect(try run("mg_collatz", Frames.ipv4(length: 60, proto: 1)) == 0)
        #expect(try run("mg_collatz", [UInt8](repeating: 0, count: 20)) == 0xffff)
        #expect(try run("mg_nested", tcp) == 11760)
        #expect(try run("mg_budget", tcp) == 1)
        #expect(try run("mg_callback", tcp) == 173)
    }

    @Test func theInterpreterAgrees() throws {
        let object = try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/may_goto.o")
        let jit = try LoadedObject(object)
        let interpreted = try LoadedObject(object, engine: .interpreter)
        // mg_budget: 8M iterations in the interpreter, past the 1M instructions unverified code may run.
        for name in ["mg_scan", "mg_collatz", "mg_nested", "mg_callback", "mg_budget"] {
            let packet = Frames.ipv4(length: 54)
            let a = try #require(jit.program(named: name)).testRun(packet: packet).returnValue
            let b = try #require(interpreted.program(named: name)).testRun(packet: packet).returnValue
            #expect(a == b, "\(name)")
        }
    }
}
