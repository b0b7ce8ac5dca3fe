import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// Whether bpf() works here, decided once: kernel tests are skipped, with the reason, when it does not.
enum KernelAccess {
    static let bpf: Availability = {
        if let error = BPFSyscall.probe() { return .missing("bpf() is not usable here (needs Linux and root or CAP_BPF): \(error)") }
        return .available
    }()
}

/// Cases where our verdict differs from the Linux verifier's on purpose, each with its reason.
/// `Docs/verifier-agreement.md` holds the same table.
let knownDisagreements: [String: String] = [
    "stack read uninitialized": uninitializedStack,
    "stack partially initialized": uninitializedStack,
    "helper key uninitialized": uninitializedStack,
    "index bounded by a 32-bit jump":
        "we know bpf_get_prandom_u32 returns a u32 (upper half zero), so a 32-bit bound bounds the 64-bit value; the kernel types the result as any 64-bit integer",
    "bpf_loop callback": needsBTF,
]

let uninitializedStack = "the kernel lets root read uninitialized stack (allow_uninit_stack); we refuse it, as the issue asks (a read of stale data is a bug even where it is memory-safe)"
let needsBTF = "the kernel needs BTF (func_info for callbacks, the map's BTF for bpf_spin_lock); the rule cases are assembled by hand and loaded without BTF, so the kernel cannot even decide"

/// Loads every rule case into the running kernel with BPF_PROG_LOAD and compares verdicts.
@Suite(.requires(KernelAccess.bpf))
struct KernelAgreementTests {
    /// The kernel's verdict: nil when it loads the program, else its log's last line.
    static func kernelVerdict(_ c: RuleCase) throws -> String? {
        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        let loaded = try KernelObject(try c.object(), options: options)
        if loaded.program(named: RuleCase.programName) != nil { return nil }
        let error = try #require(loaded.refusedPrograms[RuleCase.programName])
        return error.verifierLog.flatMap { KernelProgram.verifierSummary($0) } ?? error.message
    }

    @Test func verdictsAgree() throws {
        var rows: [String] = []
        for c in ruleCases where c.kernel {
            let ours = Verifier(options: VerifierOptions(instructionLimit: c.limit)).verify(try c.input())
            let kernel = try Self.kernelVerdict(c)
            let agree = ours.accepted == (kernel == nil)
            rows.append("\(agree ? "  " : "!=") \(c.name): ours \(ours.accepted ? "accept" : "reject"), kernel \(kernel == nil ? "accept" : "reject (\(kernel!))")")
            if !agree && knownDisagreements[c.name] == nil {
                Issue.record("\(c.name): we \(ours.accepted ? "accept" : "reject (\(ours.error!))"), the kernel \(kernel == nil ? "accepts" : "rejects: \(kernel!)")")
            }
            // The cases were written with an expected verdict; the kernel must share it unless listed.
            if knownDisagreements[c.name] == nil {
                #expect((c.rejection == nil) == (kernel == nil), "\(c.name): the kernel says \(kernel ?? "accept")")
            }
        }
        print("verifier agreement with the kernel:\n" + rows.joined(separator: "\n"))
    }
}

extension RuleCase {
    /// The name the case's program has in the object `object()` makes.
    static let programName = "verifier_case"

    /// The case as an object a loader takes: its maps, and each `lddw` of a map handle
    /// (`map_fd H`, `map_value H off`) referring to the map by name. It has no BTF.
    func object() throws -> ObjectFile {
        let instructions = try assemble()
        var references: [Int: ProgramReference] = [:]
        var i = 0
        while i < instructions.count {
            let ins = instructions[i]
            if ins.opcode == Opcode.lddw, let map = maps[ins.imm] {
                if ins.src == LoadImmediateSource.mapFD.rawValue {
                    references[i] = .map(map.name)
                } else if ins.src == LoadImmediateSource.mapValue.rawValue {
                    references[i] = .mapValue(map.name, offset: Int(instructions[i + 1].imm))
                }
            }
            i += ins.opcode == Opcode.lddw ? 2 : 1
        }
        let program = ProgramSpec(name: Self.programName, section: Self.programName, type: type,
                                  attachType: attach ?? (type == .xdp ? .xdp : nil), instructions: instructions, references: references)
        var specs: [String: MapSpec] = [:]
        for spec in maps.values { specs[spec.name] = spec }
        return ObjectFile(programs: [program], maps: specs.keys.sorted().map { specs[$0]! })
    }
}

/// The clang-built fixtures, loaded into the kernel with their maps: the verdicts must agree.
@Suite(.requires(KernelAccess.bpf))
struct KernelFixtureAgreementTests {
    /// The attachment a program loaded by BTF needs (fentry, fexit, LSM), or nil.
    static func btfAttachment(_ spec: ProgramSpec) -> KernelFeatures.Attachment? {
        switch (spec.type, spec.attachType) {
        case (.tracing, .traceFentry?): .fentry
        case (.tracing, .traceFexit?): .fexit
        case (.lsm, _): .lsm
        default: nil
        }
    }

    @Test(arguments: FixtureObjects.paths)
    func fixtureVerdictsAgree(_ path: String) throws {
        let object = try FixtureObjects.object(path)
        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        let loaded = try KernelObject(object, options: options)
        for spec in object.programs {
            var input = VerifierProgram(spec: spec, object: object)
            // A program reading kernel structs gets the kernel's BTF, as `swiftbpf verify` gives it.
            if input.readsKernelStructs, let vmlinux = try? KernelBTF.vmlinux() { input.kernelBTF = vmlinux }
            let ours = Verifier().verify(input)
            let refusal = loaded.refusedPrograms[spec.name]
            // fentry/fexit/LSM programs are refused before verification where the kernel does not
            // attach that kind (lockdown, no BPF LSM; probed): there is no verdict to compare.
            if let refusal, refusal.errno == .EPERM, let kind = Self.btfAttachment(spec), !KernelFeatures.attachment(kind).isSupported {
                print("   \(path) \(spec.name): not compared (refused with EPERM before verification; the kernel does not attach \(kind) here)")
                continue
            }
            // A helper this kernel's build hides from the type (kernels differ between machines;
            // probed): the kernel's verdict is about its configuration, not the program's safety.
            if refusal != nil, ours.accepted,
               let hidden = ours.helpersCalled.first(where: { !KernelFeatures.helper($0, programType: spec.type).isSupported }) {
                print("   \(path) \(spec.name): not compared (this kernel does not offer helper \(HelperPrototype[hidden]?.name ?? "\(hidden)") to \(spec.type.kernelName) programs; probed)")
                continue
            }
            let kernel = refusal.map { $0.verifierLog.flatMap { KernelProgram.verifierSummary($0) } ?? $0.message }
            let agree = ours.accepted == (kernel == nil)
            print("\(agree ? "  " : "!=") \(path) \(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            if !agree && knownFixtureDisagreements[spec.name] == nil {
                Issue.record("\(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            }
            if agree && knownFixtureDisagreements[spec.name] != nil {
                Issue.record("\(spec.name) is listed as a disagreement, but both verifiers now give the same verdict: remove it here and in Docs/verifier-agreement.md")
            }
        }
    }
}

/// Fixture programs whose verdicts differ from the kernel's, with the reason (also in
/// `Docs/verifier-agreement.md`).
let knownFixtureDisagreements: [String: String] = [
    "uninit_key": uninitializedStack,
    "global_uninit_buffer": uninitializedStack,
]
