import BPFObject
import CBPFLinuxSupport
import Synchronization

/// The single owner of a BPF file descriptor (map, program, link, BTF). It closes the fd exactly once:
/// at `close()` or when the owner is released, whichever is first.
///
/// ```swift
/// let fd = try BPFSyscall.callReturningFD(.mapCreate, &attr)
/// print(fd.rawValue)
/// fd.close()          // optional; deinit closes otherwise
/// ```
public final class BPFFileDescriptor: Sendable, CustomStringConvertible {
    private let state: Mutex<Int32>

    /// Takes ownership of `fd`.
    public init(adopting fd: Int32) {
        state = Mutex(fd)
    }

    /// The fd, or -1 once closed.
    public var rawValue: Int32 { state.withLock { $0 } }

    /// Whether `close()` has run.
    public var isClosed: Bool { rawValue < 0 }

    /// The fd for a syscall argument; throws when already closed.
    public func checked(_ command: BPFCommand? = nil) throws(BPFError) -> UInt32 {
        let fd = rawValue
        guard fd >= 0 else { throw BPFError(command: command, errno: .EBADF, message: "the file descriptor was already closed") }
        return UInt32(fd)
    }

    /// Closes the fd now. Later calls do nothing.
    public func close() {
        let fd = state.withLock { fd -> Int32 in
            let old = fd
            fd = -1
            return old
        }
        if fd >= 0 { _ = cbpf_close(fd) }
    }

    deinit { close() }

    public var description: String { "fd \(rawValue)" }
}
