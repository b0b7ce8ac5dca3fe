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

/// What one run of a test run left behind, before timing is added.
struct SingleRun {
    var result: ExecutionResult
    var packetOut: [UInt8]
    var contextOut: [UInt8]
    var environment: RunEnvironment
}

extension LoadedProgram {
    /// Runs the program on a packet, `repeat` times, as BPF_PROG_TEST_RUN does for its type: XDP
    /// programs get a `struct xdp_md`, socket filter, TC, cgroup_skb, LWT and sk_skb programs a
    /// `struct __sk_buff` (see ``SKBContext``), and programs without a packet (tracepoints, kprobes,
    /// tracing, syscall, ...) only the context bytes (see ``RawContext``; `packet` must be empty).
    ///
    /// - Parameter context: the context in the kernel's UAPI layout, as `ctx_in` (optional): for
    ///   XDP a `struct xdp_md` (24 bytes) for `ingress_ifindex` and `rx_queue_index`, its packet
    ///   pointer fields ignored; for skb programs the `struct __sk_buff` fields the kernel accepts.
    public func testRun(packet: [UInt8], context: [UInt8]? = nil, repeat count: Int = 1) throws -> TestRunResult {
        switch spec.type {
        case .xdp:
            return try runXDP(packet: packet, context: context, repeat: max(count, 1))
        case _ where SKBAccess(spec.type) != nil:
            return try runSKB(packet: packet, context: context, repeat: max(count, 1))
        case _ where RawContext.Rules(spec.type) != nil:
            return try runRawContext(packet: packet, context: context, repeat: max(count, 1))
        default:
            throw LoadError(place: "program '\(spec.name)'", message: "test runs of \(spec.type) programs are not supported by the Swift runtime yet")
        }
    }

    private func runXDP(packet bytes: [UInt8], context: [UInt8]?, repeat count: Int) throws -> TestRunResult {
        if let context, context.count != XDPContext.size {
            throw LoadError(place: "program '\(spec.name)'", message: "the XDP context must be \(XDPContext.size) bytes (struct xdp_md), found \(context.count)")
        }
        // One packet buffer and context buffer serve every repetition; each run starts from the input again.
        let packet = PacketBuffer(bytes)
        let ctx = UnsafeMutableRawBufferPointer.allocate(byteCount: XDPContext.size, alignment: 8)
        defer { ctx.deallocate() }
        let input = context ?? [UInt8](repeating: 0, count: XDPContext.size)
        let address = UInt(bitPattern: ctx.baseAddress)
        let fields = XDPContext.virtualFields(context: address, packet: packet)
        return try measuredRuns(count) { environment, last in
            packet.reset(bytes)
            input.withUnsafeBytes { ctx.copyMemory(from: $0) }
            environment.packet = packet
            environment.contextAddress = address
            let result = try interpret(r1: UInt64(address), input: MemoryRegion(ctx, writable: false), second: packet.region,
                                       environment: environment, virtualFields: fields)
            guard last else { return nil }
            return SingleRun(result: result, packetOut: packet.bytes, contextOut: XDPContext.contextOut(Array(ctx), packet: packet),
                             environment: environment)
        }
    }

    /// The part every test run shares: `count` runs on one ``RunEnvironment`` over the object's
    /// maps (its trace cleared before each run), timed together; the last run's outcome is reported.
    /// `body` gets whether the run is the last one and may return nil for the others.
    func measuredRuns(_ count: Int, _ body: (RunEnvironment, _ last: Bool) throws -> SingleRun?) throws -> TestRunResult {
        var last: SingleRun?
        let environment = RunEnvironment(maps: maps)
        let total = max(count, 1)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<total {
            environment.trace.removeAll()
            last = try body(environment, i == total - 1)
        }
        let elapsed = clock.now - start
        let run = last!
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return TestRunResult(returnValue: run.result.returnValue, packetOut: run.packetOut, contextOut: run.contextOut,
                             nanosecondsPerRun: ns / Double(max(count, 1)), trace: run.environment.trace,
                             instructionsExecuted: run.result.instructionsExecuted)
    }

    /// Runs the interpreter once; a runtime failure becomes a ``LoadError`` naming the program, the
    /// instruction and the C line. `explain` may give a better message for a failure the program
    /// type understands (a store to a read-only context field, say).
    func interpret(r1: UInt64, regions: [MemoryRegion], packet: UnsafeRawBufferPointer? = nil, environment: RunEnvironment,
                   virtualFields: [(address: UInt, value: UInt64)] = [],
                   explain: (RuntimeError) -> String? = { _ in nil }) throws -> ExecutionResult {
        try interpret(explain: explain) { () throws(RuntimeError) in
            if let jit { return try jit.run(r1: r1, regions: regions, packet: packet, environment: environment, virtualFields: virtualFields) }
            return try interpreter.run(r1: r1, regions: regions, packet: packet, environment: environment, virtualFields: virtualFields)
        }
    }

    /// The same with an input and a packet region and no arrays to build.
    func interpret(r1: UInt64, input: MemoryRegion, second: MemoryRegion, environment: RunEnvironment,
                   virtualFields: [(address: UInt, value: UInt64)]) throws -> ExecutionResult {
        try interpret(explain: { _ in nil }) { () throws(RuntimeError) in
            if let jit { return try jit.run(r1: r1, input: input, second: second, environment: environment, virtualFields: virtualFields) }
            return try interpreter.run(r1: r1, input: input, second: second, environment: environment, virtualFields: virtualFields)
        }
    }

    private func interpret(explain: (RuntimeError) -> String?, _ run: () throws(RuntimeError) -> ExecutionResult) throws -> ExecutionResult {
        do {
            return try run()
        } catch {
            guard let message = explain(error) else {
                throw LoadError(place: "program '\(spec.name)'", message: describe(error))
            }
            var text = "instruction \(error.pc ?? 0): \(message)"
            if let pc = error.pc, let line = spec.sourceLine(at: pc) { text += " [\(line)]" }
            throw LoadError(place: "program '\(spec.name)'", message: text)
        }
    }
}
