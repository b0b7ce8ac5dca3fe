import BPFObject
import CBPFLinuxSupport

extension KernelProgram {
    /// Whether `BPF_PROG_TEST_RUN` runs this type once per call, on a context alone: raw tracepoint,
    /// tracing and syscall programs refuse `repeat`, output buffers and data (the kernel copies a
    /// syscall program's changed context back into `ctx_in`).
    static func runsOnlyOnce(_ type: ProgramType) -> Bool {
        type == .rawTracepoint || type == .rawTracepointWritable || type == .tracing || type == .syscall
    }

    /// A test run of a context-only type: one `BPF_PROG_TEST_RUN` per repetition, with no
    /// `repeat`, `ctx_out` or data; the duration is the mean wall-clock time per call.
    func testRunContextOnly(data: [UInt8], context: [UInt8]?, repeat count: UInt32, flags: UInt32) throws(BPFError) -> TestRunResult {
        guard data.isEmpty else {
            throw BPFError.invalidArgument("program \(name) (\(type)): this type takes a context, not data", command: .progTestRun)
        }
        var result = TestRunResult(returnValue: 0, packetOut: [], contextOut: [], nanosecondsPerRun: 0)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<max(count, 1) {
            var ctx = context ?? []
            var attr = cbpf_test_run_attr()
            attr.prog_fd = try fd.checked(.progTestRun)
            attr.flags = flags
            attr.ctx_size_in = UInt32(ctx.count)
            let outcome = ctx.withUnsafeMutableBytes { raw in
                if context != nil && !raw.isEmpty { attr.ctx_in = address(raw.baseAddress) }
                return capture { () throws(BPFError) in try BPFSyscall.call(.progTestRun, &attr) }
            }
            do { try outcome.get() } catch {
                var failure = error
                failure.message = "program \(name) (\(type)), \(ctx.count)-byte context: " + failure.message
                throw failure
            }
            result.returnValue = UInt64(attr.retval)
            result.contextOut = type == .syscall ? ctx : []
        }
        let elapsed = clock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        result.nanosecondsPerRun = ns / Double(max(count, 1))
        return result
    }
}
