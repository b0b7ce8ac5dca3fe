import BPFObject

/// The contexts of program types without a packet — tracepoints, raw tracepoints, kprobes
/// (`struct pt_regs`), perf events, tracing (fentry/fexit/tp_btf/iter), LSM, syscall and the other
/// socket-less and cgroup hooks: the program gets r1 pointing at a copy of the caller's context
/// bytes, with the size rules the kernel applies, read-only except for syscall programs.
///
/// ```swift
/// var record = [UInt8](repeating: 0, count: 48)
/// record[32] = 0x41                                   // ctx->flags of sys_enter_openat
/// let result = try loaded.program(named: "tp_openat")!.testRun(context: record)
/// ```
public enum RawContext {
    /// How the runtime takes one program type's context.
    public struct Rules: Sendable, Hashable {
        public var type: ProgramType
        /// What the context holds, for messages.
        public var what: String
        /// The most bytes a caller may give.
        public var maxSize: Int
        /// For a fixed struct: shorter contexts are zero-extended to this size.
        public var fixedSize: Int?
        /// Whether the program may store to its context (only syscall programs may, as in the kernel).
        public var writable: Bool

        /// The rules for `type`, or nil when it has a packet (XDP, skb programs) or is not run.
        public init?(_ type: ProgramType) {
            self.type = type
            fixedSize = nil
            writable = false
            switch type {
            case .tracepoint:
                (what, maxSize) = ("the tracepoint's record (the common fields, then the event's)", 4096)
            case .rawTracepoint, .rawTracepointWritable:
                // bpf_prog_test_run_raw_tp: at most MAX_BPF_FUNC_ARGS u64 arguments.
                (what, maxSize) = ("the tracepoint's arguments, __u64 args[]", 12 * 8)
            case .tracing, .lsm:
                (what, maxSize) = ("the function's arguments as __u64 (and, for fexit, its return value after them)", 13 * 8)
            case .kprobe:
                (what, maxSize, fixedSize) = ("struct pt_regs (x86-64, 168 bytes)", 168, 168)
            case .perfEvent:
                (what, maxSize, fixedSize) = ("struct bpf_perf_event_data (x86-64 pt_regs, sample_period, addr: 184 bytes)", 184, 184)
            case .syscall:
                // bpf_prog_test_run_syscall: up to U16_MAX bytes, read and written by the program.
                (what, maxSize, writable) = ("the caller's argument bytes", 65535, true)
            case .cgroupSock, .sockOps, .cgroupSockAddr, .cgroupSysctl, .cgroupSockopt, .cgroupDevice, .skLookup,
                 .lircMode2, .structOps, .ext:
                (what, maxSize) = ("the context's bytes as given (its fields are not modelled; pointers in it lead nowhere)", 4096)
            default:
                return nil
            }
        }
    }

    /// A message for a runtime failure about the context: a store to a read-only context, or a
    /// load past the bytes the caller gave.
    static func explain(_ error: RuntimeError, context: UInt, size: Int, rules: Rules) -> String? {
        guard case let .outOfBounds(_, address, accessSize, write) = error else { return nil }
        let base = UInt64(context)
        guard address >= base, address - base < UInt64(max(rules.maxSize, size, 1)) else { return nil }
        let offset = address - base
        let access = "\(write ? "store" : "load") of \(accessSize) bytes at context offset \(offset)"
        if size == 0 {
            return "\(access), but the run has no context: \(rules.type.kernelName) programs get \(rules.what) (give it as ctx_in, --ctx-file)"
        }
        if write && offset + UInt64(accessSize) <= UInt64(size) && !rules.writable {
            return "\(access): \(rules.type.kernelName) programs may not write their context (only syscall programs may)"
        }
        return "\(access), past the end of the \(size)-byte context (\(rules.type.kernelName) programs get \(rules.what))"
    }
}

extension LoadedProgram {
    /// Runs a program without a packet on `context` (empty when nil), as the kernel's test runs of
    /// raw tracepoints and syscall programs do; `repeat` times, like the packet runs.
    public func testRun(context: [UInt8]?, repeat count: Int = 1) throws -> TestRunResult {
        try testRun(packet: [], context: context, repeat: count)
    }

    func runRawContext(packet: [UInt8], context: [UInt8]?, repeat count: Int) throws -> TestRunResult {
        let rules = RawContext.Rules(spec.type)!
        let place = "program '\(spec.name)'"
        guard packet.isEmpty else {
            throw LoadError(place: place, message: "EINVAL: \(spec.type.kernelName) programs take no packet; give only the context (\(rules.what))")
        }
        var bytes = context ?? []
        guard bytes.count <= rules.maxSize else {
            throw LoadError(place: place, message: "EINVAL: the context is \(bytes.count) bytes; \(spec.type.kernelName) programs take at most \(rules.maxSize) (\(rules.what))")
        }
        if let fixed = rules.fixedSize { bytes += [UInt8](repeating: 0, count: fixed - bytes.count) }
        return try measuredRuns(count) { environment, _ in
            var ctx = bytes
            let result = try ctx.withUnsafeMutableBytes { buffer -> ExecutionResult in
                // Like the kernel, an empty context is a NULL pointer.
                let address = buffer.isEmpty ? 0 : UInt(bitPattern: buffer.baseAddress)
                environment.contextAddress = buffer.isEmpty ? nil : address
                let regions = buffer.isEmpty ? [] : [MemoryRegion(buffer, writable: rules.writable)]
                return try interpret(r1: UInt64(address), regions: regions, environment: environment) { error in
                    RawContext.explain(error, context: address, size: buffer.count, rules: rules)
                }
            }
            return SingleRun(result: result, packetOut: [], contextOut: ctx, environment: environment)
        }
    }
}
