import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// Dynptr helpers in the Swift runtime (`Tests/Fixtures/bpf/src/dynptrs.c`), with the results its
/// header works out, on the interpreter and the JIT alike (the differential test compares the same
/// programs with the kernel's test run).
@Suite("Dynptrs in the runtime")
struct DynptrRuntimeTests {
    static func load(_ engine: ExecutionEngine) throws -> LoadedObject {
        try LoadedObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/dynptrs.o")), engine: engine)
    }

    static let engines: [ExecutionEngine] = [.interpreter, .jit]

    @Test("a local dynptr over a map value: write, read back, and a slice written", arguments: engines)
    func localDynptr(_ engine: ExecutionEngine) throws {
        let object = try Self.load(engine)
        let frame = Frames.ipv4(length: 60)
        let run = try #require(object.program(named: "dp_local")).testRun(packet: frame)
        #expect(run.returnValue == UInt64(frame[26]) + 1)
        let value = try #require(try object.map(named: "scratch")?.lookup(key: [0, 0, 0, 0]))
        #expect(Array(value[8..<12]) == [frame[26] + 1, 0, 0, 1])
        #expect(Array(value[12..<16]) == Array(frame[30..<34]))
    }

    @Test("out-of-bounds reads, bad flags and NULL dynptrs give the kernel's errors", arguments: engines)
    func boundsAndErrors(_ engine: ExecutionEngine) throws {
        let run = try #require(try Self.load(engine).program(named: "dp_bounds")).testRun(packet: Frames.ipv4(length: 60))
        #expect(run.returnValue == 4)
    }

    @Test("a ringbuf dynptr is submitted as one record; a discarded one leaves none", arguments: engines)
    func ringbufDynptr(_ engine: ExecutionEngine) throws {
        let object = try Self.load(engine)
        let frame = Frames.ipv4(length: 60)
        #expect(try #require(object.program(named: "dp_discard")).testRun(packet: frame).returnValue == 2)
        let ring = try #require(object.map(named: "records"))
        #expect(try ring.drainRingBuffer().isEmpty)
        #expect(try #require(object.program(named: "dp_ringbuf")).testRun(packet: frame).returnValue == 2)
        #expect(try ring.drainRingBuffer() == [Array(frame[12..<28])])
        #expect(try object.map(named: "count")?.lookup(key: UInt32(0), as: UInt64.self) == 1)
    }

    /// An unverified program cannot use a forged dynptr to reach memory it was not given.
    @Test("a forged dynptr is refused at run time, never followed")
    func forgedDynptr() throws {
        // r1 = fp-16 holds a dynptr whose data is address 0x1000, size 8; bpf_dynptr_read from it.
        let source = """
            mov %r1, 0x1000
            stxdw [%r10-16], %r1
            mov %r1, 8
            stxw [%r10-8], %r1
            mov %r1, 0
            stxw [%r10-4], %r1
            mov %r1, %r10
            add %r1, -32
            mov %r2, 8
            mov %r3, %r10
            add %r3, -16
            mov %r4, 0
            mov %r5, 0
            call 201
            exit
            """
        let error = try runError(source, helpers: .kernel)
        #expect(error != nil, "the forged dynptr's memory was read")
        #expect(error.map { "\($0)" }?.contains("outside the program's memory") == true, "\(String(describing: error))")
    }
}
