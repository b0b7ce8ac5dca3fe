import BPFObject

/// `struct xdp_md` (the UAPI layout, 24 bytes) and its conversion: the 32-bit `data`,
/// `data_end` and `data_meta` fields a program reads become 64-bit packet pointers.
public enum XDPContext {
    public static let size = XDPLayout.size
    public static let dataOffset = XDPLayout.dataOffset, dataEndOffset = XDPLayout.dataEndOffset, dataMetaOffset = XDPLayout.dataMetaOffset
    public static let ingressIfindexOffset = XDPLayout.ingressIfindexOffset, rxQueueIndexOffset = XDPLayout.rxQueueIndexOffset
    public static let egressIfindexOffset = XDPLayout.egressIfindexOffset
    /// The kernel's XDP test run with 4 KiB pages: 3520 bytes linear (4096 - XDP_PACKET_HEADROOM 256 -
    /// the 320-byte aligned skb_shared_info), 73152 in all (plus MAX_SKB_FRAGS 17 page fragments).
    public static let maxLinearSize = 3520
    public static let maxPacketSize = maxLinearSize + 17 * 4096

    /// XDP verdicts.
    public static let verdictNames: [UInt64: String] = [0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"]

    static func virtualFields(context: UInt, packet: PacketBuffer) -> [(address: UInt, value: UInt64)] {
        [(context + UInt(dataOffset), packet.data), (context + UInt(dataEndOffset), packet.end),
         (context + UInt(dataMetaOffset), packet.meta)]
    }

    /// The context as BPF_PROG_TEST_RUN returns it: data = metadata length, data_end = metadata + packet length.
    static func contextOut(_ context: [UInt8], packet: PacketBuffer) -> [UInt8] {
        var out = context
        let meta = UInt32(packet.metadata.count)
        let end = meta + UInt32(packet.bytes.count)
        for (offset, value) in [(dataOffset, meta), (dataEndOffset, end), (dataMetaOffset, UInt32(0))] {
            for i in 0..<4 { out[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        return out
    }
}
