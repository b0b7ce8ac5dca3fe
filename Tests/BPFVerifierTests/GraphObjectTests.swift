import BPFLinux
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// Allocated objects (`bpf_obj_new`/`bpf_obj_drop`), linked lists and rbtrees under a bpf_spin_lock
/// (typed/kernel/graph_objects.c), verified against the running kernel's BTF, which types the kfuncs.
@Suite(.requires(RunningKernelBTF.availability))
struct GraphObjectTests {
    static let path = "Tests/BPFVerifierTests/Fixtures/typed/kernel/graph_objects.o"

    static func verify(_ name: String, target: VerificationTarget = .kernel, programBTF: Bool = true) throws -> VerificationResult {
        let object = try ObjectFile(bytes: TestPaths.bytes(path))
        let spec = try #require(object.program(named: name))
        let vmlinux = try RunningKernelBTF.loaded.get()
        let relocator = CORERelocator(local: try #require(object.btf), target: vmlinux, index: CORERelocator.CandidateIndex(vmlinux))
        var input = VerifierProgram(spec: spec.relocated(with: relocator).spec, maps: object.maps, license: object.license)
        input.kernelBTF = vmlinux
        if programBTF { input.programBTF = object.btf }
        return Verifier(options: VerifierOptions(target: target)).verify(input)
    }

    static let accepted = ["ok_list", "ok_list_map", "ok_rbtree", "ok_non_owning", "ok_refcount"]

    /// Each refused program and a part of the reason it must get.
    static let refused: [String: String] = [
        "bad_leak": "the object bpf_obj_new_impl returned at insn 3 is not released on this path",
        "bad_use_after_drop": "R6 is a scalar, not a pointer",
        "bad_push_unlocked": "the bpf_spin_lock at offset 0 of the value of map '.data.LIST' must be held for the bpf_list_head",
        "bad_after_unlock": "R6 is a scalar, not a pointer",
        "bad_double_push": "argument 2 of bpf_list_push_back_impl must be an object the program owns",
        "bad_wrong_lock": "the bpf_spin_lock at offset 0 of the value of map '.data.LIST' must be held",
        "bad_direct_node": "write of the bpf_list_node at offset 8 of struct item directly is not allowed",
        "bad_drop_in_list": "argument 1 of bpf_obj_drop_impl must be an object from bpf_obj_new, but R1 is scalar",
        "bad_less_locks": "bpf_spin_lock in the less() callback of bpf_rbtree_add_impl",
    ]

    @Test("lists and rbtrees used as the kernel allows are accepted", arguments: accepted)
    func accepts(_ name: String) throws {
        let result = try Self.verify(name)
        #expect(result.accepted, "\(name): \(result.error?.detailed ?? "")")
    }

    @Test("leaks, use after drop, missing locks and non-owning references used too late are refused", arguments: Array(refused.keys).sorted())
    func refuses(_ name: String) throws {
        let result = try Self.verify(name)
        let expected = try #require(Self.refused[name])
        #expect(result.verdict == .reject, "\(name): \(result.error?.detailed ?? "accepted")")
        #expect(result.error?.description.contains(expected) == true, "\(name): \(result.error?.description ?? "accepted")")
        #expect(result.error?.sourceLine != nil, "\(name): the C line is named")
    }

    @Test func withoutTheProgramsBTFTheVerdictIsUndecided() throws {
        let result = try Self.verify("ok_list", programBTF: false)
        #expect(result.verdict == .undecided)
        #expect(result.error?.description.contains("the program's own BTF") == true, "\(result.error?.description ?? "")")
    }

    /// The runtime implements the graph kfuncs (`GraphKfuncs`), so its target accepts them.
    @Test func theRuntimeTargetAcceptsGraphKfuncs() throws {
        let result = try Self.verify("ok_list", target: .runtime())
        #expect(result.verdict == .accept, "\(result.error?.description ?? "")")
    }

}

/// What needs no kernel: the locks of global-data sections (`private(X)`), found in their BTF.
struct GraphObjectLockTests {
    @Test func globalDataSectionsHaveTheirLocks() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(GraphObjectTests.path))
        for name in [".data.LIST", ".data.TREE", ".data.COUNTED", "shelves"] {
            let map = try #require(object.maps.first { $0.name == name })
            #expect(map.spinLockOffset == 0, "\(name)")
        }
        // A section without a lock has none.
        #expect(object.maps.first { $0.name == ".bss" }?.spinLockOffset == nil)
    }
}

/// A fixture object loaded into the kernel once, for an agreement test (each refused program
/// reported, the others loaded). It needs the object's BTF (`bpf_obj_new` allocates its types,
/// kptr fields are typed by it), so the test is skipped, saying why, when the kernel refuses it.
struct FixtureInKernel: Sendable {
    let name: String
    let loaded: Result<KernelObject, any Error>

    init(_ path: String) {
        name = (path as NSString).lastPathComponent
        loaded = Result {
            var options = KernelLoadOptions()
            options.continueAfterRefusal = true
            return try KernelObject(try ObjectFile(bytes: TestPaths.bytes(path)), options: options)
        }
    }

    var availability: Availability {
        switch loaded {
        case .failure(let error): return .missing("the kernel did not load \(name): \(error)")
        case .success(let object):
            if let refused = object.warnings.first(where: { $0.contains("refused the object's BTF") }) {
                return .missing("the kernel refused the fixture's BTF: \(refused.prefix(160))")
            }
            return .available
        }
    }

    static let graphObjects = FixtureInKernel(GraphObjectTests.path)
    static let mapKptrs = FixtureInKernel(MapKptrRunningKernelTests.path)
}

/// The same programs loaded into the kernel: its verdicts and ours must agree (skipped without
/// bpf() or the kernel's BTF).
@Suite(.requires(KernelAccess.bpf), .requires(RunningKernelBTF.availability), .requires(FixtureInKernel.graphObjects.availability))
struct GraphObjectKernelAgreementTests {
    @Test func graphVerdictsAgreeWithTheKernel() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(GraphObjectTests.path))
        let loaded = try FixtureInKernel.graphObjects.loaded.get()
        var compared = 0
        for spec in object.programs {
            let ours = try GraphObjectTests.verify(spec.name)
            let refusal = loaded.refusedPrograms[spec.name]
            let kernel = refusal.map { $0.verifierLog.flatMap { KernelProgram.verifierSummary($0) } ?? $0.message }
            #expect(ours.accepted == (kernel == nil),
                    "\(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            #expect(ours.accepted == spec.name.hasPrefix("ok_"), "\(spec.name): \(ours.error?.detailed ?? "accepted")")
            compared += 1
        }
        #expect(compared == 14)
    }
}
