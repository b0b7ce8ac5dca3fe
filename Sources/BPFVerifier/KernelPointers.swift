import BPFObject

/// How far the verifier trusts a typed kernel pointer (`PTR_TO_BTF_ID`), as the kernel's type flags
/// say: trusted (valid for the program's run: arguments of tp_btf, iterator and LSM programs,
/// `bpf_get_current_task_btf()`), RCU-protected, untrusted (loaded through another pointer: still
/// readable, as every such read is exception-handled, but never passed to a helper), or plain (the
/// older untyped-trust pointers of fentry/fexit arguments). User and per-CPU pointers cannot be read.
struct KernelPointerFlags: OptionSet, Hashable {
    let rawValue: Int
    static let trusted = KernelPointerFlags(rawValue: 1)
    static let rcu = KernelPointerFlags(rawValue: 2)
    static let untrusted = KernelPointerFlags(rawValue: 4)
    static let user = KernelPointerFlags(rawValue: 8)
    static let percpu = KernelPointerFlags(rawValue: 16)

    /// The kernel's prefix for the pointer's kind: `trusted_ptr_`, `rcu_ptr_`, `untrusted_ptr_`, `ptr_`.
    var prefix: String {
        if contains(.untrusted) { return "untrusted_" }
        if contains(.trusted) { return "trusted_" }
        if contains(.rcu) { return "rcu_" }
        if contains(.user) { return "user_" }
        if contains(.percpu) { return "percpu_" }
        return ""
    }
}

extension Register {
    /// A typed kernel pointer's BTF type id in the kernel's BTF (0: unknown). Kept in `size`, which
    /// these pointers do not otherwise use.
    var btfType: Int {
        get { size }
        set { size = newValue }
    }

    /// A typed kernel pointer's trust. Kept in `frame`, which these pointers do not otherwise use.
    var kernelFlags: KernelPointerFlags {
        get { KernelPointerFlags(rawValue: frame) }
        set { frame = newValue.rawValue }
    }

    /// Whether the kernel may assume the pointer is not NULL (`reg_not_null`): only trusted ones.
    var isTrustedKernelPointer: Bool { kind == .kernelPointer && kernelFlags.contains(.trusted) && !kernelFlags.contains(.untrusted) }
}

/// What a BTF-typed program's context holds: its target's arguments, typed by the kernel's BTF.
enum TracingContext {
    /// Not a BTF-typed program: its context follows ``ContextRules``.
    case untyped
    /// A BTF-typed program, but the verifier was given no kernel BTF.
    case noBTF(String)
    /// The kernel's BTF has no such target.
    case missingTarget(String)
    case typed(BTF.TracingPrototype, BTF.TracingTargetKind, BTF)

    init(_ program: VerifierProgram) {
        let kind: BTF.TracingTargetKind
        let what: String
        switch (program.type, program.attachType) {
        case (.tracing, .traceRawTp?): (kind, what) = (.tracepoint, "tp_btf")
        case (.tracing, .traceFentry?), (.tracing, .traceFexit?), (.tracing, .modifyReturn?): (kind, what) = (.function, "fentry/fexit")
        case (.tracing, .traceIter?): (kind, what) = (.iterator, "iter")
        case (.lsm, _): (kind, what) = (.lsmHook, "lsm")
        case (.structOps, _):
            guard let implemented = program.structOps else {
                self = .missingTarget("struct_ops program '\(program.name)' is not named by any member of a struct_ops map")
                return
            }
            guard let btf = program.kernelBTF else {
                self = .noBTF("the arguments of struct_ops programs are typed by the kernel's BTF, which the verifier was not given")
                return
            }
            guard let found = btf.structOpsPrototype(type: implemented.kernelTypeName, member: implemented.member) else {
                self = .missingTarget("the kernel's BTF has no function member '\(implemented.member)' in struct \(implemented.kernelTypeName)")
                return
            }
            var proto = found.prototype
            proto.name = "\(implemented.kernelTypeName).\(implemented.member)"
            self = .typed(proto, .structOps, btf)
            return
        default:
            self = .untyped
            return
        }
        guard !program.attachTarget.isEmpty else {
            self = .missingTarget("\(what) program '\(program.name)' names no target in its section '\(program.section)'")
            return
        }
        guard let btf = program.kernelBTF else {
            self = .noBTF("the arguments of \(what) programs are typed by the kernel's BTF, which the verifier was not given")
            return
        }
        guard let proto = btf.tracingPrototype(kind, target: program.attachTarget) else {
            let name = switch kind {
            case .tracepoint: "tracepoint '\(program.attachTarget)' (no btf_trace_\(program.attachTarget))"
            case .function: "function '\(program.attachTarget)'"
            case .iterator: "iterator '\(program.attachTarget)' (no bpf_iter_\(program.attachTarget))"
            case .lsmHook: "LSM hook '\(program.attachTarget)' (no bpf_lsm_\(program.attachTarget))"
            case .structOps: "struct_ops member '\(program.attachTarget)'"
            }
            self = .missingTarget("the kernel's BTF has no \(name)")
            return
        }
        self = .typed(proto, kind, btf)
    }
}

extension Analysis {
    /// A load from the context of a BTF-typed program: argument `offset / 8` of its target, as the
    /// kernel's `btf_ctx_access` types it.
    func tracingContextLoad(_ st: VerifierState, _ pc: Int, regno: Int, offset: Int, size: Int) throws(VerifierError) -> Register {
        let proto: BTF.TracingPrototype, kind: BTF.TracingTargetKind, btf: BTF
        switch tracingContext {
        case .untyped: return .scalar(.loaded(bytes: size))
        case .noBTF(let why):
            throw fail(.undecided, pc, "cannot decide: \(why)", "give the kernel's BTF (/sys/kernel/btf/vmlinux, or --btf FILE)")
        case .missingTarget(let why):
            throw fail(.invalidProgram, pc, why, "the kernel refuses to load a program whose target it does not have", state: st)
        case let .typed(p, k, b): (proto, kind, btf) = (p, k, b)
        }
        let name = proto.name
        guard offset >= 0, offset % 8 == 0 else {
            throw fail(.contextAccess, pc, "func '\(name)': context offset \(offset) is not a multiple of 8",
                       "arguments are 8-byte slots: read them with BPF_PROG() or ctx[i]", state: st, registers: [regno])
        }
        // The argument whose slots hold `offset` (a struct passed by value takes more than one).
        var argument = proto.parameters.count + 1
        var slotEnd = 0
        for (i, parameter) in proto.parameters.enumerated() {
            slotEnd += slotSize(btf, parameter.type)
            if offset < slotEnd { argument = i; break }
        }
        if argument > proto.parameters.count {
            slotEnd += slotSize(btf, proto.returnType)
            if offset < slotEnd { argument = proto.parameters.count }
        }
        let type: Int
        if argument < proto.parameters.count {
            type = proto.parameters[argument].type
        } else {
            switch program.attachType {
            case .traceFexit?, .lsmMac?, .lsmCgroup? where argument == proto.parameters.count:
                type = proto.returnType
            case .modifyReturn? where argument == proto.parameters.count:
                let r = btf[btf.resolve(proto.returnType)]
                guard let r, r.kind == .int, r.sizeOrType <= 8 else {
                    throw fail(.contextAccess, pc, "fmod_ret programs attach only to functions returning an integer; '\(name)' returns \(btf.typeName(proto.returnType))",
                               state: st)
                }
                type = proto.returnType
            default:
                throw fail(.contextAccess, pc, "func '\(name)' has \(proto.parameters.count) arguments: context offset \(offset) (slot \(offset / 8)) is past them",
                           state: st, registers: [regno])
            }
        }
        let resolved = btf.resolve(type)
        guard let t = btf[resolved] else { return .scalar(.loaded(bytes: size)) }   // void
        switch t.kind {
        case .int, .enumeration, .enumeration64, .structure:
            return .scalar(.loaded(bytes: size))
        case .pointer:
            break
        default:
            throw fail(.contextAccess, pc, "func '\(name)' argument \(argument) has type \(btf.typeName(type)): only numbers and pointers can be read",
                       state: st, registers: [regno])
        }
        guard size == 8 else {
            throw fail(.contextAccess, pc, "func '\(name)' argument \(argument) is a pointer: read it as 8 bytes, not \(size)",
                       state: st, registers: [regno])
        }
        let pointee = t.referencedType
        if pointee == 0 { return .unknownScalar }                        // void *: a number
        let target = btf.resolve(pointee)
        if btf[target]?.kind == .int { return .unknownScalar }           // int *, char *: a number
        var flags: KernelPointerFlags = []
        var nullable = false
        switch kind {
        case .tracepoint, .iterator, .lsmHook, .structOps: flags.insert(.trusted)
        case .function: break
        }
        if argument < proto.parameters.count && proto.parameters[argument].name.hasSuffix("__nullable") { nullable = true }
        if kind == .iterator && argument >= 1 { nullable = true }
        if kind == .tracepoint {
            if BTF.tracepointNullableArguments(name).contains(argument) { nullable = true }
            if BTF.tracepointErrorArguments(name).contains(argument) { return .unknownScalar }
        }
        if let tag = btf[pointee], tag.kind == .typeTag, !tag.kindFlag {
            if tag.name == "user" { flags.insert(.user) }
            if tag.name == "percpu" { flags.insert(.percpu) }
        }
        guard let s = btf[target], s.kind == .structure || s.kind == .union else {
            throw fail(.contextAccess, pc, "func '\(name)' argument \(argument) (\(btf.typeName(type))) does not point to a struct",
                       state: st, registers: [regno])
        }
        var r = Register()
        r.kind = nullable ? .kernelPointerOrNull : .kernelPointer
        r.btfType = target
        // A TCP congestion control's `struct sock *` is a `struct tcp_sock` (the kernel promotes it).
        if kind == .structOps, program.structOps?.kernelTypeName == "tcp_congestion_ops", btf[target]?.name == "sock",
           let tcp = btf.typeID(named: "tcp_sock", kind: .structure) {
            r.btfType = tcp
        }
        r.kernelFlags = flags
        if nullable {
            r.id = freshID()
            r.origin = pc
        }
        return r
    }

    /// The 8-byte context slots an argument of this type takes.
    func slotSize(_ btf: BTF, _ type: Int) -> Int {
        guard let t = btf[btf.resolve(type)], t.kind != .pointer else { return 8 }
        return max(8, (t.sizeOrType + 7) / 8 * 8)
    }

    /// The kernel's BTF, when the verifier was given it.
    var kernelBTF: BTF? { program.kernelBTF }

    /// A struct's name for messages: `struct task_struct`.
    func kernelTypeName(_ id: Int) -> String {
        guard id != 0, let btf = kernelBTF else { return "an unknown kernel type" }
        return btf.typeName(id)
    }

    /// A read of `size` bytes at `off` through typed kernel pointer R`regno` (`check_ptr_to_btf_access`):
    /// the field is found in the kernel's BTF; a pointer field gives a typed pointer whose trust follows
    /// the kernel's rules, anything else a number.
    func kernelPointerLoad(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int) throws(VerifierError) -> Register {
        let r = st[regno]
        guard let btf = kernelBTF, r.btfType != 0 else {
            if options.target.untypedKernelReads, r.kernelFlags.isDisjoint(with: [.user, .percpu]),
               program.license.map(HelperPrototype.isGPLCompatible) ?? true, r.value.constantValue == 0, r.offset + off >= 0 {
                // A helper's socket cast (bpf_skc_to_tcp_sock...) the object's BTF does not name: a
                // number, the read checked at run time (the runtime's helpers give no kernel objects).
                return .scalar(.loaded(bytes: size))
            }
            throw fail(.invalidPointer, pc, "read through R\(regno) (\(r.kind.name)), a kernel pointer of unknown type, is not allowed",
                       "the verifier needs the kernel's BTF and the pointer's type to check the field", state: st, registers: [regno])
        }
        let typeName = btf.typeName(r.btfType)
        let name = "\(r.kernelFlags.prefix)ptr_ to \(typeName)"
        if let license = program.license, !HelperPrototype.isGPLCompatible(license) {
            throw fail(.invalidPointer, pc, "R\(regno) (\(name)): kernel structs are readable only by GPL-compatible programs, and this one's license is '\(license)'",
                       "declare a GPL-compatible license: char LICENSE[] SEC(\"license\") = \"GPL\";", state: st, registers: [regno])
        }
        if r.kernelFlags.contains(.user) {
            throw fail(.invalidPointer, pc, "R\(regno) is a \(name) in user memory: read it with bpf_probe_read_user",
                       state: st, registers: [regno])
        }
        if r.kernelFlags.contains(.percpu) {
            throw fail(.invalidPointer, pc, "R\(regno) is a per-CPU \(name): read it through bpf_per_cpu_ptr or bpf_this_cpu_ptr",
                       state: st, registers: [regno])
        }
        guard r.value.constantValue == 0 else {
            throw fail(.invalidPointer, pc, "R\(regno) (\(name)) has a variable offset (\(r.value)): fields are read at constant offsets",
                       state: st, registers: [regno])
        }
        let o = r.offset + off
        guard o >= 0 else {
            throw fail(.outOfBounds, pc, "R\(regno) (\(name)) is read at negative offset \(o)", state: st, registers: [regno])
        }
        let access: BTF.FieldAccess
        switch btf.fieldAccess(in: r.btfType, offset: o, size: size) {
        case .success(let a): access = a
        case .failure(let error):
            throw fail(.outOfBounds, pc, "invalid read of \(size) bytes at offset \(o) of R\(regno) (\(name)): \(error.message)",
                       state: st, registers: [regno])
        }
        guard case let .pointer(type, tag, field, throughUnion) = access else { return .scalar(.loaded(bytes: size)) }
        // The loaded pointer's trust (the kernel's check_ptr_to_btf_access).
        var flags: KernelPointerFlags = []
        var nullable = false
        if tag == "user" { flags.insert(.user) }
        if tag == "percpu" { flags.insert(.percpu) }
        if throughUnion { flags.insert(.untrusted) }
        let parent = r.kernelFlags
        let parentName = btf[r.btfType]?.name ?? ""
        if parent.contains(.untrusted) {
            flags.insert(.untrusted)
        } else if parent.contains(.trusted) || parent.contains(.rcu) {
            let inRCU = !program.sleepable || st.rcuDepth > 0
            if btf.declaresSafeField(parentName, field, suffix: "safe_trusted") {
                flags.insert(.trusted)
            } else if btf.declaresSafeField(parentName, field, suffix: "safe_trusted_or_null") {
                flags.insert(.trusted)
                nullable = true
            } else if inRCU && !r.kind.isNullable {
                let rcuOrNull = btf.declaresSafeField(parentName, field, suffix: "safe_rcu_or_null")
                if btf.declaresSafeField(parentName, field, suffix: "safe_rcu") {
                    flags.insert(.rcu)
                } else if tag == "rcu" || rcuOrNull {
                    flags.insert(.rcu)
                    nullable = true
                    if rcuOrNull { flags.remove(.untrusted) }
                } else if !flags.isDisjoint(with: [.user, .percpu]) {
                    // kept as they are
                } else {
                    // Linux 6.18 gives a field outside the published lists an untrusted pointer
                    // (readable, never passed to a helper or kfunc).
                    flags.subtract([.trusted, .rcu])
                    flags.insert(.untrusted)
                }
            } else {
                flags = .untrusted
            }
        } else {
            // Walked from a plain (fentry argument, helper result) pointer: untrusted too.
            flags.subtract([.trusted, .rcu])
            flags.insert(.untrusted)
        }
        var result = Register()
        result.kind = nullable ? .kernelPointerOrNull : .kernelPointer
        result.btfType = type
        result.kernelFlags = flags
        if nullable {
            result.id = freshID()
            result.origin = pc
        }
        return result
    }

    /// Whether a pointer to `type` at `offset` is (or starts with, through first members) a struct named `expected`.
    func kernelType(_ type: Int, offset: Int, is expected: String) -> Bool {
        guard let btf = kernelBTF else { return true }
        var current = btf.resolve(type)
        var off = offset
        var steps = 0
        while steps < 32 {
            steps += 1
            guard let t = btf[current] else { return false }
            if off == 0 && t.name == expected { return true }
            guard case .members(let members) = t.detail else { return false }
            guard let m = members.last(where: { $0.bitOffset / 8 <= off && $0.bitfieldSize == 0 }) else { return false }
            let mt = btf.resolve(m.type)
            guard let mk = btf[mt], mk.kind == .structure || mk.kind == .union else { return false }
            off -= m.bitOffset / 8
            current = mt
        }
        return false
    }

    /// The kernel type a helper's `btfID` result or argument names, as a register (trusted when the
    /// kernel's prototype returns a trusted pointer: `bpf_get_current_task_btf`, `bpf_task_pt_regs`).
    func helperKernelPointer(_ name: String, helper: Int32, nullable: Bool, pc: Int) -> Register {
        var r = Register()
        r.kind = nullable ? .kernelPointerOrNull : .kernelPointer
        if let btf = kernelBTF {
            r.btfType = btf.typeID(named: name, kind: .structure) ?? 0
        }
        if helper == 158 || helper == 175 { r.kernelFlags = .trusted }
        if nullable {
            r.id = freshID()
            r.origin = pc
        }
        return r
    }

    /// In BTF-typed tracing programs `bpf_sk_storage_get`/`_delete` take their socket as the kernel's
    /// `bpf_sk_storage_*_tracing_proto` does (`ARG_PTR_TO_BTF_ID_OR_NULL` to struct sock_common): NULL,
    /// or a typed pointer to a socket, trusted or RCU-protected, which may be NULL (the helper checks).
    /// True when R`regno` was checked so; false for the other programs (their own rules apply).
    func tracingSocketArgument(_ st: VerifierState, _ pc: Int, regno: Int, helper: Int32, label: String) throws(VerifierError) -> Bool {
        guard program.type == .tracing, helper == 107 || helper == 108 else { return false }
        let r = st[regno]
        if r.kind == .scalar && r.value.constantValue == 0 {
            needPrecise(st, pc, registers: [regno])
            return true
        }
        guard r.kind == .kernelPointer || r.kind == .kernelPointerOrNull else { return false }
        guard r.kernelFlags.isDisjoint(with: [.untrusted, .user, .percpu, .allocated]), r.value.constantValue == 0,
              r.btfType == 0 || kernelType(r.btfType, offset: r.offset, is: "sock_common") else {
            throw fail(.helperArgument, pc, "\(label) must be a trusted or RCU-protected pointer to a struct sock_common (or NULL), but R\(regno) is \(r.describe(maps: maps)) (\(kernelTypeName(r.btfType)))",
                       "pass a socket the program's arguments give, or one read through them where the kernel trusts the field (skb->sk)",
                       state: st, registers: [regno])
        }
        return true
    }

    /// A typed pointer to a socket (its struct starts with a struct sock_common): what a
    /// `bpf_skc_to_*` cast of a looked-up socket gives, which `bpf_sk_release` takes back
    /// (`ARG_PTR_TO_BTF_ID_SOCK_COMMON` accepts `PTR_TO_BTF_ID`).
    func isSocketKernelPointer(_ r: Register) -> Bool {
        guard r.kind == .kernelPointer, r.kernelFlags.isDisjoint(with: [.untrusted, .user, .percpu, .allocated]), r.value.constantValue == 0 else { return false }
        if r.btfType == 0 && kernelBTF == nil && options.target.untypedKernelReads {
            // Untyped (no kernel BTF): a referenced one is a socket helper's cast of a socket the
            // program looked up (bpf_skc_to_tcp_request_sock...), which carries that reference.
            return r.referenceID != 0 && r.offset == 0
        }
        return r.btfType != 0 && kernelType(r.btfType, offset: r.offset, is: "sock_common")
    }

    /// The fields a struct_ops program may write through a typed pointer: a TCP congestion control
    /// (a `tcp_congestion_ops` program) those of its `struct tcp_sock *` the kernel's
    /// `bpf_tcp_ca_btf_struct_access` allows (the pacing rate and status, the congestion-control
    /// private area, the pending ACK flags, the window fields); a `bpf_dummy_ops` program any of its
    /// `struct bpf_dummy_ops_state`.
    func isWritableKernelField(_ r: Register, off: Int, size: Int) -> Bool {
        guard let btf = kernelBTF, r.value.constantValue == 0 else { return false }
        // bpf_dummy_ops (the kernel's struct_ops test): its programs write any byte of the state
        // they are given (bpf_dummy_ops_btf_struct_access).
        if program.type == .structOps, program.structOps?.kernelTypeName == "bpf_dummy_ops",
           btf[r.btfType]?.name == "bpf_dummy_ops_state", let stateSize = try? btf.size(of: r.btfType) {
            let start = r.offset + off
            return start >= 0 && start + size <= stateSize
        }
        let start = r.offset + off
        let structName = btf[r.btfType]?.name ?? ""
        if structName == "nf_conn" || structName == "nf_conn___init" {
            // A conntrack entry's mark, the one field the kernel's nf_conntrack_btf_struct_access lets
            // programs write (whole).
            guard let range = Self.fieldRange(btf, "nf_conn", ["mark"]) else { return false }
            return start == range.lowerBound && size == range.count
        }
        guard program.type == .structOps, program.structOps?.kernelTypeName == "tcp_congestion_ops",
              structName == "tcp_sock" else { return false }
        func field(_ structName: String, _ path: [String]) -> Range<Int>? { Self.fieldRange(btf, structName, path) }
        let allowed: [Range<Int>?] = [
            field("sock", ["sk_pacing_rate"]), field("sock", ["sk_pacing_status"]),
            field("inet_connection_sock", ["icsk_ca_priv"]), field("inet_connection_sock", ["icsk_ack", "pending"]),
            field("tcp_sock", ["snd_cwnd"]), field("tcp_sock", ["snd_cwnd_cnt"]), field("tcp_sock", ["snd_cwnd_stamp"]),
            field("tcp_sock", ["snd_ssthresh"]), field("tcp_sock", ["ecn_flags"]), field("tcp_sock", ["app_limited"]),
        ]
        return allowed.contains { range in
            guard let range else { return false }
            return start >= range.lowerBound && start + size <= range.upperBound
        }
    }

    /// The bytes field `path` (nested member names) takes in struct `structName` of `btf`.
    static func fieldRange(_ btf: BTF, _ structName: String, _ path: [String]) -> Range<Int>? {
        guard var type = btf.typeID(named: structName, kind: .structure) else { return nil }
        var offset = 0
        for (i, name) in path.enumerated() {
            guard case .members(let members)? = btf[btf.resolve(type)]?.detail,
                  let m = members.first(where: { $0.name == name }) else { return nil }
            offset += m.bitOffset / 8
            type = m.type
            if i == path.count - 1 {
                let bytes = m.bitfieldSize > 0 ? (m.bitOffset % 8 + m.bitfieldSize + 7) / 8 : ((try? btf.size(of: m.type)) ?? 0)
                return offset..<(offset + bytes)
            }
        }
        return nil
    }
}
