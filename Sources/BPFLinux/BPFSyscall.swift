import CBPFLinuxSupport

/// The raw `bpf(2)` call, typed: a command and its attr struct in, a result or a `BPFError` out.
///
/// ```swift
/// var attr = cbpf_get_id_attr()
/// let result = try BPFSyscall.call(.progGetNextID, &attr)
/// ```
public enum BPFSyscall {
    /// A stand-in for the kernel: given the command and the attr's bytes (which it may write, as the
    /// kernel writes fds, ids and info back), it returns what `bpf(2)` would (an fd or 0, or -errno).
    /// A handler returning fds must return real ones it owns (e.g. of `/dev/null`): they are closed
    /// as the kernel's would be.
    public typealias Handler = @Sendable (_ command: BPFCommand, _ attr: UnsafeMutableRawBufferPointer) -> Int64

    /// The handler of this task's `bpf(2)` calls instead of the kernel, when set: how the loader's
    /// plan (map creation order, relocations, CO-RE) is tested without root.
    ///
    /// ```swift
    /// try BPFSyscall.$handler.withValue({ command, attr in record(command, attr); return fake() }) {
    ///     _ = try KernelObject(object)
    /// }
    /// ```
    @TaskLocal public static var handler: Handler?

    /// Calls `bpf(command, &attr, sizeof(attr))` and returns its non-negative result (an fd or 0).
    /// On failure throws a `BPFError` naming the command and errno (ENOSYS off Linux).
    @discardableResult
    public static func call<Attr>(_ command: BPFCommand, _ attr: inout Attr) throws(BPFError) -> Int32 {
        let handler = handler
        let result = withUnsafeMutableBytes(of: &attr) { raw in
            if let handler { return handler(command, raw) }
            return cbpf_bpf(command.rawValue, raw.baseAddress, UInt32(raw.count))
        }
        if result >= 0 { return Int32(truncatingIfNeeded: result) }
        let errno = Errno(rawValue: Int32(truncatingIfNeeded: -result))
        #if !os(Linux)
        if errno == .ENOSYS { throw BPFError.unsupported(command.kernelName) }
        #endif
        throw BPFError(command: command, errno: errno)
    }

    /// Calls `command` and wraps the fd it returns.
    public static func callReturningFD<Attr>(_ command: BPFCommand, _ attr: inout Attr) throws(BPFError) -> BPFFileDescriptor {
        BPFFileDescriptor(adopting: try call(command, &attr))
    }

    /// Whether this process may use bpf(): creates (and closes) a one-entry array map. Returns nil when
    /// it can, or the error that says why not.
    public static func probe() -> BPFError? {
        var attr = cbpf_map_create_attr()
        attr.map_type = 2   // array
        attr.key_size = 4
        attr.value_size = 4
        attr.max_entries = 1
        do {
            _ = try callReturningFD(.mapCreate, &attr)
            return nil
        } catch {
            return error
        }
    }
}

/// The address of a buffer as the kernel's `__aligned_u64` pointer field.
@inline(__always)
func address(_ pointer: UnsafeRawPointer?) -> UInt64 {
    UInt64(UInt(bitPattern: pointer))
}
