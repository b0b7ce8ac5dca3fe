import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// The clang-built objects of the repository: every program the kernel would load is accepted;
/// the fixtures written to be unsafe are rejected with the reason.
enum FixtureObjects {
    static let paths: [String] = {
        let fixtures = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.repository.appendingPathComponent("Tests/Fixtures/bpf/obj").path)) ?? []
        let verifier = (try? FileManager.default.contentsOfDirectory(atPath: TestPaths.repository.appendingPathComponent("Tests/BPFVerifierTests/Fixtures").path)) ?? []
        return fixtures.filter { $0.hasSuffix(".o") }.sorted().map { "Tests/Fixtures/bpf/obj/\($0)" }
            + verifier.filter { $0.hasSuffix(".o") }.sorted().map { "Tests/BPFVerifierTests/Fixtures/\($0)" }
            + ["Examples/xdp-counter/xdp_counter.o", "Benchmarks/bpf/runtime_bench.o", "Benchmarks/bpf/jit_bench.o"]
    }()

    static func object(_ path: String) throws -> ObjectFile { try ObjectFile(bytes: TestPaths.bytes(path)) }

    /// Programs whose section names no type: undecided until a type is given. (entry_points.c's
    /// `2/1` takes its object's type, as iproute2 gives it.)
    static let untyped: Set<String> = []

    /// Programs that read a kernel struct only the kernel's BTF types (here not given): refused under
    /// the kernel's rules without it, accepted for the runtime, which checks such reads as it runs them.
    static let needKernelBTF: Set<String> = ["nk_skc_read"]

    /// Programs written to break a rule, and a part of the rejection each must get.
    static let unsafe: [String: String] = [
        "tc_write_len": "invalid context store: sched_cls programs may not write __sk_buff.len",
        "tc_write_past": "invalid context store: offset 200 is past the end of struct __sk_buff",
        "tc_write_data": "invalid context store: sched_cls programs may not write __sk_buff.data",
        "socket_data": "invalid context load: socket_filter programs may not read __sk_buff.data",
        "cg_write_pkt": "cgroup_skb programs may not write the packet directly",
        "tp_write_ctx": "invalid context store: tracepoint programs may not write their context",
        // Verifier fixtures (Tests/BPFVerifierTests/Fixtures/verifier_rules.c).
        "unchecked_lookup": "R0 may be NULL at insn",
        "unbounded_index": "outside the map 'table' value",
        "leaked_record": "is neither submitted nor discarded",
        "uninit_key": "is uninitialized",
        "packet_overread": "bytes are checked against data_end",
        // What a bpf_loop callback writes in its caller's stack (Tests/BPFVerifierTests/Fixtures/callback_writes.c).
        "loop_changes_index": "packet read of 1 bytes at offset 100 of R6, but only 14 bytes are checked against data_end",
        "loop_advances_callers_index": "stack access of 1 bytes at fp0 is outside the 512-byte frame",
        "loop_counts_past_table": "read of 1 bytes at offset 2 of R1 is outside the map '.data' value (2 bytes)",
        // Global functions, verified alone (Tests/BPFVerifierTests/Fixtures/global_functions.c).
        "global_unchecked_arg": "argument 1 ('p') of global function sum_unchecked",
        "global_ctx_as_memory": "global function pair_first may not access the context through R1 as memory",
        "global_short_buffer": "global function pair_first would access 8 bytes (its pointee) at fp-4",
        "global_unknown_result": "cgroup_skb programs must return 0...1",
        "global_void_return": "it returns void; a global function must return an integer",
        "global_bad_call": "line 177",
        "global_pointer_for_number": "argument 1 of global function twice ('x') must be a number",
        "global_uninit_buffer": "global function store_random reads 4 bytes (its pointee) at fp-8 (R1), but fp-8 is uninitialized",
        "global_void_arg": "argument 1 ('ctx', void *) points to void, whose size is unknown",
        "global_deep_chain": "the call stack of 9 frames is too deep (through global function depth1, 8 frames down)",
    ]
}

struct FixtureVerificationTests {
    @Test(arguments: FixtureObjects.paths)
    func objectVerifies(_ path: String) throws {
        let object = try FixtureObjects.object(path)
        for spec in object.programs {
            let result = Verifier().verify(VerifierProgram(spec: spec, object: object))
            if FixtureObjects.needKernelBTF.contains(spec.name) {
                #expect(result.error?.description.contains("a kernel pointer of unknown type") == true, "\(path): \(spec.name)")
                #expect(Verifier(options: VerifierOptions(target: .runtime())).verify(VerifierProgram(spec: spec, object: object)).accepted)
            } else if FixtureObjects.untyped.contains(spec.name) {
                #expect(result.verdict == .undecided, "\(path): \(spec.name)")
                #expect(Verifier().verify(VerifierProgram(spec: try spec.withType("sched_cls"), maps: object.maps)).accepted)
            } else if let expected = FixtureObjects.unsafe[spec.name] {
                let error = try #require(result.error, "\(path): \(spec.name) must be rejected")
                #expect(error.description.contains(expected), "\(path): \(spec.name): \(error.detailed)")
            } else {
                #expect(result.accepted, "\(path): \(spec.name): \(result.error?.detailed ?? "")")
            }
        }
    }

    /// Rejections in C programs name the C line.
    @Test func rejectionNamesTheSourceLine() throws {
        let object = try FixtureObjects.object("Tests/BPFVerifierTests/Fixtures/verifier_rules.o")
        let spec = try #require(object.program(named: "unchecked_lookup"))
        let error = try #require(Verifier().verify(VerifierProgram(spec: spec, maps: object.maps)).error)
        #expect(error.sourceLine?.text.contains("v->count++") == true, "\(error.detailed)")
        #expect(error.description.contains("(line "), "\(error)")
        #expect(error.description.contains("check the result of bpf_map_lookup_elem"))
    }

    /// The runtime verifies at load: a rejected program fails the load under `.strict` and loads
    /// under `.off`, and loaded programs expose their proofs.
    @Test func loadedObjectsCarryTheirVerification() throws {
        let object = try FixtureObjects.object("Tests/Fixtures/bpf/obj/contexts.o")
        #expect(throws: LoadError.self) { try LoadedObject(object, programs: ["tc_write_len"]) }
        do {
            _ = try LoadedObject(object, programs: ["tc_write_len"])
        } catch {
            #expect(error.description.contains("rejected by the verifier: invalid context store"), "\(error)")
        }
        let trusted = try LoadedObject(object, programs: ["tc_write_len"], verification: .off)
        #expect(trusted.program(named: "tc_write_len")?.verification == nil)
        let counter = try LoadedObject(FixtureObjects.object("Examples/xdp-counter/xdp_counter.o"))
        let program = try #require(counter.programs.values.first)
        let proofs = try #require(program.verification?.provenAccesses)
        #expect(proofs.count == program.spec.instructions.count)
        #expect(proofs.contains(true))
    }

    /// Soundness guard: every accepted fixture program runs in the interpreter, checks on, over
    /// random packets and contexts, and no check fires.
    @Test(arguments: FixtureObjects.paths)
    func acceptedProgramsRunCleanly(_ path: String) throws {
        let object = try FixtureObjects.object(path)
        let safe = Set(object.programs.map(\.name)).subtracting(FixtureObjects.unsafe.keys).subtracting(FixtureObjects.untyped)
        let loaded = try LoadedObject(object, programs: safe)
        var rng = SplitMix(state: UInt64(path.utf8.count) &* 0x9e37)
        for name in safe.sorted() {
            guard let program = loaded.program(named: name) else { continue }
            let spec = program.spec
            for round in 0..<12 {
                do {
                    if spec.type == .xdp || SKBAccess(spec.type) != nil {
                        let length = round == 0 ? 14 : Int(rng.next() % 400) + 14
                        var packet = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                        if round % 2 == 1 { packet[12] = 0x08; packet[13] = 0x00 }   // IPv4 half the time
                        _ = try program.testRun(packet: packet)
                    } else if let rules = RawContextRules(spec.type) {
                        let size = rules.fixedSize ?? rules.maxSize
                        _ = try program.testRun(context: (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
                    }
                } catch {
                    Issue.record("\(path): \(name) was accepted but a runtime check fired: \(error)")
                    break
                }
            }
        }
    }
}
