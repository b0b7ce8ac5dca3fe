import BPFLinux
import Foundation

/// Where `--pin` paths may go: on a bpffs that outlives the command.
enum PinLocation {
    /// Makes sure pins under `directory` land on a bpffs the caller keeps, before anything is loaded:
    /// under /sys/fs/bpf a bpffs is mounted when none is there — unless this process is in a mount
    /// namespace of its own (`ip netns exec`, `unshare -m`), where one would vanish with the command —
    /// and anywhere else the directory (or the nearest existing one above it) must already be a bpffs.
    static func prepare(_ directory: String, option: String) throws {
        let path = (directory as NSString).standardizingPath
        let underDefault = path == BPFFileSystem.defaultPath || path.hasPrefix(BPFFileSystem.defaultPath + "/")
        if underDefault && !BPFFileSystem.isMounted() {
            if privateMountNamespace {
                throw CLIError("\(option) \(directory): no bpffs at \(BPFFileSystem.defaultPath) in this mount namespace, and this process is in a "
                               + "mount namespace of its own (ip netns exec?): a bpffs mounted here, and the pins in it, would vanish when "
                               + "swiftbpf exits. Pin outside the namespace, or mount one that outlives it (mount -t bpf bpf \(BPFFileSystem.defaultPath) in the namespace you keep)")
            }
            do { try BPFFileSystem.mountIfNeeded() } catch { throw CLIError("\(option) \(directory): \(error)") }
        }
        do { try BPFFileSystem.checkPinDirectory(path) } catch { throw CLIError("\(option): \(error)") }
    }

    /// Whether this process's mount namespace differs from PID 1's (nil-safe: false when unreadable).
    static var privateMountNamespace: Bool {
        guard let own = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt"),
              let initial = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/mnt") else { return false }
        return own != initial
    }
}
