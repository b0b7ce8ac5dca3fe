import CBPFRuntimeSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `struct bpf_spin_lock`: a 4-byte word inside a map value, 0 when free. Programs take it with
/// `bpf_spin_lock`; Swift updates with `BPF_F_LOCK` take it while they copy the rest of the value.
enum SpinLock {
    static func lock(_ word: UnsafeMutableRawPointer) {
        var spins = 0
        while cbpf_atomic_compare_exchange32(word, 0, 1) != 0 {
            spins += 1
            if spins > 100 { sched_yield() }
        }
    }

    static func unlock(_ word: UnsafeMutableRawPointer) {
        _ = cbpf_atomic_exchange32(word, 0)
    }

    static func withLock<R>(_ word: UnsafeMutableRawPointer, _ body: () throws -> R) rethrows -> R {
        lock(word)
        defer { unlock(word) }
        return try body()
    }
}
