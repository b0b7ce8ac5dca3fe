import BPFObject
import CBPFLinuxSupport

/// A cgroup v2 directory, opened for attaching.
///
/// ```swift
/// let cgroup = try Cgroup(path: "/sys/fs/cgroup/unified/my.slice")
/// ```
public final class Cgroup: Sendable {
    public let path: String
    public let fd: BPFFileDescriptor

    /// Opens the cgroup directory at `path` (on a cgroup2 mount).
    public init(path: String) throws(BPFError) {
        let result = path.withCString { cbpf_open_readonly($0, 1) }
        guard result >= 0 else { throw BPFError.system("open(\(path)) as a cgroup directory", errno: -result) }
        self.path = path
        self.fd = BPFFileDescriptor(adopting: result)
    }

    /// Where cgroup2 is mounted: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid), from /proc/self/mounts.
    public static func unifiedMountPoint() -> String? {
        let mounts = readSmallFile("/proc/self/mounts") ?? ""
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2, fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }
}

extension KernelProgram {
    /// Attaches a cgroup program (cgroup_skb, cgroup_sock, cgroup_sock_addr, sockops, ...) to `cgroup`
    /// for `attachType` (e.g. `.cgroupInetIngress`, `.cgroupInetSockCreate`) with a cgroup link.
    ///
    /// ```swift
    /// let link = try program.attachCgroup(try Cgroup(path: "/sys/fs/cgroup/unified"), attachType: .cgroupInetEgress)
    /// ```
    public func attachCgroup(_ cgroup: Cgroup, attachType: AttachType) throws(BPFError) -> KernelLink {
        let link = try linkCreate(targetFD: try cgroup.fd.checked(.linkCreate), attachType: attachType,
                                  target: "cgroup \(cgroup.path) \(attachType)")
        return link
    }

    /// Attaches with `BPF_PROG_ATTACH` (the pre-link interface, e.g. `BPF_F_ALLOW_MULTI` = 2 in
    /// `flags`); the returned link runs `BPF_PROG_DETACH` when released.
    public func attachLegacy(targetFD: Int32, attachType: AttachType, flags: UInt32 = 0, target: String) throws(BPFError) -> KernelLink {
        var attr = cbpf_prog_attach_attr()
        attr.target_fd = UInt32(bitPattern: targetFD)
        attr.attach_bpf_fd = try fd.checked(.progAttach)
        attr.attach_type = attachType.rawValue
        attr.attach_flags = flags
        do { try BPFSyscall.call(.progAttach, &attr) } catch {
            var failure = error
            failure.message = "\(target): program \(name) (\(type)): " + failure.message
            throw failure
        }
        let programFD = attr.attach_bpf_fd
        let kept = fd
        return KernelLink(kind: .programAttachment, fd: nil, target: target) {
            var detach = cbpf_prog_attach_attr()
            detach.target_fd = UInt32(bitPattern: targetFD)
            detach.attach_bpf_fd = kept.isClosed ? 0 : programFD
            detach.attach_type = attachType.rawValue
            _ = try? BPFSyscall.call(.progDetach, &detach)
        }
    }
}

extension Cgroup {
    /// The attach types a cgroup's programs use.
    public static let attachTypes: [AttachType] = AttachType.allCases.filter {
        "\($0)".hasPrefix("cgroup") || $0 == .lsmCgroup
    }

    /// The programs attached to this cgroup (not those it inherits), by attach type, in the order
    /// they run (`BPF_PROG_QUERY`), as `bpftool cgroup show` lists them.
    public func attachedPrograms() throws(BPFError) -> [(attachType: AttachType, programID: UInt32)] {
        let target = try fd.checked(.progQuery)
        var result: [(AttachType, UInt32)] = []
        for type in Self.attachTypes {
            var ids = [UInt32](repeating: 0, count: 64)
            var count = UInt32(ids.count)
            let r = cbpf_prog_query_ifindex(target, type.rawValue, &ids, &count)
            // EINVAL: a type this kernel does not know; nothing attached for it.
            guard r == 0 else { continue }
            for id in ids.prefix(Int(count)) { result.append((type, id)) }
        }
        return result
    }
}
