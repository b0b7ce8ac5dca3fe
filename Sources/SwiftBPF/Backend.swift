@_exported import BPFObject
import BPFRuntime
import Foundation

/// Where an object's programs run: the Swift runtime (anywhere, no privileges) or the Linux kernel
/// (`bpf(2)`, root or CAP_BPF).
///
/// ```swift
/// let bpf = try BPFCollection(object, backend: .runtime)
/// ```
public enum Backend: String, Sendable, Hashable, CaseIterable {
    case runtime
    case kernel
}

extension ObjectFile {
    /// Reads an object file from disk.
    ///
    /// ```swift
    /// let object = try ObjectFile(contentsOf: "counter.bpf.o")
    /// ```
    public init(contentsOf path: String) throws(SwiftBPFError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SwiftBPFError(.notFound, place: path, "cannot read the object file")
        }
        do { try self.init(bytes: [UInt8](data)) } catch { throw SwiftBPFError(error, place: path) }
    }
}

/// A pcap or pcapng capture read into frames, to run XDP and TC programs on (`packets[i].data`).
public typealias PacketCapture = BPFRuntime.PacketCapture
