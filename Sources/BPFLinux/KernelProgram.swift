import BPFCore
import BPFObject
import CBPFLinuxSupport

/// A program in the kernel, loaded with `BPF_PROG_LOAD` (or opened by id or pin) and owned through its fd.
///
/// ```swift
/// let program = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("mov %r0, 2\nexit"))
/// let run = try program.testRun(data: [UInt8](repeating: 0, count: 64))
/// print(run.returnValue)   // 2 (XDP_PASS)
/// ```
public final class KernelProgram: Sendable {
    /// The program's fd.
    public let fd: BPFFileDescriptor
    public let type: ProgramType
    /// The name the kernel holds (sanitised, at most 15 bytes).
    public let name: String
    /// The verifier log of the load, when one was requested (`logLevel` > 0).
    public let verifierLog: String?

    /// Wraps an fd already open on a program.
    public init(fd: BPFFileDescriptor, type: ProgramType, name: String, verifierLog: String? = nil) {
        self.fd = fd
        self.type = type
        self.name = name
        self.verifierLog = verifierLog
    }

    /// The first verifier log buffer; it grows ×4 on ENOSPC up to `maximumLogSize`.
    public static let initialLogSize = 64 * 1024
    /// The largest verifier log buffer (the kernel's limit is UINT32_MAX >> 2; 16 MiB is plenty).
    public static let maximumLogSize = 16 * 1024 * 1024

    /// Loads `instructions` with `BPF_PROG_LOAD`.
    ///
    /// With `logLevel` 0 the first load asks for no log (the fast path); if the kernel rejects the
    /// program it is loaded again with log level 1 so the error carries the verifier's log. The log
    /// buffer starts at `logSize` (default `initialLogSize`) and grows ×4 (or to the size the kernel reports) while the
    /// kernel says ENOSPC, up to `maximumLogSize`.
    ///
    /// `lddw` instructions with src 1 (`BPF_PSEUDO_MAP_FD`) must already hold a map fd in `imm`.
    /// `attachBTFID` is the vmlinux BTF id of the hook of a tracing or LSM program (fentry, fexit,
    /// tp_btf, lsm): see `KernelBTF.functionID(named:)`.
    public static func load(type: ProgramType, instructions: [Instruction], license: String = "GPL",
                            expectedAttachType: AttachType? = nil, attachBTFID: UInt32 = 0, name: String = "", flags: UInt32 = 0,
                            logLevel: UInt32 = 0, logSize initialSize: Int = initialLogSize) throws(BPFError) -> KernelProgram {
        var request = ProgramLoadRequest(type: type, instructions: instructions)
        request.license = license
        request.expectedAttachType = expectedAttachType
        request.attachBTFID = attachBTFID
        request.name = name
        request.flags = flags
        request.logLevel = logLevel
        request.logSize = initialSize
        return try load(request)
    }

    /// The log's text up to its NUL.
    static func logText(_ log: [UInt8]) -> String {
        let end = log.firstIndex(of: 0) ?? log.count
        return String(decoding: log[..<end], as: UTF8.self)
    }

    /// The verifier's reason in its log: the last non-empty line that is not a statistic
    /// (processed instructions, verification time, stack depth) or a state dump.
    ///
    /// ```swift
    /// let reason = error.verifierLog.flatMap(KernelProgram.verifierSummary)   // "R0 !read_ok"
    /// ```
    public static func verifierSummary(_ log: String) -> String? {
        let statistics = ["processed ", "verification time", "stack depth", "cur state:", "old state:"]
        return log.split(separator: "\n").reversed()
            .first { line in !statistics.contains { line.hasPrefix($0) } && !line.trimmingCharacters(in: .whitespaces).isEmpty }
            .map(String.init)
    }

    /// Closes the program's fd now.
    public func close() { fd.close() }

    /// Runs the program in the kernel with `BPF_PROG_TEST_RUN` on `data` (a packet) and/or `context`;
    /// the result is the runtime's type (`returnValue` is the kernel's 32 bits, `instructionsExecuted` nil).
    /// `dataOutCapacity` bounds the output packet (programs may grow it); the default leaves 4 KiB room.
    public func testRun(data: [UInt8] = [], context: [UInt8]? = nil, repeat count: UInt32 = 1, flags: UInt32 = 0,
                        dataOutCapacity: Int? = nil) throws(BPFError) -> TestRunResult {
        if Self.runsOnlyOnce(type) {
            return try testRunContextOnly(data: data, context: context, repeat: count, flags: flags)
        }
        var dataOut = [UInt8](repeating: 0, count: data.isEmpty ? 0 : (dataOutCapacity ?? data.count + 4096))
        var contextOut = [UInt8](repeating: 0, count: context?.count ?? 0)
        var attr = cbpf_test_run_attr()
        attr.prog_fd = try fd.checked(.progTestRun)
        attr.repeat = count
        attr.flags = flags
        attr.data_size_in = UInt32(data.count)
        attr.data_size_out = UInt32(dataOut.count)
        attr.ctx_size_in = UInt32(context?.count ?? 0)
        attr.ctx_size_out = UInt32(contextOut.count)
        let result = data.withUnsafeBytes { dIn in
            dataOut.withUnsafeMutableBytes { dOut in
                withOptionalBytes(context) { cIn in
                    contextOut.withUnsafeMutableBytes { cOut in
                        if !data.isEmpty {
                            attr.data_in = address(dIn.baseAddress)
                            attr.data_out = address(dOut.baseAddress)
                        }
                        if context != nil {
                            attr.ctx_in = address(cIn)
                            attr.ctx_out = address(cOut.baseAddress)
                        }
                        return capture { () throws(BPFError) in try BPFSyscall.call(.progTestRun, &attr) }
                    }
                }
            }
        }
        do { try result.get() } catch {
            var failure = error
            failure.message = "program \(name) (\(type)), \(data.count)-byte data\(context.map { ", \($0.count)-byte context" } ?? ""): " + failure.message
            throw failure
        }
        // The kernel reports r0 in 32 bits and a whole number of nanoseconds per run.
        return TestRunResult(returnValue: UInt64(attr.retval),
                             packetOut: Array(dataOut.prefix(Int(attr.data_size_out))),
                             contextOut: Array(contextOut.prefix(Int(attr.ctx_size_out))),
                             nanosecondsPerRun: Double(attr.duration))
    }
}
