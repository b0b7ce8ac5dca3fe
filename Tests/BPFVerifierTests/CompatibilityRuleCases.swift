import BPFCore
import BPFObject
import BPFVerifier

/// Rule cases for what the kernel refuses by what a program is rather than by what it computes
/// (program type and attach type against helpers and maps, map flags), and for the kernel rules a
/// real-world corpus showed we missed. Part of ``ruleCases``: each is also loaded into the kernel.
extension Maps {
    /// An array the program may only write (`BPF_F_WRONLY_PROG`).
    static let writeOnly = MapSpec(name: "sink", type: .array, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0x100)
    /// A cgroup storage (`bpf_get_local_storage`'s map).
    static let cgroupStorage = MapSpec(name: "per_cgroup", type: .cgroupStorage, keySize: 16, valueSize: 8, maxEntries: 0)
}

/// A bpf_sock of skb->sk, NULL-checked, then `read` (r1: the socket); returns 1.
private func socketField(_ read: String, fullSocket: Bool = false) -> String {
    """
    ldxdw %r1, [%r1+168]
    jeq %r1, 0, done
    \(fullSocket ? "call 95\njeq %r0, 0, done\nmov %r1, %r0" : "")
    \(read)
    done:
    mov %r0, 1
    exit
    """
}

/// A function that loads a packet byte the legacy way, then returns 1 (0 when the load fails).
private let packetByteFunction = """
    f:
    mov %r6, %r1
    ldabsb 14
    mov %r0, 1
    exit
    """

let compatibilityRuleCases: [RuleCase] = [
    // Helpers whose availability depends on the attach type or on sleepability.
    RuleCase(name: "bpf_get_retval in a connect4 hook", type: .cgroupSockAddr, attach: .cgroupInet4Connect,
             source: "call 186\nmov %r0, 1\nexit"),
    RuleCase(name: "bpf_get_retval in a getsockname4 hook", type: .cgroupSockAddr, attach: .cgroupInet4Getsockname,
             source: "call 186\nmov %r0, 1\nexit", rejection: "not available to programs attached as cgroup_inet4_getsockname"),
    RuleCase(name: "bpf_set_retval in a recvmsg6 hook", type: .cgroupSockAddr, attach: .cgroupUdp6Recvmsg,
             source: "mov %r1, 0\ncall 187\nmov %r0, 1\nexit", rejection: "bpf_set_retval is not available"),
    RuleCase(name: "bpf_copy_from_user in a kprobe", type: .kprobe, source: """
        mov %r1, %r10
        add %r1, -16
        mov %r2, 16
        mov %r3, 0
        call 148
        mov %r0, 0
        exit
        """, rejection: "bpf_copy_from_user may sleep"),
    RuleCase(name: "bpf_get_local_storage with flags 0", type: .cgroupSkb, attach: .cgroupInetEgress, source: """
        lddw %r1, map_fd 1
        mov %r2, 0
        call 81
        ldxdw %r0, [%r0+0]
        and %r0, 1
        exit
        """, maps: [1: Maps.cgroupStorage]),
    RuleCase(name: "bpf_get_local_storage with flags 2", type: .cgroupSkb, attach: .cgroupInetEgress, source: """
        lddw %r1, map_fd 1
        mov %r2, 2
        call 81
        mov %r0, 1
        exit
        """, rejection: "flags (R2) must be the constant 0", maps: [1: Maps.cgroupStorage]),

    // Maps a program type may not use, map flags.
    RuleCase(name: "a map with a bpf_spin_lock in a kprobe", type: .kprobe,
             source: "lddw %r1, map_fd 6\nmov %r0, 0\nexit", rejection: "its value holds a bpf_spin_lock",
             maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "a map with a bpf_spin_lock in tc", type: .schedCls,
             source: "lddw %r1, map_fd 6\nmov %r0, 0\nexit", maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "a write-only map written", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 7") + """

        jeq %r0, 0, +1
        stdw [%r0+0], 9
        mov %r0, 2
        exit
        """, maps: [7: Maps.writeOnly]),
    RuleCase(name: "a write-only map read", type: .xdp, source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 7") + """

        jeq %r0, 0, +1
        ldxdw %r0, [%r0+0]
        mov %r0, 2
        exit
        """, rejection: "read from write-only map 'sink'", maps: [7: Maps.writeOnly]),

    RuleCase(name: "a sockmap entry deleted from tc", type: .schedCls,
             source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 5").replacingOccurrences(of: "call 1", with: "call 3") + "\nmov %r0, 0\nexit",
             maps: [5: Maps.sockets]),
    RuleCase(name: "a sockmap entry deleted from a kprobe", type: .kprobe,
             source: lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 5").replacingOccurrences(of: "call 1", with: "call 3") + "\nmov %r0, 0\nexit",
             rejection: "cannot change sockmap map 'sockets' from kprobe programs", maps: [5: Maps.sockets]),

    // struct bpf_sock fields.
    RuleCase(name: "bpf_sock dst_port read as 2 bytes", type: .cgroupSkb, attach: .cgroupInetIngress,
             source: socketField("ldxh %r2, [%r1+48]")),
    RuleCase(name: "bpf_sock padding after dst_port", type: .cgroupSkb, attach: .cgroupInetIngress,
             source: socketField("ldxh %r2, [%r1+50]"), rejection: "padding after dst_port"),
    RuleCase(name: "bpf_sock bound_dev_if read as 8 bytes", type: .cgroupSkb, attach: .cgroupInetIngress,
             source: socketField("ldxdw %r2, [%r1+0]"), rejection: "read whole (4 bytes)"),
    RuleCase(name: "bpf_sock protocol of a socket that may not be full", type: .cgroupSkb, attach: .cgroupInetIngress,
             source: socketField("ldxw %r2, [%r1+12]"), rejection: "only readable on a full socket"),
    RuleCase(name: "bpf_sock protocol of a full socket", type: .cgroupSkb, attach: .cgroupInetIngress,
             source: socketField("ldxw %r2, [%r1+12]", fullSocket: true)),

    // Pointers.
    RuleCase(name: "one store reached with the context and with the stack", type: .schedCls, source: """
        mov %r6, %r10
        add %r6, -8
        ldxw %r2, [%r1+0]
        jeq %r2, 0, context
        mov %r3, %r10
        add %r3, -24
        stxdw [%r6+0], %r3
        ja store
        context:
        stxdw [%r6+0], %r1
        store:
        ldxdw %r1, [%r6+0]
        stw [%r1+8], 0
        mov %r0, 0
        exit
        """, rejection: "on another path"),
    RuleCase(name: "the context compared with 0 leaves both branches", type: .schedCls, source: """
        stdw [%r10-8], 0
        mov %r2, %r10
        add %r2, -16
        jne %r1, 0, +1
        mov %r2, %r1
        stw [%r2+8], 0
        mov %r0, 0
        exit
        """, rejection: "on another path"),
    RuleCase(name: "subtraction from a stack pointer", type: .xdp, source: """
        mov %r1, %r10
        sub %r1, 8
        stdw [%r1+0], 0
        mov %r0, 2
        exit
        """, rejection: "subtraction from the stack pointer R1"),
    RuleCase(name: "a field read through a moved context pointer", type: .xdp, source: """
        add %r1, 8
        ldxw %r0, [%r1+4]
        mov %r0, 2
        exit
        """, rejection: "a context pointer moved by 8"),
    RuleCase(name: "a misaligned atomic add on a map value", type: .xdp, source: lookupWide + """

        jeq %r0, 0, +2
        mov %r1, 1
        lock add32 [%r0+6], %r1
        mov %r0, 2
        exit
        """, rejection: "must be aligned to 4", maps: [2: Maps.wide]),
    RuleCase(name: "an aligned atomic add on a map value", type: .xdp, source: lookupWide + """

        jeq %r0, 0, +2
        mov %r1, 1
        lock add32 [%r0+8], %r1
        mov %r0, 2
        exit
        """, maps: [2: Maps.wide]),

    // Packet pointers to helpers.
    RuleCase(name: "a packet pointer as bpf_map_lookup_elem's key", type: .schedCls, source: """
        ldxw %r6, [%r1+76]
        ldxw %r7, [%r1+80]
        mov %r2, %r6
        add %r2, 4
        jgt %r2, %r7, +4
        mov %r2, %r6
        lddw %r1, map_fd 3
        call 1
        mov %r0, 0
        exit
        """, maps: [3: Maps.hash]),
    RuleCase(name: "a packet pointer as bpf_skb_load_bytes' destination", type: .schedCls, source: """
        ldxw %r6, [%r1+76]
        ldxw %r7, [%r1+80]
        mov %r3, %r6
        add %r6, 8
        jgt %r6, %r7, +3
        mov %r2, 0
        mov %r4, 4
        call 26
        mov %r0, 0
        exit
        """, rejection: "bpf_skb_load_bytes may not be given a packet pointer (R3)"),

    RuleCase(name: "a tcp_sock cast of a socket used after the socket's release", type: .schedCls, source: socketLookup + """

        jne %r0, 0, +2
        mov %r0, 0
        exit
        mov %r6, %r0
        mov %r1, %r0
        call 137
        jne %r0, 0, +4
        mov %r1, %r6
        call 86
        mov %r0, 0
        exit
        mov %r7, %r0
        mov %r1, %r6
        call 86
        ldxb %r0, [%r7+0]
        mov %r0, 0
        exit
        """, rejection: "R7 is a scalar, not a pointer"),

    RuleCase(name: "a maybe-NULL socket compared with a register holding 0", type: .cgroupSkb, attach: .cgroupInetIngress, source: """
        ldxdw %r6, [%r1+168]
        jeq %r6, 0, +7
        mov %r1, %r6
        call 95
        mov %r7, %r0
        mov %r2, 0
        jeq %r7, %r2, +1
        ldxw %r0, [%r7+4]
        mov %r0, 1
        exit
        """, rejection: "R7 may be NULL"),

    // Shifts.
    RuleCase(name: "a 32-bit shift by a register holding 32", type: .xdp, source: lookup + """

        jeq %r0, 0, +5
        mov %r2, 32
        mov %r1, 1
        lsh32 %r1, %r2
        and %r1, 255
        add %r0, %r1
        mov %r0, 2
        exit
        """, rejection: nil, maps: [1: Maps.counts]),
    RuleCase(name: "a 32-bit shift by 32, then an access through the result", type: .xdp, source: lookup + """

        jeq %r0, 0, +6
        mov %r2, 32
        mov %r1, 1
        lsh32 %r1, %r2
        and %r1, 255
        add %r0, %r1
        ldxb %r3, [%r0+0]
        mov %r0, 2
        exit
        """, rejection: "outside the map 'counts' value", maps: [1: Maps.counts]),
    RuleCase(name: "a shift by the constant 64", type: .xdp, source: "mov %r1, 1\nlsh %r1, 64\nmov %r0, 2\nexit",
             rejection: "the count of a 64-bit shift must be 0...63"),

    // Functions.
    RuleCase(name: "a legacy packet load in a function without BTF", type: .socketFilter, source: """
        call local f
        mov %r0, 0
        exit
        """ + "\n" + packetByteFunction, rejection: "needs the program's BTF"),
    RuleCase(name: "a legacy packet load while holding a bpf_spin_lock", type: .schedCls,
             source: "mov %r9, %r1\n" + lookup.replacingOccurrences(of: "map_fd 1", with: "map_fd 6") + """

        jeq %r0, 0, out
        mov %r7, %r0
        mov %r1, %r7
        call 93
        mov %r6, %r9
        ldabsb 14
        mov %r1, %r7
        call 94
        out:
        mov %r0, 0
        exit
        """, rejection: "ld_abs/ld_ind while holding a bpf_spin_lock", maps: [6: Maps.locked], kernel: false),
    RuleCase(name: "a function calling itself", type: .xdp, source: """
        mov %r1, 2
        call local f
        mov %r0, 2
        exit
        f:
        jeq %r1, 0, +2
        sub %r1, 1
        call local f
        mov %r0, 0
        exit
        """, rejection: "recursive call"),
]
