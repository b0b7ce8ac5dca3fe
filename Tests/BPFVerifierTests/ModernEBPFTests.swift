import BPFLinux
import BPFObject
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// Programs of modern eBPF built against the running kernel's types (typed/kernel/): dynptrs (local,
/// ringbuf, skb and xdp dynptrs, their slices, clones, references and stack slots), `bpf_rdonly_cast`
/// and exceptions (`bpf_throw`), verified against the running kernel's BTF. ok_* programs are
/// accepted, bad_* refused, for the reason each names.
@Suite(.requires(RunningKernelBTF.availability))
struct ModernEBPFTests {
    static let path = "Tests/BPFVerifierTests/Fixtures/typed/kernel/dynptrs.o"
    /// The fixtures built against the running kernel's types this file checks, with their program counts:
    /// dynptrs, bpf_rdonly_cast (`casts.c`), bpf_throw (`exceptions.c`) and the conntrack kfuncs
    /// with bpf_sock_destroy (`conntrack.c`), the task, css and bits iterators (`iterators.c`).
    static let fixtures = [("dynptrs", 23), ("casts", 5), ("exceptions", 11), ("conntrack", 7), ("iterators", 8)]

    /// Each program verified as the loader gives it: CO-RE relocated against the kernel's BTF.
    static func verified(_ path: String = path) throws -> [(spec: ProgramSpec, input: VerifierProgram, result: VerificationResult)] {
        let object = try ObjectFile(bytes: TestPaths.bytes(path))
        let vmlinux = try RunningKernelBTF.loaded.get()
        let relocator = CORERelocator(local: try #require(object.btf), target: vmlinux, index: CORERelocator.CandidateIndex(vmlinux))
        return object.programs.map { spec in
            var input = VerifierProgram(spec: spec.relocated(with: relocator).spec, object: object)
            input.kernelBTF = vmlinux
            return (spec, input, Verifier().verify(input))
        }
    }

    @Test(arguments: fixtures)
    func verdictsFollowTheProgramNames(_ fixture: String, _ count: Int) throws {
        let vmlinux = try RunningKernelBTF.loaded.get()
        let results = try Self.verified("Tests/BPFVerifierTests/Fixtures/typed/kernel/\(fixture).o")
        #expect(results.count == count)
        for (spec, input, result) in results {
            // A kernel without one of the kfuncs refuses the program, and so do we.
            let missing = input.kfuncs.values.filter { vmlinux.typeID(named: $0, kind: .function) == nil }
            let expected = spec.name.hasPrefix("ok_") && missing.isEmpty
            #expect(result.accepted == expected, "\(spec.name): \(result.error?.detailed ?? "accepted")")
        }
    }

    /// iters_num's unrolled loop of ten `bpf_iter_num_next` calls, each counting an element: once
    /// a call has returned NULL the iterator is drained and later calls return NULL without
    /// forking (the kernel's `BPF_ITER_STATE_DRAINED`), so there are 11 paths (drained at call 1
    /// ... 10, or never), not 2^10: at most 11 times the program's length (we once took 52,226).
    @Test func drainedIteratorsStopForking() throws {
        let results = try Self.verified("Tests/BPFVerifierTests/Fixtures/typed/kernel/iterators.o")
        let unrolled = try #require(results.first { $0.spec.name == "ok_num_unrolled" })
        #expect(unrolled.result.accepted, "\(unrolled.result.error?.detailed ?? "")")
        #expect(unrolled.result.instructionsProcessed <= 11 * unrolled.spec.instructions.count,
                "\(unrolled.result.instructionsProcessed) instructions for \(unrolled.spec.instructions.count)")
        // The third element exists only while the first two calls found the iterator active.
        let third = try #require(results.first { $0.spec.name == "bad_num_third_element" })
        #expect(third.result.error?.summary.contains("read-only") == true, "\(third.result.error?.summary ?? "accepted")")
    }

    @Test func refusalsNameWhatIsWrong() throws {
        let messages = Dictionary(uniqueKeysWithValues: try Self.verified().map { ($0.spec.name, $0.result.error?.summary ?? "") })
        let expected: [String: String] = [
            "bad_ringbuf_leak": "ringbuf dynptr reserved at insn",
            "bad_ringbuf_overwrite": "dynptr that holds a reference",
            "bad_read_slot": "reads the state of a dynptr",
            "bad_submit_twice": "not yet submitted or discarded",
            "bad_uninit": "must be an initialized dynptr",
            "bad_from_stack": "dynptr of a map value",
            "bad_helper_writes_slot": "where a dynptr is",
            "bad_slice_write": "read-only",
            "bad_slice_var_size": "must be a constant size",
            "bad_xdp_in_tc": "may not be called from sched_cls",
            "bad_callback_release": "the program reserved, but R1 is const_dynptr",
        ]
        let casts = Dictionary(uniqueKeysWithValues: try Self.verified("Tests/BPFVerifierTests/Fixtures/typed/kernel/casts.o")
            .map { ($0.spec.name, $0.result.error?.summary ?? "") })
        #expect(casts["bad_cast_pass"]?.contains("untrusted") == true, "\(casts["bad_cast_pass"] ?? "")")
        #expect(casts["bad_cast_not_const"]?.contains("must be a constant type id") == true, "\(casts["bad_cast_not_const"] ?? "")")
        let exceptions = Dictionary(uniqueKeysWithValues: try Self.verified("Tests/BPFVerifierTests/Fixtures/typed/kernel/exceptions.o")
            .map { ($0.spec.name, $0.result.error?.summary ?? "") })
        #expect(exceptions["bad_throw_lock"]?.contains("bpf_throw while holding a bpf_spin_lock") == true, "\(exceptions["bad_throw_lock"] ?? "")")
        #expect(exceptions["bad_throw_reference"]?.contains("not released") == true, "\(exceptions["bad_throw_reference"] ?? "")")
        #expect(exceptions["bad_throw_rcu"]?.contains("bpf_rcu_read_lock section") == true, "\(exceptions["bad_throw_rcu"] ?? "")")
        #expect(exceptions["bad_callback_args"]?.contains("takes 2 arguments") == true, "\(exceptions["bad_callback_args"] ?? "")")
        #expect(exceptions["bad_callback_called"]?.contains("calls its exception callback") == true, "\(exceptions["bad_callback_called"] ?? "")")
        #expect(exceptions["bad_callback_throws"]?.contains("bpf_throw in a callback") == true, "\(exceptions["bad_callback_throws"] ?? "")")
        let conntrack = Dictionary(uniqueKeysWithValues: try Self.verified("Tests/BPFVerifierTests/Fixtures/typed/kernel/conntrack.o")
            .map { ($0.spec.name, $0.result.error?.summary ?? "") })
        let vmlinux = try RunningKernelBTF.loaded.get()
        if vmlinux.typeID(named: "bpf_skb_ct_lookup", kind: .function) != nil {
            #expect(conntrack["bad_release_alloc"]?.contains("struct nf_conn itself, not to struct nf_conn___init") == true, "\(conntrack["bad_release_alloc"] ?? "")")
            #expect(conntrack["bad_write_status"]?.contains("typed kernel pointer") == true, "\(conntrack["bad_write_status"] ?? "")")
            #expect(conntrack["bad_null_tuple"]?.contains("not NULL") == true, "\(conntrack["bad_null_tuple"] ?? "")")
        }
        #expect(conntrack["bad_destroy_fentry"]?.contains("only allowed in TCP and UDP socket iterators") == true
                || vmlinux.typeID(named: "bpf_sock_destroy", kind: .function) == nil, "\(conntrack["bad_destroy_fentry"] ?? "")")
        for (name, fragment) in expected {
            let message = try #require(messages[name], "\(name) is in the fixture")
            #expect(message.contains(fragment), "\(name): \(message)")
        }
    }

    /// Without the kernel's BTF, the programs that call only helpers are still decided.
    @Test func helperOnlyProgramsNeedNoKernelBTF() throws {
        var decided = 0
        for (spec, input, _) in try Self.verified() where input.kfuncs.isEmpty {
            var untyped = input
            untyped.kernelBTF = nil
            let result = Verifier().verify(untyped)
            #expect(result.accepted == spec.name.hasPrefix("ok_"), "\(spec.name): \(result.error?.detailed ?? "accepted")")
            decided += 1
        }
        #expect(decided >= 15)
    }
}

/// The same programs loaded into the running kernel: its verdict and ours agree on each.
@Suite(.requires(KernelAccess.bpf), .requires(RunningKernelBTF.availability))
struct ModernEBPFAgreementTests {
    @Test(arguments: ModernEBPFTests.fixtures)
    func verdictsAgreeWithTheKernel(_ fixture: String, _ count: Int) throws {
        let path = "Tests/BPFVerifierTests/Fixtures/typed/kernel/\(fixture).o"
        let object = try ObjectFile(bytes: TestPaths.bytes(path))
        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        let loaded = try KernelObject(object, options: options)
        var compared = 0
        for (spec, _, ours) in try ModernEBPFTests.verified(path) {
            let refusal = loaded.refusedPrograms[spec.name]
            let kernel = refusal.map { $0.verifierLog.flatMap { KernelProgram.verifierSummary($0) } ?? $0.message }
            #expect(ours.accepted == (kernel == nil),
                    "\(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            compared += 1
        }
        #expect(compared == count)
    }
}
