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
        // bpf_cast_to_kern_ctx(ctx): the kernel's own context (struct sk_buff, xdp_buff...) behind
        // the UAPI one. A Swift process has none: the call stops the run with that explanation (a
        // program that does not reach it runs).
        registry.register(kfunc: "bpf_cast_to_kern_ctx") { call in
            throw RuntimeError.helperFailed(pc: call.pc, helper: "bpf_cast_to_kern_ctx",
                                            message: "the Swift runtime has no kernel context object (struct sk_buff, xdp_buff) behind the program's context; run the program in the kernel")
        }
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
}
