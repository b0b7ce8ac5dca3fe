import BPFObject

extension KernelProgram {
    /// Attaches a `sched_cls` program to `interface` with a tcx link (`BPF_LINK_CREATE`,
    /// `BPF_TCX_INGRESS`/`EGRESS`, kernels 6.6 and later). Several tcx programs chain in order; the
    /// new one runs after those already there.
    ///
    /// ```swift
    /// let link = try program.attachTCX(to: NetworkInterface(named: "eth0"), direction: .ingress)
    /// ```
    public func attachTCX(to interface: NetworkInterface, direction: TCDirection) throws(BPFError) -> KernelLink {
        do {
            return try linkCreate(targetFD: interface.index, attachType: direction.tcxAttachType, target: "tcx \(direction.rawValue) \(interface)")
        } catch where error.errno == .EINVAL {
            var failure = error
            failure.message += " (tcx needs Linux 6.6+ and a program loaded as sched_cls with expected attach type tcx_\(direction.rawValue))"
            throw failure
        }
    }
}
