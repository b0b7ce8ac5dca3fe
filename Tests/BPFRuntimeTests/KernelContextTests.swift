import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// What real TC programs ask of the kernel beyond the packet (`Tests/Fixtures/bpf/src/kernel_context.c`):
/// dead writes to r10, tail calls made from subprograms 33 deep, kfuncs typed by the object's own
/// BTF (bpf_rdonly_cast, bpf_cast_to_kern_ctx, the crypto kfuncs), bpf_get_current_task and the skb's
/// cgroup ids, on the interpreter and the JIT (the differential test compares the programs the kernel
/// runs alike with its test run).
@Suite("Kernel context in the runtime")
struct KernelContextTests {
    static func load(_ engine: ExecutionEngine = .interpreter, programs: Set<String>? = nil,
                     verification: VerificationPolicy = .strict) throws -> LoadedObject {
        try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/kernel_context.o")), programs: programs,
                         verification: verification, engine: engine)
    }

    static func global(_ loaded: LoadedObject, _ name: String) throws -> Int64 {
        let btf = try #require(loaded.object.btf)
        let offset = try #require(MapFixtureTests.variableOffset(btf, section: ".bss", name: name))
        let bytes = try #require(try loaded.map(named: ".bss")!.lookup(key: [0, 0, 0, 0]))
        return Int64(Int32(bitPattern: UInt32(RuntimeFixtures.u64(bytes + [UInt8](repeating: 0, count: 8), offset) & 0xffff_ffff)))
    }

    static let tcp54 = Frames.ipv4(length: 54)

    @Test("each program's result on an IPv4 frame, on the interpreter and the JIT", arguments: [ExecutionEngine.interpreter, .jit])
    func results(_ engine: ExecutionEngine) throws {
        let cases: [(String, UInt64)] = [
            ("kc_dead_r10", 2), ("kc_tail_depth", 34), ("kc_rdonly_cast", 64), ("kc_kern_ctx", 2), ("kc_kern_skb", 54), ("kc_kern_xdp", 54),
            ("kc_crypto", 3), ("kc_current_task", 1), ("kc_cgroup", 0),
        ]
        for (name, expected) in cases {
            let object = try Self.load(engine, programs: [name])
            let run = try #require(object.program(named: name)).testRun(packet: Self.tcp54)
            #expect(run.returnValue == expected, "\(name) on the \(engine)")
        }
    }

    /// The kernel's limits: 33 tail calls a run, 8 frames a program counted from where its tail call
    /// was made. Each run nests 34 programs, one subprogram frame each: 35 frames deep.
    @Test("tail calls from subprograms nest 34 programs deep, counted afresh each run", arguments: [ExecutionEngine.interpreter, .jit])
    func tailCallDepth(_ engine: ExecutionEngine) throws {
        let object = try Self.load(engine, programs: ["kc_tail_depth"])
        let program = try #require(object.program(named: "kc_tail_depth"))
        #expect(try program.testRun(packet: Self.tcp54).returnValue == 34)
        #expect(try Self.global(object, "entries") == 34)
        #expect(try program.testRun(packet: Self.tcp54).returnValue == 68)
        #expect(try program.testRun(packet: Self.tcp54, repeat: 2).returnValue == 136)
    }

    /// Within one program the limit stays 8 frames: a chain of 9 frames fails,
    /// in a program that tail-calls, while 8 frames run.
    @Test("a program still has 8 frames", arguments: [ExecutionEngine.interpreter, .jit])
    func perProgramLimit(_ engine: ExecutionEngine) throws {
        // f(n) recursing n deep, in a program that has a tail call (never taken): its runs get the
        // frames of a tail-calling program.
        func chain(_ depth: Int) throws -> Interpreter {
            try Interpreter(program: try Assembler().assembleProgram("""
                mov %r1, \(depth)
                call local f
                exit
                call 12
                exit
                f:
                jeq %r1, 0, base
                sub %r1, 1
                call local f
                exit
                base:
                mov %r0, 7
                exit
                """), helpers: HelperRegistry.kernel)
        }
        let ok = try chain(6), deep = try chain(7)
        if engine == .jit {
            #expect(try JITProgram(interpreter: ok).run().returnValue == 7)
            #expect(throws: RuntimeError.self) { _ = try JITProgram(interpreter: deep).run() }
        } else {
            #expect(try ok.run().returnValue == 7)
            #expect(throws: RuntimeError.self) { _ = try deep.run() }
        }
    }

    @Test("a dead write to r10 loads only once verified")
    func deadFramePointerWrite() throws {
        #expect(try Self.load(programs: ["kc_dead_r10"]).program(named: "kc_dead_r10") != nil)
        #expect(throws: LoadError.self) { _ = try Self.load(programs: ["kc_dead_r10"], verification: .off) }
    }

    /// The view has the fields the runtime knows; its NULL pointers (the skb's head, the xdp_buff's
    /// rxq) read as the kernel's probe loads read what they cannot: 0.
    @Test("bpf_cast_to_kern_ctx: a view of sk_buff and xdp_buff, reads through its NULL pointers give 0",
          arguments: [(ExecutionEngine.interpreter, JITTier.baseline), (.jit, .baseline), (.jit, .optimizing)])
    func kernelContext(_ engine: ExecutionEngine, _ tier: JITTier) throws {
        var ipv6 = Self.tcp54
        ipv6[12] = 0x86; ipv6[13] = 0xdd
        func run(_ name: String, _ packet: [UInt8]) throws -> (UInt64, LoadedObject) {
            let object = try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/kernel_context.o")), programs: [name],
                                          engine: engine, jitTier: tier)
            return (try #require(object.program(named: name)).testRun(packet: packet).returnValue, object)
        }
        #expect(try run("kc_kern_ctx", ipv6).0 == 54)
        let (length, skb) = try run("kc_kern_skb", Self.tcp54)
        #expect(length == 54)
        let btf = try #require(skb.object.btf)
        let bss = try #require(try skb.map(named: ".bss")!.lookup(key: [0, 0, 0, 0]))
        let shared = try #require(MapFixtureTests.variableOffset(btf, section: ".bss", name: "kern_shared"))
        #expect(Array(bss[shared..<shared + 8]) == [UInt8](repeating: 0, count: 8))
        #expect(try run("kc_kern_xdp", Self.tcp54).0 == 54)
        // Without the verifier's probe marks, the same read through NULL stops the run.
        let unverified = try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/kernel_context.o")), programs: ["kc_kern_xdp"],
                                          verification: .off, engine: engine, jitTier: tier)
        do {
            _ = try #require(unverified.program(named: "kc_kern_xdp")).testRun(packet: Self.tcp54)
            Issue.record("an unverified read through NULL should stop the run")
        } catch {
            #expect("\(error)".contains("out-of-bounds read of 8 bytes at 0x0"), "\(error)")
        }
    }

    @Test("the test run's socket is in the root cgroup")
    func cgroups() throws {
        let object = try Self.load(programs: ["kc_cgroup"])
        _ = try #require(object.program(named: "kc_cgroup")).testRun(packet: Self.tcp54)
        let btf = try #require(object.object.btf)
        let offset = try #require(MapFixtureTests.variableOffset(btf, section: ".bss", name: "cgroup_ids"))
        let bytes = try #require(try object.map(named: ".bss")!.lookup(key: [0, 0, 0, 0]))
        #expect((0..<3).map { RuntimeFixtures.u64(bytes, offset + 8 * $0) } == [1, 1, 0])
    }

    @Test("bpf_crypto_ctx_create fails with -EOPNOTSUPP: the runtime has no crypto types")
    func cryptoSetup() throws {
        let object = try Self.load(programs: ["kc_crypto_setup"])
        #expect(try #require(object.program(named: "kc_crypto_setup")).testRun(packet: []).returnValue == 1)
        #expect(try Self.global(object, "crypto_status") == -95)
    }
}
