import BPFObject

/// Kernel ids of the skb helpers.
extension KernelHelperID {
    public static let skbStoreBytes: Int32 = 9, skbLoadBytes: Int32 = 26, skbChangeTail: Int32 = 38
    public static let skbPullData: Int32 = 39, setHashInvalid: Int32 = 41, skbChangeHead: Int32 = 43, setHash: Int32 = 48
    public static let skbSetTstamp: Int32 = 192
    public static let skbCgroupID: Int32 = 79, skbAncestorCgroupID: Int32 = 83
}

/// The helpers of programs whose context is `struct __sk_buff`, with the kernel's semantics on the
/// linear skb of a test run: `bpf_skb_load_bytes`, `bpf_skb_store_bytes`, `bpf_skb_pull_data`,
/// `bpf_skb_change_tail`, `bpf_skb_change_head`, `bpf_set_hash_invalid`, `bpf_set_hash`, `bpf_skb_set_tstamp`.
/// Failures return the kernel's negative errno; a call from a program type the kernel does not
/// offer the helper to stops the program with an error.
enum SKBHelpers {
    static let efault = UInt64(bitPattern: -14), einval = UInt64(bitPattern: -22), enomem = UInt64(bitPattern: -12)
    static let recomputeChecksum: UInt64 = 1, invalidateHash: UInt64 = 2
    /// The id of cgroup v2's root.
    static let rootCgroupID: UInt64 = 1

    /// The run's skb, after checking the program may call helper `id` and passed its context in r1.
    static func buffer(_ call: borrowing HelperCall, _ id: Int32) throws(HelperError) -> SKBBuffer {
        var name: String { HelperPrototype[id]?.name ?? "helper \(id)" }
        guard let skb = call.environment?.skb else {
            throw HelperError("\(name) needs a struct __sk_buff context (socket filter, TC, cgroup_skb, LWT or sk_skb programs)")
        }
        guard HelperPrototype.isAvailable(id, to: skb.access.type) else {
            throw HelperError("\(name) is not offered to \(skb.access.type.kernelName) programs (the kernel's verifier refuses the call)")
        }
        guard call.argument(1) == UInt64(skb.contextAddress) else {
            throw HelperError("argument 1 (0x\(String(call.argument(1), radix: 16))) must be the program's context")
        }
        return skb
    }

    /// After the packet changed: its region, the converted fields and `len` follow, as
    /// `bpf_compute_data_pointers` makes them.
    static func packetChanged(_ call: borrowing HelperCall, _ skb: SKBBuffer, old: MemoryRegion?) {
        if let old, let new = skb.packetRegion { call.packetMoved(from: old, to: new) }
        call.setVirtualFields(skb.virtualFields)
    }

    static func u32(_ value: UInt64) -> UInt64 { value & 0xffff_ffff }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.skbLoadBytes, name: "bpf_skb_load_bytes") { call in
            let skb = try buffer(call, KernelHelperID.skbLoadBytes)
            let offset = u32(call.argument(2)), count = Int(u32(call.argument(4)))
            guard count > 0 else { return skb.pointer(offset: offset, count: 0) == nil ? efault : 0 }
            let to = try call.memory(at: call.argument(3), size: count, write: true)
            guard let from = skb.pointer(offset: offset, count: UInt64(count)) else {
                to.initializeMemory(as: UInt8.self, repeating: 0, count: count)
                return efault
            }
            to.copyMemory(from: from, byteCount: count)
            return 0
        },
        Helper(id: KernelHelperID.skbStoreBytes, name: "bpf_skb_store_bytes") { call in
            let skb = try buffer(call, KernelHelperID.skbStoreBytes)
            let offset = u32(call.argument(2)), count = Int(u32(call.argument(4))), flags = call.argument(5)
            guard flags & ~(recomputeChecksum | invalidateHash) == 0 else { return einval }
            let from = count > 0 ? try call.memory(at: call.argument(3), size: count, write: false) : nil
            guard let to = skb.pointer(offset: offset, count: UInt64(count)) else { return efault }
            if let from { to.copyMemory(from: from, byteCount: count) }
            // The test run's skb has no checksum state (CHECKSUM_NONE), so RECOMPUTE_CSUM changes nothing.
            if flags & invalidateHash != 0 { skb.setField(SKBContext.hashOffset, 0) }
            return 0
        },
        Helper(id: KernelHelperID.skbPullData, name: "bpf_skb_pull_data") { call in
            let skb = try buffer(call, KernelHelperID.skbPullData)
            // The skb is linear: everything is pulled already; asking for more than len is -ENOMEM.
            return u32(call.argument(2)) > UInt64(skb.length) ? enomem : 0
        },
        Helper(id: KernelHelperID.skbChangeTail, name: "bpf_skb_change_tail") { call in
            let skb = try buffer(call, KernelHelperID.skbChangeTail)
            let newLength = u32(call.argument(2))
            guard call.argument(3) == 0, newLength <= UInt64(SKBBuffer.maxLength), newLength >= UInt64(skb.networkOffset) else {
                return einval
            }
            let old = skb.packetRegion
            skb.setLength(Int(newLength))
            packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: KernelHelperID.skbChangeHead, name: "bpf_skb_change_head") { call in
            let skb = try buffer(call, KernelHelperID.skbChangeHead)
            let room = u32(call.argument(2))
            guard call.argument(3) == 0, UInt64(skb.length) + room <= UInt64(SKBBuffer.maxLength) else { return einval }
            let old = skb.packetRegion
            skb.pushHead(Int(room))
            packetChanged(call, skb, old: old)
            return 0
        },
        Helper(id: KernelHelperID.setHashInvalid, name: "bpf_set_hash_invalid") { call in
            try buffer(call, KernelHelperID.setHashInvalid).setField(SKBContext.hashOffset, 0)
            return 0
        },
        Helper(id: KernelHelperID.setHash, name: "bpf_set_hash") { call in
            try buffer(call, KernelHelperID.setHash).setField(SKBContext.hashOffset, UInt32(truncatingIfNeeded: call.argument(2)))
            return 0
        },
        // The delivery time and its clock (`tstamp`, `tstamp_type`): realtime (0, any time), mono (1)
        // or TAI (2, both non-zero); IPv4 and IPv6 packets only, as the kernel.
        Helper(id: KernelHelperID.skbSetTstamp, name: "bpf_skb_set_tstamp") { call in
            let skb = try buffer(call, KernelHelperID.skbSetTstamp)
            let proto = UInt16(skb.context[SKBContext.protocolOffset]) << 8 | UInt16(skb.context[SKBContext.protocolOffset + 1])
            guard proto == 0x0800 || proto == 0x86dd else { return UInt64(bitPattern: -95) }
            let tstamp = call.argument(2), type = call.argument(3) & 0xffff_ffff
            guard type <= 2, type == 0 || tstamp != 0 else { return einval }
            skb.context.storeBytes(of: tstamp, toByteOffset: SKBContext.tstampOffset, as: UInt64.self)
            skb.context[SKBContext.tstampTypeOffset] = UInt8(type)
            return 0
        },
        // The cgroup of the skb's socket: a test run's socket is in the root cgroup (id 1), as the
        // kernel's test run gives it (there is no cgroup hierarchy in a process); its only ancestor
        // is that root (level 0), deeper levels are 0.
        Helper(id: KernelHelperID.skbCgroupID, name: "bpf_skb_cgroup_id") { call in
            _ = try buffer(call, KernelHelperID.skbCgroupID)
            return rootCgroupID
        },
        Helper(id: KernelHelperID.skbAncestorCgroupID, name: "bpf_skb_ancestor_cgroup_id") { call in
            _ = try buffer(call, KernelHelperID.skbAncestorCgroupID)
            return Int32(truncatingIfNeeded: call.argument(2)) == 0 ? rootCgroupID : 0
        },
    ]
}
