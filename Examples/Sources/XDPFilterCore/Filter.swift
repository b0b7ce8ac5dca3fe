import Foundation
import SwiftBPF

/// The XDP filter: `xdp_filter.bpf.c` (built into the `XdpFilter` skeleton by the BPFSkeletons
/// plugin) with its blocked ports and verdict counters.
///
/// ```swift
/// let filter = try Filter(blockedPorts: [9], blockICMP: false, backend: .runtime)
/// let verdicts = try filter.run(pcap: "sample.pcap")   // rootless: the Swift runtime
/// print(verdicts.passed, verdicts.dropped)
/// ```
public final class Filter: Sendable {
    /// Frames passed and dropped so far (summed over CPUs).
    public struct Verdicts: Equatable, Sendable {
        public var passed: UInt64
        public var dropped: UInt64
        public init(passed: UInt64, dropped: UInt64) {
            self.passed = passed
            self.dropped = dropped
        }
    }

    let bpf: XdpFilter.Loaded

    /// Loads the filter into `backend`, blocking UDP to `blockedPorts` (and ICMP if asked).
    public init(blockedPorts: [UInt16], blockICMP: Bool = false, backend: Backend = .runtime) throws {
        var skeleton = try XdpFilter()
        skeleton.block_icmp = blockICMP ? 1 : 0            // a constant of the program, set before loading
        bpf = try skeleton.load(backend: backend)
        for port in blockedPorts { try bpf.blocked_ports.updateValue(1, forKey: port) }
    }

    /// The counters, summed over CPUs.
    public func verdicts() throws -> Verdicts {
        let passed = try bpf.verdicts.values(forKey: 0)?.reduce(0, +) ?? 0
        let dropped = try bpf.verdicts.values(forKey: 1)?.reduce(0, +) ?? 0
        return Verdicts(passed: passed, dropped: dropped)
    }

    /// Runs the filter on one frame; returns the XDP action (1 drop, 2 pass).
    public func run(frame: [UInt8]) throws -> UInt64 {
        try bpf.xdp_filter!.testRun(packet: frame).returnValue
    }

    /// Runs the filter on every frame of a pcap or pcapng file; returns each frame's action.
    public func run(pcap path: String) throws -> [UInt64] {
        guard let data = FileManager.default.contents(atPath: path) else { throw SwiftBPFError(.notFound, place: path, "cannot read the capture") }
        return try PacketCapture(bytes: [UInt8](data)).packets.map { try run(frame: $0.data) }
    }

    /// Attaches the filter to a network interface (kernel backend) until the returned link is released.
    public func attach(interface: String) throws -> BPFLink {
        try bpf.collection.attach("xdp_filter", to: .xdp(interface: interface, mode: .generic))
    }
}
