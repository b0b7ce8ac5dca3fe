import BPFObject
import CBPFLinuxSupport
import Synchronization

/// A program attached to a hook. It detaches when released (or at `close()`/`detach()`); a BPF link
/// (every kind but the legacy ones) can be pinned in bpffs to stay attached after the process exits.
///
/// ```swift
/// let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getpid")
/// try link.pin(at: "/sys/fs/bpf/getpid_counter")   // optional: outlive the process
/// link.close()                                       // or let it go: deinit closes it
/// ```
public final class KernelLink: Sendable, CustomStringConvertible {
    /// How the attachment is held.
    public enum Kind: String, Sendable, Hashable {
        /// A BPF link fd (`BPF_LINK_CREATE`, `BPF_RAW_TRACEPOINT_OPEN`): pinnable, updatable.
        case bpfLink = "bpf_link"
        /// A perf event with `PERF_EVENT_IOC_SET_BPF` (kernels without perf links): closing the perf fd detaches.
        case perfEvent = "perf_event"
        /// `SO_ATTACH_BPF` on a socket: detached with `SO_DETACH_BPF` on release.
        case socketFilter = "socket_filter"
        /// `BPF_PROG_ATTACH` (cgroup, flow dissector, ...): detached with `BPF_PROG_DETACH` on release.
        case programAttachment = "prog_attach"
        /// A struct_ops map registered by `BPF_MAP_UPDATE_ELEM`: unregistered on release by deleting its element.
        case structOpsMap = "struct_ops_map"
    }

    public let kind: Kind
    /// The link fd for `.bpfLink`, the perf event fd for `.perfEvent`, nil otherwise.
    public let fd: BPFFileDescriptor?
    /// What the program is attached to, e.g. `tracepoint syscalls:sys_enter_getpid`.
    public let target: String
    /// Fds kept open as long as the link (the perf event under a perf link, the program).
    private let retained: [BPFFileDescriptor]
    /// Runs once at release for the non-fd kinds.
    private let release: Mutex<(@Sendable () -> Void)?>

    /// Wraps an attachment. `release` runs once when the link is closed or released.
    public init(kind: Kind, fd: BPFFileDescriptor?, target: String, retaining retained: [BPFFileDescriptor] = [],
                release: (@Sendable () -> Void)? = nil) {
        self.kind = kind
        self.fd = fd
        self.target = target
        self.retained = retained
        self.release = Mutex(release)
    }

    /// Releases the attachment now: closes the link fd (a pinned link stays attached), or undoes the
    /// legacy attachment. Later calls do nothing.
    public func close() {
        let action = release.withLock { action -> (@Sendable () -> Void)? in
            let old = action
            action = nil
            return old
        }
        action?()
        fd?.close()
        for other in retained { other.close() }
    }

    /// Detaches the program even if the link is pinned or held elsewhere (`BPF_LINK_DETACH`), then closes.
    /// Supported by XDP, tcx, cgroup, netns, netfilter and struct_ops links; others throw EOPNOTSUPP.
    public func detach() throws(BPFError) {
        if kind == .bpfLink, let fd {
            var attr = cbpf_link_detach_attr()
            attr.link_fd = try fd.checked(.linkDetach)
            do { try BPFSyscall.call(.linkDetach, &attr) } catch {
                var failure = error
                if error.errno == .EOPNOTSUPP {
                    failure.message = "this kind of link cannot be force-detached (raw tracepoint, perf and tracing links); close() drops this reference and unpinning drops a pin"
                }
                failure.message = "link \(target): " + failure.message
                throw failure
            }
        }
        close()
    }

    deinit { close() }

    /// Pins the link at `path` in bpffs: it stays attached after this process exits, until the pin is removed.
    public func pin(at path: String) throws(BPFError) {
        guard kind == .bpfLink, let fd else {
            throw BPFError.invalidArgument("link \(target): a \(kind.rawValue) attachment is not a BPF link and cannot be pinned", command: .objPin)
        }
        try BPFFileSystem.pin(fd, at: path)
    }

    /// Replaces the link's program (`BPF_LINK_UPDATE`); with `expected`, only if that is the current program.
    public func update(program: KernelProgram, expected: KernelProgram? = nil) throws(BPFError) {
        guard kind == .bpfLink, let fd else {
            throw BPFError.invalidArgument("link \(target): a \(kind.rawValue) attachment cannot be updated", command: .linkUpdate)
        }
        var attr = cbpf_link_update_attr()
        attr.link_fd = try fd.checked(.linkUpdate)
        attr.new_prog_fd = try program.fd.checked(.linkUpdate)
        if let expected {
            attr.old_prog_fd = try expected.fd.checked(.linkUpdate)
            attr.flags = 1 << 2   // BPF_F_REPLACE
        }
        do { try BPFSyscall.call(.linkUpdate, &attr) } catch {
            var failure = error
            if error.errno == .EINVAL { failure.message = "the new program's type or attach type does not match the link" }
            failure.message = "link \(target): " + failure.message
            throw failure
        }
    }

    /// Opens the link pinned at `path`.
    public static func pinned(at path: String) throws(BPFError) -> KernelLink {
        KernelLink(kind: .bpfLink, fd: try BPFFileSystem.open(path), target: path)
    }

    /// Opens the link with kernel id `id` (`BPF_LINK_GET_FD_BY_ID`).
    public static func open(id: UInt32) throws(BPFError) -> KernelLink {
        KernelLink(kind: .bpfLink, fd: try KernelObjects.fd(.linkGetFDByID, id: id), target: "link \(id)")
    }

    public var description: String { "\(kind.rawValue) \(target)" }
}

extension BPFFileSystem {
    /// Removes the pin at `path` (the object lives on while something else holds it).
    public static func unpin(_ path: String) throws(BPFError) {
        let result = path.withCString { cbpf_unlink($0) }
        guard result == 0 else {
            throw BPFError(command: nil, errno: Errno(rawValue: -result), message: "cannot remove the pin \(path)")
        }
    }
}

extension BPFError {
    /// A failed system call other than bpf(2) (perf_event_open, ioctl, setsockopt, mount, ...).
    static func system(_ call: String, errno: Int32, hint: String? = nil) -> BPFError {
        let code = Errno(rawValue: errno)
        var message = "\(call) failed"
        if let hint { message += ": \(hint)" }
        #if !os(Linux)
        if code == .ENOSYS { return BPFError.unsupported(call) }
        #endif
        return BPFError(command: nil, errno: code, message: message)
    }
}

/// Statistics the kernel collects about programs (`BPF_ENABLE_STATS`).
///
/// ```swift
/// let stats = try KernelStatistics.enableRunTime()   // on while `stats` lives
/// print(try program.info().runCount)
/// ```
public enum KernelStatistics {
    /// Turns on run-time and run-count accounting (`BPF_STATS_RUN_TIME`) for every program, as long
    /// as the returned fd is open.
    public static func enableRunTime() throws(BPFError) -> BPFFileDescriptor {
        var attr = cbpf_enable_stats_attr()
        attr.type = 0   // BPF_STATS_RUN_TIME
        return try BPFSyscall.callReturningFD(.enableStats, &attr)
    }
}
