import BPFObject

/// Names for the values programs return, by program type, for summaries of many runs (the
/// per-verdict counts of `swiftbpf run --pcap`).
///
/// ```swift
/// ProgramVerdict.name(2, for: .schedCls)      // "TC_ACT_SHOT"
/// ProgramVerdict.name(2, for: .xdp)           // "XDP_PASS"
/// ProgramVerdict.name(60, for: .socketFilter) // nil: a socket filter returns the bytes to keep
/// ```
public enum ProgramVerdict {
    /// `TC_ACT_*` (include/uapi/linux/pkt_cls.h), by the 32-bit value (TC_ACT_UNSPEC is -1).
    public static let tcNames: [UInt32: String] = [
        0xffff_ffff: "TC_ACT_UNSPEC", 0: "TC_ACT_OK", 1: "TC_ACT_RECLASSIFY", 2: "TC_ACT_SHOT", 3: "TC_ACT_PIPE",
        4: "TC_ACT_STOLEN", 5: "TC_ACT_QUEUED", 6: "TC_ACT_REPEAT", 7: "TC_ACT_REDIRECT", 8: "TC_ACT_TRAP",
    ]
    /// cgroup_skb: 1 lets the packet through, 0 drops it; egress programs may add congestion notification (2, 3).
    public static let cgroupSkbNames: [UInt32: String] = [0: "DROP", 1: "ALLOW", 2: "DROP_CN", 3: "ALLOW_CN"]
    /// `enum sk_action` for sk_skb programs.
    public static let skSkbNames: [UInt32: String] = [0: "SK_DROP", 1: "SK_PASS"]
    /// LWT programs (`enum bpf_ret_code`).
    public static let lwtNames: [UInt32: String] = [0: "BPF_OK", 2: "BPF_DROP", 7: "BPF_REDIRECT", 128: "BPF_LWT_REROUTE"]

    /// The name of `value` for `type`, or nil when the value is a plain number (a socket filter's
    /// byte count, say). The kernel takes the low 32 bits of r0.
    public static func name(_ value: UInt64, for type: ProgramType) -> String? {
        let low = UInt32(truncatingIfNeeded: value)
        switch type {
        case .xdp: return XDPContext.verdictNames[UInt64(low)]
        case .schedCls, .schedAct: return tcNames[low]
        case .cgroupSkb: return cgroupSkbNames[low]
        case .skSkb: return skSkbNames[low]
        case .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local: return lwtNames[low]
        case .socketFilter: return low == 0 ? "DROP" : nil
        default: return nil
        }
    }
}
