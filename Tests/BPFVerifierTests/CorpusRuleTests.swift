import BPFCore
import BPFObject
@testable import BPFVerifier
import Testing

// Rules the real-world corpus showed the kernel applies and we once did not (Docs/verifier.md,
// "Agreement with the kernel"): each accepted case next to the unsafe neighbour that must still
// be refused. Our own hand-assembled programs; `KernelAgreementCorpusTests` loads them into the
// running kernel too.

/// `dead` is an instruction reached only if the verifier failed to prove a branch's outcome: a
/// read through r9, which no path sets.
private let dead = "ldxdw %r0, [%r9+0]"

/// r0: a random value, `prepare`d; it is stored with `store`, read back into r1 with `fill`; r1
/// is checked against 0, and then r0 (0 too when the two are linked).
private func linkedSpill(prepare: String, store: String, fill: String) -> String {
    """
    call 7
    \(prepare)
    \(store)
    \(fill)
    jne %r1, 0, out
    jeq %r0, 0, out
    \(dead)
    out:
    mov %r0, 0
    exit
    """
}

/// XDP: r1 = data + `offset`, compared with data_end by `compare` (a jump to `ok` when the bytes
/// are there); reads `size` bytes at data.
private func packetCorner(offset: Int, compare: String, size: String = "dw") -> String {
    """
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r1, %r2
    add %r1, \(offset)
    \(compare)
    ja out
    ok:
    ldx\(size) %r0, [%r1-\(offset)]
    out:
    mov %r0, 0
    exit
    """
}

let corpusRuleCases: [RuleCase] = [
    // A scalar spilled at a slot's start keeps its register state and its link to the register
    // (check_stack_write_fixed_off assigns an id; the fill copies it back).
    RuleCase(name: "64-bit spill links the slot to the register", type: .xdp,
             source: linkedSpill(prepare: "lsh %r0, 32", store: "stxdw [%r10-8], %r0", fill: "ldxdw %r1, [%r10-8]")),
    RuleCase(name: "16-bit spill of a 16-bit value links the slot", type: .xdp,
             source: linkedSpill(prepare: "and %r0, 0xff00", store: "stxh [%r10-8], %r0", fill: "ldxh %r1, [%r10-8]")),
    RuleCase(name: "16-bit store away from the slot's start links nothing", type: .xdp,
             source: linkedSpill(prepare: "and %r0, 0xff00", store: "stxh [%r10-6], %r0", fill: "ldxh %r1, [%r10-6]"),
             rejection: "R9 is read before it is set"),
    RuleCase(name: "32-bit spill of a wider value links nothing", type: .xdp,
             source: linkedSpill(prepare: "mov %r6, %r0\nlsh %r6, 32\nor %r0, %r6", store: "stxw [%r10-8], %r0", fill: "ldxw %r1, [%r10-8]"),
             rejection: "R9 is read before it is set"),
    // A narrow fill from the start of a wider spill is the spilled value truncated.
    RuleCase(name: "32-bit fill of the low half of a 64-bit spill", type: .xdp, source: """
        call 7
        lsh %r0, 32
        stxdw [%r10-8], %r0
        ldxw %r0, [%r10-8]
        jeq %r0, 0, out
        \(dead)
        out:
        exit
        """),
    RuleCase(name: "32-bit fill of the high half of a 64-bit spill", type: .xdp, source: """
        call 7
        lsh %r0, 32
        stxdw [%r10-8], %r0
        ldxw %r0, [%r10-4]
        jeq %r0, 0, out
        \(dead)
        out:
        exit
        """, rejection: "R9 is read before it is set"),
    RuleCase(name: "u32 constant spilled, filled as u16, moves a packet pointer", type: .schedCls, source: """
        ldxw %r2, [%r1+76]
        ldxw %r3, [%r1+80]
        mov %r4, 20
        stxw [%r10-8], %r4
        ldxh %r4, [%r10-8]
        mov %r0, %r2
        add %r0, %r4
        jgt %r0, %r3, out
        ldxw %r0, [%r2+0]
        out:
        mov %r0, 0
        exit
        """),
    // `p < end` proves one byte past p (find_good_pkt_pointers' range_right_open), `p <= end` none.
    RuleCase(name: "packet: end > data+7 proves 8 bytes", type: .xdp, source: packetCorner(offset: 7, compare: "jgt %r3, %r1, ok")),
    RuleCase(name: "packet: data+7 < end proves 8 bytes", type: .xdp, source: packetCorner(offset: 7, compare: "jlt %r1, %r3, ok")),
    RuleCase(name: "packet: end >= data+7 proves only 7 bytes", type: .xdp, source: packetCorner(offset: 7, compare: "jge %r3, %r1, ok"),
             rejection: "only 7 bytes are checked"),
    RuleCase(name: "packet: data < end proves nothing at offset 0", type: .xdp, source: packetCorner(offset: 0, compare: "jgt %r3, %r1, ok", size: "b"),
             rejection: "only 0 bytes are checked"),
]

struct CorpusRuleTests {
    @Test(arguments: corpusRuleCases)
    func rule(_ c: RuleCase) throws {
        let result = Verifier(options: VerifierOptions(instructionLimit: c.limit)).verify(try c.input())
        if let expected = c.rejection {
            let error = try #require(result.error, "\(c.name) must be rejected (\(expected))")
            #expect(error.description.contains(expected), "\(c.name): \(error.description)")
        } else {
            #expect(result.error == nil, "\(c.name): \(result.error?.detailed ?? "")")
        }
    }
}

/// The same cases in the running kernel: both verifiers must agree on every one.
@Suite(.requires(KernelAccess.bpf))
struct KernelAgreementCorpusTests {
    @Test func corpusVerdictsAgree() throws {
        for c in corpusRuleCases where c.kernel {
            let ours = Verifier(options: VerifierOptions(instructionLimit: c.limit)).verify(try c.input())
            let kernel = try KernelAgreementTests.kernelVerdict(c)
            #expect(ours.accepted == (kernel == nil),
                    "\(c.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            #expect((c.rejection == nil) == (kernel == nil), "\(c.name): the kernel says \(kernel ?? "accept")")
        }
    }
}
