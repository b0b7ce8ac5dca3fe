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
    "combined stack over 512 bytes":
        "the kernel rounds each frame to 32 bytes without a JIT and to 16 with one; both give more than 512 here, but the kernel may report the error at the call",
]

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
