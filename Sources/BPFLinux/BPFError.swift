/// A failed `bpf(2)` call (or a kernel-backend operation around one): which command, the errno, and a
/// hint at the usual cause. A rejected program carries the verifier's log.
///
/// ```swift
/// do { _ = try KernelMap(spec) }
/// catch let error as BPFError where error.errno == .EPERM { print(error) }
/// // BPF_MAP_CREATE failed: EPERM (Operation not permitted): needs root or CAP_BPF ...
/// ```
public struct BPFError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The command that failed; nil for failures outside a syscall (bad arguments, unsupported platform).
    public var command: BPFCommand?
    /// The errno, when the kernel returned one.
    public var errno: Errno?
    /// What went wrong, in a short sentence.
    public var message: String
    /// The verifier log, when a program load failed and the kernel wrote one.
    public var verifierLog: String?

    public init(command: BPFCommand?, errno: Errno?, message: String, verifierLog: String? = nil) {
        self.command = command
        self.errno = errno
        self.message = message
        self.verifierLog = verifierLog
    }

    /// The error for `command` failing with `errno`, with the usual hint.
    public init(command: BPFCommand, errno: Errno, verifierLog: String? = nil) {
        self.init(command: command, errno: errno, message: Self.hint(command: command, errno: errno), verifierLog: verifierLog)
    }

    /// Raised where the platform has no `bpf(2)` (anything but Linux).
    public static func unsupported(_ what: String) -> BPFError {
        BPFError(command: nil, errno: .ENOSYS, message: "\(what): the kernel backend needs Linux (bpf(2))")
    }

    /// A bad argument caught before the kernel was asked.
    public static func invalidArgument(_ message: String, command: BPFCommand? = nil) -> BPFError {
        BPFError(command: command, errno: nil, message: message)
    }

    public var description: String {
        var text = ""
        if let command { text += "\(command.kernelName) failed: " }
        if let errno { text += "\(errno.name) (\(errno.explanation)): " }
        text += message
        if let verifierLog, !verifierLog.isEmpty { text += "\nverifier log:\n" + verifierLog }
        return text
    }

    /// A hint for the usual cause of `errno` from `command`.
    static func hint(command: BPFCommand, errno: Errno) -> String {
        switch errno {
        case .EPERM:
            return "needs root or CAP_BPF (and CAP_PERFMON/CAP_NET_ADMIN for some program types); also check kernel.unprivileged_bpf_disabled and lockdown"
        case .E2BIG:
            switch command {
            case .mapUpdateElem, .mapUpdateBatch: return "the map is full (max_entries reached)"
            case .progLoad: return "the program is too large, or the attr has non-zero bytes this kernel does not know"
            default: return "an argument is too large, or the attr has non-zero bytes this kernel does not know"
            }
        case .EINVAL:
            switch command {
            case .mapCreate: return "the kernel refused the map definition (type, key/value size, max_entries or flags)"
            case .progLoad: return "the kernel refused the program (bad instruction, program type, attach type or license)"
            case .progTestRun: return "this program type does not support test runs with these inputs"
            default: return "invalid argument (flags, sizes or the object's type)"
            }
        case .ENOENT:
            switch command {
            case .mapLookupElem, .mapDeleteElem, .mapLookupAndDeleteElem, .mapGetNextKey: return "no such key (or the map is empty)"
            case .mapLookupBatch, .mapLookupAndDeleteBatch: return "no more entries"
            case .progGetNextID, .mapGetNextID, .linkGetNextID, .btfGetNextID: return "no more ids"
            case .objGet: return "no such pinned object"
            default: return "no such object"
            }
        case .EEXIST: return "the key exists (BPF_NOEXIST), or the pin path is taken"
        case .EACCES: return "the verifier rejected the program (see the log)"
        case .ENOSPC: return "the buffer is too small (the verifier log or an output buffer)"
        case .EBADF: return "not a valid BPF file descriptor"
        case .EFAULT: return "the kernel could not read or write a buffer we passed"
        case .ENOTSUPP, .EOPNOTSUPP: return "not supported by this kernel or for this map/program type"
        case .ENOMEM: return "out of memory (or RLIMIT_MEMLOCK / memcg limit)"
        case .EBUSY: return "the object is busy (for example frozen or in use)"
        case .ENOSYS: return "this kernel has no bpf(2)"
        default: return "the kernel returned \(errno.name)"
        }
    }
}

/// An errno value with its symbolic name.
///
/// ```swift
/// print(Errno.ENOENT.name, Errno(rawValue: 7).name)   // ENOENT E2BIG
/// ```
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let EPERM = Errno(rawValue: 1)
    public static let ENOENT = Errno(rawValue: 2)
    public static let ESRCH = Errno(rawValue: 3)
    public static let EINTR = Errno(rawValue: 4)
    public static let E2BIG = Errno(rawValue: 7)
    public static let EBADF = Errno(rawValue: 9)
    public static let EAGAIN = Errno(rawValue: 11)
    public static let ENOMEM = Errno(rawValue: 12)
    public static let EACCES = Errno(rawValue: 13)
    public static let EFAULT = Errno(rawValue: 14)
    public static let EBUSY = Errno(rawValue: 16)
    public static let EEXIST = Errno(rawValue: 17)
    public static let ENODEV = Errno(rawValue: 19)
    public static let ENOTDIR = Errno(rawValue: 20)
    public static let EINVAL = Errno(rawValue: 22)
    public static let ENOSPC = Errno(rawValue: 28)
    public static let ERANGE = Errno(rawValue: 34)
    public static let ENOSYS = Errno(rawValue: 38)
    public static let ELOOP = Errno(rawValue: 40)
    public static let EOPNOTSUPP = Errno(rawValue: 95)
    /// The kernel-internal ENOTSUPP (524) that some BPF paths leak to user space.
    public static let ENOTSUPP = Errno(rawValue: 524)

    private static let names: [Int32: (String, String)] = [
        1: ("EPERM", "Operation not permitted"), 2: ("ENOENT", "No such file or directory"),
        3: ("ESRCH", "No such process"), 4: ("EINTR", "Interrupted system call"),
        7: ("E2BIG", "Argument list too long"), 9: ("EBADF", "Bad file descriptor"),
        11: ("EAGAIN", "Resource temporarily unavailable"), 12: ("ENOMEM", "Cannot allocate memory"),
        13: ("EACCES", "Permission denied"), 14: ("EFAULT", "Bad address"), 16: ("EBUSY", "Device or resource busy"),
        17: ("EEXIST", "File exists"), 19: ("ENODEV", "No such device"), 20: ("ENOTDIR", "Not a directory"),
        22: ("EINVAL", "Invalid argument"), 28: ("ENOSPC", "No space left on device"),
        34: ("ERANGE", "Numerical result out of range"), 38: ("ENOSYS", "Function not implemented"),
        40: ("ELOOP", "Too many levels of symbolic links"), 95: ("EOPNOTSUPP", "Operation not supported"),
        524: ("ENOTSUPP", "Operation not supported (kernel-internal)"),
    ]

    /// The symbolic name, e.g. `ENOENT`; `errno N` for ones without a name here.
    public var name: String { Self.names[rawValue]?.0 ?? "errno \(rawValue)" }
    /// The usual libc text.
    public var explanation: String { Self.names[rawValue]?.1 ?? "unknown error" }
    public var description: String { name }
}
