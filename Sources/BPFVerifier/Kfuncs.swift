import BPFObject

extension Analysis {
    /// A call to kfunc `name`, checked as the kernel's `check_kfunc_call` checks it: the prototype
    /// comes from the kernel's BTF, the flags (acquire, release, may return NULL, trusted or RCU
    /// arguments) from ``KfuncFlags``. Numbers must be numbers (`__k`: constants), struct pointers
    /// typed kernel pointers of that struct (trusted where the kfunc asks; `__nullable`/`__opt`: or
    /// NULL), memory followed by a `__sz` size readable for that size, and the program's context
    /// where the kfunc takes it. An acquired result must be released on every path.
    func kfuncCall(_ st: inout VerifierState, _ pc: Int, name: String, parent: Checkpoint? = nil) throws(VerifierError) {
        try checkKfuncProgramType(st, pc, name: name)
        if Self.isGraphKfunc(name) {
            try graphCall(&st, pc, name: name, parent: parent)
            return
        }
        if let lock = st.lock, !Self.isAllowedUnderLock(name) {
            throw fail(.lock, pc, "call to kfunc '\(name)' while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "release the lock with bpf_spin_unlock first", state: st)
        }
        if let (type, operation) = Analysis.iteratorCall(name) {
            try iteratorCall(&st, pc, name: name, type: type, operation: operation, parent: parent)
            return
        }
        if name == "bpf_rdonly_cast" {
            try rdonlyCast(&st, pc)
            return
        }
        if let family = KfuncFlags.unmodelledFamily(name) {
            throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' (\(family)) is not modelled by this verifier yet",
                       "the kernel decides it; load the object to get its verdict")
        }
        guard let btf = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program calls kfunc '\(name)', whose prototype is in the kernel's BTF, which the verifier was not given")
        }
        guard let function = btf.typeID(named: name, kind: .function), let f = btf[function],
              let proto = btf[f.referencedType], case .parameters(let declared) = proto.detail else {
            throw fail(.invalidProgram, pc, "kfunc '\(name)' is not in the kernel's BTF",
                       "the kernel refuses to load a program calling a kfunc it does not have (declare it __weak and guard the call with bpf_ksym_exists)",
                       state: st)
        }
        let parameters = Self.named(declared, kfunc: name)
        if try section(&st, pc, name: name) { return }
        let flags = KfuncFlags.of(name) ?? []
        if flags.contains(.sleepable) && !program.sleepable {
            throw fail(.helperUnavailable, pc, "kfunc '\(name)' may sleep: only sleepable programs (SEC(\"...s/...\")) may call it", state: st)
        }
        if flags.contains(.sleepable) && (st.rcuDepth > 0 || st.preemptDepth > 0) {
            throw fail(.lock, pc, "kfunc '\(name)' may sleep, but it is called inside a \(st.rcuDepth > 0 ? "bpf_rcu_read_lock section" : "bpf_preempt_disable section")",
                       state: st)
        }
        try checkDynptrKfuncAvailable(st, pc, name: name)
        if name == "bpf_sock_destroy" {
            // Only a TCP or UDP socket iterator may destroy the socket it is at (the kernel's tracing_iter_filter).
            let target = program.attachTarget
            guard program.type == .tracing, program.attachType == .traceIter, target == "tcp" || target == "udp" else {
                throw fail(.helperUnavailable, pc, "kfunc bpf_sock_destroy is only allowed in TCP and UDP socket iterators (SEC(\"iter/tcp\"), SEC(\"iter/udp\"))",
                           state: st)
            }
        }
        if name == "bpf_cast_to_kern_ctx" {
            // Its `void *obj` is the program's context, unmoved.
            guard st[1].kind == .context, st[1].offset == 0, st[1].value.constantValue == 0 else {
                throw argumentError(st, pc, regno: 1, label: "argument 1 of bpf_cast_to_kern_ctx ('obj')", what: "the program's context", hint: nil)
            }
        }
        // A slice of a dynptr: the dynptr and the constant size, taken before the arguments are checked.
        var slice: (source: Register, size: Int)?
        if name == "bpf_dynptr_slice" || name == "bpf_dynptr_slice_rdwr" {
            let source = try initializedDynptr(st, pc, regno: 1, label: "argument 1 of \(name)", mutable: false).state
            guard st[4].kind == .scalar, let size = st[4].value.constantValue, size < 1 << 29 else {
                throw fail(.helperArgument, pc, "argument 4 of \(name) ('buffer__szk') must be a constant size, but R4 is \(st[4].describe(maps: maps))",
                           "slice a size known when the program is verified (sizeof)", state: st, registers: [4])
            }
            if name == "bpf_dynptr_slice_rdwr" && !rules.packetWritable {
                throw fail(.helperUnavailable, pc, "bpf_dynptr_slice_rdwr gives writable memory, but \(program.type.kernelName) programs may not write packet data",
                           "use bpf_dynptr_slice", state: st)
            }
            slice = (source, Int(size))
        }
        let released = name == "bpf_cast_to_kern_ctx" ? nil
            : try checkKfuncArguments(&st, pc, name: name, parameters: parameters, flags: flags, btf: btf, from: 0)
        if let id = released {
            st.references.removeAll { $0.id == id }
            st.forEachRegister { r in
                if r.referenceID == id { r = .unknownScalar }
            }
        }
        for r in 1...5 { st[r] = .uninitialized }
        // The result.
        var r0 = Register.uninitialized
        let returnType = btf.resolve(proto.referencedType)
        if let slice {
            r0 = dynptrSlice(of: slice.source, size: slice.size, readOnly: name == "bpf_dynptr_slice", pc: pc)
        } else if name == "bpf_cast_to_kern_ctx" {
            guard let kernelContext = Self.kernelContextStruct(program.type), let id = btf.typeID(named: kernelContext, kind: .structure) else {
                throw fail(.undecided, pc, "cannot decide: bpf_cast_to_kern_ctx for \(program.type.kernelName) programs")
            }
            r0 = Register()
            r0.kind = .kernelPointer
            r0.btfType = id
            r0.kernelFlags = .trusted
        } else if let t = btf[returnType] {
            switch t.kind {
            case .int, .enumeration, .enumeration64:
                r0 = t.kind == .int && t.sizeOrType == 1 ? .scalar(.unsigned(0, 1)) : .unknownScalar
            case .pointer where name == "bpf_session_cookie":
                // The kprobe session's cookie: 8 bytes the program reads and writes (never NULL).
                r0 = Register()
                r0.kind = .memory
                r0.size = 8
            case .pointer where btf.resolve(t.referencedType) == 0:
                // `void *` (the arena kfuncs' `void __arena *` too) is a number, as the kernel takes it.
                r0 = .unknownScalar
            case .pointer:
                let target = btf.resolve(t.referencedType)
                guard let s = btf[target], s.kind == .structure || s.kind == .union else {
                    throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' returns \(btf.typeName(proto.referencedType))")
                }
                r0 = Register()
                r0.kind = flags.contains(.returnsNull) ? .kernelPointerOrNull : .kernelPointer
                r0.btfType = target
                if flags.contains(.acquire) {
                    r0.kernelFlags = .trusted
                } else if flags.contains(.rcuProtected) {
                    r0.kernelFlags = .rcu
                }
                if flags.contains(.returnsNull) || flags.contains(.acquire) {
                    r0.id = freshID()
                    r0.origin = pc
                }
                if flags.contains(.acquire) {
                    r0.referenceID = r0.id
                    st.references.append(Reference(id: r0.id, instruction: pc, helper: 0))
                }
            default:
                r0 = .unknownScalar
            }
        }
        st[0] = r0
    }

    /// `bpf_rdonly_cast(obj, btf_id)` (`bpf_core_cast`): anything, seen as the kernel struct the
    /// constant `btf_id` names (a CO-RE relocated id of the kernel's BTF), untrusted — read only, never
    /// passed on; a `void` id gives read-only memory of size 0.
    func rdonlyCast(_ st: inout VerifierState, _ pc: Int) throws(VerifierError) {
        guard let btf = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program calls bpf_rdonly_cast, whose type ids are the kernel's BTF, which the verifier was not given")
        }
        if st[1].kind == .uninitialized { throw argumentUnset(st, pc, regno: 1, label: "argument 1 of bpf_rdonly_cast") }
        guard st[2].kind == .scalar, let id = st[2].value.constantValue else {
            throw fail(.helperArgument, pc, "argument 2 of bpf_rdonly_cast ('btf_id__k') must be a constant type id, but R2 is \(st[2].describe(maps: maps))",
                       state: st, registers: [2])
        }
        needPrecise(st, pc, registers: [2])
        var r0 = Register()
        if id == 0 {
            r0.kind = .memory
            r0.size = 0
            r0.readOnly = true
        } else {
            let type = btf.resolve(Int(id))
            guard let t = btf[type], t.kind == .structure || t.kind == .union else {
                throw fail(.helperArgument, pc, "argument 2 of bpf_rdonly_cast names type \(id) of the kernel's BTF, which is not a struct",
                           "cast to a struct type (bpf_core_cast(ptr, struct name))", state: st, registers: [2])
            }
            r0.kind = .kernelPointer
            r0.btfType = type
            r0.kernelFlags = .untrusted
        }
        for r in 1...5 { st[r] = .uninitialized }
        st[0] = r0
    }

    /// The arguments of a kfunc call from parameter `first` on, checked against its prototype and
    /// flags; returns the reference a releasing kfunc releases.
    func checkKfuncArguments(_ st: inout VerifierState, _ pc: Int, name: String, parameters: [BTFParameter], flags: KfuncFlags,
                             btf: BTF, from first: Int) throws(VerifierError) -> UInt32? {
        guard parameters.count <= 5 else {
            throw fail(.unsupported, pc, "kfunc '\(name)' takes \(parameters.count) arguments; calls pass at most 5", state: st)
        }
        var released: UInt32?
        var dynptrs: [DynptrLocation] = []
        var i = first
        while i < parameters.count {
            let parameter = parameters[i]
            let regno = i + 1
            let r = st[regno]
            let label = "argument \(regno) of \(name) ('\(parameter.name)')"
            if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
            func bad(_ what: String, _ hint: String? = nil) -> VerifierError {
                argumentError(st, pc, regno: regno, label: label, what: what, hint: hint)
            }
            let type = btf.resolve(parameter.type)
            let t = btf[type]
            if parameter.name.hasSuffix("__ign") { i += 1; continue }
            if parameter.name.hasSuffix("__map") {
                // A map (`void *p__map`): the arena kfuncs' arena.
                if r.kind == .kernelPointer {
                    // A struct bpf_map the kernel hands over (a bpf_map iterator's), trusted.
                    guard kernelType(r.btfType, offset: r.offset, is: "bpf_map") else { throw bad("a pointer to struct bpf_map") }
                    guard r.isTrustedKernelPointer, !r.kernelFlags.contains(.untrusted) else { throw bad("a trusted pointer to struct bpf_map") }
                    i += 1
                    continue
                }
                guard r.kind == .mapPointer else { throw bad("a map") }
                if name.hasPrefix("bpf_arena_"), !(r.map >= 0 && r.map < maps.count && maps[r.map].type == .arena) {
                    throw bad("an arena map (BPF_MAP_TYPE_ARENA)")
                }
                i += 1
                continue
            }
            switch t?.kind {
            case .int?, .enumeration?, .enumeration64?:
                guard r.kind == .scalar else { throw bad("a number") }
                if parameter.name.hasSuffix("__k") || parameter.name.hasSuffix("__szk") {
                    guard r.value.isConstant else { throw bad("a constant", "'\(parameter.name)' is a __k argument: pass a value known when the program is verified") }
                    needPrecise(st, pc, registers: [regno])
                }
            case .pointer?:
                let pointee = btf.resolve(t!.referencedType)
                let target = btf[pointee]
                let optional = parameter.name.hasSuffix("__nullable") || parameter.name.hasSuffix("__opt")
                if optional && r.kind == .scalar && r.value.constantValue == 0 {
                    needPrecise(st, pc, registers: [regno])
                    break
                }
                if r.kind == .scalar && r.value.constantValue == 0 {
                    // Linux 6.18 takes every kfunc pointer argument as trusted: NULL only where the
                    // parameter says so (`__nullable`, `__opt`).
                    throw bad("a pointer, not NULL", "'\(parameter.name)' is not __nullable or __opt")
                }
                // A struct of numbers the program passes in its own memory (bpf_sock_tuple,
                // bpf_ct_opts, bpf_crypto_params...) is memory, sized by a following __sz argument or
                // by the struct: the kernel's KF_ARG_PTR_TO_MEM(_SIZE).
                let followedBySize = i + 1 < parameters.count
                    && (parameters[i + 1].name.hasSuffix("__sz") || parameters[i + 1].name.hasSuffix("__szk"))
                let structAsMemory = r.kind != .kernelPointer && !r.kind.isSocket && target.map {
                    ($0.kind == .structure || $0.kind == .union) && !Self.contextStructs.contains($0.name)
                        && $0.name != "bpf_dynptr" && !Self.objectStructs.contains($0.name)
                        && (followedBySize || Self.isScalarStruct(btf, pointee))
                } ?? false
                if let target, target.kind == .structure || target.kind == .union, !structAsMemory {
                    if target.name == "bpf_dynptr" {
                        try kfuncDynptrArgument(&st, pc, name: name, parameter: parameter, const: btf.typeName(t!.referencedType).hasPrefix("const"),
                                                regno: regno, label: label, seen: &dynptrs)
                        break
                    }
                    if Self.contextStructs.contains(target.name) {
                        // A tracing program passes the kernel's sk_buff where others pass their context.
                        if target.name == "__sk_buff", r.kind == .kernelPointer, r.isTrustedKernelPointer,
                           kernelType(r.btfType, offset: r.offset, is: "sk_buff") { break }
                        guard r.kind == .context, r.offset == 0, r.value.constantValue == 0 else { throw bad("the program's context") }
                        break
                    }
                    if target.name.hasPrefix("bpf_") && Self.objectStructs.contains(target.name) {
                        throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' takes a struct \(target.name), which this verifier does not model yet")
                    }
                    guard r.kind == .kernelPointer || r.kind.isSocket else {
                        throw bad("a pointer to \(btf.typeName(pointee))")
                    }
                    if r.kind == .kernelPointer && r.kernelFlags.contains(.allocated) {
                        throw bad("a pointer to \(btf.typeName(pointee)), not an object of the program's BTF (\(localTypeName(r.btfType)))")
                    }
                    if r.kind == .kernelPointer {
                        if r.btfType != 0 && !kernelType(r.btfType, offset: r.offset, is: target.name) {
                            throw bad("a pointer to \(btf.typeName(pointee)), not to \(kernelTypeName(r.btfType))")
                        }
                        // Strict matching (the kernel's, for a released reference and for "no-cast
                        // aliases": struct names that differ only by a ___flavor, as nf_conn and
                        // nf_conn___init): the struct itself, not one starting with it.
                        let held = btf[btf.resolve(r.btfType)]?.name ?? ""
                        let base = { (n: String) in n.split(separator: "___", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? n }
                        if r.btfType != 0, (i == 0 && flags.contains(.release) && r.referenceID != 0) || (held != target.name && base(held) == base(target.name)),
                           held != target.name || r.offset != 0 {
                            throw bad("a pointer to \(btf.typeName(pointee)) itself, not to \(kernelTypeName(r.btfType))")
                        }
                        let trusted = r.isTrustedKernelPointer || r.referenceID != 0
                        let rcu = r.kernelFlags.contains(.rcu) && !r.kernelFlags.contains(.untrusted)
                        if r.kernelFlags.contains(.untrusted) {
                            throw bad("a trusted kernel pointer", "a pointer read through another kernel pointer is untrusted")
                        }
                        // Linux 6.18 takes every kfunc's struct pointer arguments as trusted (KF_RCU ones
                        // may also be RCU-protected): for the kfuncs whose flags the table knows (and
                        // the iterators); of another, an acquired result is not known to be referenced.
                        if flags.contains(.trustedArguments) || flags.contains(.release) || flags.contains(.rcuArguments)
                            || KfuncFlags.of(name) != nil || name.hasPrefix("bpf_iter_") {
                            guard trusted || (rcu && flags.contains(.rcuArguments)) else {
                                throw bad("a referenced or trusted pointer", flags.contains(.rcuArguments) ? "or an RCU-protected one" : nil)
                            }
                        }
                        if i == 0 && flags.contains(.release) {
                            guard r.referenceID != 0 else {
                                throw bad("an object the program acquired", "only what an acquiring kfunc returned is released")
                            }
                            guard r.offset == 0, r.value.constantValue == 0 else { throw bad("the acquired pointer itself (offset 0)") }
                            released = r.referenceID
                        }
                    }
                } else {
                    // Memory: sized by the next argument (`__sz`), or the pointee's size.
                    let next = i + 1 < parameters.count ? parameters[i + 1] : nil
                    if let next, next.name.hasSuffix("__sz") || next.name.hasSuffix("__szk") {
                        let size = st[regno + 1]
                        guard size.kind == .scalar else {
                            throw fail(.helperArgument, pc, "argument \(regno + 1) of \(name) ('\(next.name)') must be a size", state: st, registers: [regno + 1])
                        }
                        needPrecise(st, pc, registers: [regno + 1])
                        if next.name.hasSuffix("__szk") && !size.value.isConstant {
                            throw fail(.helperArgument, pc, "argument \(regno + 1) of \(name) ('\(next.name)') must be a constant, but R\(regno + 1) is \(size.value)",
                                       state: st, registers: [regno + 1])
                        }
                        guard size.value.umax < 1 << 29 else {
                            throw fail(.helperArgument, pc, "R\(regno + 1), the size argument of \(name), has no upper bound (\(size.value))",
                                       state: st, registers: [regno + 1])
                        }
                        if size.value.umax > 0 {
                            guard r.kind.isPointer else { throw bad("a pointer to memory") }
                            try checkHelperMemory(&st, pc, regno: regno, size: size.value, write: false, helper: name,
                                                  what: "\(size.value.umax) bytes")
                        }
                        i += 2
                        continue
                    }
                    guard pointee != 0, let size = try? btf.size(of: pointee), size > 0 else {
                        throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' argument '\(parameter.name)' is memory of no known size")
                    }
                    guard r.kind.isPointer else { throw bad("a pointer to \(size) bytes") }
                    try checkHelperMemory(&st, pc, regno: regno, size: .constant(UInt64(size)), write: !btf.typeName(t!.referencedType).hasPrefix("const"),
                                          helper: name, what: "\(size) bytes")
                }
            default:
                throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' argument '\(parameter.name)' has type \(btf.typeName(parameter.type))")
            }
            i += 1
        }
        return released
    }

    /// `bpf_rcu_read_lock`/`unlock` and `bpf_preempt_disable`/`enable`: sections that must close on every
    /// path; leaving the last RCU section makes the RCU-protected pointers untrusted. True when `name`
    /// is one of them.
    func section(_ st: inout VerifierState, _ pc: Int, name: String) throws(VerifierError) -> Bool {
        switch name {
        case "bpf_rcu_read_lock":
            guard st.rcuDepth < 64 else { throw fail(.lock, pc, "too many nested bpf_rcu_read_lock sections", state: st) }
            st.rcuDepth += 1
        case "bpf_rcu_read_unlock":
            guard st.rcuDepth > 0 else {
                throw fail(.lock, pc, "bpf_rcu_read_unlock without a matching bpf_rcu_read_lock", state: st)
            }
            st.rcuDepth -= 1
            if st.rcuDepth == 0 {
                st.forEachRegister { r in
                    if (r.kind == .kernelPointer || r.kind == .kernelPointerOrNull) && r.kernelFlags.contains(.rcu) {
                        // An RCU-protected allocated object (a local kptr loaded in the section) is
                        // unusable after it: the kernel refuses any access through it.
                        r.kernelFlags = r.kernelFlags.contains(.allocated) ? [.allocated, .untrusted, .rcuEnded] : .untrusted
                    }
                }
            }
        case "bpf_preempt_disable":
            guard st.preemptDepth < 64 else { throw fail(.lock, pc, "too many nested bpf_preempt_disable sections", state: st) }
            st.preemptDepth += 1
        case "bpf_preempt_enable":
            guard st.preemptDepth > 0 else {
                throw fail(.lock, pc, "bpf_preempt_enable without a matching bpf_preempt_disable", state: st)
            }
            st.preemptDepth -= 1
        default:
            return false
        }
        for r in 0...5 { st[r] = .uninitialized }
        return true
    }

    /// What `lddw` of kernel symbol `name` (a `__ksym` extern) gives, as the kernel's `check_pseudo_btf_id`
    /// types it: a kfunc's address is non-NULL read-only memory of size 0 (what `bpf_ksym_exists` tests);
    /// a per-CPU variable a per-CPU typed pointer (read through `bpf_per_cpu_ptr`); another struct
    /// variable a typed pointer; any other variable read-only memory of its size; a symbol the BTF does
    /// not type (found in /proc/kallsyms by the loader) its address, a number.
    func kernelSymbol(_ st: VerifierState, _ pc: Int, name: String) throws(VerifierError) -> Register {
        guard let btf = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program uses extern '\(name)' (a .ksyms or unresolved symbol)")
        }
        var r = Register()
        if btf.typeID(named: name, kind: .function) != nil {
            r.kind = .memory
            r.size = 0
            r.readOnly = true
            return r
        }
        guard let variable = btf.typeID(named: name, kind: .variable), let v = btf[variable] else {
            // A kfunc the kernel lacks: only a __weak one loads (libbpf then gives its address as
            // 0, so `bpf_ksym_exists` is false and the call is dead code).
            // A kfunc is known by a call, or by the object's BTF (an extern FUNC only tested).
            if program.kfuncs.values.contains(name) || program.programBTF?.typeID(named: name, kind: .function) != nil {
                return .scalar(.constant(0))
            }
            return .unknownScalar
        }
        let type = btf.resolve(v.referencedType)
        let percpu = percpuVariables.contains(variable)
        if let t = btf[type], t.kind == .structure || t.kind == .union {
            r.kind = .kernelPointer
            r.btfType = type
            r.kernelFlags = percpu ? .percpu : []
            return r
        }
        if percpu {
            throw fail(.undecided, pc, "cannot decide: per-CPU kernel variable '\(name)' of type \(btf.typeName(v.referencedType))")
        }
        r.kind = .memory
        r.size = (try? btf.size(of: type)) ?? 0
        r.readOnly = true
        return r
    }

    /// A kfunc's parameters, named from ``KfuncFlags/parameterNames(of:)`` where the BTF that declares
    /// it gives no names (an object's own `extern` declaration).
    static func named(_ parameters: [BTFParameter], kfunc name: String) -> [BTFParameter] {
        guard parameters.contains(where: { $0.name.isEmpty }), let names = KfuncFlags.parameterNames(of: name),
              names.count == parameters.count else { return parameters }
        return zip(parameters, names).map { BTFParameter(name: $0.name.isEmpty ? $1 : $0.name, type: $0.type) }
    }

    /// Whether a struct holds only numbers (nested structs and arrays of numbers too): what the
    /// kernel lets a program pass as plain memory (`__btf_type_is_scalar_struct`).
    static func isScalarStruct(_ btf: BTF, _ type: Int, depth: Int = 0) -> Bool {
        guard depth < 8, let t = btf[btf.resolve(type)], case .members(let members) = t.detail else { return false }
        return members.allSatisfy { member in
            var id = btf.resolve(member.type)
            while let a = btf[id], case let .array(element, _, _) = a.detail { id = btf.resolve(element) }
            guard let m = btf[id] else { return false }
            switch m.kind {
            case .int, .enumeration, .enumeration64, .float: return true
            case .structure, .union: return isScalarStruct(btf, id, depth: depth + 1)
            default: return false
            }
        }
    }

    /// The UAPI context structs a kfunc may take as the program's context.
    static let contextStructs: Set<String> = ["__sk_buff", "xdp_md", "bpf_sock_addr", "bpf_sock_ops", "sk_msg_md", "bpf_sk_lookup",
                                              "bpf_sockopt", "bpf_sysctl", "bpf_perf_event_data", "bpf_raw_tracepoint_args"]

    /// BPF-side objects kfuncs take (graph nodes, timers...), not modelled yet.
    static let objectStructs: Set<String> = ["bpf_list_head", "bpf_list_node", "bpf_rb_root", "bpf_rb_node",
                                             "bpf_refcount", "bpf_timer", "bpf_wq", "bpf_res_spin_lock", "bpf_task_work"]

    /// The kernel struct `bpf_cast_to_kern_ctx` gives a program type's context as.
    static func kernelContextStruct(_ type: ProgramType) -> String? {
        switch type {
        case .schedCls, .schedAct, .socketFilter, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local, .skSkb: "sk_buff"
        case .xdp: "xdp_buff"
        case .cgroupSockAddr: "bpf_sock_addr_kern"
        case .sockOps: "bpf_sock_ops_kern"
        case .cgroupSockopt: "bpf_sockopt_kern"
        case .cgroupSysctl: "bpf_sysctl_kern"
        case .skLookup: "bpf_sk_lookup_kern"
        case .cgroupSock: "sock"
        default: nil
        }
    }

    /// For messages: what acquired reference `ref` is.
    func kfuncReferenceName(_ ref: Reference) -> String {
        let name = program.kfuncs[ref.instruction] ?? "a kfunc"
        if let iterator = Analysis.iteratorCall(name), iterator.operation == "new" {
            return "the iterator \(name) created at insn \(ref.instruction) (destroy it with bpf_iter_\(iterator.type)_destroy)"
        }
        return "the object \(name) returned at insn \(ref.instruction)"
    }
}
