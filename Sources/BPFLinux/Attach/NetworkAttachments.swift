import BPFObject
import CBPFLinuxSupport

/// The programs attached to network interfaces, whoever attached them (`ip link set xdp`, `tc filter
/// add ... bpf`, bpftool, a BPF link): XDP programs and tc filters read over rtnetlink, tcx
/// programs with `BPF_PROG_QUERY` — what `bpftool net list` shows.
///
/// ```swift
/// for entry in try NetworkAttachments.list() { print(entry) }   // lo(1) xdp/generic id 42
/// ```
public enum NetworkAttachments {
    /// One program on one interface's hook.
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var interface: NetworkInterface
        /// `xdp/driver`, `xdp/generic`, `xdp/offload`, `tc/ingress`, `tc/egress`, `tcx/ingress`, `tcx/egress`.
        public var hook: String
        public var programID: UInt32
        /// The tc filter's name (`bpf_prog.o:[classifier]`), empty elsewhere.
        public var name: String = ""
        /// tc filters: their priority, protocol (network order) and handle, which deleting one needs.
        public var priority: UInt16 = 0, networkProtocol: UInt16 = 0, handle: UInt32 = 0

        public var description: String {
            "\(interface.name)(\(interface.index)) \(hook)\(name.isEmpty ? "" : " \(name)") id \(programID)"
                + (hook.hasPrefix("tc/") ? " prio \(priority) handle 0x\(String(handle, radix: 16))" : "")
        }
    }

    static let ingress: UInt32 = 0xffff_fff2, egress: UInt32 = 0xffff_fff3

    /// Every attachment of every interface of this network namespace.
    public static func list() throws(BPFError) -> [Entry] {
        var raw = [cbpf_xdp_entry](repeating: cbpf_xdp_entry(), count: 1024)
        let count = Int(cbpf_net_xdp_dump(&raw, Int32(raw.count)))
        guard count >= 0 else { throw BPFError(command: nil, errno: Errno(rawValue: Int32(-count)), message: "listing interfaces over rtnetlink") }
        var entries: [Entry] = []
        for x in raw.prefix(count) {
            let name = withUnsafeBytes(of: x.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            let interface = NetworkInterface(index: x.ifindex, name: name)
            for (hook, id) in [("xdp/driver", x.drv_prog_id), ("xdp/generic", x.skb_prog_id), ("xdp/offload", x.hw_prog_id)] where id != 0 {
                entries.append(Entry(interface: interface, hook: hook, programID: id))
            }
            if x.drv_prog_id == 0 && x.skb_prog_id == 0 && x.hw_prog_id == 0 && x.prog_id != 0 {
                let hook = x.attached == 2 ? "xdp/generic" : x.attached == 3 ? "xdp/offload" : "xdp/driver"
                entries.append(Entry(interface: interface, hook: hook, programID: x.prog_id))
            }
            for (parent, side) in [(ingress, "ingress"), (egress, "egress")] {
                var filters = [cbpf_tc_entry](repeating: cbpf_tc_entry(), count: 64)
                let n = Int(cbpf_net_tc_dump(Int32(x.ifindex), parent, &filters, Int32(filters.count)))
                for f in filters.prefix(max(n, 0)) {
                    let filterName = withUnsafeBytes(of: f.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    entries.append(Entry(interface: interface, hook: "tc/\(side)", programID: f.prog_id, name: filterName,
                                         priority: f.priority, networkProtocol: f.protocol, handle: f.handle))
                }
                var ids = [UInt32](repeating: 0, count: 64)
                var found = UInt32(ids.count)
                let attach = side == "ingress" ? AttachType.tcxIngress : .tcxEgress
                if cbpf_prog_query_ifindex(x.ifindex, attach.rawValue, &ids, &found) == 0 {
                    for id in ids.prefix(Int(found)) { entries.append(Entry(interface: interface, hook: "tcx/\(side)", programID: id)) }
                }
            }
        }
        return entries
    }

    /// Detaches `entry`'s program. An attachment a BPF link holds is detached through the link;
    /// XDP and tc ones made over rtnetlink are removed as `ip` and `tc` remove them.
    public static func detach(_ entry: Entry) throws(BPFError) {
        if let link = try holdingLink(entry) {
            try KernelLink.open(id: link).detach()
            return
        }
        let result: Int32
        switch entry.hook {
        case "xdp/driver": result = cbpf_net_xdp_detach(Int32(entry.interface.index), 1 << 2)
        case "xdp/generic": result = cbpf_net_xdp_detach(Int32(entry.interface.index), 1 << 1)
        case "xdp/offload": result = cbpf_net_xdp_detach(Int32(entry.interface.index), 1 << 3)
        case "tc/ingress", "tc/egress":
            result = cbpf_net_tc_delete(Int32(entry.interface.index), entry.hook == "tc/ingress" ? ingress : egress,
                                        entry.priority, entry.networkProtocol, entry.handle)
        default:
            throw BPFError(command: nil, errno: .EOPNOTSUPP, message: "\(entry): no link holds it, and \(entry.hook) programs attached without one are detached with BPF_PROG_DETACH by their owner")
        }
        guard result == 0 else {
            throw BPFError(command: nil, errno: Errno(rawValue: -result), message: "detaching \(entry)")
        }
    }

    /// XDP attach modes, as `ip link set dev IF xdpgeneric|xdpdrv|xdpoffload` chooses them.
    public enum XDPMode: String, Sendable, CaseIterable {
        case auto, generic, driver, offload
        var flag: UInt32 {
            switch self {
            case .auto: 0
            case .generic: 1 << 1
            case .driver: 1 << 2
            case .offload: 1 << 3
            }
        }
    }

    /// Attaches `program` as `interface`'s XDP program over rtnetlink: it stays after this process
    /// exits, until `detach` (or `ip link set dev IF xdp off`) removes it. Unless `replace`, an
    /// interface that already has one is refused (EBUSY).
    public static func attachXDP(_ program: KernelProgram, to interface: NetworkInterface, mode: XDPMode = .auto,
                                 replace: Bool = false) throws(BPFError) {
        let fd = Int32(bitPattern: try program.fd.checked())
        let result = cbpf_net_xdp_attach(Int32(interface.index), fd, mode.flag | (replace ? 0 : 1))
        guard result == 0 else {
            throw BPFError(command: nil, errno: Errno(rawValue: -result),
                           message: "attaching \(program.name) as the XDP program of \(interface)" + (result == -16 ? ": it has one already (detach it, or replace it)" : ""))
        }
    }

    /// The BPF link holding an attachment, if one does.
    public static func holdingLink(_ entry: Entry) throws(BPFError) -> UInt32? {
        for id in try KernelObjects.linkIDs() {
            guard let info = try? KernelLink.open(id: id).info() else { continue }
            if info.programID == entry.programID, info.ifindex == entry.interface.index { return id }
        }
        return nil
    }
}
