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

extension MapType {
    /// A map type by the kernel's name, as `bpftool map create ... type` takes it (`percpu_hash`,
    /// `ringbuf`, `prog_array`; `BPF_MAP_TYPE_` and case optional). Nil for anything else.
    static func parse(_ name: String) -> MapType? {
        var lower = name.lowercased()
        if lower.hasPrefix("bpf_map_type_") { lower.removeFirst("bpf_map_type_".count) }
        return allCases.first { $0 != .unspecified && $0.kernelName == lower }
    }

    /// The names ``parse(_:)`` takes, for messages.
    static var kernelNames: [String] { allCases.filter { $0 != .unspecified }.map(\.kernelName) }
}

extension AttachType {
    /// An attach type by the name libbpf and bpftool give it (`cgroup_inet_ingress`; `BPF_` and case
    /// optional), or by a libbpf section name that implies one (`cgroup/connect4`,
    /// `cgroup_skb/egress`, `sockops`). Nil for anything else.
    static func parse(_ name: String) -> AttachType? {
        var lower = name.lowercased()
        if lower.hasPrefix("bpf_") { lower.removeFirst("bpf_".count) }
        if let type = allCases.first(where: { $0.kernelName == lower }) { return type }
        if let kind = SectionKind(section: name), !kind.isLegacyPrefix { return kind.attachType }
        return nil
    }
}
