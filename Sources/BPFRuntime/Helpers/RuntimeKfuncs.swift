import BPFObject

/// The kfuncs the Swift runtime implements, with the kernel's results: open-coded number iterators
/// (`bpf_for`, `bpf_repeat`), the dynptr kfuncs that need no packet, the RCU and preemption
/// sections (nothing to do in a Swift process; the verifier checks they balance), and exceptions
/// (`bpf_throw`).
///
/// A call to one of them is rewritten by the loader into a call of its helper (ids from
/// ``HelperRegistry/kfuncIDs``). The verifier types them by the prototypes the object declares.
enum RuntimeKfuncs {
    static let einval = UInt64(bitPattern: -22), e2big = UInt64(bitPattern: -7), erange = UInt64(bitPattern: -34)
    /// The most iterations a number iterator may have (`BPF_MAX_LOOPS`).
    static let maxLoops: Int64 = 8 * 1024 * 1024

    static func register(into registry: inout HelperRegistry) {
        // struct bpf_iter_num: { int cur; int end; } in its 8 opaque bytes, as the kernel keeps it.
        registry.register(kfunc: "bpf_iter_num_new") { call in
            let it = try call.memory(at: call.argument(1), size: 8, write: true)
            let start = Int32(truncatingIfNeeded: call.argument(2)), end = Int32(truncatingIfNeeded: call.argument(3))
            guard start <= end else {
                it.storeBytes(of: 0, as: UInt64.self)
                return einval
            }
            guard Int64(end) - Int64(start) <= maxLoops else {
                it.storeBytes(of: 0, as: UInt64.self)
                return e2big
            }
            it.storeBytes(of: start &- 1, as: Int32.self)
            it.storeBytes(of: end, toByteOffset: 4, as: Int32.self)
            return 0
        }
        registry.register(kfunc: "bpf_iter_num_next") { call in
            let it = try call.memory(at: call.argument(1), size: 8, write: true)
            let cur = it.load(as: Int32.self), end = it.load(fromByteOffset: 4, as: Int32.self)
            guard Int64(cur) + 1 < Int64(end) else {
                it.storeBytes(of: 0, as: UInt64.self)
                return 0
            }
            it.storeBytes(of: cur + 1, as: Int32.self)
            return call.argument(1)
        }
        registry.register(kfunc: "bpf_iter_num_destroy") { call in
            try call.memory(at: call.argument(1), size: 8, write: true).storeBytes(of: 0, as: UInt64.self)
            return 0
        }
        // bpf_throw(cookie): the program ends from any frame. The kfunc records the throw and fails,
        // so both engines unwind as for any error; the run then ends in ``Interpreter/afterThrow``,
        // which runs the exception callback (or returns the cookie).
        registry.register(kfunc: "bpf_throw") { call in
            call.state.pointee.thrown = (call.argument(1), call.interpreter, call.state.pointee.maps)
            throw RuntimeError.helperFailed(pc: call.pc, helper: "bpf_throw", message: "exception thrown (cookie \(call.argument(1)))")
        }
        for name in ["bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_preempt_disable", "bpf_preempt_enable"] {
            registry.register(kfunc: name) { _ in 0 }
        }
        registry.register(kfunc: "bpf_dynptr_from_skb") { call in try DynptrHelpers.fromPacket(call, kind: DynptrHelpers.skb) }
        registry.register(kfunc: "bpf_dynptr_from_xdp") { call in try DynptrHelpers.fromPacket(call, kind: DynptrHelpers.xdp) }
        registry.register(kfunc: "bpf_dynptr_size") { call in
            let d = try DynptrHelpers.load(call, argument: 1)
            return d.isNull ? 0 : UInt64(d.size)
        }
        registry.register(kfunc: "bpf_dynptr_is_null") { call in
            try DynptrHelpers.load(call, argument: 1).isNull ? 1 : 0
        }
        registry.register(kfunc: "bpf_dynptr_is_rdonly") { call in
            let d = try DynptrHelpers.load(call, argument: 1)
            return !d.isNull && d.readOnly ? 1 : 0
        }
        registry.register(kfunc: "bpf_dynptr_adjust") { call in
            var d = try DynptrHelpers.load(call, argument: 1)
            guard !d.isNull else { return einval }
            let start = call.argument(2) & 0xffff_ffff, end = call.argument(3) & 0xffff_ffff
            guard start <= end else { return einval }
            guard end <= UInt64(d.size) else { return erange }
            d.offset += Int(start)
            d.size = Int(end - start)
            try DynptrHelpers.store(call, argument: 1, d)
            return 0
        }
        registry.register(kfunc: "bpf_dynptr_clone") { call in
            let d = try DynptrHelpers.load(call, argument: 1)
            guard !d.isNull else {
                try DynptrHelpers.store(call, argument: 2, nil)
                return einval
            }
            try DynptrHelpers.store(call, argument: 2, d)
            return 0
        }
        // bpf_rdonly_cast(obj, btf_id): a cast, the pointer unchanged (the kernel inlines it as a move).
        // Reads through it are checked against the run's memory like any other (in the kernel they
        // are probing reads of kernel memory).
        registry.register(kfunc: "bpf_rdonly_cast") { call in call.argument(1) }
        // bpf_cast_to_kern_ctx(ctx): the kernel's own context (struct sk_buff, xdp_buff) behind the
        // UAPI one, as a view laid out by the object's BTF: the fields the runtime knows filled, the
        // rest 0 (pointers NULL: reads through them are probe loads, which read 0 as the kernel's).
        registry.register(kfunc: "bpf_cast_to_kern_ctx") { call in try kernelContext(call) }
        // The crypto kfuncs: the runtime registers no crypto type (the kernel's crypto API is not in
        // a Swift process), so bpf_crypto_ctx_create fails with -EOPNOTSUPP in *err and returns NULL;
        // there is then never a context to acquire, release, or encrypt and decrypt with.
        registry.register(kfunc: "bpf_crypto_ctx_create") { call in
            let err = try call.memory(at: call.argument(3), size: 4, write: true)
            err.storeBytes(of: Int32(-95), as: Int32.self)
            return 0
        }
        registry.register(kfunc: "bpf_crypto_ctx_acquire") { _ in 0 }
        for name in ["bpf_crypto_ctx_release", "bpf_crypto_encrypt", "bpf_crypto_decrypt"] {
            registry.register(kfunc: name) { call in
                throw RuntimeError.helperFailed(pc: call.pc, helper: name, message: "no crypto context exists in the Swift runtime (bpf_crypto_ctx_create fails there)")
            }
        }
        for (name, writable) in [("bpf_dynptr_slice", false), ("bpf_dynptr_slice_rdwr", true)] {
            registry.register(kfunc: name) { call in
                // A pointer into the dynptr's memory (local and ringbuf memory is contiguous, so the
                // buffer is never needed), or NULL out of bounds or, for _rdwr, on a read-only dynptr.
                let d = try DynptrHelpers.load(call, argument: 1)
                let offset = call.argument(2) & 0xffff_ffff, size = call.argument(4) & 0xffff_ffff
                guard !d.isNull, !(writable && d.readOnly), DynptrHelpers.inBounds(d, offset: offset, length: size) else { return 0 }
                let address = d.data &+ UInt64(d.offset) &+ offset
                _ = try call.memory(at: address, size: Int(size), write: writable)
                return address
            }
        }
    }

    /// `bpf_cast_to_kern_ctx`: a read-only view of the kernel struct behind the context, laid out by
    /// the object's BTF (its `vmlinux.h` declarations; CO-RE relocations against that BTF give the
    /// same offsets). `struct xdp_buff`: `data`, `data_end`, `data_meta`, `data_hard_start` (the
    /// metadata's start). `struct sk_buff`: `len`, `data`, `protocol`, `mark`, `priority` (from the
    /// UAPI context). Every other field is 0: `rxq`, `dev`, `sk`, `head` are NULL.
    static func kernelContext(_ call: borrowing HelperCall) throws -> UInt64 {
        let context = call.argument(1)
        let regions = call.regions
        let skb = regions.pointee.virtualField(at: context &+ UInt64(SKBContext.dataOffset)) != nil
        let structName = skb ? "sk_buff" : "xdp_buff"
        guard let btf = call.interpreter.programBTF, let id = btf.typeID(named: structName, kind: .structure),
              let size = try? btf.size(of: id), size > 0, size <= 1 << 16 else {
            throw HelperError("the object's BTF declares no struct \(structName) to lay out the kernel context by")
        }
        let buffer = call.state.pointee.kernelContextBuffer(size)
        let base = buffer.baseAddress!
        func put(_ name: String, _ value: UInt64) {
            guard let (offset, width) = member(btf, id, name), offset + width <= size else { return }
            switch width {
            case 1: base.storeBytes(of: UInt8(truncatingIfNeeded: value), toByteOffset: offset, as: UInt8.self)
            case 2: base.storeBytes(of: UInt16(truncatingIfNeeded: value), toByteOffset: offset, as: UInt16.self)
            case 4: base.storeBytes(of: UInt32(truncatingIfNeeded: value), toByteOffset: offset, as: UInt32.self)
            case 8: base.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
            default: break
            }
        }
        if skb {
            let uapi = try call.read(at: context, size: 36)
            func u32(_ o: Int) -> UInt64 { UInt64(uapi[o]) | UInt64(uapi[o + 1]) << 8 | UInt64(uapi[o + 2]) << 16 | UInt64(uapi[o + 3]) << 24 }
            put("len", u32(0))
            put("mark", u32(8))
            put("protocol", u32(16))
            put("priority", u32(32))
            if let data = regions.pointee.virtualField(at: context &+ UInt64(SKBContext.dataOffset)) { put("data", data) }
        } else {
            guard let data = regions.pointee.virtualField(at: context &+ UInt64(XDPContext.dataOffset)),
                  let end = regions.pointee.virtualField(at: context &+ UInt64(XDPContext.dataEndOffset)) else {
                throw HelperError("argument 1 (0x\(String(context, radix: 16))) is not the program's context")
            }
            let meta = regions.pointee.virtualField(at: context &+ UInt64(XDPContext.dataMetaOffset)) ?? data
            put("data", data)
            put("data_end", end)
            put("data_meta", meta)
            put("data_hard_start", meta)
        }
        return UInt64(UInt(bitPattern: base))
    }

    /// The byte offset and size of member `name` of struct `id`, looking into anonymous members.
    static func member(_ btf: BTF, _ id: Int, _ name: String, depth: Int = 0) -> (Int, Int)? {
        guard depth < 8, let t = btf[btf.resolve(id)], case .members(let members) = t.detail else { return nil }
        for m in members where m.bitfieldSize == 0 {
            if m.name == name {
                guard let size = try? btf.size(of: m.type) else { return nil }
                return (m.bitOffset / 8, size)
            }
            if m.name.isEmpty, let (offset, size) = member(btf, m.type, name, depth: depth + 1) {
                return (m.bitOffset / 8 + offset, size)
            }
        }
        return nil
    }
}
