import BPFLinux
import BPFObject
import BPFTestSupport
import BPFVerifier
import Testing

/// Kernel pointers kept in map values (`__kptr`, `__kptr_untrusted`, local kptrs) and sockets given
/// to the tracing sk_storage helpers (typed/kptrs.c), verified against the stand-in kernel BTF
/// (typed/kernel_types.c), so the verdicts hold on any machine. Each refused program sits next to
/// the accepted one it differs from.
struct MapKptrTests {
    static let directory = "Tests/BPFVerifierTests/Fixtures/typed/"

    static func verify(_ name: String) throws -> VerificationResult {
        let kernel = try #require(try ObjectFile(bytes: TestPaths.bytes(directory + "kernel_types.o")).btf)
        let object = try ObjectFile(bytes: TestPaths.bytes(directory + "kptrs.o"))
        let spec = try #require(object.program(named: name))
        var input = VerifierProgram(spec: spec, maps: object.maps, license: object.license)
        input.kernelBTF = kernel
        input.programBTF = object.btf
        return Verifier().verify(input)
    }

    static let accepted = ["ok_kptr_rcu", "ok_kptr_rcu_section", "ok_kptr_untrusted", "ok_kptr_xchg", "ok_local_kptr", "ok_sk_storage_rcu"]

    /// Each refused program, a part of the reason it must get, and its accepted neighbour.
    static let refused: [String: (reason: String, neighbour: String)] = [
        "bad_kptr_null": ("R1 may be NULL (argument 1 of bpf_task_acquire", "ok_kptr_rcu"),
        "bad_kptr_sleepable": ("must be a trusted kernel pointer, but R1 is ptr_(btf_id=2,untrusted", "ok_kptr_rcu_section"),
        "bad_kptr_untrusted_pass": ("must be a trusted kernel pointer", "ok_kptr_rcu"),
        "bad_kptr_store": ("it is written only by bpf_kptr_xchg", "ok_kptr_xchg"),
        "bad_kptr_partial": ("a kptr is accessed as the 8 bytes at its offset", "ok_kptr_untrusted"),
        "bad_kptr_wrong_type": ("holds pointers to struct task_struct", "ok_kptr_untrusted"),
        "bad_kptr_xchg_untrusted": ("is not a referenced kptr", "ok_kptr_xchg"),
        "bad_kptr_helper": ("helpers never access kptrs", "ok_kptr_untrusted"),
        "bad_local_after_unlock": ("is used after bpf_rcu_read_unlock", "ok_local_kptr"),
        "bad_local_untrusted_write": ("loaded from a kptr outside an RCU section) is only read", "ok_local_kptr"),
        "bad_sk_storage_untrusted": ("must be a trusted or RCU-protected pointer to a struct sock_common", "ok_sk_storage_rcu"),
    ]

    @Test("kptrs and sockets used as the kernel allows are accepted", arguments: accepted)
    func accepts(_ name: String) throws {
        let result = try Self.verify(name)
        #expect(result.accepted, "\(name): \(result.error?.detailed ?? "")")
    }

    @Test("kptr and socket uses the kernel refuses are refused, with the reason; their neighbours pass", arguments: Array(refused.keys).sorted())
    func refuses(_ name: String) throws {
        let (reason, neighbour) = try #require(Self.refused[name])
        let result = try Self.verify(name)
        let error = try #require(result.error, "\(name) must be refused")
        #expect(result.verdict == .reject)
        #expect(error.description.contains(reason), "\(name): \(error.detailed)")
        #expect(error.sourceLine != nil, "\(name): the C line is named")
        #expect(Self.accepted.contains(neighbour))
        #expect(try Self.verify(neighbour).accepted, "\(neighbour), the neighbour of \(name)")
    }
}

/// The same rules on the running kernel's types (typed/kernel/map_kptrs.c): our verdicts, then the
/// kernel's for the same programs, must agree (skipped, saying why, without the kernel's BTF or
/// bpf()).
@Suite(.requires(RunningKernelBTF.availability))
struct MapKptrRunningKernelTests {
    static let path = "Tests/BPFVerifierTests/Fixtures/typed/kernel/map_kptrs.o"

    static func verify(_ name: String) throws -> VerificationResult {
        let object = try ObjectFile(bytes: TestPaths.bytes(path))
        let spec = try #require(object.program(named: name))
        let vmlinux = try RunningKernelBTF.loaded.get()
        let relocator = CORERelocator(local: try #require(object.btf), target: vmlinux, index: CORERelocator.CandidateIndex(vmlinux))
        var input = VerifierProgram(spec: spec.relocated(with: relocator).spec, maps: object.maps, license: object.license)
        input.kernelBTF = vmlinux
        input.programBTF = object.btf
        return Verifier().verify(input)
    }

    @Test func verdictsFollowTheNames() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(Self.path))
        for spec in object.programs {
            let result = try Self.verify(spec.name)
            #expect(result.accepted == spec.name.hasPrefix("ok_"), "\(spec.name): \(result.error?.detailed ?? "accepted")")
        }
        #expect(object.programs.count == 12)
    }
}

@Suite(.requires(KernelAccess.bpf), .requires(RunningKernelBTF.availability), .requires(FixtureInKernel.mapKptrs.availability))
struct MapKptrKernelAgreementTests {
    @Test func kptrVerdictsAgreeWithTheKernel() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(MapKptrRunningKernelTests.path))
        let loaded = try FixtureInKernel.mapKptrs.loaded.get()
        for spec in object.programs {
            let ours = try MapKptrRunningKernelTests.verify(spec.name)
            let refusal = loaded.refusedPrograms[spec.name]
            let kernel = refusal.map { $0.verifierLog.flatMap { KernelProgram.verifierSummary($0) } ?? $0.message }
            #expect(ours.accepted == (kernel == nil),
                    "\(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
        }
    }
}
