/// The networking kfuncs of XDP and TC programs, in the world a Swift process gives a program: no
/// connection tracking entries, no sockets, no kernel test objects.
///
/// - Conntrack (`net/netfilter/nf_conntrack_bpf.c`): the table is empty. `bpf_xdp_ct_lookup` and
///   `bpf_skb_ct_lookup` check their arguments as Linux 6.18 does, in its order, and return NULL with
///   `opts->error` set: `-EINVAL` (no tuple; `opts__sz` neither 16 nor 12; reserved bytes set, or a
///   zone with the 12-byte layout; `netns_id` below -1), `-EPROTO` (`l4proto` neither TCP nor UDP),
///   `-EAFNOSUPPORT` (`tuple__sz` neither the IPv4 nor the IPv6 tuple's), `-ENONET` (a `netns_id`:
///   the run's namespace has no peers), else `-ENOENT` after setting a 16-byte `opts->ct_zone_dir` 0
///   to the default (both directions), as the kernel's lookup does. `error` is written only when
///   `opts__sz` covers it (the verifier checked `opts__sz` bytes). `bpf_ct_release` has nothing to
///   release: no lookup ever returns an entry.
/// - `bpf_sk_assign_tcp_reqsk`: `-EINVAL` for attributes of the wrong size or with reserved bytes set,
///   as the kernel; otherwise `-ENETUNREACH`, the kernel's answer for a socket outside the packet's
///   network namespace: the runtime's namespace has no sockets, so whatever `sk` is, it is not one of
///   them (and no runtime helper ever gives a program the trusted socket the verifier requires).
/// - `bpf_kfunc_call_test_release`: objects of the kernel's test run (`struct prog_test_ref_kfunc`)
///   come only from `bpf_kfunc_call_test_acquire`, which the runtime does not have; a `__kptr` field
///   of that type is therefore always NULL, and releasing (never reached) does nothing.
enum NetKfuncs {
    static let einval: Int32 = -22, eproto: Int32 = -71, eafnosupport: Int32 = -97, enonet: Int32 = -64, enoent: Int32 = -2
    static let enetunreach: Int32 = -101
    /// `NF_BPF_CT_OPTS_SZ` (Linux 6.18's `struct bpf_ct_opts`, with its zone) and the older layout's size.
    static let ctOptsSize: UInt64 = 16, ctOptsOldSize: UInt64 = 12
    /// `sizeof(struct bpf_tcp_req_attrs)`.
    static let tcpRequestAttributesSize: UInt64 = 20

    static func register(into registry: inout HelperRegistry) {
        for name in ["bpf_xdp_ct_lookup", "bpf_skb_ct_lookup"] {
            registry.register(kfunc: name) { call in try conntrackLookup(call) }
        }
        registry.register(kfunc: "bpf_ct_release") { _ in 0 }
        registry.register(kfunc: "bpf_sk_assign_tcp_reqsk") { call in
            let attributes = call.argument(3), size = call.argument(4) & 0xffff_ffff
            guard size == tcpRequestAttributesSize, attributes != 0 else { return UInt64(bitPattern: Int64(einval)) }
            // struct bpf_tcp_req_attrs: 17 bytes of fields, then `__u8 reserved[3]`.
            let bytes = try call.read(at: attributes, size: Int(size))
            guard bytes[17..<20].allSatisfy({ $0 == 0 }) else { return UInt64(bitPattern: Int64(einval)) }
            return UInt64(bitPattern: Int64(enetunreach))
        }
        registry.register(kfunc: "bpf_kfunc_call_test_release") { _ in 0 }
    }

    /// `bpf_{xdp,skb}_ct_lookup(ctx, bpf_tuple, tuple__sz, opts, opts__sz)` on an empty table.
    static func conntrackLookup(_ call: borrowing HelperCall) throws -> UInt64 {
        let tuple = call.argument(2), tupleSize = call.argument(3) & 0xffff_ffff
        let opts = call.argument(4), optsSize = call.argument(5) & 0xffff_ffff
        guard opts != 0 else { return 0 }
        // struct bpf_ct_opts: s32 netns_id; s32 error; u8 l4proto; u8 dir; u16 ct_zone_id;
        // u8 ct_zone_dir; u8 reserved[3].
        guard tuple != 0, optsSize == ctOptsSize || optsSize == ctOptsOldSize else {
            if optsSize >= 8 { try call.memory(at: opts, size: 8, write: true).storeBytes(of: einval, toByteOffset: 4, as: Int32.self) }
            return 0
        }
        let o = try call.memory(at: opts, size: Int(optsSize), write: true)
        func failed(_ errno: Int32) -> UInt64 {
            o.storeBytes(of: errno, toByteOffset: 4, as: Int32.self)
            return 0
        }
        if optsSize == ctOptsSize {
            guard (13..<16).allSatisfy({ o.load(fromByteOffset: $0, as: UInt8.self) == 0 }) else { return failed(einval) }
        } else {
            guard o.loadUnaligned(fromByteOffset: 10, as: UInt16.self) == 0 else { return failed(einval) }
        }
        let l4proto = o.load(fromByteOffset: 8, as: UInt8.self)
        guard l4proto == 6 || l4proto == 17 else { return failed(eproto) }
        let netns = o.loadUnaligned(as: Int32.self)
        guard netns >= -1 else { return failed(einval) }
        // struct bpf_sock_tuple: ipv4 {saddr, daddr, sport, dport} (12 bytes), ipv6 (36 bytes).
        guard tupleSize == 12 || tupleSize == 36 else { return failed(eafnosupport) }
        _ = try call.memory(at: tuple, size: Int(tupleSize), write: false)
        guard netns < 0 else { return failed(enonet) }
        if optsSize == ctOptsSize && o.load(fromByteOffset: 12, as: UInt8.self) == 0 {
            o.storeBytes(of: 3, toByteOffset: 12, as: UInt8.self)   // NF_CT_DEFAULT_ZONE_DIR
        }
        return failed(enoent)
    }
}
