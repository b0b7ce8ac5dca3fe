import BPFObject

/// The outcome of a test run, as BPF_PROG_TEST_RUN reports it.
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
    /// Instructions executed by the last run.
    public var instructionsExecuted: UInt64
}

extension LoadedProgram {
    /// Runs the program on a packet (XDP programs get a `struct xdp_md` context), `repeat` times.
    ///
    /// - Parameter context: an optional `struct xdp_md` (24 bytes) for `ingress_ifindex` and
    ///   `rx_queue_index`; its packet pointer fields are ignored.
    public func testRun(packet: [UInt8], context: [UInt8]? = nil, repeat count: Int = 1) throws -> TestRunResult {
        switch spec.type {
        case .xdp:
            return try runXDP(packet: packet, context: context, repeat: max(count, 1))
        default:
            throw LoadError(place: "program '\(spec.name)'", message: "test runs of \(spec.type) programs are not supported by the Swift runtime yet")
        }
    }

    private func runXDP(packet bytes: [UInt8], context: [UInt8]?, repeat count: Int) throws -> TestRunResult {
        if let context, context.count != XDPContext.size {
            throw LoadError(place: "program '\(spec.name)'", message: "the XDP context must be \(XDPContext.size) bytes (struct xdp_md), found \(context.count)")
        }
        var last: (ExecutionResult, PacketBuffer, [UInt8], RunEnvironment)?
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<count {
            let packet = PacketBuffer(bytes)
            var ctx = context ?? [UInt8](repeating: 0, count: XDPContext.size)
            let environment = RunEnvironment(maps: maps)
            environment.packet = packet
            let result = try ctx.withUnsafeMutableBytes { buffer -> ExecutionResult in
                let address = UInt(bitPattern: buffer.baseAddress)
                environment.contextAddress = address
                do {
                    return try interpreter.run(
                        r1: UInt64(address), regions: [MemoryRegion(buffer, writable: false), packet.region],
                        environment: environment, virtualFields: XDPContext.virtualFields(context: address, packet: packet))
                } catch {
                    throw LoadError(place: "program '\(spec.name)'", message: (error as? RuntimeError).map(describe) ?? "\(error)")
                }
            }
            last = (result, packet, ctx, environment)
        }
        let elapsed = clock.now - start
        let (result, packet, ctx, environment) = last!
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return TestRunResult(returnValue: result.returnValue, packetOut: packet.bytes,
                             contextOut: XDPContext.contextOut(ctx, packet: packet), nanosecondsPerRun: ns / Double(count),
                             trace: environment.trace, instructionsExecuted: result.instructionsExecuted)
    }
}
