/// Dynptrs in the Swift runtime: `bpf_dynptr_from_mem`, `bpf_ringbuf_reserve_dynptr`,
/// `bpf_ringbuf_submit_dynptr`, `bpf_ringbuf_discard_dynptr`, `bpf_dynptr_read`, `bpf_dynptr_write`
/// and `bpf_dynptr_data`, with the kernel's results.
///
/// A `struct bpf_dynptr` (16 bytes, on the program's stack) holds, as the kernel's
/// `bpf_dynptr_kern` does: the data's address (8 bytes), its size in the low 24 bits of a 32-bit
/// word whose top bits hold the kind and read-only flag, and an offset (4 bytes). The verifier
/// keeps programs from reading or writing those bytes; an unverified program could forge them, so
/// every access through a dynptr is checked against the run's memory like any other helper access.
enum DynptrHelpers {
    static let einval = UInt64(bitPattern: -22), e2big = UInt64(bitPattern: -7)
    /// The largest size a dynptr describes (`DYNPTR_MAX_SIZE`).
    static let maxSize = (1 << 24) - 1
    static let readOnlyBit: UInt32 = 1 << 31
    static let kindShift: UInt32 = 28

    /// Kinds, as the kernel numbers them (`enum bpf_dynptr_type`).
    static let local: UInt32 = 1, ringbuf: UInt32 = 2, skb: UInt32 = 3, xdp: UInt32 = 4

    /// `bpf_dynptr_from_skb` and `bpf_dynptr_from_xdp`: a dynptr over the run's packet, from the
    /// context's converted `data` and `data_end` (the packet is contiguous in a test run), writable
    /// when the program may write its packet. A later move of the packet (`bpf_xdp_adjust_head`...)
    /// is not followed: accesses through the old dynptr are checked against the run's memory, as always.
    static func fromPacket(_ call: borrowing HelperCall, kind: UInt32) throws(HelperError) -> UInt64 {
        let (dataField, endField) = kind == skb ? (SKBContext.dataOffset, SKBContext.dataEndOffset) : (XDPContext.dataOffset, XDPContext.dataEndOffset)
        let context = call.argument(1)
        guard let data = call.regions.pointee.virtualField(at: context &+ UInt64(dataField)),
              let end = call.regions.pointee.virtualField(at: context &+ UInt64(endField)), end >= data else {
            try store(call, argument: 3, nil)
            throw HelperError("argument 1 (0x\(String(context, radix: 16))) is not the program's \(kind == skb ? "__sk_buff" : "xdp_md") context")
        }
        guard call.argument(2) == 0, end - data <= UInt64(maxSize) else {
            try store(call, argument: 3, nil)
            return einval
        }
        let writable = call.regions.pointee.allows(data, Int(end - data), write: true)
        try store(call, argument: 3, Dynptr(data: data, size: Int(end - data), offset: 0, kind: kind, readOnly: !writable))
        return 0
    }

    struct Dynptr {
        var data: UInt64
        var size: Int
        var offset: Int
        var kind: UInt32
        var readOnly: Bool

        var isNull: Bool { data == 0 }
    }

    static func load(_ call: borrowing HelperCall, argument n: Int) throws(HelperError) -> Dynptr {
        let p = try call.memory(at: call.argument(n), size: 16, write: false)
        let word = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        return Dynptr(data: p.loadUnaligned(as: UInt64.self), size: Int(word & 0xff_ffff), offset: Int(p.loadUnaligned(fromByteOffset: 12, as: UInt32.self)),
                      kind: (word >> kindShift) & 7, readOnly: word & readOnlyBit != 0)
    }

    static func store(_ call: borrowing HelperCall, argument n: Int, _ d: Dynptr?) throws(HelperError) {
        let p = try call.memory(at: call.argument(n), size: 16, write: true)
        guard let d else {
            p.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
            return
        }
        p.storeBytes(of: d.data, as: UInt64.self)
        p.storeBytes(of: UInt32(d.size) | d.kind << kindShift | (d.readOnly ? readOnlyBit : 0), toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: UInt32(d.offset), toByteOffset: 12, as: UInt32.self)
    }

    /// The bounds check every access makes: `length` bytes at `offset` inside the dynptr.
    static func inBounds(_ d: Dynptr, offset: UInt64, length: UInt64) -> Bool {
        offset <= UInt64(d.size) && length <= UInt64(d.size) - offset
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.dynptrFromMem, name: "bpf_dynptr_from_mem") { call in
            let size = Int(call.argument(2))
            guard call.argument(3) == 0 else {
                try store(call, argument: 4, nil)
                return einval
            }
            guard size <= maxSize else {
                try store(call, argument: 4, nil)
                return e2big
            }
            _ = try call.memory(at: call.argument(1), size: size, write: true)
            try store(call, argument: 4, Dynptr(data: call.argument(1), size: size, offset: 0, kind: local, readOnly: false))
            return 0
        },
        Helper(id: KernelHelperID.ringbufReserveDynptr, name: "bpf_ringbuf_reserve_dynptr") { call in
            let ring = try EventHelpers.ring(call)
            let size = Int(call.argument(2))
            guard call.argument(3) == 0 else {
                try store(call, argument: 4, nil)
                return einval
            }
            guard size <= maxSize, let record = ring.reserve(size) else {
                try store(call, argument: 4, nil)
                return size > maxSize ? e2big : einval
            }
            call.grant(ring.region(record: record, length: size))
            try store(call, argument: 4, Dynptr(data: UInt64(UInt(bitPattern: record)), size: size, offset: 0, kind: ringbuf, readOnly: false))
            return 0
        },
        Helper(id: KernelHelperID.ringbufSubmitDynptr, name: "bpf_ringbuf_submit_dynptr") { call in
            try release(call, discard: false)
        },
        Helper(id: KernelHelperID.ringbufDiscardDynptr, name: "bpf_ringbuf_discard_dynptr") { call in
            try release(call, discard: true)
        },
        Helper(id: KernelHelperID.dynptrRead, name: "bpf_dynptr_read") { call in
            let d = try load(call, argument: 3)
            let length = call.argument(2), offset = call.argument(4)
            guard call.argument(5) == 0, !d.isNull else { return einval }
            guard inBounds(d, offset: offset, length: length) else { return e2big }
            let n = Int(length)
            guard n > 0 else { return 0 }
            let source = try call.memory(at: d.data &+ UInt64(d.offset) &+ offset, size: n, write: false)
            let destination = try call.memory(at: call.argument(1), size: n, write: true)
            destination.copyMemory(from: source, byteCount: n)
            return 0
        },
        Helper(id: KernelHelperID.dynptrWrite, name: "bpf_dynptr_write") { call in
            let d = try load(call, argument: 1)
            let offset = call.argument(2), length = call.argument(4)
            guard call.argument(5) == 0, !d.isNull, !d.readOnly else { return einval }
            guard inBounds(d, offset: offset, length: length) else { return e2big }
            let n = Int(length)
            guard n > 0 else { return 0 }
            let source = try call.memory(at: call.argument(3), size: n, write: false)
            let destination = try call.memory(at: d.data &+ UInt64(d.offset) &+ offset, size: n, write: true)
            destination.copyMemory(from: source, byteCount: n)
            return 0
        },
        Helper(id: KernelHelperID.dynptrData, name: "bpf_dynptr_data") { call in
            let d = try load(call, argument: 1)
            let offset = call.argument(2), length = call.argument(3)
            // skb and xdp dynptrs give NULL: their memory is read through bpf_dynptr_slice.
            guard !d.isNull, !d.readOnly, d.kind == local || d.kind == ringbuf, inBounds(d, offset: offset, length: length) else { return 0 }
            let address = d.data &+ UInt64(d.offset) &+ offset
            // The slice is memory the run was given (the map value or the record): checked, not granted anew.
            _ = try call.memory(at: address, size: Int(length), write: true)
            return address
        },
    ]

    /// Submits or discards a ringbuf dynptr's record and nulls the dynptr.
    static func release(_ call: borrowing HelperCall, discard: Bool) throws(HelperError) -> UInt64 {
        let d = try load(call, argument: 1)
        guard !d.isNull else { return 0 }
        guard d.kind == ringbuf else { throw HelperError("argument 1 is a \(d.kind == local ? "local" : "kind \(d.kind)") dynptr, not a ringbuf one") }
        let ring = try EventHelpers.owner(of: d.data, call)
        do throws(MapError) {
            try ring.commit(UnsafeRawPointer(bitPattern: UInt(d.data))!, discard: discard)
        } catch { throw HelperError(error.description) }
        try store(call, argument: 1, nil)
        return 0
    }
}
