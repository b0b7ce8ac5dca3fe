import BPFCore
import BPFLinux
import BPFObject
import BPFVerifier
import Foundation
import Testing

/// Whether bpf() works here, decided once; kernel tests skip (saying why) when it does not.
enum KernelAccess {
    static let probeError: BPFError? = BPFSyscall.probe()
    static let available: Bool = {
        if let probeError {
            print("BPFVerifierTests: skipping the kernel agreement tests: bpf() is not usable here: \(probeError)")
            return false
        }
        return true
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
let needsBTF = "the kernel needs BTF (func_info for callbacks, the map's BTF for bpf_spin_lock); raw BPF_PROG_LOAD here passes none, so the kernel cannot even decide"

/// Loads every rule case into the running kernel with BPF_PROG_LOAD and compares verdicts.
@Suite(.enabled(if: KernelAccess.available, "bpf() is not usable here (needs Linux and root or CAP_BPF)"))
struct KernelAgreementTests {
    /// The kernel's verdict: nil when it loads the program, else its log's last line.
    static func kernelVerdict(_ c: RuleCase) throws -> String? {
        var instructions = try c.assemble()
        var kernelMaps: [Int32: KernelMap] = [:]
        for (handle, spec) in c.maps {
            kernelMaps[handle] = try KernelMap(spec)
        }
        var i = 0
        while i < instructions.count {
            let ins = instructions[i]
            if ins.opcode == Opcode.lddw, ins.src == 1 || ins.src == 2, let map = kernelMaps[ins.imm] {
                instructions[i].imm = map.fd.rawValue
            }
            i += ins.opcode == Opcode.lddw ? 2 : 1
        }
        let attach: AttachType? = c.attach ?? (c.type == .xdp ? .xdp : nil)
        do {
            let program = try KernelProgram.load(type: c.type, instructions: instructions, expectedAttachType: attach, name: "verifier_case")
            program.close()
            return nil
        } catch {
            return error.verifierLog.flatMap { KernelProgram.summary(of: $0) } ?? error.message
        }
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

extension KernelProgram {
    /// The kernel log's reason: its last line that is not a statistic.
    static func summary(of log: String) -> String? {
        log.split(separator: "\n").reversed()
            .first { !$0.hasPrefix("processed ") && !$0.hasPrefix("verification time") && !$0.hasPrefix("stack depth")
                && !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map(String.init)
    }
}

/// The clang-built fixtures, loaded into the kernel with their maps: the verdicts must agree.
@Suite(.enabled(if: KernelAccess.available, "bpf() is not usable here (needs Linux and root or CAP_BPF)"))
struct KernelFixtureAgreementTests {
    /// Creates the program's maps in the kernel and patches its `lddw`s with their fds.
    static func kernelForm(_ spec: ProgramSpec, _ object: ObjectFile) throws -> (instructions: [Instruction], maps: [KernelMap]) {
        var instructions = spec.instructions
        var maps: [String: KernelMap] = [:]
        for (index, reference) in spec.references {
            let name: String
            var offset: Int?
            switch reference {
            case .map(let n): name = n
            case let .mapValue(n, o): name = n; offset = o
            default: throw BPFError.unsupported("reference \(reference)")
            }
            if maps[name] == nil {
                guard let mapSpec = object.map(named: name) else { throw BPFError.unsupported("map \(name)") }
                if let inner = mapSpec.innerMap?.spec {
                    maps[name] = try KernelMap(mapSpec, innerMap: try KernelMap(inner))
                } else {
                    var kernelSpec = mapSpec
                    if kernelSpec.type == .perfEventArray && kernelSpec.maxEntries == 0 {
                        kernelSpec.maxEntries = ProcessInfo.processInfo.activeProcessorCount   // as libbpf does
                    }
                    if mapSpec.isGlobalData && mapSpec.readOnly { kernelSpec.flags |= 0x80 }   // BPF_F_RDONLY_PROG, as libbpf
                    let map = try KernelMap(kernelSpec)
                    if let value = mapSpec.initialValue, mapSpec.isGlobalData {
                        try map.update(key: [0, 0, 0, 0], value: value)
                        if mapSpec.readOnly { try map.freeze() }
                    }
                    maps[name] = map
                }
            }
            instructions[index].src = offset == nil ? 1 : 2
            instructions[index].imm = maps[name]!.fd.rawValue
            if let offset { instructions[index + 1].imm = Int32(offset) }
        }
        return (instructions, Array(maps.values))
    }

    @Test(arguments: FixtureObjects.paths)
    func fixtureVerdictsAgree(_ path: String) throws {
        let object = try FixtureObjects.object(path)
        for spec in object.programs {
            let ours = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
            // fentry/fexit/tp_btf/iter/LSM programs need a kernel function's BTF id to load at all.
            if spec.type == .tracing || spec.type == .lsm {
                print("   \(path) \(spec.name): not compared (the kernel needs an attach BTF id)")
                continue
            }
            let kernel: String?
            do {
                let (instructions, maps) = try Self.kernelForm(spec, object)
                defer { maps.forEach { $0.close() } }
                // Syscall programs must be sleepable (BPF_F_SLEEPABLE), as libbpf loads them.
                let program = try KernelProgram.load(type: spec.type, instructions: instructions, license: spec.license,
                                                     expectedAttachType: spec.attachType, name: spec.name,
                                                     flags: spec.type == .syscall ? 1 << 4 : 0)
                program.close()
                kernel = nil
            } catch let error as BPFError {
                kernel = error.verifierLog.flatMap { KernelProgram.summary(of: $0) } ?? error.message
            }
            if let kernel, kernel.contains("missing btf func_info") || kernel.contains("has to have BTF") {
                print("   \(path) \(spec.name): not compared (the kernel needs the object's BTF: \(kernel))")
                continue
            }
            let agree = ours.accepted == (kernel == nil)
            print("\(agree ? "  " : "!=") \(path) \(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            if !agree && knownFixtureDisagreements[spec.name] == nil {
                Issue.record("\(spec.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            }
        }
    }
}

/// Fixture programs whose verdicts differ from the kernel's, with the reason (also in
/// `Docs/verifier-agreement.md`).
let knownFixtureDisagreements: [String: String] = [
    "uninit_key": uninitializedStack,
    "misc_random_time": "the kernel does not offer bpf_ktime_get_coarse_ns to syscall programs; the Swift runtime does, and we check against what it provides",
    "hash_lookup": "256 unrolled iterations with a NULL check each: the kernel prunes them by precision tracking, which we do not have",
    "array_lookup": "as hash_lookup",
]
