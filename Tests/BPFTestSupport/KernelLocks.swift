import Synchronization

/// Locks for kernel state that tests in different suites (and test targets, run in one process)
/// would otherwise race on.
public enum KernelLocks {
    /// Held while a test registers the fixture's TCP congestion controls (`swiftbpf_cc`,
    /// `swiftbpf_link`): the kernel takes each name once, so two tests registering at once would fail.
    public static let tcpCongestionControl = Mutex(())
}
