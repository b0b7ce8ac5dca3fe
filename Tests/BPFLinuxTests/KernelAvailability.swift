import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation

/// What the kernel tests need from this machine, each probed once. A test that needs one says so
/// with `.requires(Kernel.bpf)` (or `.enabled(if: Kernel.available, ...)`) and is reported as
/// skipped, with the reason — the kernel's own error — where it is missing; never as passed.
enum Kernel {
    static let probeError: BPFError? = BPFSyscall.probe()

    /// bpf() works: a one-entry array map can be created.
    static let bpf = Availability(probeError == nil, else: "bpf() is not usable here (needs Linux and root or CAP_BPF): \(probeError.map { "\($0)" } ?? "")")

    static var available: Bool { bpf.isAvailable }

    /// /sys/fs/bpf is a bpffs (mounting one when it is not).
    static let bpffs: Availability = {
        guard bpf.isAvailable else { return bpf }
        do {
            try BPFFileSystem.mountIfNeeded()
            return .available
        } catch {
            return .missing("no bpffs at /sys/fs/bpf and mounting one failed: \(error)")
        }
    }()

    static var bpffsAvailable: Bool { bpffs.isAvailable }

    /// A cgroup v2 mount.
    static let cgroup2: Availability = Availability(Cgroup.unifiedMountPoint() != nil, else: "no cgroup v2 mount")

    /// The kernel attaches programs of `kind` (`KernelFeatures.attachment`, probed once).
    static func attaches(_ kind: KernelFeatures.Attachment) -> Availability {
        guard bpf.isAvailable else { return bpf }
        let support = KernelFeatures.attachment(kind)
        return Availability(support.isSupported, else: "the kernel does not attach \(kind) programs here (probed): \(support)")
    }

    /// The kernel creates maps of `type` (`KernelFeatures.mapType`, probed once).
    static func creates(_ type: MapType) -> Availability {
        guard bpf.isAvailable else { return bpf }
        let support = KernelFeatures.mapType(type)
        return Availability(support.isSupported, else: "the kernel does not create \(type.kernelName) maps here (probed): \(support)")
    }

    /// The tracepoint `category:name` exists (tracefs mounted, the event compiled in).
    static func tracepoint(_ category: String, _ name: String) -> Availability {
        do {
            _ = try TraceFS.eventID(category: category, name: name)
            return .available
        } catch {
            return .missing("no tracepoint \(category):\(name) here: \(error)")
        }
    }

    /// tracefs's trace_pipe can be opened for reading.
    static let tracePipe: Availability = {
        do {
            let path = try TraceFS.tracePipePath()
            return Availability(FileManager.default.isReadableFile(atPath: path), else: "\(path) is not readable")
        } catch {
            return .missing("no trace_pipe: \(error)")
        }
    }()
}

