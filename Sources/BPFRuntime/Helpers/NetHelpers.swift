import BPFObject

/// Helpers of networking programs whose meaning in a test run is the packet and the skb:
/// checksum updates, redirects (recorded, see ``Redirect``), VLAN tags, protocol changes, room
/// adjustments, the flow hash, tunnel metadata, and lookups that find nothing in a process with no
/// routes or sockets. Each follows the kernel's semantics for a test run's linear skb
/// (`CHECKSUM_NONE`); `Docs/helpers.md` lists them.
enum NetHelpers {
    static let einval = UInt64(bitPattern: -22), efault = UInt64(bitPattern: -14), enoent = UInt64(bitPattern: -2)
    static let eacces = UInt64(bitPattern: -13), enotsupp = UInt64(bitPattern: -524), erange = UInt64(bitPattern: -34)
    static let tcActShot: UInt64 = 2, tcActRedirect: UInt64 = 7, xdpAborted: UInt64 = 0, xdpRedirect: UInt64 = 4

    // MARK: Checksums

    /// One's-complement sum helpers (RFC 1071/1624).
    static func fold(_ sum: UInt64) -> UInt16 {
        var s = sum
        while s >> 16 != 0 { s = (s & 0xffff) + (s >> 16) }
        return UInt16(s)
    }

    /// `*sum` updated for `from` becoming `to` (RFC 1624: HC' = ~(~HC + ~m + m')); `size` 2 or 4
    /// bytes, or 0: `to` is a precomputed difference (`bpf_csum_diff`).
    static func replace(_ sum: UInt16, from: UInt64, to: UInt64, size: Int) -> UInt16 {
        var s = UInt64(~sum)
        switch size {
        case 2:
            s += UInt64(~UInt16(truncatingIfNeeded: from)) + UInt64(UInt16(truncatingIfNeeded: to))
        case 4:
            let f = UInt32(truncatingIfNeeded: from), t = UInt32(truncatingIfNeeded: to)
            s += UInt64(~f & 0xffff) + UInt64(~f >> 16) + UInt64(t & 0xffff) + UInt64(t >> 16)
        default:
            let t = UInt32(truncatingIfNeeded: to)
            s += UInt64(t & 0xffff) + UInt64(t >> 16)
        }
        return ~fold(s)
    }

    /// The 16-bit checksum field at `offset` of the skb's packet, as stored (network order bytes read natively).
    static func checksumField(_ skb: SKBBuffer, _ offset: UInt64) -> UnsafeMutableRawPointer? {
        skb.pointer(offset: offset, count: 2)
    }

    static func csumReplace(_ call: borrowing HelperCall, id: Int32, l4: Bool) throws(HelperError) -> UInt64 {
        let skb = try SKBHelpers.buffer(call, id)
        let offset = SKBHelpers.u32(call.argument(2)), from = call.argument(3), to = call.argument(4), flags = call.argument(5)
        let size = Int(flags & 0xf)
        let allowed: UInt64 = l4 ? 0xf | 1 << 4 | 1 << 5 | 1 << 6 : 0xf   // BPF_F_PSEUDO_HDR, MARK_MANGLED_0, MARK_ENFORCE
        guard flags & ~allowed == 0, [0, 2, 4].contains(size) else { return einval }
        guard let field = checksumField(skb, offset) else { return efault }
        // Checksums are stored in network order; the arithmetic works on the bytes as loaded,
        // as the kernel's does (values come from the packet in the same order).
        let old = field.loadUnaligned(as: UInt16.self)
        let mangledZero = l4 && flags & (1 << 5) != 0
        if mangledZero && old == 0 { return 0 }   // a UDP datagram without a checksum keeps none
        var new = replace(old, from: from, to: to, size: size)
        if mangledZero && new == 0 { new = 0xffff }
        field.storeBytes(of: new, as: UInt16.self)
        return 0
    }

    // MARK: Redirects

    static func record(_ call: borrowing HelperCall, _ redirect: Redirect) {
        call.environment?.redirect = redirect
    }

    static let redirect = Helper(id: 23, name: "bpf_redirect") { call in
        let ifindex = UInt32(truncatingIfNeeded: call.argument(1)), flags = call.argument(2)
        if call.environment?.skb != nil {
            guard flags & ~1 == 0 else { return tcActShot }   // only BPF_F_INGRESS
            record(call, Redirect(helper: "bpf_redirect", ifindex: ifindex, flags: flags))
            return tcActRedirect
        }
        guard flags == 0 else { return xdpAborted }
        record(call, Redirect(helper: "bpf_redirect", ifindex: ifindex, flags: flags))
        return xdpRedirect
    }

    static let redirectMap = Helper(id: 51, name: "bpf_redirect_map") { call in
        let map = try MapHelpers.map(call)
        let key = UInt32(truncatingIfNeeded: call.argument(2)), flags = call.argument(3)
        // The low bits are the action when the key has no entry; BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS.
        guard flags & ~(0x3 | 1 << 3 | 1 << 4) == 0 else { return xdpAborted }
        let broadcast = flags & (1 << 3) != 0
        var value: [UInt8]?
        do {
            value = try withUnsafeBytes(of: key) { k throws(MapError) in try map.lookupValue(k) }
        } catch {
            value = nil
        }
        guard value != nil || broadcast else { return flags & 0x3 }
        var target = Redirect(helper: "bpf_redirect_map", map: map.spec.name, key: key, flags: flags)
        if map.spec.type == .devmap || map.spec.type == .devmapHash, let v = value, v.count >= 4 {
            target.ifindex = v.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }
        record(call, target)
        return xdpRedirect
    }

    static let all: [Helper] = [
        Helper(id: 10, name: "bpf_l3_csum_replace") { call in try csumReplace(call, id: 10, l4: false) },
        Helper(id: 11, name: "bpf_l4_csum_replace") { call in try csumReplace(call, id: 11, l4: true) },
        Helper(id: 40, name: "bpf_csum_update") { call in
            _ = try SKBHelpers.buffer(call, 40)
            return enotsupp   // only CHECKSUM_COMPLETE skbs have a csum to update; a test run's has none
        },
        Helper(id: 135, name: "bpf_csum_level") { call in
            _ = try SKBHelpers.buffer(call, 135)
            switch call.argument(2) {
            case 0: return eacces              // BPF_CSUM_LEVEL_QUERY: not CHECKSUM_UNNECESSARY
            case 1, 2, 3: return 0             // INC, DEC, RESET
            default: return einval
            }
        },
        redirect,
        redirectMap,
        Helper(id: 13, name: "bpf_clone_redirect") { call in
            _ = try SKBHelpers.buffer(call, 13)
            let flags = call.argument(3)
            guard flags & ~1 == 0 else { return einval }
            record(call, Redirect(helper: "bpf_clone_redirect", ifindex: UInt32(truncatingIfNeeded: call.argument(2)), flags: flags))
            return 0
        },
        // The skb holds one tag outside the packet (the "accelerated" tag, `vlan_present`, `vlan_tci`,
        // `vlan_proto`); a second push moves the held one into the packet, and a pop takes a tag
        // from the packet back into the skb, as the kernel's skb_vlan_push/skb_vlan_pop do.
        Helper(id: 18, name: "bpf_skb_vlan_push") { call in
            let skb = try SKBHelpers.buffer(call, 18)
            let proto = UInt16(truncatingIfNeeded: call.argument(2))   // network order, as the program passes it
            guard proto.bigEndian == 0x8100 || proto.bigEndian == 0x88a8 else { return einval }
            let old = skb.packetRegion
            if skb.field(SKBContext.vlanPresentOffset) != 0 {
                guard skb.length >= 14 else { return einval }
                let heldProto = UInt16(truncatingIfNeeded: skb.field(SKBContext.vlanProtoOffset))
                skb.resize(at: 12, by: 4)
                let p = skb.pointer(offset: 12, count: 4)!
                p.storeBytes(of: heldProto, as: UInt16.self)
                (p + 2).storeBytes(of: UInt16(truncatingIfNeeded: skb.field(SKBContext.vlanTCIOffset)).bigEndian, as: UInt16.self)
                skb.setField(SKBContext.protocolOffset, UInt32(heldProto))
            }
            skb.setField(SKBContext.vlanPresentOffset, 1)
            skb.setField(SKBContext.vlanTCIOffset, UInt32(UInt16(truncatingIfNeeded: call.argument(3))))
            skb.setField(SKBContext.vlanProtoOffset, UInt32(proto))
            SKBHelpers.packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: 19, name: "bpf_skb_vlan_pop") { call in
            let skb = try SKBHelpers.buffer(call, 19)
            skb.setField(SKBContext.vlanPresentOffset, 0)
            skb.setField(SKBContext.vlanTCIOffset, 0)
            skb.setField(SKBContext.vlanProtoOffset, 0)
            let proto = UInt16(truncatingIfNeeded: skb.field(SKBContext.protocolOffset))
            guard proto.bigEndian == 0x8100 || proto.bigEndian == 0x88a8 else { return 0 }
            // A tag in the packet: it becomes the skb's, and the EtherType after it the frame's.
            guard skb.length >= 18, let p = skb.pointer(offset: 12, count: 6) else { return einval }
            let tci = UInt16(bigEndian: (p + 2).loadUnaligned(as: UInt16.self))
            let inner = (p + 4).loadUnaligned(as: UInt16.self)
            let old = skb.packetRegion
            skb.resize(at: 12, by: -4)
            skb.setField(SKBContext.protocolOffset, UInt32(inner))
            skb.setField(SKBContext.vlanPresentOffset, 1)
            skb.setField(SKBContext.vlanTCIOffset, UInt32(tci))
            skb.setField(SKBContext.vlanProtoOffset, UInt32(proto))
            SKBHelpers.packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: 31, name: "bpf_skb_change_proto") { call in
            let skb = try SKBHelpers.buffer(call, 31)
            let proto = UInt16(truncatingIfNeeded: call.argument(2)).bigEndian
            guard call.argument(3) == 0 else { return einval }
            let current = UInt16(truncatingIfNeeded: skb.field(SKBContext.protocolOffset)).bigEndian
            guard proto == 0x0800 || proto == 0x86dd else { return UInt64(bitPattern: -95) }   // -ENOTSUPP for others (EOPNOTSUPP)
            if proto == current { return 0 }
            let old = skb.packetRegion
            // IPv4 -> IPv6 makes 20 more bytes of room after the link-layer header; back removes them.
            skb.resize(at: skb.networkOffset, by: proto == 0x86dd ? 20 : -20)
            skb.setField(SKBContext.protocolOffset, UInt32(UInt16(truncatingIfNeeded: call.argument(2))))
            SKBHelpers.packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: 32, name: "bpf_skb_change_type") { call in
            let skb = try SKBHelpers.buffer(call, 32)
            let type = call.argument(2), current = UInt64(skb.field(SKBContext.pktTypeOffset))
            // Only among PACKET_HOST, BROADCAST, MULTICAST and OTHERHOST.
            guard type <= 3, current <= 3 else { return einval }
            skb.setField(SKBContext.pktTypeOffset, UInt32(type))
            return 0
        },
        Helper(id: 34, name: "bpf_get_hash_recalc") { call in
            let skb = try SKBHelpers.buffer(call, 34)
            // A flow hash of the addresses, protocol and ports (the kernel's is keyed by a random
            // boot-time seed, so its values are not reproducible either); never 0.
            var h: UInt32 = 2_166_136_261
            let bytes = skb.bytes
            let start = skb.networkOffset
            let span = bytes.count > start + 20 ? bytes[start..<min(bytes.count, start + 40)] : bytes[...]
            for b in span { h = (h ^ UInt32(b)) &* 16_777_619 }
            if h == 0 { h = 1 }
            skb.setField(SKBContext.hashOffset, h)
            return UInt64(h)
        },
        Helper(id: 50, name: "bpf_skb_adjust_room") { call in
            let skb = try SKBHelpers.buffer(call, 50)
            let diff = Int(Int32(truncatingIfNeeded: call.argument(2))), mode = call.argument(3)
            guard mode <= 1 else { return UInt64(bitPattern: -95) }   // BPF_ADJ_ROOM_NET, BPF_ADJ_ROOM_MAC
            let proto = UInt16(truncatingIfNeeded: skb.field(SKBContext.protocolOffset)).bigEndian
            guard proto == 0x0800 || proto == 0x86dd else { return UInt64(bitPattern: -95) }
            // The room goes after the link-layer header (MAC) or after the fixed IP header (NET).
            let at = skb.networkOffset + (mode == 0 ? (proto == 0x0800 ? 20 : 40) : 0)
            guard diff != 0 else { return 0 }
            if diff < 0 {
                guard at - diff <= skb.length, skb.length + diff >= skb.networkOffset + (proto == 0x0800 ? 20 : 40) else { return erange }
            } else {
                guard at <= skb.length, skb.length + diff <= SKBBuffer.maxLength else { return erange }
            }
            let old = skb.packetRegion
            // The headers before `at` move to make the room; skb->data stays at the frame start.
            skb.resize(at: at, by: diff)
            SKBHelpers.packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: 69, name: "bpf_fib_lookup") { call in
            // (ctx, params, plen, flags): the runtime has no routing table: not forwarded.
            guard call.argument(3) >= 64 else { return einval }
            _ = try call.memory(at: call.argument(2), size: 64, write: true)
            return 4   // BPF_FIB_LKUP_RET_NOT_FWDED
        },
        Helper(id: 84, name: "bpf_sk_lookup_tcp") { _ in 0 },
        Helper(id: 85, name: "bpf_sk_lookup_udp") { _ in 0 },
        Helper(id: 99, name: "bpf_skc_lookup_tcp") { _ in 0 },
        Helper(id: 86, name: "bpf_sk_release") { _ in 0 },
        // The runtime's skb has no socket (`skb->sk` reads NULL) and lookups find none, so these
        // are reached only through a socket the verifier proved non-NULL, which cannot exist here.
        Helper(id: 95, name: "bpf_sk_fullsock") { _ in 0 },
        Helper(id: 96, name: "bpf_tcp_sock") { _ in 0 },
        Helper(id: 136, name: "bpf_skc_to_tcp6_sock") { _ in 0 },
        Helper(id: 137, name: "bpf_skc_to_tcp_sock") { _ in 0 },
        Helper(id: 138, name: "bpf_skc_to_tcp_timewait_sock") { _ in 0 },
        Helper(id: 139, name: "bpf_skc_to_tcp_request_sock") { _ in 0 },
        Helper(id: 140, name: "bpf_skc_to_udp6_sock") { _ in 0 },
        // No listening socket to check a SYN cookie against or make one for (the kernel's -EINVAL
        // for a socket that is not a TCP listener).
        Helper(id: 100, name: "bpf_tcp_check_syncookie") { _ in einval },
        Helper(id: 110, name: "bpf_tcp_gen_syncookie") { _ in einval },
        // Socket-local storage: no socket has any (NULL), and nothing can be deleted.
        Helper(id: 107, name: "bpf_sk_storage_get") { _ in 0 },
        Helper(id: 108, name: "bpf_sk_storage_delete") { _ in enoent },
        Helper(id: 20, name: "bpf_skb_get_tunnel_key") { call in
            _ = try SKBHelpers.buffer(call, 20)
            let size = Int(SKBHelpers.u32(call.argument(3)))
            guard let key = call.environment?.tunnelKey else {
                // No tunnel metadata on a test run's skb: the buffer is cleared and -ENOENT returned.
                if size > 0 { try call.write([UInt8](repeating: 0, count: size), at: call.argument(2)) }
                return enoent
            }
            // The key describes a received packet: what was set as the remote address (where the
            // tunnel sends) reads back as the local one, and the reverse.
            var received = key + [UInt8](repeating: 0, count: max(0, 44 - key.count))
            let remote = Array(received[4..<20]), local = Array(received[28..<44])
            received.replaceSubrange(4..<20, with: local)
            received.replaceSubrange(28..<44, with: remote)
            try call.write(Array(received.prefix(size)), at: call.argument(2))
            return 0
        },
        Helper(id: 21, name: "bpf_skb_set_tunnel_key") { call in
            _ = try SKBHelpers.buffer(call, 21)
            let size = Int(SKBHelpers.u32(call.argument(3)))
            // struct bpf_tunnel_key: its IPv4-only and older sizes (28, 40) or the whole (44).
            guard [28, 40, 44].contains(size), call.argument(4) & ~UInt64(0xf) == 0 else { return einval }
            call.environment?.tunnelKey = try call.read(at: call.argument(2), size: size)
            return 0
        },
        Helper(id: 152, name: "bpf_redirect_neigh") { call in
            let plen = Int(SKBHelpers.u32(call.argument(3)))
            // (ifindex, params or NULL, plen, flags): flags must be 0, plen 0 without params.
            guard call.argument(4) == 0, (call.argument(2) == 0) == (plen == 0) else { return tcActShot }
            record(call, Redirect(helper: "bpf_redirect_neigh", ifindex: UInt32(truncatingIfNeeded: call.argument(1))))
            return tcActRedirect
        },
        Helper(id: 155, name: "bpf_redirect_peer") { call in
            guard call.argument(2) == 0 else { return tcActShot }
            record(call, Redirect(helper: "bpf_redirect_peer", ifindex: UInt32(truncatingIfNeeded: call.argument(1))))
            return tcActRedirect
        },
        Helper(id: 163, name: "bpf_check_mtu") { call in
            // (ctx, ifindex, &mtu_len, len_diff, flags) against the test run's device, loopback
            // (ifindex 1, MTU 65536, 14-byte header); another interface does not exist here.
            let ifindex = SKBHelpers.u32(call.argument(2)), flags = call.argument(5)
            let lenDiff = Int(Int32(truncatingIfNeeded: call.argument(4)))
            guard flags & ~1 == 0, !(flags & 1 != 0 && lenDiff != 0) else { return einval }   // BPF_MTU_CHK_SEGS
            guard ifindex == 0 || ifindex == 1 else { return UInt64(bitPattern: -19) }       // -ENODEV
            let mtu = 65536, header = 14
            let slot = try call.memory(at: call.argument(3), size: 4, write: true)
            let given = Int(slot.loadUnaligned(as: UInt32.self))
            var length: Int
            if let skb = call.environment?.skb {
                length = given != 0 ? given : skb.length - header + lenDiff
            } else if let packet = call.environment?.packet {
                length = (given != 0 ? given + header : packet.frame.count + lenDiff) - header
            } else {
                throw HelperError("bpf_check_mtu needs a packet (XDP or skb programs)")
            }
            slot.storeBytes(of: UInt32(mtu), as: UInt32.self)
            return length > mtu ? 1 : 0   // BPF_MTU_CHK_RET_FRAG_NEEDED, SUCCESS
        },
        Helper(id: 189, name: "bpf_xdp_load_bytes") { call in
            guard let packet = call.environment?.packet else { throw HelperError("bpf_xdp_load_bytes needs an XDP packet") }
            let offset = Int(SKBHelpers.u32(call.argument(2))), count = Int(SKBHelpers.u32(call.argument(4)))
            guard let bytes = packet.load(offset: offset, count: count) else { return einval }
            try call.write(bytes, at: call.argument(3))
            return 0
        },
        Helper(id: 190, name: "bpf_xdp_store_bytes") { call in
            guard let packet = call.environment?.packet else { throw HelperError("bpf_xdp_store_bytes needs an XDP packet") }
            let offset = Int(SKBHelpers.u32(call.argument(2))), count = Int(SKBHelpers.u32(call.argument(4)))
            guard count > 0, offset + count <= packet.frame.count else { return einval }
            return packet.store(try call.read(at: call.argument(3), size: count), offset: offset) ? 0 : einval
        },
        Helper(id: 188, name: "bpf_xdp_get_buff_len") { call in
            guard let packet = call.environment?.packet else { throw HelperError("bpf_xdp_get_buff_len needs an XDP packet") }
            return UInt64(packet.frame.count)
        },
        Helper(id: 124, name: "bpf_sk_assign") { call in
            // (ctx, sk or NULL, flags): the runtime has no sockets, so only NULL can reach it.
            guard call.argument(3) == 0 else { return einval }
            return call.argument(2) == 0 ? 0 : UInt64(bitPattern: -95)
        },
        Helper(id: 110, name: "bpf_tcp_gen_syncookie") { _ in
            einval   // needs a listening socket from a lookup; the runtime has none
        },
    ]
}
