import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's `trace_pipe` takes one reader at a time (a second open fails with EBUSY), and tests
/// of several targets, run in one process, read it: each reads it inside `exclusively`, which holds
/// a file lock (so test processes wait for each other too) and, once it has the lock, waits until
/// the previous reader has closed the pipe (a reader thread notices its end within ~200 ms).
///
/// ```swift
/// let lines = try await TracePipeReaders.exclusively { try await readThreeLines() }
/// ```
public enum TracePipeReaders {
    static let lockPath = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-trace-pipe.lock").path
    static let pipePaths = ["/sys/kernel/tracing/trace_pipe", "/sys/kernel/debug/tracing/trace_pipe"]

    /// Runs `body` as the only trace_pipe reader of the tests, blocking until it may.
    public static func exclusively<T>(_ body: () throws -> T) throws -> T {
        let lock = try openLock()
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        defer { flock(lock, LOCK_UN) }
        waitUntilClosed()
        return try body()
    }

    /// Runs `body` as the only trace_pipe reader of the tests, sleeping (not blocking a thread)
    /// until it may.
    public static func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        let lock = try openLock()
        defer { close(lock) }
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            try await Task.sleep(for: .milliseconds(20))
        }
        defer { flock(lock, LOCK_UN) }
        waitUntilClosed()
        return try await body()
    }

    static func openLock() throws -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        return fd
    }

    /// Waits (up to 2 s) while opening trace_pipe says EBUSY: a reader that finished may still hold it.
    static func waitUntilClosed() {
        guard let path = pipePaths.first(where: { FileManager.default.fileExists(atPath: $0) }) else { return }
        for _ in 0..<100 {
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            if fd >= 0 {
                close(fd)
                return
            }
            guard errno == EBUSY else { return }
            usleep(20_000)
        }
    }
}
