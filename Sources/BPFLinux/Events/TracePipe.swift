import CBPFLinuxSupport
import Foundation

extension TraceFS {
    /// The lines of `trace_pipe` (what `bpf_trace_printk` writes) as they come, until the consuming
    /// task ends. Reading consumes them: one reader sees each line. A thread reads the pipe.
    ///
    /// ```swift
    /// for try await line in try TraceFS.tracePipeLines() { print(line) }
    /// ```
    public static func tracePipeLines() throws(BPFError) -> AsyncThrowingStream<String, any Error> {
        let path = try tracePipePath()
        let fd = path.withCString { cbpf_open_readonly($0, 0) }
        guard fd >= 0 else { throw BPFError.system("open(\(path))", errno: -fd) }
        let file = BPFFileDescriptor(adopting: fd)
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream()
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.stop() }
        let thread = Thread {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !stop.isStopped {
                // Wait up to 200 ms so that a finished consumer is noticed.
                guard cbpf_poll_readable(file.rawValue, 200) > 0 else { continue }
                let n = chunk.withUnsafeMutableBytes { cbpf_read(file.rawValue, $0.baseAddress, $0.count) }
                if n < 0 {
                    if n == -Int(Errno.EINTR.rawValue) { continue }
                    continuation.finish(throwing: BPFError.system("read(\(path))", errno: Int32(-n)))
                    return
                }
                pending += chunk[..<n]
                while let newline = pending.firstIndex(of: 0x0a) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            file.close()
            continuation.finish()
        }
        thread.name = "swiftbpf-trace-pipe"
        thread.start()
        return stream
    }
}
