import CBPFLinuxSupport
import Foundation

/// Programs attached through perf events and raw tracepoints, found by asking the kernel about every
/// process's file descriptors (`BPF_TASK_FD_QUERY`), as `bpftool perf list` does.
///
/// ```swift
/// for entry in PerfAttachments.list() { print(entry) }   // pid 812 fd 7: prog 42 tracepoint sys_enter_openat
/// ```
public enum PerfAttachments {
    /// One attachment: the process and fd holding it, the program, and what it is attached to.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var pid: Int32
        public var fd: Int32
        public var programID: UInt32
        /// `raw_tracepoint`, `tracepoint`, `kprobe`, `kretprobe`, `uprobe`, `uretprobe`.
        public var kind: String
        /// The tracepoint, function or file.
        public var name: String
        /// The probe's offset (uprobes: in the file; kprobes: from the function) and address.
        public var offset: UInt64
        public var address: UInt64

        public var description: String {
            var text = "pid \(pid) fd \(fd): prog \(programID) \(kind) \(name)"
            if offset != 0 { text += " offset 0x\(String(offset, radix: 16))" }
            if address != 0 { text += " addr 0x\(String(address, radix: 16))" }
            return text
        }
    }

    static let kinds = ["raw_tracepoint", "tracepoint", "kprobe", "kretprobe", "uprobe", "uretprobe"]

    /// Every perf-event or raw-tracepoint attachment of every process this one may inspect.
    public static func list() -> [Entry] {
        var entries: [Entry] = []
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.sorted()
        for pid in pids {
            let fds = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap { Int32($0) }.sorted()
            for fd in fds {
                // Only anonymous-inode fds (perf events, BPF links) can hold one.
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                      target.hasPrefix("anon_inode:") else { continue }
                var name = [CChar](repeating: 0, count: 256)
                var programID: UInt32 = 0, type: UInt32 = 0
                var offset: UInt64 = 0, address: UInt64 = 0
                let result = name.withUnsafeMutableBufferPointer {
                    cbpf_task_fd_query(UInt32(pid), UInt32(fd), $0.baseAddress, UInt32($0.count), &programID, &type, &offset, &address)
                }
                guard result == 0 else { continue }
                let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                entries.append(Entry(pid: pid, fd: fd, programID: programID,
                                     kind: Int(type) < kinds.count ? kinds[Int(type)] : "type \(type)", name: text,
                                     offset: offset, address: address))
            }
        }
        return entries
    }
}
