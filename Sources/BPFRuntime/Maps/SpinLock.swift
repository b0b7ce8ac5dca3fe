import BPFObject
import CBPFRuntimeSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `struct bpf_spin_lock`: a 4-byte word inside a map value, 0 when free. Programs take it with
/// `bpf_spin_lock`; Swift updates with `BPF_F_LOCK` take it while they copy the rest of the value.
///
/// Waiting is bounded: unverified code can leave a lock word set (by a plain store, say), and that
/// must not hang the host, so after about a second of waiting ``lock(_:)`` gives up.
enum SpinLock {
    /// How many times a waiter retries (yielding the CPU between tries) before giving up.
    static let maxSpins = 2_000_000

    /// Takes the lock; false if it stayed held for ``maxSpins`` tries.
    @discardableResult
    static func lock(_ word: UnsafeMutableRawPointer) -> Bool {
        var spins = 0
        while cbpf_atomic_compare_exchange32(word, 0, 1) != 0 {
            spins += 1
            if spins >= maxSpins { return false }
            if spins > 100 { sched_yield() }
        }
        return true
    }

    static func unlock(_ word: UnsafeMutableRawPointer) {
        _ = cbpf_atomic_exchange32(word, 0)
    }

    /// Runs `body` holding the lock; nil (and `body` not run) if the lock could not be taken.
    static func withLock<R>(_ word: UnsafeMutableRawPointer, _ body: () throws -> R) rethrows -> R? {
        guard lock(word) else { return nil }
        defer { unlock(word) }
        return try body()
    }
}

extension RuntimeMap {
    /// Allocates zeroed value memory for `max_entries` entries of one slot each, or one per CPU for
    /// per-CPU maps; returns the layout.
    static func allocateValues(_ spec: MapSpec, kind: String, alignment: Int) throws(MapError)
        -> (perCPU: Bool, cpus: Int, entryStride: Int, values: UnsafeMutableRawBufferPointer) {
        guard spec.valueSize > 0 else { throw MapError(.invalid, "\(kind) '\(spec.name)': value size 0") }
        let perCPU = spec.type.isPerCPU
        let cpus = VirtualCPUs.shared.count
        let entryStride = ((spec.valueSize + 7) & ~7) * (perCPU ? cpus : 1)
        let bytes = entryStride * spec.maxEntries
        guard bytes <= 1 << 30 else { throw MapError(.tooBig, "map '\(spec.name)': \(bytes) bytes of values is too large") }
        let values = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes, 8), alignment: alignment)
        values.initializeMemory(as: UInt8.self, repeating: 0)
        return (perCPU, cpus, entryStride, values)
    }

    /// Copies `count` bytes of a value; with `BPF_F_LOCK` it holds the value's spin lock and leaves
    /// the lock word itself alone, as Linux does.
    func copyValue(into destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int, flags: MapUpdateFlags,
                   spinLockOffset: Int?) throws(MapError) {
        if flags.contains(.lock), let offset = spinLockOffset {
            let copied: Void? = SpinLock.withLock(destination + offset) {
                destination.copyMemory(from: source, byteCount: offset)
                (destination + offset + 4).copyMemory(from: source + offset + 4, byteCount: spec.valueSize - offset - 4)
            }
            if copied == nil { throw MapError(.busy, "map '\(spec.name)': the value's spin lock stayed held (BPF_F_LOCK)") }
        } else {
            destination.copyMemory(from: source, byteCount: count)
        }
    }
}
