import BPFObject

extension KernelProgram {
    /// Attaches a perf_event program to a sampling event on every CPU in `cpus` (default: all online
    /// CPUs): `frequency` samples a second of the software CPU clock, or `event` (type, config).
    /// One link per CPU.
    ///
    /// ```swift
    /// let links = try program.attachPerfEvent(frequency: 99)
    /// ```
    public func attachPerfEvent(frequency: UInt64, event: (type: UInt32, config: UInt64) = (PerfEvent.typeSoftware, PerfEvent.softwareCPUClock),
                                cpus: [Int]? = nil, pid: Int32 = -1) throws(BPFError) -> [KernelLink] {
        guard frequency > 0 else { throw BPFError.invalidArgument("perf_event sampling: the frequency must be positive") }
        return try attachPerfEvent(event: event, cpus: cpus, pid: pid, rate: "at \(frequency) Hz") { $0.sampleFrequency = frequency }
    }

    /// One link per CPU of `cpus` (all online CPUs when nil) to event `event`, set up by `configure`.
    private func attachPerfEvent(event: (type: UInt32, config: UInt64), cpus: [Int]?, pid: Int32, rate: String,
                                 configure: (inout PerfEvent.Attributes) -> Void) throws(BPFError) -> [KernelLink] {
        var links: [KernelLink] = []
        let chosen: [Int]
        if let cpus { chosen = cpus } else { chosen = try OnlineCPUs.list() }
        for cpu in chosen {
            var attributes = PerfEvent.Attributes(type: event.type, config: event.config)
            configure(&attributes)
            let target = "perf_event type \(event.type) config \(event.config) \(rate) on cpu \(cpu)"
            let perf = try PerfEvent.open(attributes, pid: pid, cpu: Int32(cpu), what: target)
            links.append(try PerfEvent.attach(self, to: perf, target: target))
        }
        return links
    }
}

extension KernelProgram {
    /// Attaches a perf_event program to a counting event on every CPU in `cpus` (default: all
    /// online CPUs) that runs it once every `period` events (`event`: type, config — a software
    /// event such as page faults or context switches). One link per CPU.
    ///
    /// ```swift
    /// let links = try program.attachPerfEvent(period: 100, event: (PerfEvent.typeSoftware, 2))   // every 100 page faults
    /// ```
    public func attachPerfEvent(period: UInt64, event: (type: UInt32, config: UInt64), cpus: [Int]? = nil,
                                pid: Int32 = -1) throws(BPFError) -> [KernelLink] {
        guard period > 0 else { throw BPFError.invalidArgument("perf_event sampling: the period must be positive") }
        return try attachPerfEvent(event: event, cpus: cpus, pid: pid, rate: "every \(period) events") { $0.samplePeriod = period }
    }
}
