import BPFCore
import BPFObject
import BPFVerifier

/// One small program and what the verifier must say about it. The same table drives the rule
/// tests, the kernel agreement test and the soundness runs.
struct RuleCase: CustomStringConvertible, Sendable {
    var name: String
    var type: ProgramType
    var attach: AttachType? = nil
    var source: String
    /// nil: must be accepted; otherwise a part of the rejection's description.
    var rejection: String?
    /// Maps by the handle the source's `lddw %rN, map_fd H` uses.
    var maps: [Int32: MapSpec] = [:]
    /// False when the kernel cannot load the case as written (e.g. the map needs BTF).
    var kernel = true
    var limit = 1_000_000

    var description: String { name }

    func assemble() throws -> [Instruction] { try Assembler().assemble(source) }

    func input() throws -> VerifierProgram {
        VerifierProgram(instructions: try assemble(), type: type, attachType: attach, mapsByHandle: maps)
    }
}

enum Maps {
    static let counts = MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 4)
    static let hash = MapSpec(name: "flows", type: .hash, keySize: 4, valueSize: 8, maxEntries: 16)
    static let wide = MapSpec(name: "wide", type: .array, keySize: 4, valueSize: 64, maxEntries: 1)
    static let events = MapSpec(name: "events", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 4096)
    static let jump = MapSpec(name: "jump", type: .programArray, keySize: 4, valueSize: 4, maxEntries: 4)
    static let devmap = MapSpec(name: "ports", type: .devmap, keySize: 4, valueSize: 4, maxEntries: 4)
    static let sockets = MapSpec(name: "sockets", type: .sockmap, keySize: 4, valueSize: 4, maxEntries: 4)
    static let locked: MapSpec = {
        var spec = MapSpec(name: "locked", type: .array, keySize: 4, valueSize: 16, maxEntries: 1)
        spec.spinLockOffset = 0
        return spec
    }()
    static let constants: MapSpec = {
        var spec = MapSpec(name: "constants", type: .array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0x80)
        spec.initialValue = [1, 2, 3, 4, 0, 0, 0, 0]
        return spec
    }()
}

/// A lookup of key 0 in map handle 1 (`counts`); leaves the result in r0 (insn 6 is the call).
let lookup = """
    mov %r2, 0
    stxw [%r10-4], %r2
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_fd 1
    call 1
    """

/// bpf_sk_lookup_tcp (84) of a zeroed IPv4 tuple on the stack, from TC; r0 = the socket or NULL.
let socketLookup = """
    mov %r6, %r1
    stdw [%r10-8], 0
    stdw [%r10-16], 0
    mov %r2, %r10
    add %r2, -16
    mov %r3, 12
    mov %r4, -1
    mov %r5, 0
    mov %r1, %r6
    call 84
    """

/// A lookup of key 0 in map handle 2 (`wide`, 64-byte values, in the rule cases).
let lookupWide = """
    mov %r2, 0
    stxw [%r10-4], %r2
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_fd 2
    call 1
    """

/// Loads data and data_end of an xdp_md into r2 and r3.
private let packetPointers = """
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    """

let ruleCases: [RuleCase] = [
    // Exit and control flow.
    RuleCase(name: "exit with r0 set", type: .xdp, source: "mov %r0, 2\nexit"),
    RuleCase(name: "exit with r0 unset", type: .xdp, source: "exit", rejection: "R0 is read before it is set (the program's return value) at insn 0"),
    RuleCase(name: "uninitialized register", type: .xdp, source: "mov %r0, %r5\nexit", rejection: "R5 is read before it is set"),
    RuleCase(name: "fall off the end", type: .xdp, source: "mov %r0, 0", rejection: "falls off the end of the program"),
    RuleCase(name: "unreachable code", type: .xdp, source: "mov %r0, 0\nexit\nmov %r0, 1\nexit", rejection: "insn 2 is unreachable"),
    RuleCase(name: "jump into lddw", type: .xdp, source: "ja +1\nlddw %r0, 0x100000000\nexit", rejection: "second half of a lddw"),
    RuleCase(name: "conditional exit both ways", type: .xdp, source: """
        ldxw %r2, [%r1+12]
        mov %r0, 1
        jeq %r2, 7, done
        mov %r0, 2
        done:
        exit
        """),
    RuleCase(name: "r0 set on one path only", type: .xdp, source: """
        ldxw %r2, [%r1+12]
        jeq %r2, 7, done
        mov %r0, 2
        done:
        exit
        """, rejection: "R0 is read before it is set"),

    // Stack.
    RuleCase(name: "stack write then read", type: .xdp, source: "stdw [%r10-8], 5\nldxdw %r0, [%r10-8]\nexit"),
    RuleCase(name: "stack read uninitialized", type: .xdp, source: "ldxdw %r0, [%r10-8]\nexit", rejection: "uninitialized stack"),
    RuleCase(name: "stack partially initialized", type: .xdp, source: "stw [%r10-8], 5\nldxdw %r0, [%r10-8]\nexit", rejection: "uninitialized stack (fp-4)"),
    RuleCase(name: "stack below the frame", type: .xdp, source: "stdw [%r10-520], 1\nmov %r0, 0\nexit", rejection: "outside the 512-byte frame"),
    RuleCase(name: "stack above fp", type: .xdp, source: "stdw [%r10+0], 1\nmov %r0, 0\nexit", rejection: "outside the 512-byte frame"),
    RuleCase(name: "stack misaligned", type: .xdp, source: "stdw [%r10-12], 1\nmov %r0, 0\nexit", rejection: "misaligned stack access"),
    RuleCase(name: "spilled pointer keeps its type", type: .xdp, source: """
        stxdw [%r10-8], %r1
        ldxdw %r2, [%r10-8]
        ldxw %r0, [%r2+12]
        exit
        """),
    RuleCase(name: "partial fill of a spilled pointer", type: .xdp, source: """
        stxdw [%r10-8], %r1
        ldxw %r2, [%r10-8]
        mov %r0, 0
        exit
        """, rejection: "spilled pointer"),
    RuleCase(name: "spilled scalar keeps its bounds", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        and %r0, 7
        stxdw [%r10-16], %r0
        ldxdw %r1, [%r10-16]
        lsh %r1, 3
        add %r6, %r1
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, maps: [2: Maps.wide]),

    // Maps and NULL checks.
    RuleCase(name: "lookup checked", type: .xdp, source: lookup + """

        jeq %r0, 0, out
        ldxdw %r1, [%r0+0]
        add %r1, 1
        stxdw [%r0+0], %r1
        out:
        mov %r0, 2
        exit
        """, maps: [1: Maps.counts]),
    RuleCase(name: "lookup unchecked", type: .xdp, source: lookup + """

        ldxdw %r1, [%r0+0]
        mov %r0, 2
        exit
        """, rejection: "R0 may be NULL at insn 7: check the result of bpf_map_lookup_elem (insn 6) before dereferencing",
        maps: [1: Maps.hash]),
    RuleCase(name: "array lookup with a constant key in range", type: .xdp, source: lookup + """

        ldxdw %r1, [%r0+0]
        mov %r0, 2
        exit
        """, maps: [1: Maps.counts]),
    RuleCase(name: "array lookup with a constant key out of range", type: .xdp, source: lookup.replacingOccurrences(of: "mov %r2, 0", with: "mov %r2, 4") + """

        ldxdw %r1, [%r0+0]
        mov %r0, 2
        exit
        """, rejection: "R0 may be NULL", maps: [1: Maps.counts]),
    RuleCase(name: "NULL check reaches copies", type: .xdp, source: lookup + """

        mov %r6, %r0
        jne %r0, 0, ok
        mov %r0, 1
        exit
        ok:
        ldxdw %r0, [%r6+0]
        exit
        """, maps: [1: Maps.hash]),
    RuleCase(name: "map value read past the end", type: .xdp, source: lookup + """

        jeq %r0, 0, out
        ldxdw %r1, [%r0+4]
        out:
        mov %r0, 2
        exit
        """, rejection: "outside the map 'counts' value (8 bytes)", maps: [1: Maps.counts]),
    RuleCase(name: "map value index bounded", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        and %r0, 7
        lsh %r0, 3
        add %r6, %r0
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, maps: [2: Maps.wide]),
    RuleCase(name: "map value index unbounded", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        add %r6, %r0
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, rejection: "moved by a value with no usable bound", maps: [2: Maps.wide]),
    RuleCase(name: "index bounded by a 32-bit jump", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        jgt32 %r0, 56, out
        add %r6, %r0
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, maps: [2: Maps.wide]),
    RuleCase(name: "index bounded one too loosely", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        jgt32 %r0, 57, out
        add %r6, %r0
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, rejection: "outside the map 'wide' value", maps: [2: Maps.wide]),
    RuleCase(name: "signed bound on an unsigned index", type: .xdp, source: "mov %r7, %r1\n" + lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        ldxw %r1, [%r7+12]
        lsh %r1, 32
        arsh %r1, 32
        jsgt %r1, 56, out
        add %r6, %r1
        ldxdw %r0, [%r6+0]
        exit
        out:
        mov %r0, 0
        exit
        """, rejection: "may be negative", maps: [2: Maps.wide]),
    RuleCase(name: "write into a read-only map", type: .xdp, source: """
        lddw %r1, map_value 4 0
        stw [%r1+0], 1
        mov %r0, 0
        exit
        """, rejection: "write into read-only map 'constants'", maps: [4: Maps.constants]),
    RuleCase(name: "read a read-only map", type: .xdp, source: """
        lddw %r1, map_value 4 0
        ldxw %r0, [%r1+4]
        exit
        """, maps: [4: Maps.constants]),

    // Packets.
    RuleCase(name: "packet read after a bounds check", type: .xdp, source: packetPointers + """

        mov %r4, %r2
        add %r4, 14
        jgt %r4, %r3, out
        ldxb %r0, [%r2+13]
        exit
        out:
        mov %r0, 1
        exit
        """),
    RuleCase(name: "packet read one byte past the check", type: .xdp, source: packetPointers + """

        mov %r4, %r2
        add %r4, 14
        jgt %r4, %r3, out
        ldxb %r0, [%r2+14]
        exit
        out:
        mov %r0, 1
        exit
        """, rejection: "only 14 bytes are checked against data_end"),
    RuleCase(name: "packet check with the operands swapped", type: .xdp, source: packetPointers + """

        mov %r4, %r2
        add %r4, 8
        jle %r3, %r4, out
        ldxdw %r0, [%r2+0]
        exit
        out:
        mov %r0, 1
        exit
        """),
    RuleCase(name: "packet check end greater", type: .xdp, source: packetPointers + """

        mov %r4, %r2
        add %r4, 8
        jge %r3, %r4, ok
        mov %r0, 1
        exit
        ok:
        ldxdw %r0, [%r2+0]
        exit
        """),
    RuleCase(name: "packet read without a check", type: .xdp, source: packetPointers + "\nldxb %r0, [%r2+0]\nexit",
             rejection: "only 0 bytes are checked against data_end"),
    RuleCase(name: "packet variable offset", type: .xdp, source: packetPointers + """

        ldxb %r4, [%r1+12]
        and %r4, 15
        add %r2, %r4
        mov %r5, %r2
        add %r5, 4
        jgt %r5, %r3, out
        ldxw %r0, [%r2+0]
        exit
        out:
        mov %r0, 1
        exit
        """, rejection: "struct xdp_md fields are 4 bytes"),
    RuleCase(name: "packet variable offset checked", type: .xdp, source: packetPointers + """

        ldxw %r4, [%r1+12]
        and %r4, 15
        add %r2, %r4
        mov %r5, %r2
        add %r5, 4
        jgt %r5, %r3, out
        ldxw %r0, [%r2+0]
        exit
        out:
        mov %r0, 1
        exit
        """),
    RuleCase(name: "packet pointers invalidated by adjust_head", type: .xdp, source: packetPointers + """

        mov %r4, %r2
        add %r4, 14
        jgt %r4, %r3, out
        mov %r6, %r2
        mov %r2, 0
        call 44
        ldxb %r0, [%r6+0]
        exit
        out:
        mov %r0, 1
        exit
        """, rejection: "R6 is a scalar, not a pointer"),
    RuleCase(name: "packet write in a cgroup_skb program", type: .cgroupSkb, attach: .cgroupInetIngress, source: """
        ldxw %r2, [%r1+76]
        ldxw %r3, [%r1+80]
        mov %r4, %r2
        add %r4, 1
        jgt %r4, %r3, out
        stb [%r2+0], 1
        out:
        mov %r0, 1
        exit
        """, rejection: "cgroup_skb programs may not write the packet directly"),

    // Context.
    RuleCase(name: "xdp context write", type: .xdp, source: "stw [%r1+12], 0\nmov %r0, 0\nexit", rejection: "xdp programs may not write struct xdp_md"),
    RuleCase(name: "xdp context past the end", type: .xdp, source: "ldxw %r0, [%r1+24]\nexit", rejection: "past the end of struct xdp_md"),
    RuleCase(name: "tc writes skb->mark", type: .schedCls, source: "stw [%r1+8], 1\nmov %r0, 0\nexit"),
    RuleCase(name: "tc writes skb->len", type: .schedCls, source: "stw [%r1+0], 1\nmov %r0, 0\nexit", rejection: "may not write __sk_buff.len"),
    RuleCase(name: "socket filter reads skb->data", type: .socketFilter, source: "ldxw %r2, [%r1+76]\nmov %r0, 0\nexit",
             rejection: "socket_filter programs may not read __sk_buff.data"),
    RuleCase(name: "socket filter reads skb->len", type: .socketFilter, source: "ldxw %r0, [%r1+0]\nexit"),
    RuleCase(name: "variable context offset", type: .xdp, source: """
        ldxw %r2, [%r1+12]
        and %r2, 4
        add %r1, %r2
        ldxw %r0, [%r1+12]
        exit
        """, rejection: "variable offset context access"),
    RuleCase(name: "legacy packet load in a socket filter", type: .socketFilter, source: "mov %r6, %r1\nldabsb 9\nexit"),
    RuleCase(name: "legacy packet load in xdp", type: .xdp, source: "mov %r6, %r1\nldabsb 9\nexit",
             rejection: "only allowed in socket-buffer programs"),

    // Helpers.
    // The helper table: every helper's prototype and which program types may call it.
    RuleCase(name: "R0 after bpf_tail_call", type: .xdp, source: """
        lddw %r2, map_fd 1
        mov %r3, 0
        call 12
        exit
        """, rejection: "R0 is read before it is set", maps: [1: Maps.jump]),
    RuleCase(name: "bpf_redirect from XDP", type: .xdp, source: "mov %r1, 1\nmov %r2, 0\ncall 23\nexit"),
    RuleCase(name: "bpf_redirect from a socket filter", type: .socketFilter, source: "mov %r1, 1\nmov %r2, 0\ncall 23\nexit",
             rejection: "bpf_redirect is not available to socket_filter programs"),
    RuleCase(name: "bpf_redirect_map over a devmap", type: .xdp, source: """
        lddw %r1, map_fd 1
        mov %r2, 0
        mov %r3, 2
        call 51
        exit
        """, maps: [1: Maps.devmap]),
    RuleCase(name: "bpf_l3_csum_replace from TC", type: .schedCls, source: """
        mov %r2, 24
        mov %r3, 1
        mov %r4, 2
        mov %r5, 4
        call 10
        mov %r0, 0
        exit
        """),
    RuleCase(name: "a socket looked up and not released", type: .schedCls, source: socketLookup + """

        mov %r0, 0
        exit
        """, rejection: "is not released on this path"),
    RuleCase(name: "a socket looked up, read and released", type: .schedCls, source: socketLookup + """

        jeq %r0, 0, +4
        ldxw %r7, [%r0+4]
        mov %r1, %r0
        call 86
        mov %r0, %r7
        exit
        """),
    RuleCase(name: "sock_ops writes its reply and sk_txhash", type: .sockOps,
             source: "stw [%r1+4], 1\nstw [%r1+164], 7\nmov %r0, 1\nexit"),
    RuleCase(name: "sock_ops may not write op", type: .sockOps, source: "stw [%r1+0], 1\nmov %r0, 1\nexit",
             rejection: "only the __u32 fields reply, sk_txhash"),
    RuleCase(name: "a callback whose arguments are not modelled (bpf_find_vma)", type: .kprobe, source: """
        call 158
        mov %r1, %r0
        mov %r2, 0
        lddw %r3, func cb
        mov %r4, 0
        mov %r5, 0
        call 180
        mov %r0, 0
        exit
        cb:
        mov %r0, 0
        exit
        """, kernel: false),   // the kernel wants BTF func_info for this callback
    RuleCase(name: "division by the constant 0", type: .xdp, source: "mov %r0, 7\ndiv %r0, 0\nexit",
             rejection: "division by zero"),
    RuleCase(name: "getpeername hooks must return 1", type: .cgroupSockAddr, attach: .cgroupInet4Getpeername,
             source: "mov %r0, 0\nexit", rejection: "must return 1...1"),
    RuleCase(name: "connect hooks may return 0", type: .cgroupSockAddr, attach: .cgroupInet4Connect, source: "mov %r0, 0\nexit"),
    RuleCase(name: "a map value's address stored into skb->cb", type: .schedCls, source: """
        lddw %r2, map_value 1 0
        stxw [%r1+48], %r2
        mov %r0, 0
        exit
        """, maps: [1: Maps.wide]),
    RuleCase(name: "skb->sk checked, made a full socket, a field read", type: .schedCls, source: """
        ldxdw %r1, [%r1+168]
        mov %r0, 0
        jeq %r1, 0, +3
        call 95
        jeq %r0, 0, +1
        ldxw %r0, [%r0+4]
        exit
        """),
    RuleCase(name: "skb->sk used unchecked", type: .schedCls, source: """
        ldxdw %r1, [%r1+168]
        ldxw %r0, [%r1+4]
        exit
        """, rejection: "R1 may be NULL"),
    RuleCase(name: "a narrow load of bpf_sock_addr's sk", type: .cgroupSockAddr, attach: .cgroupInet4Connect,
             source: "ldxw %r2, [%r1+64]\nmov %r0, 1\nexit", rejection: "context field 'sk' is a pointer"),
    RuleCase(name: "sk_msg reads its data after a bounds check", type: .skMsg, attach: .skMsgVerdict, source: """
        ldxdw %r2, [%r1+0]
        ldxdw %r3, [%r1+8]
        mov %r0, 1
        mov %r4, %r2
        add %r4, 4
        jgt %r4, %r3, +1
        ldxw %r0, [%r2+0]
        exit
        """),
    RuleCase(name: "sk_msg reads its data without a bounds check", type: .skMsg, attach: .skMsgVerdict, source: """
        ldxdw %r2, [%r1+0]
        ldxw %r0, [%r2+0]
        exit
        """, rejection: "checked against data_end"),
    RuleCase(name: "a sockmap lookup released", type: .schedCls, source: lookup + """

        jeq %r0, 0, +2
        mov %r1, %r0
        call 86
        mov %r0, 0
        exit
        """, maps: [1: Maps.sockets]),
    RuleCase(name: "a sockmap lookup not released", type: .schedCls, source: lookup + """

        mov %r0, 0
        exit
        """, rejection: "is not released on this path", maps: [1: Maps.sockets]),
    RuleCase(name: "a flow dissector writes its flow keys from a checked packet", type: .flowDissector, attach: .flowDissector, source: """
        ldxw %r2, [%r1+76]
        ldxw %r3, [%r1+80]
        ldxdw %r4, [%r1+144]
        mov %r0, 1
        mov %r5, %r2
        add %r5, 14
        jgt %r5, %r3, +3
        ldxh %r5, [%r2+12]
        stxh [%r4+10], %r5
        mov %r0, 0
        exit
        """),
    RuleCase(name: "a flow dissector reads __sk_buff->len", type: .flowDissector, attach: .flowDissector,
             source: "ldxw %r2, [%r1+0]\nmov %r0, 0\nexit", rejection: "flow_dissector programs read only data, data_end"),
    RuleCase(name: "bind hooks may return 3", type: .cgroupSockAddr, attach: .cgroupInet4Bind, source: "mov %r0, 3\nexit"),
    RuleCase(name: "a connect6 hook writes user_ip6 8 bytes at a time", type: .cgroupSockAddr, attach: .cgroupInet6Connect,
             source: "mov %r2, 0\nstxdw [%r1+8], %r2\nstxdw [%r1+16], %r2\nmov %r0, 1\nexit"),
    RuleCase(name: "bpf_sock_addr's sk is a socket", type: .cgroupSockAddr, attach: .cgroupInet4Connect,
             source: "ldxdw %r2, [%r1+64]\nldxw %r3, [%r2+4]\nmov %r0, 1\nexit"),
    RuleCase(name: "unknown helper", type: .xdp, source: "call 9999\nmov %r0, 0\nexit", rejection: "call to helper 9999, past the last helper Linux 6.18 defines (211)"),
    RuleCase(name: "helper map argument not a map", type: .xdp, source: "mov %r1, 0\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit",
             rejection: "argument 1 of bpf_map_lookup_elem must be a map"),
    RuleCase(name: "helper not available to the type", type: .schedCls, source: "mov %r2, 0\ncall 44\nmov %r0, 0\nexit",
             rejection: "bpf_xdp_adjust_head is not available to sched_cls programs"),
    RuleCase(name: "helper key uninitialized", type: .xdp, source: """
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_fd 1
        call 1
        mov %r0, 0
        exit
        """, rejection: "bpf_map_lookup_elem reads the key of map 'counts' at fp-4 (R2), but fp-4 is uninitialized", maps: [1: Maps.counts]),
    RuleCase(name: "helper size may be zero", type: .xdp, source: """
        call 7
        and %r0, 7
        mov %r2, %r0
        stdw [%r10-8], 0
        mov %r1, %r10
        add %r1, -8
        call 6
        mov %r0, 0
        exit
        """, rejection: "the size argument of bpf_trace_printk, may be 0"),
    RuleCase(name: "helper size bounded", type: .xdp, source: """
        call 7
        and %r0, 7
        add %r0, 1
        mov %r2, %r0
        stdw [%r10-8], 0
        mov %r1, %r10
        add %r1, -8
        call 6
        mov %r0, 0
        exit
        """),
    RuleCase(name: "helper writes past the buffer", type: .kprobe, source: """
        call 7
        and %r0, 15
        mov %r2, %r0
        mov %r1, %r10
        add %r1, -8
        mov %r3, 0
        call 113
        mov %r0, 0
        exit
        """, rejection: "outside the 512-byte stack frame"),
    RuleCase(name: "helper output initializes the stack", type: .kprobe, source: """
        mov %r1, %r10
        add %r1, -16
        mov %r2, 16
        mov %r3, 0
        call 113
        ldxdw %r0, [%r10-8]
        exit
        """),

    // Pointers.
    RuleCase(name: "32-bit arithmetic on a pointer", type: .xdp, source: "mov %r2, %r10\nadd32 %r2, -8\nmov %r0, 0\nexit",
             rejection: "32-bit arithmetic on a pointer"),
    RuleCase(name: "arithmetic on a map pointer", type: .xdp, source: "lddw %r1, map_fd 1\nadd %r1, 8\nmov %r0, 0\nexit",
             rejection: "arithmetic on R1 (map_ptr) is not allowed", maps: [1: Maps.counts]),
    RuleCase(name: "dereference of a scalar", type: .xdp, source: "mov %r1, 4096\nldxw %r0, [%r1+0]\nexit",
             rejection: "R1 is a scalar, not a pointer"),
    RuleCase(name: "atomic add on the stack", type: .xdp, source: """
        stdw [%r10-8], 0
        mov %r1, 1
        lock add [%r10-8], %r1
        ldxdw %r0, [%r10-8]
        exit
        """),
    RuleCase(name: "atomic add on the context", type: .xdp, source: "mov %r2, 1\nlock add32 [%r1+12], %r2\nmov %r0, 0\nexit",
             rejection: "atomic update of the context"),

    // Calls.
    RuleCase(name: "bpf-to-bpf call", type: .xdp, source: """
        mov %r1, 3
        call local f
        exit
        f:
        mov %r0, %r1
        add %r0, 1
        exit
        """),
    RuleCase(name: "callee writes the caller's stack", type: .xdp, source: """
        mov %r1, %r10
        add %r1, -8
        call local f
        ldxdw %r0, [%r10-8]
        exit
        f:
        stdw [%r1+0], 7
        mov %r0, 0
        exit
        """),
    RuleCase(name: "argument registers are lost after a call", type: .xdp, source: """
        mov %r1, 3
        call local f
        mov %r0, %r1
        exit
        f:
        mov %r0, 0
        exit
        """, rejection: "R1 is read before it is set at insn 2: r1-r5 are not preserved across calls"),
    RuleCase(name: "nine frames", type: .xdp, source: (0..<8).map { "call local f\($0)\nexit\nf\($0):\nmov %r0, 0" }.joined(separator: "\n") + "\nexit",
             rejection: "more than 8 frames"),
    RuleCase(name: "eight frames", type: .xdp, source: (0..<7).map { "call local f\($0)\nexit\nf\($0):\nmov %r0, 0" }.joined(separator: "\n") + "\nexit"),
    RuleCase(name: "combined stack over 512 bytes", type: .xdp, source: """
        stdw [%r10-304], 0
        call local f
        exit
        f:
        stdw [%r10-304], 0
        mov %r0, 0
        exit
        """, rejection: "combined stack of the deepest call chain is 608 bytes"),
    RuleCase(name: "tail call", type: .xdp, source: """
        lddw %r2, map_fd 3
        mov %r3, 0
        call 12
        mov %r0, 2
        exit
        """, maps: [3: Maps.jump]),
    RuleCase(name: "tail call with an array map", type: .xdp, source: """
        lddw %r2, map_fd 1
        mov %r3, 0
        call 12
        mov %r0, 2
        exit
        """, rejection: "bpf_tail_call cannot be used with array map 'counts'", maps: [1: Maps.counts]),
    RuleCase(name: "bpf_loop callback", type: .xdp, source: """
        mov %r1, 10
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 0
        call 181
        mov %r0, 2
        exit
        cb:
        mov %r0, 0
        exit
        """),
    RuleCase(name: "bpf_loop callback returns 2", type: .xdp, source: """
        mov %r1, 10
        lddw %r2, func cb
        mov %r3, 0
        mov %r4, 0
        call 181
        mov %r0, 2
        exit
        cb:
        mov %r0, 2
        exit
        """, rejection: "a callback must return 0 or 1"),

    // Loops.
    RuleCase(name: "bounded loop", type: .xdp, source: """
        mov %r0, 0
        mov %r1, 0
        loop:
        add %r0, %r1
        add %r1, 1
        jlt %r1, 100, loop
        exit
        """),
    RuleCase(name: "infinite loop", type: .xdp, source: "mov %r0, 0\nloop:\nja loop",
             rejection: "infinite loop"),
    RuleCase(name: "loop that never proves its exit", type: .xdp, source: """
        mov %r0, 0
        loop:
        add %r0, 1
        jne %r0, 0, loop
        exit
        """, rejection: "too complex", limit: 50_000),
    // may_goto (can_loop, cond_break): loops bounded by the frame's budget converge.
    RuleCase(name: "loop bounded only by may_goto", type: .xdp, source: """
        mov %r0, 0
        loop:
        may_goto out
        add %r0, 1
        ja loop
        out:
        mov %r0, 2
        exit
        """),
    RuleCase(name: "may_goto loop indexing a map value", type: .xdp, source: lookup + """

        jeq %r0, 0, out
        mov %r6, 0
        loop:
        may_goto out
        jge %r6, 8, out
        mov %r1, %r0
        add %r1, %r6
        ldxb %r2, [%r1]
        add %r6, 1
        ja loop
        out:
        mov %r0, 2
        exit
        """, maps: [1: Maps.counts]),
    RuleCase(name: "may_goto loop reading one byte past a map value", type: .xdp, source: lookup + """

        jeq %r0, 0, out
        mov %r6, 0
        loop:
        may_goto out
        jgt %r6, 8, out
        mov %r1, %r0
        add %r1, %r6
        ldxb %r2, [%r1]
        add %r6, 1
        ja loop
        out:
        mov %r0, 2
        exit
        """, rejection: "outside", maps: [1: Maps.counts]),
    RuleCase(name: "may_goto loop counter used as an offset after the loop", type: .xdp, source: lookup + """

        jeq %r0, 0, out
        mov %r6, 0
        loop:
        may_goto done
        add %r6, 1
        ja loop
        done:
        add %r0, %r6
        ldxb %r2, [%r0]
        out:
        mov %r0, 2
        exit
        """, rejection: "no usable bound", maps: [1: Maps.counts]),
    RuleCase(name: "may_goto jumping back to itself", type: .xdp, source: """
        call 7
        loop:
        may_goto loop
        jgt %r0, 10, loop
        mov %r0, 2
        exit
        """, rejection: "infinite loop"),
    RuleCase(name: "may_goto with a negative offset", type: .xdp, source: """
        call 7
        ja l0
        ja l1
        l0:
        may_goto -2
        jgt %r0, 10, l0
        l1:
        mov %r0, 2
        exit
        """),
    RuleCase(name: "may_goto loops in a function called twice", type: .xdp, source: """
        call local f
        call local f
        mov %r0, 2
        exit
        f:
        mov %r0, 0
        loop:
        may_goto out
        add %r0, 1
        ja loop
        out:
        exit
        """),
    RuleCase(name: "nested loops with can_loop and cond_break", type: .xdp, source: """
        call 7
        mov %r6, %r0
        mov %r7, %r0
        outer:
        may_goto done
        jge %r7, 1000, done
        mov %r8, %r6
        inner:
        may_goto next
        jge %r8, 1000, next
        add %r6, %r8
        add %r8, 1
        ja inner
        next:
        add %r7, 1
        ja outer
        done:
        mov %r0, 2
        exit
        """),
    RuleCase(name: "may_goto in a function using its whole stack", type: .xdp, source: """
        stdw [%r10-512], 0
        loop:
        may_goto out
        ja loop
        out:
        mov %r0, 2
        exit
        """),

    // Return values and references.
    RuleCase(name: "cgroup_skb returns 1", type: .cgroupSkb, attach: .cgroupInetIngress, source: "mov %r0, 1\nexit"),
    RuleCase(name: "cgroup_skb returns 2", type: .cgroupSkb, attach: .cgroupInetIngress, source: "mov %r0, 2\nexit",
             rejection: "cgroup_skb programs must return 0...1"),
    RuleCase(name: "ringbuf reserve and submit", type: .xdp, source: """
        lddw %r1, map_fd 5
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        stdw [%r0+0], 1
        mov %r1, %r0
        mov %r2, 0
        call 132
        out:
        mov %r0, 2
        exit
        """, maps: [5: Maps.events]),
    RuleCase(name: "ringbuf record leaked", type: .xdp, source: """
        lddw %r1, map_fd 5
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        stdw [%r0+0], 1
        out:
        mov %r0, 2
        exit
        """, rejection: "the ringbuf record reserved at insn 4 is neither submitted nor discarded", maps: [5: Maps.events]),
    RuleCase(name: "ringbuf record written past its size", type: .xdp, source: """
        lddw %r1, map_fd 5
        mov %r2, 8
        mov %r3, 0
        call 131
        jeq %r0, 0, out
        stdw [%r0+8], 1
        mov %r1, %r0
        mov %r2, 0
        call 133
        out:
        mov %r0, 2
        exit
        """, rejection: "outside the memory of 8 bytes", maps: [5: Maps.events]),
    RuleCase(name: "spin lock taken and released", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, %r6
        call 93
        ldxdw %r2, [%r6+8]
        add %r2, 1
        stxdw [%r6+8], %r2
        mov %r1, %r6
        call 94
        out:
        mov %r0, 2
        exit
        """, maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "a bpf_spin_lock read directly", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        jeq %r0, 0, out
        ldxw %r1, [%r0+0]
        out:
        mov %r0, 2
        exit
        """, rejection: "read of the struct bpf_spin_lock", maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "spin lock held at exit", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        jeq %r0, 0, out
        mov %r1, %r0
        call 93
        out:
        mov %r0, 2
        exit
        """, rejection: "exit while holding a bpf_spin_lock", maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "helper call under a spin lock", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, %r0
        call 93
        call 5
        mov %r1, %r6
        call 94
        out:
        mov %r0, 2
        exit
        """, rejection: "call to bpf_ktime_get_ns while holding a bpf_spin_lock", maps: [6: Maps.locked], kernel: false),
    // Precision: a scalar whose value matters below a join keeps separating the states that
    // reach the join (the path explored second is the unsafe one, so pruning it would hide it).
    RuleCase(name: "precision: offset from a join", type: .xdp, source: precisionJoin(bad: "7", use: """
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset from a join past the value", type: .xdp, source: precisionJoin(bad: "8", use: """
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a stack spill", type: .xdp, source: precisionJoin(bad: "7", spill: true, use: """
        ldxdw %r7, [%r10-16]
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a stack spill past the value", type: .xdp, source: precisionJoin(bad: "8", spill: true, use: """
        ldxdw %r7, [%r10-16]
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a 4-byte stack store", type: .xdp, source: precisionJoin(bad: "7", narrow: true, use: """
        ldxw %r7, [%r10-16]
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a 4-byte stack store past the value", type: .xdp, source: precisionJoin(bad: "8", narrow: true, use: """
        ldxw %r7, [%r10-16]
        add %r0, %r7
        ldxb %r1, [%r0+0]
        """), rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a call argument", type: .xdp, source: precisionCall(bad: "7"), maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset through a call argument past the value", type: .xdp, source: precisionCall(bad: "8"),
             rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset derived by arithmetic", type: .xdp, source: precisionJoin(bad: "3", use: """
        mov %r8, %r7
        lsh %r8, 1
        add %r8, 1
        add %r0, %r8
        ldxb %r1, [%r0+0]
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: offset derived by arithmetic past the value", type: .xdp, source: precisionJoin(bad: "4", use: """
        mov %r8, %r7
        lsh %r8, 1
        add %r8, 1
        add %r0, %r8
        ldxb %r1, [%r0+0]
        """), rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "precision: branch decided by a joined value", type: .xdp, source: precisionJoin(bad: "0", use: """
        jeq %r7, 0, skip
        ldxdw %r1, [%r6+0]
        skip:
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: branch decided by a joined value goes the other way", type: .xdp, source: precisionJoin(bad: "1", use: """
        jeq %r7, 0, skip
        ldxdw %r1, [%r6+0]
        skip:
        """), rejection: "R6 is a scalar, not a pointer", maps: [1: Maps.counts]),
    RuleCase(name: "precision: helper size from a join", type: .xdp, source: precisionJoin(good: "8", bad: "4", use: """
        stdw [%r10-8], 0
        mov %r1, %r10
        add %r1, -8
        mov %r2, %r7
        call 6
        """), maps: [1: Maps.counts]),
    RuleCase(name: "precision: helper size from a join past the buffer", type: .xdp, source: precisionJoin(good: "8", bad: "9", use: """
        stdw [%r10-8], 0
        mov %r1, %r10
        add %r1, -8
        mov %r2, %r7
        call 6
        """), rejection: "outside the 512-byte stack frame", maps: [1: Maps.counts]),
    RuleCase(name: "precision: return value from a join", type: .cgroupSkb, attach: .cgroupInetIngress, source: """
        ldxw %r6, [%r1+0]
        mov %r0, 0
        jeq %r6, 0, join
        mov %r0, 1
        join:
        mov %r1, 0
        exit
        """),
    RuleCase(name: "precision: return value from a join out of range", type: .cgroupSkb, attach: .cgroupInetIngress, source: """
        ldxw %r6, [%r1+0]
        mov %r0, 2
        jeq %r6, 0, join
        mov %r0, 1
        join:
        mov %r1, 0
        exit
        """, rejection: "cgroup_skb programs must return 0...1"),
    RuleCase(name: "precision: bound through a linked copy", type: .xdp, source: precisionLinked(copyOnBothPaths: true), maps: [1: Maps.counts]),
    RuleCase(name: "precision: bound through a copy linked on one path only", type: .xdp, source: precisionLinked(copyOnBothPaths: false),
             rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),

    // Bounds the kernel's verifier knows and the corpus needed (see Docs/verifier.md).
    RuleCase(name: "a string read's length moves a pointer within its buffer", type: .kprobe, source: stringLengthIndex(size: 32),
             maps: [2: Maps.wide]),
    RuleCase(name: "a string read's length may reach past its buffer", type: .kprobe, source: stringLengthIndex(size: 64),
             rejection: "outside the map 'wide' value", maps: [2: Maps.wide]),
    RuleCase(name: "a 32-bit shift keeps the bounds, and an add that wraps at both ends", type: .xdp, source: shiftThenWrap(shift: 3),
             maps: [2: Maps.wide]),
    RuleCase(name: "a 32-bit shift then wrapping add past the value", type: .xdp, source: shiftThenWrap(shift: 4),
             rejection: "outside the map 'wide' value", maps: [2: Maps.wide]),
    RuleCase(name: "a quotient has no bounds (the kernel does not follow division)", type: .xdp, source: lookupWide + """

        jeq %r0, 0, out
        mov %r2, 200
        div %r2, 10
        add %r0, %r2
        ldxb %r1, [%r0+0]
        out:
        mov %r0, 0
        exit
        """, rejection: "may be moved by a value with no usable bound", maps: [2: Maps.wide]),
    RuleCase(name: "a 32-bit copy of a value whose upper half is zero is linked to it", type: .socketFilter, source: """
        call 5
        stxdw [%r10-8], %r0
        ldxw %r2, [%r10-8]
        mov32 %r3, %r2
        jlt32 %r2, 9, checked
        exit
        checked:
        jlt %r3, 9, done
        sub %r0, %r1
        done:
        exit
        """),
    RuleCase(name: "a 32-bit copy of a 64-bit value is not linked to it", type: .socketFilter, source: """
        call 5
        mov %r2, %r0
        mov32 %r3, %r2
        jlt32 %r2, 9, checked
        exit
        checked:
        jlt %r3, 9, done
        sub %r0, %r1
        done:
        exit
        """, rejection: "R1 is read before it is set"),
    RuleCase(name: "a spin lock released through another lookup's value, after a join", type: .xdp, source: """
        ldxw %r6, [%r1+12]

        """ + lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        mov %r7, %r0

        """ + lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        mov %r8, %r0
        mov %r1, %r7
        call 93
        jeq %r6, 0, other
        ja unlock
        other:
        mov %r7, %r8
        unlock:
        mov %r1, %r7
        call 94
        mov %r0, 0
        exit
        """, rejection: "bpf_spin_unlock of a different lock", maps: [6: Maps.locked], kernel: false),
    // Run s6's last differences (Docs/verifier.md, "Run s6 of the corpus taught these").
    RuleCase(name: "a copy plus a constant stays linked: a bound on the copy's source bounds it", type: .xdp,
             source: linkedPlusConstant(bound: 59), maps: [2: Maps.wide]),
    RuleCase(name: "a copy plus a constant, its source bounded one too far", type: .xdp,
             source: linkedPlusConstant(bound: 60), rejection: "outside the map 'wide' value", maps: [2: Maps.wide]),
    RuleCase(name: "a 4-byte counter off the 8-byte stack grid keeps no value: its loop repeats", type: .socketFilter, source: """
        mov %r1, 0
        stxw [%r10-4], %r1
        again:
        ldxw %r1, [%r10-4]
        add %r1, 1
        stxw [%r10-4], %r1
        jlt %r1, 4, again
        mov %r0, 0
        exit
        """, rejection: "infinite loop"),
    RuleCase(name: "a 4-byte counter on the 8-byte stack grid keeps its value: its loop ends", type: .socketFilter, source: """
        mov %r1, 0
        stxw [%r10-8], %r1
        again:
        ldxw %r1, [%r10-8]
        add %r1, 1
        stxw [%r10-8], %r1
        jlt %r1, 4, again
        mov %r0, 0
        exit
        """),
    RuleCase(name: "bpf_fastcall spills and fills around bpf_get_smp_processor_id leave the stack depth", type: .rawTracepoint,
             source: fastcallDepth(spill: "stxdw [%r10-8], %r1", fill: "ldxdw %r1, [%r10-8]")),
    RuleCase(name: "bpf_get_smp_processor_id is no bpf_fastcall for socket filters: the spill and fill count", type: .socketFilter,
             source: fastcallDepth(spill: "stxdw [%r10-8], %r1", fill: "ldxdw %r1, [%r10-8]"), rejection: "more than 512"),
    RuleCase(name: "a spill the call does not fill back keeps the stack depth", type: .rawTracepoint,
             source: fastcallDepth(spill: "stxdw [%r10-8], %r1", fill: "ldxdw %r2, [%r10-8]"),
             rejection: "more than 512"),
    RuleCase(name: "a writable raw tracepoint reads and writes its buffer at fixed offsets", type: .rawTracepointWritable, source: """
        ldxdw %r2, [%r1+0]
        ldxw %r3, [%r2+4]
        stxw [%r2+0], %r3
        mov %r0, 0
        exit
        """),
    RuleCase(name: "a writable raw tracepoint's buffer at a variable offset", type: .rawTracepointWritable, source: """
        ldxdw %r6, [%r1+0]
        call 7
        and %r0, 7
        add %r6, %r0
        ldxb %r3, [%r6+0]
        mov %r0, 0
        exit
        """, rejection: "invalid variable buffer offset"),
    RuleCase(name: "a writable raw tracepoint's buffer pointer read as 4 bytes", type: .rawTracepointWritable, source: """
        ldxw %r2, [%r1+0]
        mov %r0, 0
        exit
        """, rejection: "buffer pointer, read whole as 8 bytes"),
] + compatibilityRuleCases

/// A random number r0, its copy plus 4 in r2 (linked to it), r0 bounded to 0...`bound`, then r2
/// as the offset of a byte read in a 64-byte map value (the kernel's BPF_ADD_CONST).
private func linkedPlusConstant(bound: Int) -> String {
    lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        call 7
        mov %r2, %r0
        add %r2, 4
        jgt %r0, \(bound), out
        add %r6, %r2
        ldxb %r1, [%r6+0]
        out:
        mov %r0, 0
        exit
        """
}

/// The main function uses all 512 bytes of stack and calls a function that wraps
/// bpf_get_smp_processor_id in `spill` and `fill` of r1 at fp-8: a bpf_fastcall pattern (which the
/// kernel removes, so the function adds no stack) only if they match.
private func fastcallDepth(spill: String, fill: String) -> String {
    """
        mov %r1, 42
        stxdw [%r10-512], %r1
        call local sub
        mov %r0, 0
        exit
        sub:
        \(spill)
        call 8
        \(fill)
        mov %r0, 0
        exit
        """
}

/// bpf_probe_read_kernel_str (115) of at most `size` bytes into a 64-byte map value, then a
/// store at the value plus the length read: within the value when `size` < 64.
private func stringLengthIndex(size: Int) -> String {
    lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        mov %r1, %r6
        mov %r2, \(size)
        mov %r3, 0
        call 115
        jslt %r0, 0, out
        add %r6, %r0
        stb [%r6+0], 0
        out:
        mov %r0, 0
        exit
        """
}

/// A byte of a 64-byte map value masked to 5...7, shifted left by `shift` (32-bit), then -40
/// added (a 32-bit add that wraps at both ends), used as the offset of an 8-byte load.
private func shiftThenWrap(shift: Int) -> String {
    lookupWide + """

        jeq %r0, 0, out
        mov %r6, %r0
        ldxb %r2, [%r6+0]
        and32 %r2, 7
        jlt %r2, 5, out
        lsh32 %r2, \(shift)
        add32 %r2, -40
        add %r6, %r2
        ldxdw %r0, [%r6+0]
        out:
        mov %r0, 0
        exit
        """
}

/// r7 is `good` on the path explored first and `bad` on the one explored second; both meet at
/// `join`, then a lookup of `counts` (never NULL: constant key 0) and `use` (r0: the value, r6:
/// a scalar). With `spill`, r7 waits at fp-16 (8 bytes, or 4 with `narrow`) across the join.
func precisionJoin(good: String = "0", bad: String, spill: Bool = false, narrow: Bool = false, use: String) -> String {
    let store = spill ? "stxdw [%r10-16], %r7\n" : narrow ? "stxw [%r10-16], %r7\n" : ""
    return """
        ldxw %r6, [%r1+12]
        mov %r7, \(bad)
        jeq %r6, 0, join
        mov %r7, \(good)
        join:
        \(store)
        """ + lookup + "\n" + use + "\nmov %r0, 0\nexit"
}

/// As `precisionJoin`, with the offset passed to a function that moves the pointer with it.
func precisionCall(bad: String) -> String {
    """
    ldxw %r6, [%r1+12]
    mov %r7, \(bad)
    jeq %r6, 0, join
    mov %r7, 0
    join:
    mov %r1, %r7
    call local f
    mov %r0, 0
    exit
    f:
    mov %r6, %r1
    """ + "\n" + lookup + """

    add %r0, %r6
    ldxb %r1, [%r0+0]
    mov %r0, 0
    exit
    """
}

/// r7 is bounded by the check on r6 only where it is r6's copy: on the path explored second it
/// is an unrelated value unless `copyOnBothPaths`.
func precisionLinked(copyOnBothPaths: Bool) -> String {
    """
    ldxw %r6, [%r1+12]
    ldxw %r7, [%r1+16]
    and %r7, 15
    ldxw %r8, [%r1+16]
    \(copyOnBothPaths ? "mov %r7, %r6" : "")
    jeq %r8, 0, join
    mov %r7, %r6
    join:
    jgt %r6, 7, out
    """ + "\n" + lookup + """

    add %r0, %r7
    ldxb %r1, [%r0+0]
    out:
    mov %r0, 0
    exit
    """
}

