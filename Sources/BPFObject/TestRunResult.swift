/// The outcome of a test run (`BPF_PROG_TEST_RUN` in the kernel, a run of the Swift runtime):
/// one type for both backends.
///
/// ```swift
/// let result = try program.testRun(packet: frame)
/// print(result.returnValue, result.packetOut.count, result.nanosecondsPerRun)
/// ```
public struct TestRunResult: Sendable, Hashable {
    /// The program's return value (r0).
    public var returnValue: UInt64
    /// The packet as the program left it.
    public var packetOut: [UInt8]
    /// The context as the program left it, in the kernel's UAPI layout.
    public var contextOut: [UInt8]
    /// Mean nanoseconds per run.
    public var nanosecondsPerRun: Double
    /// Lines written by `bpf_trace_printk` (of the last run).
    public var trace: [String]
    /// Instructions the last run executed (the Swift runtime's count; nil from the kernel).
    public var instructionsExecuted: UInt64?
    /// Where the program asked the packet to go (`bpf_redirect`, `bpf_redirect_map`, `bpf_clone_redirect`), last run.
    public var redirect: Redirect? = nil

    public init(returnValue: UInt64, packetOut: [UInt8], contextOut: [UInt8], nanosecondsPerRun: Double, trace: [String] = [],
                instructionsExecuted: UInt64? = nil, redirect: Redirect? = nil) {
        self.returnValue = returnValue
        self.packetOut = packetOut
        self.contextOut = contextOut
        self.nanosecondsPerRun = nanosecondsPerRun
        self.trace = trace
        self.instructionsExecuted = instructionsExecuted
        self.redirect = redirect
    }
}

/// Where a program asked its packet to go: `bpf_redirect` (an interface), `bpf_redirect_map` (a
/// devmap, cpumap or xskmap entry) or `bpf_clone_redirect` (a copy). A test run reports it beside
/// the verdict; nothing is sent (the kernel's test run does not send either).
public struct Redirect: Sendable, Hashable, CustomStringConvertible {
    /// The helper that asked: `bpf_redirect`, `bpf_redirect_map`, `bpf_clone_redirect`.
    public var helper: String
    /// The interface index (`bpf_redirect`, `bpf_clone_redirect`, a devmap entry's value).
    public var ifindex: UInt32?
    /// The map and key (`bpf_redirect_map`).
    public var map: String?
    public var key: UInt32?
    public var flags: UInt64

    public init(helper: String, ifindex: UInt32? = nil, map: String? = nil, key: UInt32? = nil, flags: UInt64 = 0) {
        self.helper = helper
        self.ifindex = ifindex
        self.map = map
        self.key = key
        self.flags = flags
    }

    public var description: String {
        var text = helper
        if let map, let key { text += " to \(map)[\(key)]" }
        if let ifindex { text += (map == nil ? " to" : ",") + " ifindex \(ifindex)" }
        if flags & 1 != 0 && helper != "bpf_redirect_map" { text += " (ingress)" }
        return text
    }
}

