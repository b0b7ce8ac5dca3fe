import BPFLinux

/// Whether this process can use bpf(), decided once by creating a one-entry array map. Kernel tests use
/// `.enabled(if: Kernel.available)` and print `Kernel.skipReason` when they cannot run — they skip,
/// saying why, and never pass without running.
enum Kernel {
    static let probeError: BPFError? = BPFSyscall.probe()

    static let available: Bool = {
        if let probeError {
            print("BPFLinuxTests: skipping the kernel tests: bpf() is not usable here: \(probeError)")
            return false
        }
        return true
    }()

    /// Whether /sys/fs/bpf is a bpffs (mounting one when it is not).
    static let bpffsAvailable: Bool = {
        guard available else { return false }
        do {
            try BPFFileSystem.mountIfNeeded()
            return true
        } catch {
            print("BPFLinuxTests: skipping the pinning tests: \(error)")
            return false
        }
    }()
}
