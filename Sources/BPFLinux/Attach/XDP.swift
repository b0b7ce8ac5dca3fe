import BPFObject

/// How an XDP program runs on an interface (`XDP_FLAGS_*_MODE`).
public enum XDPMode: String, Sendable, Hashable, CaseIterable {
    /// Let the kernel choose: the driver's native XDP if it has one, else generic.
    case automatic = "auto"
    /// Generic (SKB) mode: works on every interface, after the skb is built.
    case generic = "skb"
    /// Native driver mode.
    case driver = "drv"
    /// Offloaded to the NIC.
    case hardware = "hw"

    var flags: UInt32 {
        switch self {
        case .automatic: 0
        case .generic: 1 << 1
        case .driver: 1 << 2
        case .hardware: 1 << 3
        }
    }
}

extension KernelProgram {
    /// Attaches an XDP program to `interface` with an XDP link (`BPF_LINK_CREATE`, `BPF_XDP`).
    ///
    /// ```swift
    /// let link = try program.attachXDP(to: NetworkInterface(named: "veth0"), mode: .generic)
    /// ```
    public func attachXDP(to interface: NetworkInterface, mode: XDPMode = .automatic) throws(BPFError) -> KernelLink {
        try linkCreate(targetFD: interface.index, attachType: .xdp, flags: mode.flags, target: "xdp \(interface) mode \(mode.rawValue)")
    }
}
