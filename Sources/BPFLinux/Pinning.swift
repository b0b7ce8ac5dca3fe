import CBPFLinuxSupport
import Foundation

/// Pinning objects in a BPF filesystem (`BPF_OBJ_PIN`, `BPF_OBJ_GET`) so they outlive the process.
///
/// ```swift
/// try BPFFileSystem.mountIfNeeded()
/// try map.pin(at: "/sys/fs/bpf/counts")
/// let again = try KernelMap.pinned(at: "/sys/fs/bpf/counts")
/// ```
public enum BPFFileSystem {
    /// The usual mount point.
    public static let defaultPath = "/sys/fs/bpf"
    /// `BPF_FS_MAGIC`.
    static let magic: Int64 = 0xcafe_4a11

    /// Whether `path` is on a BPF filesystem.
    public static func isMounted(at path: String = defaultPath) -> Bool {
        cbpf_fs_magic(path) == magic
    }

    /// Mounts a BPF filesystem at `path` unless one is there already.
    public static func mountIfNeeded(at path: String = defaultPath) throws(BPFError) {
        if isMounted(at: path) { return }
        let result = cbpf_mount_bpffs(path)
        guard result == 0 else {
            #if os(Linux)
            throw BPFError(command: nil, errno: Errno(rawValue: -result), message: "cannot mount bpffs at \(path) (needs root and an existing directory)")
            #else
            throw BPFError.unsupported("mounting bpffs")
            #endif
        }
    }

    /// `BPF_OBJ_PIN`: pins the object behind `fd` at `path`.
    public static func pin(_ fd: BPFFileDescriptor, at path: String) throws(BPFError) {
        var attr = cbpf_obj_attr()
        attr.bpf_fd = try fd.checked(.objPin)
        let result = path.withCString { p in
            attr.pathname = address(p)
            return capture { () throws(BPFError) in try BPFSyscall.call(.objPin, &attr) }
        }
        do { try result.get() } catch {
            var failure = error
            failure.message = "\(path): " + (pinHint(path: path, errno: error.errno) ?? failure.message)
            throw failure
        }
    }

    /// What a failed BPF_OBJ_PIN at `path` means, where the generic hint would mislead (EPERM blames
    /// privileges, but bpffs also refuses names with a `.`, and root gets EPERM for other reasons).
    static func pinHint(path: String, errno: Errno?) -> String? {
        let name = (path as NSString).lastPathComponent
        let directory = (path as NSString).deletingLastPathComponent
        switch errno {
        case .EPERM?:
            if name.contains(".") { return "bpffs refuses names with a '.' ('\(name)'): use '_' instead" }
            #if os(Linux)
            if geteuid() == 0 {
                return "refused although this process is root (is \(directory) on a bpffs? a security module or lockdown may refuse pins)"
            }
            #endif
            return nil
        case .EEXIST?: return "the pin path is taken (remove it with rm, or pin elsewhere)"
        case .ENOENT?: return "the directory \(directory) does not exist"
        case .EINVAL?: return isMounted(at: directory) ? nil : "\(directory) is not on a BPF filesystem (pins must go in a bpffs, e.g. under /sys/fs/bpf)"
        default: return nil
        }
    }

    /// `BPF_OBJ_GET`: opens the object pinned at `path`.
    public static func open(_ path: String) throws(BPFError) -> BPFFileDescriptor {
        var attr = cbpf_obj_attr()
        let result = path.withCString { p in
            attr.pathname = address(p)
            return Result { () throws(BPFError) in try BPFSyscall.call(.objGet, &attr) }
        }
        do { return BPFFileDescriptor(adopting: try result.get()) } catch {
            var failure = error
            failure.message = "\(path): " + failure.message
            throw failure
        }
    }
}

extension KernelMap {
    /// Pins the map at `path` in a BPF filesystem.
    public func pin(at path: String) throws(BPFError) { try BPFFileSystem.pin(fd, at: path) }
    /// Opens the map pinned at `path`.
    public static func pinned(at path: String) throws(BPFError) -> KernelMap { try KernelMap(fd: BPFFileSystem.open(path)) }
}

extension KernelProgram {
    /// Pins the program at `path` in a BPF filesystem.
    public func pin(at path: String) throws(BPFError) { try BPFFileSystem.pin(fd, at: path) }
    /// Opens the program pinned at `path`.
    public static func pinned(at path: String) throws(BPFError) -> KernelProgram { try KernelProgram(fd: BPFFileSystem.open(path)) }
}
