import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Testing

/// The kernel objects XDP and TC programs look up, as the runtime answers them
/// (`Tests/Fixtures/bpf/src/net_kfuncs.c`): conntrack lookups on an empty table with the kernel's
/// argument checks, raw SYN cookies, bpf_sk_assign_tcp_reqsk, reads through socket casts the
/// object's BTF does not type, and bpf_kfunc_call_test_release (the differential test compares
/// each with the kernel's test run).
@Suite("Networking kfuncs in the runtime")
struct NetKfuncTests {
    static let path = "Tests/Fixtures/bpf/obj/net_kfuncs.o"

    static func run(_ name: String, _ engine: ExecutionEngine) throws -> (result: UInt64, bss: [UInt8], btf: BTF) {
        let loaded = try LoadedObject(ObjectFile(bytes: TestPaths.bytes(path)), programs: [name], engine: engine)
        let run = try #require(loaded.program(named: name)).testRun(packet: Frames.ipv4(length: 54))
        let bss = try #require(try loaded.map(named: ".bss")!.lookup(key: [0, 0, 0, 0]))
        return (run.returnValue, bss, try #require(loaded.object.btf))
    }

    static func integers<T: FixedWidthInteger>(_ r: (result: UInt64, bss: [UInt8], btf: BTF), _ name: String, count: Int,
                                               as: T.Type) throws -> [Int64] {
        let offset = try #require(MapFixtureTests.variableOffset(r.btf, section: ".bss", name: name))
        let size = MemoryLayout<T>.size
        return (0..<count).map { i in
            var v: UInt64 = 0
            for b in 0..<size { v |= UInt64(r.bss[offset + i * size + b]) << (8 * UInt64(b)) }
            return Int64(T(truncatingIfNeeded: v))
        }
    }

    /// -ENOENT, -ENOENT (12-byte opts), -EINVAL (reserved), -EPROTO, -EINVAL (netns_id -2),
    /// -EAFNOSUPPORT, -EINVAL (zone with 12 bytes), -ENONET, -ENOENT (IPv6), -EINVAL (opts__sz 20).
    static let conntrackErrors: [Int64] = [-2, -2, -22, -71, -22, -97, -22, -64, -2, -22]

    @Test("conntrack lookups find nothing and set opts->error as the kernel does", arguments: [ExecutionEngine.interpreter, .jit])
    func conntrack(_ engine: ExecutionEngine) throws {
        let xdp = try Self.run("nk_ct_xdp", engine)
        #expect(xdp.result == 2)
        #expect(try Self.integers(xdp, "ct_errors", count: 10, as: Int32.self) == Self.conntrackErrors)
        #expect(try Self.integers(xdp, "ct_zone_dir", count: 1, as: UInt8.self) == [3])
        #expect(try Self.integers(xdp, "ct_found", count: 1, as: Int32.self) == [0])
        let tc = try Self.run("nk_ct_tc", engine)
        #expect(tc.result == 0)
        #expect(try Self.integers(tc, "ct_errors_tc", count: 10, as: Int32.self) == Self.conntrackErrors)
    }

    /// Memory safety first: the kernel (6.18) writes the error past what the verifier checked.
    @Test("opts->error is written only when opts__sz covers it", arguments: [ExecutionEngine.interpreter, .jit])
    func shortOptions(_ engine: ExecutionEngine) throws {
        #expect(try Self.run("nk_ct_short", engine).result == 7)
    }

    @Test("raw SYN cookies: made with the kernel's MSS table, checked, corrupted ones refused", arguments: [ExecutionEngine.interpreter, .jit])
    func syncookies(_ engine: ExecutionEngine) throws {
        let r = try Self.run("nk_syncookie", engine)
        #expect(r.result == 2)
        #expect(try Self.integers(r, "sc_results", count: 8, as: Int64.self) == [1460, 0, -13, -22, 536, 1440, 0, -13])
    }

    @Test("bpf_sk_assign_tcp_reqsk, socket casts and the test run's release load and run where no socket is found",
          arguments: [ExecutionEngine.interpreter, .jit])
    func noSockets(_ engine: ExecutionEngine) throws {
        #expect(try Self.run("nk_reqsk", engine).result == 1)
        #expect(try Self.run("nk_skc_read", engine).result == 1)
        #expect(try Self.run("nk_test_ref", engine).result == 0)
    }

    /// Without the kernel's BTF, the socket cast's struct has no type: the kernel's rules refuse the
    /// read; the runtime's allow it as a number, checked when it runs.
    @Test("a read through an untyped socket cast: refused by the kernel's rules without BTF, a checked number for the runtime")
    func untypedRead() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(Self.path))
        let spec = try #require(object.program(named: "nk_skc_read"))
        var input = VerifierProgram(spec: spec, maps: object.maps, license: object.license)
        input.programBTF = object.btf
        let kernel = Verifier(options: VerifierOptions(target: .kernel)).verify(input)
        #expect(kernel.error?.description.contains("a kernel pointer of unknown type") == true)
        let runtime = Verifier(options: VerifierOptions(target: .runtime())).verify(input)
        #expect(runtime.error == nil)
        // The read is never run unchecked.
        let read = try #require(spec.instructions.indices.first { i in
            let ins = spec.instructions[i]
            return ins.opcode == 0x69 && ins.offset == 14   // ldxh [rX + 14]: skc_num
        })
        #expect(runtime.provenAccesses[read] == false)
    }
}
