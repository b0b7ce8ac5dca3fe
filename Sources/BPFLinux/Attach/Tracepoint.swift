import BPFObject
import CBPFLinuxSupport
import Foundation

/// The kernel's tracing filesystem: event ids and `trace_pipe`. Mounted at /sys/kernel/tracing when
/// it is not there yet.
///
/// ```swift
/// let root = try TraceFS.mountIfNeeded()          // "/sys/kernel/tracing"
/// let id = try TraceFS.eventID(category: "syscalls", name: "sys_enter_getpid")
/// ```
public enum TraceFS {
    /// The usual mount point; `/sys/kernel/debug/tracing` is tried too.
    public static let defaultPath = "/sys/kernel/tracing"

    /// The directory tracefs is mounted on, mounting it at `defaultPath` if no tracefs is found.
    public static func mountIfNeeded() throws(BPFError) -> String {
        for path in [defaultPath, "/sys/kernel/debug/tracing"] where FileManager.default.fileExists(atPath: path + "/events") {
            return path
        }
        let result = cbpf_mount("tracefs", defaultPath, "tracefs")
        guard result == 0 else {
            throw BPFError.system("mount -t tracefs tracefs \(defaultPath)", errno: -result, hint: "tracefs is not mounted and could not be (needs root)")
        }
        return defaultPath
    }

    /// The id of the tracepoint `category:name` (events/CATEGORY/NAME/id).
    public static func eventID(category: String, name: String) throws(BPFError) -> UInt64 {
        guard !category.isEmpty, !name.isEmpty, !category.contains("/"), !name.contains("/"), !category.contains(".."), !name.contains("..") else {
            throw BPFError.invalidArgument("tracepoint '\(category):\(name)': expected CATEGORY:NAME, e.g. syscalls:sys_enter_openat")
        }
        let root = try mountIfNeeded()
        let path = "\(root)/events/\(category)/\(name)/id"
        guard let text = readSmallFile(path), let id = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BPFError(command: nil, errno: .ENOENT,
                           message: "tracepoint \(category):\(name): \(path) does not exist (see \(root)/available_events)")
        }
        return id
    }

    /// The path of `trace_pipe` (what `bpf_trace_printk` writes), mounting tracefs if needed.
    public static func tracePipePath() throws(BPFError) -> String {
        try mountIfNeeded() + "/trace_pipe"
    }
}

extension KernelProgram {
    /// Attaches a tracepoint program to `category:name` (e.g. `syscalls`, `sys_enter_openat`): a perf
    /// event on the tracefs event id, with a perf link (or `PERF_EVENT_IOC_SET_BPF` on old kernels).
    ///
    /// ```swift
    /// let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getpid")
    /// ```
    public func attachTracepoint(category: String, name: String, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        let id = try TraceFS.eventID(category: category, name: name)
        let target = "tracepoint \(category):\(name)"
        let perf = try PerfEvent.open(PerfEvent.Attributes(type: PerfEvent.typeTracepoint, config: id), pid: -1, cpu: 0, what: target)
        return try PerfEvent.attach(self, to: perf, target: target, cookie: cookie)
    }

    /// Attaches a raw tracepoint program (`raw_tp/NAME`) with `BPF_RAW_TRACEPOINT_OPEN`.
    ///
    /// ```swift
    /// let link = try program.attachRawTracepoint("sys_enter")
    /// ```
    public func attachRawTracepoint(_ name: String, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        try rawTracepointOpen(name: name, cookie: cookie, target: "raw_tracepoint \(name)")
    }

    /// `BPF_RAW_TRACEPOINT_OPEN` with `name` (nil for BTF-typed programs: fentry, fexit, tp_btf, lsm).
    func rawTracepointOpen(name: String?, cookie: UInt64 = 0, target: String) throws(BPFError) -> KernelLink {
        var attr = cbpf_raw_tracepoint_attr()
        attr.prog_fd = try fd.checked(.rawTracepointOpen)
        attr.cookie = cookie
        let result: Result<BPFFileDescriptor, BPFError>
        if let name {
            result = name.withCString { pointer in
                attr.name = address(pointer)
                return Result { () throws(BPFError) in try BPFSyscall.callReturningFD(.rawTracepointOpen, &attr) }
            }
        } else {
            result = Result { () throws(BPFError) in try BPFSyscall.callReturningFD(.rawTracepointOpen, &attr) }
        }
        do { return KernelLink(kind: .bpfLink, fd: try result.get(), target: target) } catch {
            var failure = error
            if error.errno == .ENOENT { failure.message = "no such tracepoint" }
            failure.message = "\(target): program \(self.name) (\(type)): " + failure.message
            throw failure
        }
    }
}
