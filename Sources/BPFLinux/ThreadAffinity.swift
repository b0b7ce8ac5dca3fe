import CBPFLinuxSupport

/// Keeps the calling thread on the CPU it is running on until ``restore()``.
///
/// Per-CPU kernel state — a perf buffer's per-CPU rings, per-CPU map slots — is written by the CPU a
/// program runs on; pinning the thread that triggers the runs makes them all land on one CPU.
///
/// ```swift
/// let pin = ThreadAffinity.pinToCurrentCPU()
/// defer { pin?.restore() }
/// _ = try program.testRun(data: packet, repeat: 100)
/// ```
public struct ThreadAffinity: Sendable {
    /// The CPU the thread is pinned to.
    public let cpu: Int
    private let saved: [UInt8]

    private init(cpu: Int, saved: [UInt8]) {
        self.cpu = cpu
        self.saved = saved
    }

    /// Pins the calling thread to its current CPU; nil when the kernel refuses.
    public static func pinToCurrentCPU() -> ThreadAffinity? {
        var saved = [UInt8](repeating: 0, count: 1024)
        let cpu = saved.withUnsafeMutableBufferPointer { cbpf_pin_thread_to_current_cpu($0.baseAddress, UInt($0.count)) }
        return cpu < 0 ? nil : ThreadAffinity(cpu: Int(cpu), saved: saved)
    }

    /// Gives the thread back the CPUs it could run on before.
    public func restore() {
        _ = saved.withUnsafeBufferPointer { cbpf_restore_thread_affinity($0.baseAddress, UInt($0.count)) }
    }
}
