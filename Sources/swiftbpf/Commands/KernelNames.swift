import BPFLinux
import BPFObject

extension ProgramInfo {
    /// The type as the kernel and bpftool spell it (`sched_cls`, `tracepoint`).
    var typeName: String { type?.kernelName ?? "type \(rawType)" }
}

extension MapInfo {
    /// The type as the kernel and bpftool spell it (`percpu_hash`, `prog_array`, `ringbuf`).
    var typeName: String { type?.kernelName ?? "type \(rawType)" }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// Runs `body` for each id, skipping objects that vanished between listing and opening.
func forEachKernelObject<T>(_ ids: [UInt32], _ body: (UInt32) throws -> T?) rethrows -> [T] {
    var results: [T] = []
    for id in ids {
        if let result = try body(id) { results.append(result) }
    }
    return results
}
