import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Testing

/// kfuncs in the Swift runtime (`Tests/Fixtures/bpf/src/kfuncs.c`): open-coded number iterators, RCU
/// sections and the dynptr kfuncs, with the results its header works out, on the interpreter and the
/// JIT (the differential test compares the same programs with the kernel's test run).
@Suite("kfuncs in the runtime")
struct RuntimeKfuncTests {
    static func load(_ engine: ExecutionEngine) throws -> LoadedObject {
        try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/kfuncs.o")), engine: engine)
    }

    static let cases: [(program: String, result: UInt64)] = [("kf_iter_sum", 245), ("kf_nested", 18), ("kf_dynptr", 1610)]

    @Test("each program's result, on the interpreter and the JIT", arguments: [ExecutionEngine.interpreter, .jit])
    func results(_ engine: ExecutionEngine) throws {
        let object = try Self.load(engine)
        for (name, expected) in Self.cases {
            let run = try #require(object.program(named: name)).testRun(packet: Frames.ipv4(length: 60))
            #expect(run.returnValue == expected, "\(name)")
        }
    }

    @Test("the runtime names the kfuncs it implements, and the verifier's runtime target accepts only those")
    func registry() throws {
        let helpers = HelperRegistry.kernel
        #expect(helpers.kfuncID("bpf_iter_num_new").map { HelperRegistry.kfuncIDs.contains($0) } == true)
        #expect(helpers.kfuncID("bpf_task_acquire") == nil)
        let target = VerificationTarget.runtime(helpers)
        #expect(target.kfuncs?.contains("bpf_iter_num_next") == true)
        #expect(target.kfuncs?.contains("bpf_obj_new_impl") == true)
        #expect(target.kfuncs?.contains("bpf_task_acquire") == false)
    }

    /// An unverified program's iterator pointer is checked like any other helper argument.
    @Test("an iterator outside the program's memory is refused at run time")
    func forgedIterator() throws {
        let id = try #require(HelperRegistry.kernel.kfuncID("bpf_iter_num_next"))
        let error = try runError("""
            mov %r1, 0x1000
            call \(id)
            exit
            """, helpers: .kernel)
        #expect(error.map { "\($0)" }?.contains("outside the program's memory") == true, "\(String(describing: error))")
    }
}
