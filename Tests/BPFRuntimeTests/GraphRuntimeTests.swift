import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// Exceptions (`Tests/Fixtures/bpf/src/exceptions.c`) and allocated objects, lists, rbtrees,
/// refcounts and local kptrs (`graph_objects.c`) in the Swift runtime, with the results the fixtures'
/// headers work out, on the interpreter and both JIT tiers (the differential test compares the same
/// programs with the kernel's test run); and what an unverified program's forged arguments get.
@Suite("exceptions and graph objects in the runtime")
struct GraphRuntimeTests {
    static let engines: [(ExecutionEngine, JITTier)] = {
        JITProgram.isSupported ? [(.interpreter, .baseline), (.jit, .baseline), (.jit, .optimizing)] : [(.interpreter, .baseline)]
    }()

    static func load(_ fixture: String, _ engine: ExecutionEngine, _ tier: JITTier, verification: VerificationPolicy = .strict) throws -> LoadedObject {
        try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/\(fixture).o")), verification: verification,
                         engine: engine, jitTier: tier)
    }

    @Test("bpf_throw ends the program from any frame: the exception callback's result, or the cookie")
    func exceptions() throws {
        let long = Frames.ipv4(length: 54), short = Frames.ipv4(length: 42, proto: 17)
        for (engine, tier) in Self.engines {
            let object = try Self.load("exceptions", engine, tier)
            func run(_ name: String, _ packet: [UInt8]) throws -> UInt64 {
                try #require(object.program(named: name)).testRun(packet: packet).returnValue
            }
            let label = "\(engine) \(tier)"
            #expect(try run("ex_default", long) == 54 + 256, "\(label)")
            #expect(try run("ex_default", short) == 6, "\(label)")
            #expect(try run("ex_callback", long) == 16, "\(label)")
            #expect(try run("ex_callback", short) == 2, "\(label)")
            #expect(try run("ex_effects", long) == 9, "\(label)")
            #expect(try run("ex_effects", short) == 9, "\(label)")
            // What the program wrote before it threw stays written.
            let runs = try #require(object.map(named: "runs"))
            #expect(try runs.lookup(key: [0, 0, 0, 0]) == [2, 0, 0, 0, 0, 0, 0, 0], "\(label)")
            #expect(object.program(named: "ex_callback")?.interpreter.exceptionCallback != nil)
            #expect(object.program(named: "ex_default")?.interpreter.exceptionCallback == nil)
        }
    }

    @Test("lists, rbtrees, refcounted objects and local kptrs give the kernel's results, run after run")
    func graphObjects() throws {
        let expected: [(String, UInt64)] = [("gr_list", 445_231), ("gr_rbtree", 251_489_609), ("gr_refcount", 809), ("gr_kptr", 42)]
        for (engine, tier) in Self.engines {
            let object = try Self.load("graph_objects", engine, tier)
            for (name, value) in expected {
                let program = try #require(object.program(named: name))
                // The collections live in global data: each run leaves them empty for the next.
                for round in 0..<3 {
                    #expect(try program.testRun(packet: Frames.ipv4(length: 54)).returnValue == value, "\(engine) \(tier) \(name) round \(round)")
                }
            }
            // The kptr field ends empty; list heads and roots read as zeros, as user space reads them in the kernel.
            #expect(try object.map(named: "stashes")?.lookup(key: [0, 0, 0, 0]) == [UInt8](repeating: 0, count: 8))
        }
    }

    /// `packet_dynptrs.c`: the header works the results out for a packet of 54 bytes.
    @Test("dynptrs over the packet and bpf_skb_set_tstamp")
    func packetDynptrs() throws {
        for (engine, tier) in Self.engines {
            let object = try Self.load("packet_dynptrs", engine, tier)
            for name in ["pd_xdp", "pd_skb"] {
                let run = try #require(object.program(named: name)).testRun(packet: Frames.ipv4(length: 54))
                // size 54, EtherType IPv4, protocol 6, bpf_dynptr_data NULL, both errors; the skb's tstamp calls.
                #expect(run.returnValue == (name == "pd_xdp" ? 26_174 : 3_726_174), "\(engine) \(tier) \(name)")
                #expect(run.packetOut.first == 0x42, "\(engine) \(tier) \(name): the write through the dynptr")
            }
        }
    }

    /// Unverified code: node and object arguments must be objects the heap handed out.
    @Test("forged objects and nodes are refused; a forged kptr comes back NULL")
    func forgedArguments() throws {
        let helpers = HelperRegistry.kernel
        let push = try #require(helpers.kfuncID("bpf_list_push_back_impl")), drop = try #require(helpers.kfuncID("bpf_obj_drop_impl"))
        // The head and the "node" both on the stack.
        let pushError = try runError("""
            mov %r1, %r10
            add %r1, -16
            mov %r2, %r10
            add %r2, -48
            mov %r3, 0
            mov %r4, 0
            call \(push)
            exit
            """, helpers: helpers)
        #expect(pushError.map { "\($0)" }?.contains("is not a node inside an object") == true, "\(String(describing: pushError))")
        let dropError = try runError("""
            mov %r1, %r10
            add %r1, -16
            mov %r2, 0
            call \(drop)
            exit
            """, helpers: helpers)
        #expect(dropError.map { "\($0)" }?.contains("is not an object bpf_obj_new allocated") == true, "\(String(describing: dropError))")
        // A kptr field holding a value the heap never handed out: bpf_kptr_xchg returns NULL.
        var memory = [UInt8](repeating: 0, count: 8)
        let program = try Assembler().assembleProgram("""
            mov %r2, 0x1234
            stxdw [%r10-8], %r2
            mov %r1, %r10
            add %r1, -8
            mov %r2, 0
            call 194
            exit
            """)
        #expect(try Interpreter(program: program, helpers: helpers).run(memory: &memory).returnValue == 0)
    }

    /// Unverified code keeps no access to an object after dropping it.
    @Test("an object is out of reach once dropped")
    func useAfterDrop() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/graph_objects.o"))
        let btf = try #require(object.btf)
        let item = try #require(btf.typeID(named: "item", kind: .structure))
        let helpers = HelperRegistry.kernel
        let new = try #require(helpers.kfuncID("bpf_obj_new_impl")), drop = try #require(helpers.kfuncID("bpf_obj_drop_impl"))
        func program(_ body: String) throws -> Interpreter {
            try Interpreter(program: Assembler().assembleProgram("""
                mov %r1, \(item)
                mov %r2, 0
                call \(new)
                \(body)
                exit
                """), helpers: helpers, programBTF: btf)
        }
        var memory: [UInt8] = []
        // Written and read before the drop: the value.
        let before = try program("""
            jeq %r0, 0, +7
            mov %r6, %r0
            stw [%r6+0], 7
            ldxw %r7, [%r6+0]
            mov %r1, %r6
            mov %r2, 0
            call \(drop)
            mov %r0, %r7
            """)
        #expect(try before.run(memory: &memory).returnValue == 7)
        let after = try program("""
            jeq %r0, 0, +5
            mov %r6, %r0
            mov %r1, %r6
            mov %r2, 0
            call \(drop)
            ldxw %r0, [%r6+0]
            """)
        let error = Result { () throws(RuntimeError) in try after.run(memory: &memory) }
        guard case .failure(.outOfBounds) = error else {
            Issue.record("read after drop: \(error)")
            return
        }
    }
}
