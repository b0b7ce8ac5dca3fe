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

/// Two lookups of key 0 in map handle 1 (r6, r7: each maybe NULL); r6 is NULL-checked, then
/// compared with r7 by `compare` (a jump to `out` when r7 is not known equal), then r7 is read.
private func equalPointers(_ compare: String) -> String {
    """
    mov %r2, 0
    stxw [%r10-4], %r2
    lddw %r1, map_fd 1
    mov %r2, %r10
    add %r2, -4
    call 1
    mov %r6, %r0
    lddw %r1, map_fd 1
    mov %r2, %r10
    add %r2, -4
    call 1
    mov %r7, %r0
    jeq %r6, 0, out
    \(compare)
    ldxdw %r0, [%r7+0]
    out:
    mov %r0, 0
    exit
    """
}

/// A frozen read-only array whose value is the string "hi".
private let formatMap: MapSpec = {
    var spec = MapSpec(name: "format", type: .array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0x80)
    spec.initialValue = [0x68, 0x69, 0, 0, 0, 0, 0, 0]
    spec.readOnly = true
    return spec
}()

/// A context's packet pointers: r2 = the field at `data`, r3 = the one at `end` (8-byte loads);
/// one byte is checked; then `access`.
private func contextPacket(data: Int, end: Int, access: String, exit: Int = 1) -> String {
    """
    ldxdw %r2, [%r1+\(data)]
    ldxdw %r3, [%r1+\(end)]
    mov %r4, %r2
    add %r4, 1
    jgt %r4, %r3, out
    \(access)
    out:
    mov %r0, \(exit)
    exit
    """
}

/// A lookup of key 0 in map handle 6 (`locked`: a bpf_spin_lock at offset 0); r0 = the value or NULL.
private let lockedLookup = lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6")

/// A lookup in map handle 1 through the map pointer plus `k`.
private func mapPlus(_ k: Int) -> String {
    """
    mov %r2, 0
    stxw [%r10-4], %r2
    mov %r2, %r10
    add %r2, -4
    mov %r0, \(k)
    lddw %r1, map_fd 1
    add %r1, %r0
    call 1
    mov %r0, 0
    exit
    """
}

/// Cases typed by the kernel's BTF: a map's own struct read through its pointer
/// (check_ptr_to_map_access), netfilter's context (nf_is_valid_access).
let kernelTypedCorpusCases: [RuleCase] = [
    RuleCase(name: "map pointer: read a field of the map's struct", type: .socketFilter,
             source: "lddw %r1, map_fd 1\nldxdw %r6, [%r1+0]\nmov %r0, 1\nexit", maps: [1: Maps.counts]),
    RuleCase(name: "map pointer: write a field of the map's struct", type: .socketFilter,
             source: "lddw %r1, map_fd 1\nstw [%r1+0], 0\nmov %r0, 1\nexit", rejection: "map_ptr", maps: [1: Maps.counts]),
    RuleCase(name: "map pointer: read before the map's struct", type: .socketFilter,
             source: "lddw %r1, map_fd 1\nldxw %r6, [%r1-8]\nmov %r0, 1\nexit", rejection: "negative offset", maps: [1: Maps.counts]),
    RuleCase(name: "netfilter: ctx->skb is a kernel pointer", type: .netfilter, attach: .netfilter,
             source: "ldxdw %r2, [%r1+8]\nmov %r0, 1\nexit"),
    RuleCase(name: "netfilter: ctx->skb read in part", type: .netfilter, attach: .netfilter,
             source: "ldxw %r2, [%r1+8]\nmov %r0, 1\nexit", rejection: "netfilter programs read only"),
]

/// `n` random branches in a row: exploring the fall-through side of each first, `n` paths wait.
func pendingBranches(_ n: Int) -> String {
    var source = ""
    for i in 0..<n { source += "call 7\njeq %r0, 5, l\(i)\nmov %r6, 1\nl\(i):\n" }
    return source + "mov %r0, 0\nexit"
}

let corpusRuleCases: [RuleCase] = [
    // More than 8192 branches waiting to be explored is too complex (BPF_COMPLEXITY_LIMIT_JMP_SEQ),
    // however few instructions the paths take; pyperf600's on_event is refused for it.
    RuleCase(name: "8,300 branches pending", type: .xdp, source: pendingBranches(8_300), rejection: "jumps is too complex"),
    RuleCase(name: "8,000 branches pending", type: .xdp, source: pendingBranches(8_000)),
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
    // Instructions are checked where a path reaches them: a write to r10 no path reaches is
    // dead code (the kernel removes it after verification).
    RuleCase(name: "r10 written where no path goes", type: .socketFilter, source: """
        call 7
        and %r0, 255
        jgt %r0, 255, bad
        mov %r0, 0
        exit
        bad:
        mov %r10, 0
        exit
        """),
    RuleCase(name: "r10 written where a path goes", type: .socketFilter, source: """
        call 7
        and %r0, 255
        jgt %r0, 254, bad
        mov %r0, 0
        exit
        bad:
        mov %r10, 0
        exit
        """, rejection: "read-only frame pointer"),
    // A signed range across the sign boundary is two unsigned intervals; an unsigned bound that
    // meets one of them only leaves that one (__reg64_deduce_bounds).
    RuleCase(name: "bounds: unsigned bound meets the non-negative half only", type: .socketFilter, source: """
        call 7
        lsh %r0, 56
        arsh %r0, 56
        lddw %r1, 0xffffffffffffff00
        jgt %r0, %r1, out
        jlt %r0, 128, out
        \(dead)
        out:
        mov %r0, 0
        exit
        """),
    RuleCase(name: "bounds: unsigned bound meets both halves", type: .socketFilter, source: """
        call 7
        lsh %r0, 56
        arsh %r0, 56
        lddw %r1, 0xffffffffffffff80
        jgt %r0, %r1, out
        jlt %r0, 128, out
        \(dead)
        out:
        mov %r0, 0
        exit
        """, rejection: "R9 is read before it is set"),
    // Sign extension of a range on one side of the sign bit is a range (coerce_reg_to_size_sx).
    RuleCase(name: "movsx of a range of negative bytes stays negative", type: .socketFilter, source: """
        call 7
        and %r0, 15
        or %r0, 128
        movsx864 %r1, %r0
        jsge %r1, -5, bad
        mov %r0, 0
        exit
        bad:
        \(dead)
        exit
        """),
    RuleCase(name: "movsx of a range across the byte's sign bit", type: .socketFilter, source: """
        call 7
        and %r0, 255
        movsx864 %r1, %r0
        jsge %r1, -5, bad
        mov %r0, 0
        exit
        bad:
        \(dead)
        exit
        """, rejection: "R9 is read before it is set"),
    // 32-bit arithmetic on pointers: a subtraction is a number for a privileged program, the rest
    // is refused (adjust_ptr_min_max_vals).
    RuleCase(name: "32-bit difference of packet pointers is a number", type: .schedCls, source: """
        ldxw %r7, [%r1+76]
        ldxw %r6, [%r1+80]
        mov32 %r4, %r7
        sub32 %r6, %r4
        mov %r0, 0
        exit
        """),
    RuleCase(name: "32-bit addition to a packet pointer", type: .schedCls, source: """
        ldxw %r7, [%r1+76]
        ldxw %r6, [%r1+80]
        mov32 %r4, %r7
        add32 %r6, %r4
        mov %r0, 0
        exit
        """, rejection: "32-bit arithmetic on a pointer"),
    RuleCase(name: "map pointer plus a known 0 is the map", type: .socketFilter, source: mapPlus(0), maps: [1: Maps.counts]),
    RuleCase(name: "map pointer plus 8", type: .socketFilter, source: mapPlus(8), rejection: "arithmetic on R1 (map_ptr)",
             maps: [1: Maps.counts]),
    // A static function may run under a bpf_spin_lock, and take or release it; the program must
    // end without it (the kernel loads these only with the map's BTF, which hand-assembled cases
    // lack: kernel: false).
    RuleCase(name: "spin lock released by a static function", type: .xdp, source: lockedLookup + """

        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, %r6
        call 93
        mov %r1, %r6
        call local unlock
        out:
        mov %r0, 2
        exit
        unlock:
        call 94
        mov %r0, 0
        exit
        """, maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "spin lock taken by a static function and never released", type: .xdp, source: lockedLookup + """

        jeq %r0, 0, out
        mov %r1, %r0
        call local take
        out:
        mov %r0, 2
        exit
        take:
        call 93
        mov %r0, 0
        exit
        """, rejection: "exit while holding a bpf_spin_lock", maps: [6: Maps.locked], kernel: false),
    // Pointer fields of contexts without a socket buffer, typed as the kernel's *_is_valid_access
    // types them: sockopt's optval buffer (read and written), sk_reuseport's packet (read only),
    // sk_lookup's selected socket (maybe NULL).
    RuleCase(name: "sockopt: optval is a packet checked against optval_end", type: .cgroupSockopt, attach: .cgroupSetsockopt,
             source: contextPacket(data: 8, end: 16, access: "ldxb %r5, [%r2+0]\nstb [%r2+0], 1")),
    RuleCase(name: "sockopt: optval read past the checked byte", type: .cgroupSockopt, attach: .cgroupSetsockopt,
             source: contextPacket(data: 8, end: 16, access: "ldxh %r5, [%r2+0]"), rejection: "only 1 bytes are checked"),
    RuleCase(name: "sk_reuseport: data is a packet checked against data_end", type: .skReuseport, attach: .skReuseportSelect,
             source: contextPacket(data: 0, end: 8, access: "ldxb %r5, [%r2+0]")),
    RuleCase(name: "sk_reuseport: the packet is read-only", type: .skReuseport, attach: .skReuseportSelect,
             source: contextPacket(data: 0, end: 8, access: "stb [%r2+0], 1"), rejection: "may not write the packet"),
    RuleCase(name: "sk_lookup: ctx->sk read after a NULL check", type: .skLookup, attach: .skLookup, source: """
        ldxdw %r2, [%r1+0]
        jeq %r2, 0, out
        ldxw %r0, [%r2+4]
        out:
        mov %r0, 1
        exit
        """),
    RuleCase(name: "sk_lookup: ctx->sk may be NULL", type: .skLookup, attach: .skLookup, source: """
        ldxdw %r2, [%r1+0]
        ldxw %r0, [%r2+4]
        mov %r0, 1
        exit
        """, rejection: "may be NULL"),
    // Helpers whose prototype depends on the program type (the kernel's *_func_proto).
    RuleCase(name: "sk_lookup: bpf_sk_assign(ctx, NULL) clears the selection", type: .skLookup, attach: .skLookup,
             source: "mov %r2, 0\nmov %r3, 0\ncall 124\nmov %r0, 1\nexit"),
    RuleCase(name: "tc: bpf_sk_assign takes no NULL socket", type: .schedCls,
             source: "mov %r2, 0\nmov %r3, 0\ncall 124\nmov %r0, 0\nexit", rejection: "must be a socket"),
    RuleCase(name: "bpf_snprintf with no buffer and size 0", type: .xdp, source: """
        lddw %r3, map_value 1 0
        mov %r1, 0
        mov %r2, 0
        mov %r4, 0
        mov %r5, 0
        call 165
        mov %r0, 0
        exit
        """, maps: [1: formatMap]),
    RuleCase(name: "bpf_snprintf with no buffer and a size", type: .xdp, source: """
        lddw %r3, map_value 1 0
        mov %r1, 0
        mov %r2, 8
        mov %r4, 0
        mov %r5, 0
        call 165
        mov %r0, 0
        exit
        """, rejection: "is NULL but its size", maps: [1: formatMap]),
    // Two pointers compared equal, one known not NULL: the other is not NULL where they are equal.
    RuleCase(name: "pointer equal to a non-NULL one is not NULL", type: .xdp, source: equalPointers("jne %r6, %r7, out"),
             maps: [1: Maps.hash]),
    RuleCase(name: "pointer different from a non-NULL one may be NULL", type: .xdp, source: equalPointers("jeq %r6, %r7, out"),
             rejection: "may be NULL", maps: [1: Maps.hash]),
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

/// The cases typed by the running kernel's BTF (skipped, saying so, without it).
@Suite(.requires(RunningKernelBTF.availability))
struct CorpusKernelTypedRuleTests {
    @Test(arguments: kernelTypedCorpusCases)
    func rule(_ c: RuleCase) throws {
        var input = try c.input()
        input.kernelBTF = try RunningKernelBTF.loaded.get()
        let result = Verifier().verify(input)
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
        let vmlinux = try? RunningKernelBTF.loaded.get()
        for c in corpusRuleCases + (vmlinux == nil ? [] : kernelTypedCorpusCases) where c.kernel {
            var input = try c.input()
            input.kernelBTF = vmlinux
            let ours = Verifier(options: VerifierOptions(instructionLimit: c.limit)).verify(input)
            let kernel = try KernelAgreementTests.kernelVerdict(c)
            #expect(ours.accepted == (kernel == nil),
                    "\(c.name): ours \(ours.error.map { "reject (\($0))" } ?? "accept"), kernel \(kernel.map { "reject (\($0))" } ?? "accept")")
            #expect((c.rejection == nil) == (kernel == nil), "\(c.name): the kernel says \(kernel ?? "accept")")
        }
    }
}
