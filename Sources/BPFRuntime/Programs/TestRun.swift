import BPFObject


extension TestRunResult {
    init(_ run: (result: ExecutionResult, nanosecondsPerRun: Double), packetOut: [UInt8], contextOut: [UInt8], environment: RunEnvironment) {
        self.init(returnValue: run.result.returnValue, packetOut: packetOut, contextOut: contextOut,
                  nanosecondsPerRun: run.nanosecondsPerRun, trace: environment.trace, instructionsExecuted: run.result.instructionsExecuted,
                  redirect: environment.redirect)
    }
}

extension LoadedProgram {
    /// Whether the runtime can test-run programs of `type` (``testRun(packet:context:repeat:)``):
    /// XDP, the skb types, and the types whose context is plain bytes.
    public static func hasTestRun(for type: ProgramType) -> Bool {
        type == .xdp || SKBAccess(type) != nil || RawContextRules(type) != nil
    }

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
        // The kernel's limits (bpf_prog_test_run_xdp, measured on Linux 6.18 with 4 KiB pages): at least
        // an Ethernet header, else EINVAL; at most 3520 bytes linear (4096 - 256 headroom - 320 tailroom)
        // plus MAX_SKB_FRAGS (17) page fragments, 73152 bytes, else ENOMEM.
        if bytes.count < 14 {
            throw LoadError(place: "program '\(spec.name)'", message: "EINVAL: the packet is \(bytes.count) bytes; BPF_PROG_TEST_RUN needs at least an Ethernet header (14 bytes) for xdp programs")
        }
        if bytes.count > XDPContext.maxPacketSize {
            throw LoadError(place: "program '\(spec.name)'", message: "ENOMEM: the packet is \(bytes.count) bytes; BPF_PROG_TEST_RUN takes at most \(XDPContext.maxPacketSize) for xdp programs (\(XDPContext.maxLinearSize) linear + 17 fragments of 4096)")
        }
        // Past 3520 bytes the kernel's program sees only the first page's 3520 as data..data_end.
        let packet = PacketBuffer(bytes, linearLimit: XDPContext.maxLinearSize)
        let ctx = UnsafeMutableRawBufferPointer.allocate(byteCount: XDPContext.size, alignment: 8)
        defer { ctx.deallocate() }
        let input = context ?? [UInt8](repeating: 0, count: XDPContext.size)
        input.withUnsafeBytes { ctx.copyMemory(from: $0) }
        let address = UInt(bitPattern: ctx.baseAddress)
        let environment = RunEnvironment(maps: maps)
        environment.packet = packet
        environment.contextAddress = address
        let run = try measuredRuns(count, environment: environment) {
            RunRequest(r1: UInt64(address), regions: [MemoryRegion(ctx, writable: false), packet.region],
                       virtualFields: XDPContext.virtualFields(context: address, packet: packet))
        }
        return TestRunResult(run, packetOut: packet.frame, contextOut: XDPContext.contextOut(Array(ctx), packet: packet), environment: environment)
    }

    /// What one run is given: r1, the regions besides the stack (the context first, then the
    /// packet), the packet legacy loads read, and the converted context fields.
    struct RunRequest {
        var r1: UInt64
        var regions: [MemoryRegion]
        var packet: UnsafeRawBufferPointer? = nil
        var virtualFields: [(address: UInt, value: UInt64)] = []
    }

    /// The part every test run shares: `count` runs over the object's maps, timed together, as
    /// BPF_PROG_TEST_RUN's repeat does them — the packet and context are prepared once and what a
    /// run writes to them stays for the next (the kernel does not restore them either); the trace is
    /// cleared before each run. The JIT runs every repetition on one prepared frame; the interpreter
    /// asks `request` again before each run (a helper may have moved the packet). Returns the last
    /// run's result and the mean time per run. A runtime failure becomes a ``LoadError``.
    func measuredRuns(_ count: Int, environment: RunEnvironment, explain: (RuntimeError) -> String? = { _ in nil },
                      _ request: () -> RunRequest) throws -> (result: ExecutionResult, nanosecondsPerRun: Double) {
        let total = max(count, 1)
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        let result = try interpret(explain: explain) { () throws(RuntimeError) -> ExecutionResult in
            if let jit {
                let r = request()
                return try jit.withSession(r1: r.r1, r2: 0, input: r.regions.first ?? .empty, second: r.regions.count > 1 ? r.regions[1] : .empty,
                                           packet: r.packet, extra: r.regions.count > 2 ? Array(r.regions.dropFirst(2)) : [],
                                           environment: environment, virtualFields: r.virtualFields) { session throws(RuntimeError) in
                    var last = ExecutionResult(returnValue: 0, instructionsExecuted: 0)
                    let start = clock.now
                    for _ in 0..<total {
                        if !environment.trace.isEmpty { environment.trace.removeAll() }
                        last = try session.run()
                    }
                    elapsed = clock.now - start
                    return last
                }
            }
            var last = ExecutionResult(returnValue: 0, instructionsExecuted: 0)
            let start = clock.now
            for _ in 0..<total {
                if !environment.trace.isEmpty { environment.trace.removeAll() }
                let r = request()
                last = try interpreter.run(r1: r.r1, regions: r.regions, packet: r.packet, environment: environment, virtualFields: r.virtualFields)
            }
            elapsed = clock.now - start
            return last
        }
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return (result, ns / Double(total))
    }

    /// Runs `run`; a runtime failure becomes a ``LoadError`` naming the program, the instruction and
    /// the C line. `explain` may give a better message for a failure the program type understands
    /// (a store to a read-only context field, say).
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
