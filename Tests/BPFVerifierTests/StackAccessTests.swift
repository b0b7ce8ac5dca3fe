import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import BPFVerifier
import Testing

/// Prepares r1 = fp-16 + (0 or 8) from a random number, after `setup`.
private func variableOffset(_ setup: String, mask: Int = 8, base: Int = -16) -> String {
    """
    mov %r6, %r1
    \(setup)
    call 7
    and %r0, \(mask)
    mov %r1, %r10
    add %r1, \(base)
    add %r1, %r0
    """
}

/// Stack accesses through a pointer with a variable offset (allowed to privileged loaders, as in
/// the kernel) and pointers spilled in part. Each case must also get the kernel's verdict
/// (`KernelAgreementStackTests`), except those in `knownStackDisagreements`.
let stackRuleCases: [RuleCase] = [
    RuleCase(name: "variable-offset read of initialized stack", type: .xdp, source: variableOffset("stdw [%r10-16], 1\nstdw [%r10-8], 2") + """

        ldxdw %r0, [%r1+0]
        exit
        """),
    RuleCase(name: "variable-offset read of uninitialized stack", type: .xdp, source: variableOffset("stdw [%r10-16], 1") + """

        ldxdw %r0, [%r1+0]
        exit
        """, rejection: "read of 8 bytes at fp-16...fp-8 through R1 may read uninitialized stack (fp-8)"),
    RuleCase(name: "variable-offset read past the frame", type: .xdp, source: variableOffset("stdw [%r10-16], 1\nstdw [%r10-8], 2", mask: 16) + """

        ldxdw %r0, [%r1+0]
        exit
        """, rejection: "stack access of 8 bytes at fp-16...fp0 (variable offset"),
    RuleCase(name: "variable-offset read misaligned", type: .xdp, source: variableOffset("stdw [%r10-16], 1\nstdw [%r10-8], 2", mask: 4) + """

        ldxdw %r0, [%r1+0]
        exit
        """, rejection: "misaligned stack access of 8 bytes: the variable offset of R1"),
    RuleCase(name: "variable-offset byte read", type: .xdp, source: variableOffset("stdw [%r10-16], 1\nstdw [%r10-8], 2", mask: 15) + """

        ldxb %r0, [%r1+0]
        exit
        """),
    RuleCase(name: "variable-offset write into initialized stack", type: .xdp, source: variableOffset("stdw [%r10-16], 0\nstdw [%r10-8], 0") + """

        stdw [%r1+0], 7
        ldxdw %r0, [%r10-16]
        ldxdw %r2, [%r10-8]
        add %r0, %r2
        exit
        """),
    RuleCase(name: "variable-offset write, then a read of bytes it may have skipped", type: .xdp, source: variableOffset("stdw [%r10-8], 0") + """

        stdw [%r1+0], 7
        ldxdw %r0, [%r10-16]
        exit
        """, rejection: "reads uninitialized stack (fp-16)"),
    RuleCase(name: "variable-offset byte write into initialized stack", type: .xdp, source: variableOffset("stdw [%r10-8], 0", mask: 7, base: -8) + """

        stb [%r1+0], 1
        ldxdw %r0, [%r10-8]
        exit
        """),
    RuleCase(name: "variable-offset byte write past the frame", type: .xdp, source: variableOffset("stdw [%r10-8], 0", mask: 7, base: -8) + """

        stb [%r1+1], 1
        mov %r0, 0
        exit
        """, rejection: "stack access of 1 bytes at fp-7...fp0"),
    RuleCase(name: "variable-offset write past the frame", type: .xdp, source: variableOffset("", mask: 1016) + """

        stdw [%r1+0], 7
        mov %r0, 0
        exit
        """, rejection: "may leave the 512-byte frame"),
    RuleCase(name: "variable-offset write destroys a spilled pointer", type: .xdp, source: variableOffset("stxdw [%r10-8], %r1\nstdw [%r10-16], 0") + """

        stdw [%r1+0], 0
        ldxdw %r1, [%r10-8]
        ldxw %r0, [%r1+0]
        exit
        """, rejection: "R1 is a scalar, not a pointer"),
    RuleCase(name: "variable-offset write beside a spilled pointer", type: .xdp, source: variableOffset("stxdw [%r10-24], %r1\nstdw [%r10-16], 0\nstdw [%r10-8], 0") + """

        stdw [%r1+0], 0
        ldxdw %r1, [%r10-24]
        ldxw %r0, [%r1+12]
        exit
        """),
    RuleCase(name: "variable-offset read over a spilled pointer", type: .xdp, source: variableOffset("stxdw [%r10-8], %r1\nstdw [%r10-16], 0") + """

        ldxdw %r0, [%r1+0]
        exit
        """),
    RuleCase(name: "variable-offset reads in a bounded loop", type: .xdp, source: """
        stdw [%r10-32], 1
        stdw [%r10-24], 2
        stdw [%r10-16], 3
        stdw [%r10-8], 4
        mov %r0, 0
        mov %r2, 0
        loop:
        mov %r1, %r2
        lsh %r1, 3
        add %r1, %r10
        add %r1, -32
        ldxdw %r3, [%r1+0]
        add %r0, %r3
        add %r2, 1
        jlt %r2, 4, loop
        exit
        """),
    RuleCase(name: "variable-offset buffer read by a helper", type: .xdp, source: variableOffset("stdw [%r10-16], 0\nstdw [%r10-8], 0") + """

        mov %r2, 8
        call 6
        mov %r0, 0
        exit
        """),
    RuleCase(name: "variable-offset buffer read by a helper past the frame", type: .xdp, source: variableOffset("stdw [%r10-16], 0\nstdw [%r10-8], 0") + """

        mov %r2, 9
        call 6
        mov %r0, 0
        exit
        """, rejection: "may leave the 512-byte frame"),
    RuleCase(name: "variable-offset buffer written by a helper", type: .kprobe, source: variableOffset("stdw [%r10-32], 0\nstdw [%r10-24], 0\nstdw [%r10-16], 0", base: -32) + """

        mov %r2, 16
        call 16
        ldxdw %r0, [%r10-24]
        exit
        """),
    RuleCase(name: "partial spill of a pointer", type: .xdp, source: "stxw [%r10-8], %r1\nmov %r0, 0\nexit",
             rejection: "partial store of a pointer (4 bytes) to the stack"),
    RuleCase(name: "partial fill of a spilled pointer", type: .xdp, source: "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit",
             rejection: "reads part of a spilled pointer (ctx)"),
    RuleCase(name: "scalar stored over half a spilled pointer", type: .xdp, source: """
        stxdw [%r10-8], %r1
        stw [%r10-8], 0
        ldxw %r0, [%r10-8]
        ldxw %r2, [%r10-4]
        exit
        """),
]

/// Where the kernel's verdict differs on purpose, and why (also in `Docs/verifier-agreement.md`).
let knownStackDisagreements: [String: String] = [
    "variable-offset read of uninitialized stack": uninitializedStack,
    "variable-offset write, then a read of bytes it may have skipped":
        "the kernel lets root's variable-offset write mark every byte it may touch as written (and root may read uninitialized stack anyway); we keep bytes it may skip uninitialized",
]

struct StackAccessTests {
    @Test(arguments: stackRuleCases)
    func stackRule(_ c: RuleCase) throws {
        let result = Verifier().verify(try c.input())
        if let expected = c.rejection {
            let error = try #require(result.error, "\(c.name) must be rejected (\(expected))")
            #expect(error.description.contains(expected), "\(c.name): \(error.description)")
        } else {
            #expect(result.error == nil, "\(c.name): \(result.error?.detailed ?? "")")
        }
    }

    /// Accepted programs count the deepest byte any offset may reach in their stack depth.
    @Test func acceptedVariableAccessesCountTheirDepth() throws {
        for c in stackRuleCases where c.rejection == nil {
            let result = Verifier().verify(try c.input())
            #expect(result.accepted, "\(c.name)")
            #expect(result.stackDepth <= 512)
            #expect(result.stackDepth >= 8, "\(c.name): depth \(result.stackDepth)")
        }
    }
}

/// The same cases in the running kernel, loaded as the rule cases are (see ``KernelAgreementTests``).
@Suite(.requires(KernelAccess.bpf))
struct KernelAgreementStackTests {
    @Test func stackVerdictsAgree() throws {
        for c in stackRuleCases {
            let ours = Verifier().verify(try c.input())
            let kernel = try KernelAgreementTests.kernelVerdict(c)
            let agree = ours.accepted == (kernel == nil)
            print("\(agree ? "  " : "!=") \(c.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            if !agree && knownStackDisagreements[c.name] == nil {
                Issue.record("\(c.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            }
            if agree && knownStackDisagreements[c.name] != nil {
                Issue.record("\(c.name) is listed as a disagreement but both verifiers say \(ours.accepted ? "accept" : "reject")")
            }
        }
    }
}
