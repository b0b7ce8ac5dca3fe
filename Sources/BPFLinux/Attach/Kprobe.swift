import BPFObject

extension KernelProgram {
    /// Attaches a kprobe program to kernel function `function` (+`offset`), or a kretprobe with
    /// `returnProbe`, through the kprobe PMU (kernels built with CONFIG_KPROBE_EVENTS).
    ///
    /// ```swift
    /// let link = try program.attachKprobe(function: "do_unlinkat")
    /// ```
    public func attachKprobe(function: String, offset: UInt64 = 0, returnProbe: Bool = false, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        let kind = returnProbe ? "kretprobe" : "kprobe"
        let target = "\(kind) \(function)" + (offset == 0 ? "" : "+0x\(String(offset, radix: 16))")
        var attributes = PerfEvent.Attributes(type: try PerfEvent.dynamicPMUType("kprobe"), config: 0)
        if returnProbe { attributes.config |= try PerfEvent.returnProbeBit("kprobe") }
        attributes.config1String = function
        attributes.config2 = offset
        let perf = try PerfEvent.open(attributes, pid: -1, cpu: 0, what: target)
        return try PerfEvent.attach(self, to: perf, target: target, cookie: cookie)
    }
}
