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
    /// How the runtime takes one program type's context (shared with the verifier).
    public typealias Rules = RawContextRules

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
            let fields = rules.writableFields.map(\.name)
            return "\(access): \(rules.type.kernelName) programs may not write their context"
                + (fields.isEmpty ? " (only syscall programs may)" : " there (only the __u32 fields \(fields.joined(separator: ", ")))")
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
        var ctx = bytes
        let environment = RunEnvironment(maps: maps)
        let run = try ctx.withUnsafeMutableBytes { buffer in
            // Like the kernel, an empty context is a NULL pointer.
            let address = buffer.isEmpty ? 0 : UInt(bitPattern: buffer.baseAddress)
            environment.contextAddress = buffer.isEmpty ? nil : address
            var regions = buffer.isEmpty ? [] : [MemoryRegion(buffer, writable: rules.writable)]
            for field in rules.writableFields where !buffer.isEmpty && field.range.upperBound <= buffer.count {
                regions.append(MemoryRegion(start: address + UInt(field.range.lowerBound), count: field.range.count, writable: true))
            }
            return try measuredRuns(count, environment: environment, explain: { RawContext.explain($0, context: address, size: buffer.count, rules: rules) }) {
                RunRequest(r1: UInt64(address), regions: regions)
            }
        }
        return TestRunResult(run, packetOut: [], contextOut: ctx, environment: environment)
    }
}
