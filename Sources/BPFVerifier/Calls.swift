import BPFCore
import BPFObject

/// Calls, exits, helpers, callbacks and references.
extension Analysis {
    static let maxFrames = 8

    func localCall(_ st: inout VerifierState, _ pc: Int, target: Int) throws(VerifierError) -> StepResult {
        if let caller = st.frames.first(where: { $0.subprogram == target }) {
            // The kernel walks the call graph before verifying: a cycle never ends (check_max_stack_depth).
            throw fail(.callStack, pc, "recursive call: the function at insn \(target) is already on the call stack (called at insn \(caller.callSite))",
                       "the kernel refuses recursion, however bounded; use a loop", state: st)
        }
        guard st.frames.count < Analysis.maxFrames else {
            throw fail(.callStack, pc, "the call stack is too deep: more than \(Analysis.maxFrames) frames",
                       "call fewer functions inside each other (the kernel allows 8 frames)", state: st)
        }
        // A static function may run under the lock (and take or release it); a global one, which
        // the kernel verifies on its own, may not (check_helper_call's active_locks rule).
        if let lock = st.lock, isGlobalFunction(target) {
            throw fail(.lock, pc, "call to a global function while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "release the lock with bpf_spin_unlock first, or make the function static", state: st)
        }
        if isGlobalFunction(target) { return try globalCall(&st, pc, target: target) }
        var frame = Frame(callSite: pc, subprogram: target)
        for r in 1...5 { frame.registers[r] = st[r] }
        frame.registers[10] = stackPointer(frame: st.frames.count)
        for r in 0...5 { st[r] = .uninitialized }
        addCallEdge(st.current.subprogram, target)
        st.frames.append(frame)
        verificationRootPeak = max(verificationRootPeak, st.frames.count)
        return .next(target)
    }

    /// Whether the function starting at `target` is global (its BTF linkage), as opposed to static
    /// (or `__hidden`, which loaders send as static).
    func isGlobalFunction(_ target: Int) -> Bool {
        guard let btf = program.programBTF, let info = program.functionInfos.first(where: { $0.instruction == target }),
              let t = btf[info.typeID], case .linkage(let linkage) = t.detail else { return false }
        return linkage == 1 && !program.hiddenFunctions.contains(t.name)
    }

    func exit(_ st: inout VerifierState, _ pc: Int) throws(VerifierError) -> StepResult {
        // The lock must be released before the program ends; a static function may return with it
        // held (the kernel checks it at the main program's exit only).
        if let lock = st.lock, st.frames.count == 1 || st.current.isCallback {
            throw fail(.lock, pc, "exit while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "call bpf_spin_unlock on every path before returning", state: st)
        }
        if st.frames.count == 1 && st.rcuDepth > 0 {
            throw fail(.lock, pc, "the program ends inside a bpf_rcu_read_lock section: bpf_rcu_read_unlock is missing on this path",
                       "call bpf_rcu_read_unlock once for every bpf_rcu_read_lock", state: st)
        }
        if st.frames.count == 1 && st.preemptDepth > 0 {
            throw fail(.lock, pc, "the program ends with preemption disabled: bpf_preempt_enable is missing on this path",
                       "call bpf_preempt_enable once for every bpf_preempt_disable", state: st)
        }
        let frame = st.current
        if st.frames.count > 1 {
            let r0 = st[0]
            if frame.isCallback {
                try readable(st, 0, pc, " (a callback's return value)")
                needPrecise(st, pc, registers: [0])
                guard r0.kind == .scalar, r0.value.smin >= 0, r0.value.smax <= 1 else {
                    throw fail(.returnValue, pc, "a callback must return 0 or 1, but R0 is \(r0.describe(maps: maps))",
                               "return 0 to continue, 1 to stop", state: st, registers: [0])
                }
                if st.references.count > frame.referencesAtEntry {
                    throw referenceLeak(st, pc)
                }
                if isLoopCall(frame.callSite) { return loopCallbackReturn(&st) }
                return .exit
            }
            if r0.kind == .stack && r0.frame == st.frames.count - 1 {
                throw fail(.invalidPointer, pc, "a function returns a pointer to its own stack",
                           "its frame is gone after it returns", state: st, registers: [0])
            }
            st.frames.removeLast()
            st[0] = r0
            return .next(frame.callSite + 1)
        }
        if let proto = verifyingGlobalFunction { return try globalFunctionExit(&st, pc, proto) }
        if program.type == .structOps, case .typed(let proto, _, let btf) = tracingContext, btf[btf.resolve(proto.returnType)] == nil {
            return .exit   // a struct_ops member returning void: R0 is not read
        }
        try readable(st, 0, pc, " (the program's return value)")
        if !st.references.isEmpty { throw referenceLeak(st, pc) }
        if let range = rules.returnRange {
            let r0 = st[0]
            needPrecise(st, pc, registers: [0])
            guard r0.kind == .scalar, r0.value.smin >= range.lowerBound, r0.value.smax <= range.upperBound else {
                throw fail(.returnValue, pc,
                           "\(program.type.kernelName) programs must return \(range.lowerBound)...\(range.upperBound), but R0 is \(r0.describe(maps: maps))",
                           "return one of the allowed verdicts on every path", state: st, registers: [0])
            }
        }
        return .exit
    }

    /// `bpf_throw(cookie)`: the program ends here, from any frame, as the kernel's exception exit
    /// checks it: nothing held — no lock, RCU or preemption section, no reference.
    func throwException(_ st: inout VerifierState, _ pc: Int) throws(VerifierError) -> StepResult {
        guard let btf = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program calls kfunc 'bpf_throw', whose prototype is in the kernel's BTF, which the verifier was not given")
        }
        guard btf.typeID(named: "bpf_throw", kind: .function) != nil else {
            throw fail(.invalidProgram, pc, "kfunc 'bpf_throw' is not in the kernel's BTF", "this kernel has no BPF exceptions", state: st)
        }
        if st[1].kind != .scalar {
            throw st[1].kind == .uninitialized ? argumentUnset(st, pc, regno: 1, label: "argument 1 of bpf_throw ('cookie')")
                : argumentError(st, pc, regno: 1, label: "argument 1 of bpf_throw ('cookie')", what: "a number", hint: nil)
        }
        if st.lowestCallbackFrame != nil || exploringExceptionCallback {
            throw fail(.helperUnavailable, pc, "bpf_throw in a callback (a function a helper, or after a throw the kernel, calls)",
                       "throw from the program or the functions it calls directly", state: st)
        }
        if let lock = st.lock {
            throw fail(.lock, pc, "bpf_throw while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "unlock before throwing", state: st)
        }
        if st.rcuDepth > 0 || st.preemptDepth > 0 {
            throw fail(.lock, pc, "bpf_throw inside a \(st.rcuDepth > 0 ? "bpf_rcu_read_lock" : "bpf_preempt_disable") section",
                       "close the section before throwing", state: st)
        }
        if !st.references.isEmpty { throw referenceLeak(st, pc) }
        return .exit
    }

    /// A call's argument R`regno` (`label`: "argument 2 of bpf_map_lookup_elem") is not set.
    func argumentUnset(_ st: VerifierState, _ pc: Int, regno: Int, label: String) -> VerifierError {
        fail(.uninitializedRegister, pc, "\(label) (R\(regno)) is not set", "set R\(regno) before the call", state: st, registers: [regno])
    }

    /// A call's argument R`regno` is not `what` (a helper's and a kfunc's alike): NULL-able values are
    /// named as such, with what produced them.
    func argumentError(_ st: VerifierState, _ pc: Int, regno: Int, label: String, what: String, hint: String?) -> VerifierError {
        let r = st[regno]
        if r.kind.isNullable {
            return fail(.nullPointer, pc, "R\(regno) may be NULL (\(label))",
                        "check the result of \(originName(r)) before passing it", state: st, registers: [regno])
        }
        return fail(.helperArgument, pc, "\(label) must be \(what), but R\(regno) is \(r.describe(maps: maps))",
                    hint, state: st, registers: [regno])
    }

    func referenceLeak(_ st: VerifierState, _ pc: Int) -> VerifierError {
        let ref = st.references.last!
        if ref.helper == 131 {
            return fail(.referenceLeak, pc, "the ringbuf record reserved at insn \(ref.instruction) is neither submitted nor discarded on this path",
                        "call bpf_ringbuf_submit or bpf_ringbuf_discard on every path after a successful bpf_ringbuf_reserve", state: st)
        }
        if ref.helper == 0 || ref.helper == 194 {
            return fail(.referenceLeak, pc, "\(referenceName(ref)) is not released on this path",
                        "release what an acquiring kfunc returned (e.g. bpf_task_release) on every path, or store it in a map as a kptr", state: st)
        }
        return fail(.referenceLeak, pc, "\(referenceName(ref)) is not released on this path",
                    "call bpf_sk_release on every path after a successful lookup", state: st)
    }

    func referenceName(_ ref: Reference) -> String {
        if ref.helper == 0 { return kfuncReferenceName(ref) }
        if ref.helper == 194 { return "the object bpf_kptr_xchg returned at insn \(ref.instruction)" }
        if ref.helper == 198 {
            return "the ringbuf dynptr reserved at insn \(ref.instruction) (submit or discard it: bpf_ringbuf_submit_dynptr, bpf_ringbuf_discard_dynptr)"
        }
        return ref.helper == 131 ? "the ringbuf record reserved at insn \(ref.instruction)"
            : "the socket \(HelperPrototype[ref.helper]?.name ?? "a lookup") returned at insn \(ref.instruction)"
    }

    // MARK: Helpers

    /// The prototype of the helper a call names, checked against the program type, the license
    /// and the target backend.
    func helperPrototype(_ st: VerifierState, _ pc: Int, id: Int32) throws(VerifierError) -> HelperPrototype {
        let checked = id > 0 && id <= HelperPrototype.lastID && checkedHelpers[Int(id) >> 6] & (1 << UInt64(id & 63)) != 0
        if checked, let proto = HelperPrototype[id, for: program.type] { return proto }
        guard let proto = HelperPrototype[id, for: program.type] else {
            if id == CORERelocator.poisonHelper {
                throw fail(.invalidProgram, pc, "instruction \(pc) was poisoned: its CO-RE relocation failed against the kernel's BTF (\(program.poisoned[pc] ?? "no match"))",
                           "the kernel refuses a poisoned instruction that is reached; guard the access with bpf_core_field_exists() or bpf_core_type_exists()",
                           state: st)
            }
            throw fail(.helperUnavailable, pc,
                       id > HelperPrototype.lastID || id <= 0
                        ? "call to helper \(id), past the last helper Linux 6.18 defines (\(HelperPrototype.lastID))"
                        : "unknown helper \(id)",
                       "helper ids come from bpf_helper_defs.h; a newer kernel's helper is not known here")
        }
        if !proto.isAvailable(to: program.type) {
            throw fail(.helperUnavailable, pc, "\(proto.name) is not available to \(program.type.kernelName) programs",
                       "the kernel offers each program type its own set of helpers", state: st)
        }
        if proto.gplOnly, let license = program.license, !HelperPrototype.isGPLCompatible(license) {
            throw fail(.helperUnavailable, pc, "\(proto.name) is GPL-only, but the program's license is '\(license)'",
                       "declare a GPL-compatible license: char LICENSE[] SEC(\"license\") = \"GPL\";", state: st)
        }
        if let implemented = options.target.helpers, !implemented.contains(id) {
            throw fail(.helperUnavailable, pc, "\(proto.name) is not implemented by \(options.target.name)",
                       "the kernel accepts it; run the program in the kernel, or see Docs/helpers.md for what the runtime implements",
                       state: st)
        }
        if id > 0 && id <= HelperPrototype.lastID { checkedHelpers[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        return proto
    }

    /// The `bpf_skc_to_*` casts (`is_ptr_cast_function`).
    static func isSocketCast(_ id: Int32) -> Bool {
        switch id {
        case 136, 137, 138, 139, 140, 178, 196: true
        default: false
        }
    }

    /// The helpers whose result is at most their size argument, or an error (`do_refine_retval_range`).
    static func returnsAtMostSize(_ id: Int32) -> Bool {
        switch id {
        case 45, 67, 114, 115, 141: true
        default: false
        }
    }

    func helperCall(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction, _ parent: Checkpoint?) throws(VerifierError) {
        let proto = try helperPrototype(st, pc, id: ins.imm)
        try checkHelperContext(st, pc, proto)
        helpersCalled[Int(proto.id) >> 6] |= 1 << UInt64(proto.id & 63)
        if let lock = st.lock, proto.id != 94 {
            throw fail(.lock, pc, "call to \(proto.name) while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "only bpf_spin_unlock may be called while the lock is held", state: st)
        }
        var mapIndex: Int?
        var memoryArg: (regno: Int, kind: HelperArgument)?
        var released: UInt32?
        var callback: Int?
        var callbackContext = Register.scalar(.constant(0))
        var reservedSize = 0
        var sizeMax: UInt64?
        var constantKey: UInt64?
        var socketReference: UInt32 = 0
        var kptrType = 0
        var helperDynptr: Register?
        var heldKptr: Register?
        for i in proto.arguments.indices {
            let kind = proto.arguments[i]
            let regno = i + 1
            let r = st[regno]
            var label: String { "argument \(regno) of \(proto.name)" }
            if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
            func bad(_ what: String, _ hint: String? = nil) -> VerifierError {
                argumentError(st, pc, regno: regno, label: label, what: what, hint: hint)
            }
            switch kind {
            case .anything:
                break
            case .scalar:
                guard r.kind == .scalar else { throw bad("a scalar") }
            case .map:
                guard r.kind == .mapPointer else { throw bad("a map", "pass the map itself (&my_map)") }
                let spec = maps[r.map]
                let allowed = proto.mapTypes ?? HelperPrototype.keyValueMaps
                guard allowed.contains(spec.type) else {
                    throw fail(.helperArgument, pc, "\(proto.name) cannot be used with \(spec.type.kernelName) map '\(spec.name)'",
                               state: st, registers: [regno])
                }
                mapIndex = r.map
            case .mapKey, .mapValue, .mapValueOutput:
                guard let m = mapIndex else { throw bad("a pointer (the map argument is missing)") }
                let spec = maps[m]
                let size = kind == .mapKey ? spec.keySize : spec.valueSize
                if kind == .mapKey {
                    constantKey = knownKey(st, r, size: size)
                    if spec.type == .array || spec.type == .perCPUArray, constantKey != nil, let v = r.value.constantValue {
                        // The key's known value may make the lookup non-NULL (an unknown key
                        // decides nothing: the kernel's get_constant_map_key marks only a constant).
                        needPrecise(st, pc, registers: [], slot: (r.frame, r.offset + Int(Int64(bitPattern: v)), size))
                    }
                }
                if size > 0 {
                    try checkHelperMemory(&st, pc, regno: regno, size: Scalar.constant(UInt64(size)), write: kind == .mapValueOutput,
                                          helper: proto.name, what: kind == .mapKey ? "the key of map '\(spec.name)'" : "a value of map '\(spec.name)'")
                }
            case .memory, .memoryOrNull, .memoryOutput, .memoryOutputOrNull:
                let nullable = kind == .memoryOrNull || kind == .memoryOutputOrNull
                if nullable && r.kind == .scalar { needPrecise(st, pc, registers: [regno]) }
                if nullable && r.kind == .scalar && r.value.constantValue == 0 {
                    memoryArg = nil
                } else {
                    guard r.kind.isPointer else { throw bad("a pointer to memory") }
                    memoryArg = (regno, kind)
                }
            case .size, .sizeOrZero:
                guard r.kind == .scalar else { throw bad("a size (scalar)") }
                needPrecise(st, pc, registers: [regno])
                sizeMax = r.value.umax
                if kind == .size && r.value.umin == 0 {
                    throw fail(.helperArgument, pc, "R\(regno), the size argument of \(proto.name), may be 0",
                               "check that the size is greater than 0 before the call", state: st, registers: [regno])
                }
                guard r.value.umax < 1 << 29 else {
                    throw fail(.helperArgument, pc, "R\(regno), the size argument of \(proto.name), has no upper bound (\(r.value))",
                               "bound it with a comparison (e.g. if (n > sizeof(buf)) return) before the call", state: st, registers: [regno])
                }
                if let m = memoryArg {
                    // A zero size still checks a stack pointer's variable offset (the kernel's
                    // check_stack_access_within_bounds).
                    if r.value.umax > 0 || (st[m.regno].kind == .stack && !st[m.regno].value.isConstant) {
                        try checkHelperMemory(&st, pc, regno: m.regno, size: r.value, write: m.kind == .memoryOutput || m.kind == .memoryOutputOrNull,
                                              helper: proto.name, what: "\(r.value.umax) bytes")
                    }
                } else if st[regno - 1].kind == .scalar && r.value.umax > 0 {
                    throw fail(.helperArgument, pc, "argument \(regno - 1) of \(proto.name) is NULL but its size R\(regno) may be non-zero",
                               state: st, registers: [regno - 1, regno])
                }
                memoryArg = nil
            case .constantSize:
                needPrecise(st, pc, registers: [regno])
                guard r.kind == .scalar, let c = r.value.constantValue, c < 1 << 29 else {
                    throw bad("a constant size", "reserve a size known when the program is verified (sizeof)")
                }
                reservedSize = Int(c)
            case .fixedOutput(let n):
                guard r.kind.isPointer else { throw bad("a pointer to \(n) writable bytes") }
                try checkStrictAlignment(st, pc, regno: regno, off: 0, size: n, what: "\(proto.name)'s output")
                try checkHelperMemory(&st, pc, regno: regno, size: .constant(UInt64(n)), write: true, helper: proto.name, what: "\(n) bytes")
            case .context:
                guard r.kind == .context, r.offset == 0, r.value.constantValue == 0 else {
                    throw bad("the program's context (ctx, as passed in r1)")
                }
            case .function:
                guard r.kind == .function else { throw bad("a callback function") }
                callback = r.frame
            case .stackOrNull:
                needPrecise(st, pc, registers: [regno])
                if r.kind == .scalar && r.value.constantValue == 0 {
                    callbackContext = r
                } else {
                    guard r.kind == .stack, r.value.isConstant else { throw bad("a pointer to the stack or NULL") }
                    callbackContext = r
                }
            case .releasedRecord:
                guard r.kind == .memory, r.referenceID != 0 else { throw bad("a ringbuf record from bpf_ringbuf_reserve") }
                guard r.offset == 0, r.value.constantValue == 0 else {
                    throw bad("the record as bpf_ringbuf_reserve returned it (unmoved)")
                }
                released = r.referenceID
            case .spinLock:
                try checkNotInRbtreeCallback(st, pc, proto.name)
                if r.kind == .kernelPointer && r.kernelFlags.contains(.allocated) {
                    try allocatedSpinLock(&st, pc, regno: regno, lock: proto.id == 93)
                    break
                }
                guard r.kind == .mapValue, let v = r.value.constantValue else { throw bad("a pointer to a struct bpf_spin_lock in a map value") }
                let offset = r.offset + Int(Int64(bitPattern: v))
                let spec = maps[r.map]
                guard let lockOffset = spec.spinLockOffset else {
                    throw fail(.lock, pc, "map '\(spec.name)' has no struct bpf_spin_lock in its value",
                               "declare the value with a struct bpf_spin_lock member (the map needs BTF)", state: st, registers: [regno])
                }
                guard offset == lockOffset else {
                    throw fail(.lock, pc, "R\(regno) points at offset \(offset) of the value of '\(spec.name)', not at its bpf_spin_lock (offset \(lockOffset))",
                               state: st, registers: [regno])
                }
                try spinLock(&st, pc, take: proto.id == 93, map: r.map, offset: offset, id: r.id)
            case .contextOrNull:
                if r.kind == .scalar && r.value.constantValue == 0 { break }
                guard r.kind == .context, r.offset == 0, r.value.constantValue == 0 else {
                    throw bad("the program's context or NULL")
                }
            case .mapValueOrNull:
                if r.kind == .scalar && r.value.constantValue == 0 { needPrecise(st, pc, registers: [regno]); break }
                guard let m = mapIndex else { throw bad("a pointer (the map argument is missing)") }
                try checkHelperMemory(&st, pc, regno: regno, size: Scalar.constant(UInt64(maps[m].valueSize)), write: false,
                                      helper: proto.name, what: "a value of map '\(maps[m].name)'")
            case .timer, .kptr:
                if kind == .kptr, let field = try kptrArgument(st, pc, regno: regno) {
                    heldKptr = field
                    break
                }
                guard r.kind == .mapValue, r.value.isConstant else {
                    throw bad(kind == .timer ? "a pointer to a struct bpf_timer in a map value" : "a pointer to a __kptr field of a map value")
                }
                if kind == .timer && mapIndex == nil { mapIndex = r.map }
            case .socketCommon, .btfSocketCommon:
                if try tracingSocketArgument(st, pc, regno: regno, helper: proto.id, label: label) { break }
                guard r.kind.isSocket || r.kind == .kernelPointer else { throw bad("a socket (struct bpf_sock *)") }
                if r.kind == .kernelPointer && r.kernelFlags.contains(.untrusted) {
                    throw bad("a trusted socket pointer", "a pointer read through another kernel pointer is untrusted: only reads go through it")
                }
                if socketReference == 0 { socketReference = r.referenceID }
            case .socket:
                guard r.kind == .socket || r.kind == .tcpSocket || r.kind == .kernelPointer else { throw bad("a full socket") }
                if socketReference == 0 { socketReference = r.referenceID }
            case .socketOrNull:
                if r.kind == .scalar && r.value.constantValue == 0 { needPrecise(st, pc, registers: [regno]); break }
                guard r.kind == .socket || r.kind == .tcpSocket || r.kind == .kernelPointer else { throw bad("a full socket or NULL") }
            case .releasedSocket:
                guard r.kind.isSocket || isSocketKernelPointer(r), r.referenceID != 0 else {
                    throw bad("a socket from bpf_sk_lookup_tcp/udp or bpf_skc_lookup_tcp", "only sockets the program looked up are released")
                }
                released = r.referenceID
            case .btfID, .btfIDOrNull, .perCPUBTFID:
                if case .btfIDOrNull = kind, r.kind == .scalar, r.value.constantValue == 0 { needPrecise(st, pc, registers: [regno]); break }
                guard r.kind == .kernelPointer || r.kind.isSocket || r.kind == .context else { throw bad("a typed kernel pointer") }
                if r.kind == .kernelPointer && r.kernelFlags.contains(.allocated) && proto.id != 194 {
                    throw bad("a kernel object, not an object of the program's BTF (\(localTypeName(r.btfType)))")
                }
                if r.kind == .kernelPointer {
                    guard !r.kernelFlags.contains(.untrusted) else {
                        throw bad("a trusted kernel pointer", "a pointer read through another kernel pointer is untrusted: only reads go through it")
                    }
                    let expected: String? = switch kind {
                    case .btfID(let n), .btfIDOrNull(let n): n
                    default: nil
                    }
                    if let expected, !expected.isEmpty, r.btfType != 0, !kernelType(r.btfType, offset: r.offset, is: expected) {
                        throw bad("a pointer to struct \(expected), not to \(kernelTypeName(r.btfType))")
                    }
                    if proto.id == 194 {
                        // bpf_kptr_xchg moves a referenced object into the map: the program's
                        // reference goes with it.
                        guard r.referenceID != 0 else {
                            throw bad("an object the program holds a reference to", "store what an acquiring kfunc returned")
                        }
                        released = r.referenceID
                        kptrType = r.btfType
                        try checkKptrStore(st, pc, regno: regno, field: heldKptr)
                    }
                }
            case .dynptrOutput:
                if proto.id == 197 && st[1].kind != .mapValue {
                    throw fail(.helperArgument, pc, "bpf_dynptr_from_mem makes a dynptr of a map value, but R1 is \(st[1].describe(maps: maps))",
                               "point it at (part of) a map value or global data", state: st, registers: [1])
                }
                try createDynptr(&st, pc, regno: regno, label: label, kind: proto.id == 198 ? .ringbuf : .local, readOnly: false,
                                 acquiredBy: proto.id == 198 ? proto.id : nil)
            case .dynptr:
                helperDynptr = try initializedDynptr(st, pc, regno: regno, label: label, mutable: false).state
            case .releasedDynptr:
                if r.kind == .constDynptr { throw bad("a ringbuf dynptr the program reserved", "a callback's dynptr is not the program's to release") }
                let (f, offset) = try dynptrSlot(st, pc, regno: regno, label: label)
                guard let d = st.frames[f].spill(at: offset), d.kind == .dynptr, d.offset == 0, d.referenceID != 0 else {
                    throw bad("a ringbuf dynptr from bpf_ringbuf_reserve_dynptr, not yet submitted or discarded",
                              "only a dynptr that holds a reference is released, once")
                }
                guard d.dynptrKind == .ringbuf else { throw bad("a ringbuf dynptr, not a \(d.dynptrKind?.name ?? "") one") }
                released = d.referenceID
            case .pointer:
                guard r.kind.isPointer, !r.kind.isNullable else { throw bad("a pointer") }
            case .constantString:
                guard r.kind == .mapValue, let v = r.value.constantValue, mapReadOnly(r.map) else {
                    throw bad("a constant string in read-only data (.rodata)", "use a string literal or a const global")
                }
                let spec = maps[r.map]
                let start = r.offset + Int(Int64(bitPattern: v))
                guard let bytes = spec.initialValue, start >= 0, start < bytes.count, bytes[start...].contains(0) else {
                    throw fail(.helperArgument, pc, "the string at offset \(start) of '\(spec.name)' is not NUL-terminated inside the map",
                               state: st, registers: [regno])
                }
            }
        }
        if let id = released {
            releaseDynptrs(&st, reference: id)
            st.references.removeAll { $0.id == id }
            st.forEachRegister { r in
                if r.referenceID == id { r = .unknownScalar }
            }
        }
        // bpf_dynptr_write to an skb dynptr writes the packet, as the packet helpers do.
        if proto.changesPacket || (proto.id == 202 && helperDynptr?.dynptrKind == .skb) {
            invalidatePacketPointers(&st)
        }
        if proto.id == 12 && !st.references.isEmpty {
            throw fail(.referenceLeak, pc, "tail call while \(referenceName(st.references[0])) is held",
                       "a successful tail call never returns: release it first", state: st)
        }
        if let target = callback {
            try startCallback(&st, pc, target: target, helper: proto.id, map: mapIndex, context: callbackContext, parent: parent)
        }
        for r in 1...5 { st[r] = .uninitialized }
        var r0 = Register()
        switch proto.returns {
        case .unknown:
            r0 = .unknownScalar
        case .void:
            r0 = .uninitialized
        case .mapValue:
            guard let m = mapIndex else { r0 = .unknownScalar; break }
            r0.kind = .mapValue
            r0.map = m
        case .socketOrNull, .tcpSocketOrNull, .socketCommonOrNull:
            r0.kind = proto.returns == .socketOrNull ? .socketOrNull : proto.returns == .tcpSocketOrNull ? .tcpSocketOrNull : .socketCommonOrNull
            r0.size = proto.returns == .tcpSocketOrNull ? 112 : 80
            r0.id = freshID()
            r0.origin = pc
            if proto.acquires {
                r0.referenceID = r0.id
                st.references.append(Reference(id: r0.id, instruction: pc, helper: proto.id))
            } else {
                // bpf_sk_fullsock, bpf_tcp_sock...: the result is the argument's reference.
                r0.referenceID = socketReference
            }
        case .btfID(let name):
            r0 = helperKernelPointer(name, helper: proto.id, nullable: false, pc: pc)
        case .btfIDOrNull(let name):
            r0 = helperKernelPointer(name, helper: proto.id, nullable: true, pc: pc)
            if Self.isSocketCast(proto.id) {
                // bpf_skc_to_*: a cast of the argument, which dies with the argument's reference (is_ptr_cast_function).
                r0.referenceID = socketReference
            }
            if proto.id == 194 {
                // The old object of the kptr field, referenced: released or stored back on every path.
                r0.btfType = heldKptr?.btfType ?? kptrType
                r0.kernelFlags = heldKptr?.kernelFlags ?? .trusted
                r0.referenceID = r0.id
                st.references.append(Reference(id: r0.id, instruction: pc, helper: proto.id))
            }
        case .memory:
            r0.kind = .kernelPointer
        case .sizedMemoryOrNull where helperDynptr != nil:
            r0 = dynptrSlice(of: helperDynptr!, size: reservedSize, readOnly: false, pc: pc)
        case .memoryOrNull, .sizedMemoryOrNull:
            r0.kind = .kernelPointerOrNull
            r0.id = freshID()
            r0.origin = pc
        case let .integer(lo, hi):
            r0 = .scalar(.signed(lo, hi))
        case .mapValueOrNull:
            guard let m = mapIndex else {
                r0.kind = .kernelPointerOrNull
                r0.id = freshID()
                r0.origin = pc
                break
            }
            r0.id = freshID()
            r0.origin = pc
            if maps[m].type == .sockmap || maps[m].type == .sockhash {
                // A socket map's lookup gives the socket, referenced: it must be released.
                r0.kind = .socketOrNull
                r0.size = 80
                r0.referenceID = r0.id
                st.references.append(Reference(id: r0.id, instruction: pc, helper: proto.id))
            } else if m < innerMap.count && innerMap[m] >= 0 {
                let inner = innerMap[m]
                r0.kind = .mapPointerOrNull
                r0.map = inner
            } else if proto.id == 1, (maps[m].type == .array || maps[m].type == .perCPUArray), let key = constantKey,
                      key < UInt64(maps[m].maxEntries) {
                // An array lookup with a constant key in range always finds its element.
                r0.kind = .mapValue
                r0.map = m
            } else {
                r0.kind = .mapValueOrNull
                r0.map = m
            }
        case .recordOrNull:
            let id = freshID()
            r0.kind = .memoryOrNull
            r0.size = reservedSize
            r0.id = id
            r0.referenceID = id
            r0.origin = pc
            st.references.append(Reference(id: id, instruction: pc, helper: proto.id))
        }
        if let m = sizeMax, Self.returnsAtMostSize(proto.id) {
            // The string readers and the stack getters return at most the buffer's size, or an
            // error (the kernel's do_refine_retval_range).
            r0 = .scalar(.signed(-4095, Int64(m)))
        }
        st[0] = r0
    }

    /// The key a stack pointer points at, when the verifier knows it (a 4-byte key stored as a
    /// constant).
    func knownKey(_ st: VerifierState, _ r: Register, size: Int) -> UInt64? {
        guard size == 4, r.kind == .stack, let v = r.value.constantValue else { return nil }
        let o = r.offset + Int(Int64(bitPattern: v))
        guard o >= -512, o + 4 <= 0 else { return nil }
        let frame = st.frames[r.frame]
        if (0..<4).allSatisfy({ frame.byte(o + $0) == .zero }) { return 0 }
        if o % 8 == 0, let spill = frame.spill(at: o), spill.kind == .scalar, let c = spill.value.constantValue,
           (0..<8).allSatisfy({ frame.byte(o + $0) == .spill }) {
            return c & 0xffff_ffff
        }
        return nil
    }

    /// Packet pointers and slices of packet dynptrs die when a call may move the packet.
    func invalidatePacketPointers(_ st: inout VerifierState) {
        st.forEachRegister { r in
            if r.kind == .packet || r.kind == .packetEnd || r.kind == .packetMeta
                || ((r.kind == .memory || r.kind == .memoryOrNull) && r.sliceOf & Register.packetSlice != 0) {
                r = .unknownScalar
            }
        }
    }

    /// Checks that a helper may read (or write) `size` bytes at `regno`; marks written stack bytes.
    func checkHelperMemory(_ st: inout VerifierState, _ pc: Int, regno: Int, size: Scalar, write: Bool,
                           helper: String, what: @autoclosure () -> String) throws(VerifierError) {
        let r = st[regno]
        let n = Int(size.umax)
        switch r.kind {
        case .stack:
            guard let v = r.value.constantValue else {
                // A variable offset, as the kernel allows root: every byte the helper may touch
                // must already be initialized (reads and writes alike: the bytes a write covers
                // are not known), and spills there are destroyed by a write.
                // Even a zero-sized access must stay in the frame (the kernel's
                // check_stack_access_within_bounds).
                let (f, lo, hi) = try stackRange(st, pc, regno: regno, off: 0, size: n, aligned: false)
                guard n > 0 else { return }
                if write, let error = stackObjectWrite(st, pc, frame: f, lo: lo, end: hi + n, regno: regno, helper: helper) { throw error }
                _ = try readStackRange(st, pc, frame: f, lo: lo, hi: hi, size: n, regno: regno)
                if write { try writeStackRange(&st, pc, frame: f, lo: lo, hi: hi, size: n, value: .unknownScalar) }
                return
            }
            let o = r.offset + Int(Int64(bitPattern: v))
            guard o >= -512 && o + n <= 0 else {
                throw fail(.outOfBounds, pc, "\(helper) would access \(what()) at fp\(o) through R\(regno), outside the 512-byte stack frame",
                           "make the buffer at least as large as the size passed", state: st, registers: [regno])
            }
            let sub = st.frames[r.frame].subprogram
            stackDepth[sub] = max(stackDepth[sub], -o)
            noteFastcallDepth(sub, -o)
            if write {
                if let error = stackObjectWrite(st, pc, frame: r.frame, lo: o, end: o + n, regno: regno, helper: helper) { throw error }
                if n > 0 { try writeStack(&st, pc, frame: r.frame, offset: o, size: n, value: nil) }
            } else {
                if let error = stackObjectRead(st, pc, frame: r.frame, lo: o, end: o + n, regno: regno, what: "\(helper) (R\(regno), \(what()))") {
                    throw error
                }
                if n > 0 { markStackRead(frame: r.frame, offset: o, size: n, pc: pc) }
                for i in 0..<n {
                    let b = st.frames[r.frame].byte(o + i)
                    if b == .invalid {
                        throw fail(.uninitializedStack, pc, "\(helper) reads \(what()) at fp\(o) (R\(regno)), but fp\(o + i) is uninitialized",
                                   "initialize the whole buffer (e.g. with __builtin_memset or = {}) before the call",
                                   state: st, registers: [regno])
                    }
                }
            }
        case .context:
            throw fail(.helperArgument, pc, "\(helper) may not access the context through R\(regno) as memory", state: st, registers: [regno])
        case .kernelPointer where r.kernelFlags.contains(.allocated):
            // An allocated object: its plain fields, as a direct access of `n` bytes would reach them.
            if n > 0 { try allocatedAccess(st, pc, regno: regno, off: 0, size: n, access: write ? "write" : "read") }
        case .kernelPointer:
            // A trusted kernel pointer is memory a helper may read, within its struct's fields.
            guard r.isTrustedKernelPointer, !write else {
                throw fail(.helperArgument, pc, "\(helper) may not \(write ? "write" : "read") \(what()) through R\(regno) (\(r.kernelFlags.prefix)ptr_ to \(kernelTypeName(r.btfType)))",
                           write ? "kernel memory is read-only to programs" : "only trusted kernel pointers are memory to helpers; copy the field with bpf_probe_read_kernel",
                           state: st, registers: [regno])
            }
            if n > 0 { _ = try kernelPointerLoad(st, pc, regno: regno, off: 0, size: n) }
        default:
            // Map values, packet, memory: the same bounds as a direct access of `n` bytes.
            if n > 0 {
                _ = try checkRegion(st, pc, regno: regno, off: 0, size: n, access: write ? .write : .read)
                try checkNoKptrTouched(st, pc, regno: regno, size: n, helper: helper)
            }
        }
    }

    func startCallback(_ st: inout VerifierState, _ pc: Int, target: Int, helper: Int32, map: Int?, context: Register,
                       parent: Checkpoint?) throws(VerifierError) {
        guard st.frames.count < Analysis.maxFrames else {
            throw fail(.callStack, pc, "the call stack is too deep: more than \(Analysis.maxFrames) frames", state: st)
        }
        // The callback runs any number of times and may change what its callers keep on their
        // stacks (scalars only). Its first state forgets the caller-stack bytes this callback
        // function's paths are known to write; the path after the helper waits for every path of
        // the callback, explores it again if they wrote more, then forgets what they wrote
        // (`explore`, `forgetCallbackWrites`).
        var callbackState = st
        var frame = Frame(callSite: pc, subprogram: target)
        frame.isCallback = true
        frame.referencesAtEntry = st.references.count
        frame.registers[10] = stackPointer(frame: st.frames.count)
        if helper == 181 {
            frame.registers[1] = .scalar(.unsigned(0, (1 << 23) - 1))
            frame.registers[2] = context
        } else if let m = map, helper == 164 || helper == 170 {
            // bpf_for_each_map_elem: (map, key, value, ctx); bpf_timer_set_callback: (map, key, value) of the timer's map.
            var mapReg = Register()
            mapReg.kind = .mapPointer
            mapReg.map = m
            var key = Register()
            key.kind = .memory
            key.size = maps[m].keySize
            key.readOnly = true
            var value = Register()
            value.kind = .mapValue
            value.map = m
            frame.registers[1] = mapReg
            frame.registers[2] = key
            frame.registers[3] = value
            if helper == 164 { frame.registers[4] = context }
        } else if helper == 209 {
            // bpf_user_ringbuf_drain: (the sample as a constant local dynptr, ctx).
            var sample = Register()
            sample.kind = .constDynptr
            sample.dynptrKind = .local
            sample.id = freshID()
            frame.registers[1] = sample
            frame.registers[2] = context
        } else {
            // Callbacks whose arguments are not modelled (bpf_find_vma, ...):
            // unknown scalars, so a callback that dereferences them is refused, never wrongly accepted.
            for r in 1...5 { frame.registers[r] = .unknownScalar }
        }
        addCallEdge(st.current.subprogram, target)
        callbackState.frames.append(frame)
        verificationRootPeak = max(verificationRootPeak, callbackState.frames.count)
        if helper == Analysis.loopHelper {
            // Run by run, as the kernel explores it (CallbackLoops.swift).
            startLoopCallback(&st, pc, callbackState: callbackState, parent: parent)
            return
        }
        let written = callbackWrites(target)
        deferredCallback = DeferredCallback(callbackFirstState(callbackState, forgetting: written), target,
                                            CallbackStart(state: callbackState, forgotten: written))
    }

    /// The caller-stack bytes the paths of the callback function at `target` have written so far.
    func callbackWrites(_ target: Int) -> [UInt64] {
        guard let entry = callbackWriteTargets.firstIndex(of: target) else { return [UInt64](filled: 0, count: 8) }
        return Array(callbackWriteBits[(entry * 8)..<(entry * 8 + 8)])
    }

    /// A callback's first state with the bytes `written` forgotten in its callers' frames.
    func callbackFirstState(_ start: VerifierState, forgetting written: [UInt64]) -> VerifierState {
        var st = start
        forgetStackBytes(&st, written, frames: 0..<(st.frames.count - 1))
        return st
    }

    /// Records a store to bytes `lo..<end` of frame `f` for every callback function running
    /// above that frame: the paths after their helpers forget those bytes.
    func noteStackWrite(_ st: VerifierState, frame f: Int, lo: Int, end: Int) {
        guard f + 1 < st.frames.count, lo < end else { return }
        for g in (f + 1)..<st.frames.count where st.frames[g].isCallback {
            let target = st.frames[g].subprogram
            var entry = callbackWriteTargets.firstIndex(of: target) ?? -1
            if entry < 0 {
                entry = callbackWriteTargets.count
                callbackWriteTargets.append(target)
                callbackWriteBits.append(contentsOf: repeatElement(0, count: 8))
            }
            for o in max(lo, -512)..<min(end, 0) {
                let bit = -o - 1
                callbackWriteBits[entry * 8 + bit / 64] |= 1 << UInt64(bit % 64)
            }
        }
    }

    /// After a helper that ran `callback`: the stack bytes the callback's paths wrote, in any
    /// frame, hold unknown values now.
    func forgetCallbackWrites(_ st: inout VerifierState, callback: Int) {
        forgetStackBytes(&st, callbackWrites(callback), frames: st.frames.indices)
    }

    /// The stack bytes `bits` names (offset -1 is bit 0) hold unknown values in `frames`: a spilled
    /// scalar there is forgotten, zeros become unknown bytes; uninitialized bytes stay so (the
    /// callback may not have run).
    func forgetStackBytes(_ st: inout VerifierState, _ bits: [UInt64], frames: Range<Int>) {
        guard bits.contains(where: { $0 != 0 }) else { return }
        for f in frames {
            let size = st.frames[f].bytes.count
            var slot = 0
            while slot * 8 < size {
                var touched = false
                for i in (slot * 8)..<(slot * 8 + 8) where bits[i / 64] & (1 << UInt64(i % 64)) != 0 {
                    touched = true
                    if st.frames[f].bytes[i] == .zero { st.frames[f].bytes[i] = .misc }
                    st.frames[f].narrow[i / 4] = nil
                }
                if touched, st.frames[f].spills[slot] != nil {
                    st.frames[f].spills[slot] = nil
                    for i in (slot * 8)..<(slot * 8 + 8) where st.frames[f].bytes[i] == .spill { st.frames[f].bytes[i] = .misc }
                }
                slot += 1
            }
        }
    }

}
