import BPFCore
import BPFObject

// Global functions (BTF linkage global, i.e. not `static`, nor `__hidden`, which loaders send as
// static), verified as the kernel verifies them (`btf_prepare_func_args`, `btf_check_subprog_call`,
// `do_check_subprogs`):
//
// - A global function is verified once, alone, for any arguments its BTF prototype allows — not
//   with the arguments of each caller. Its arguments: integers and enums are unknown numbers; a
//   pointer to the program type's context struct (`struct __sk_buff *` in a tc program...) or one
//   tagged `__arg_ctx` is the context; `struct bpf_dynptr *` a read-only dynptr; `__arg_trusted`
//   a trusted kernel pointer of the struct of the same name in the kernel's BTF (NULL too with
//   `__arg_nullable`); `__arg_arena` a number; any other pointer is memory of its pointee's size
//   that may be NULL (not NULL with `__arg_nonnull`). A pointee of no size (`void *`, a struct only
//   declared) is refused, as is a return type other than an integer or an enum.
// - A call checks the caller's registers against that prototype: a number where a number is
//   expected, the context itself where the context is, memory of at least the pointee's size that
//   the function may read and write (or NULL, for a pointer that may be NULL) — the caller's stack
//   bytes there are unknown after the call — a dynptr on the stack, a trusted pointer of that
//   struct. Then R0 is an unknown number, R1-R5 are unset, and packet pointers die if the function
//   (or one it calls) may move the packet. No call under a spin lock (Calls.swift), nor to one that
//   may sleep inside an RCU or preempt-disabled section.
// - Only functions some path calls are verified (after the main program), each once; one that
//   fails fails the program. The call chain across them is at most 8 frames, with no recursion.

/// What one argument of a global function is, from its BTF prototype.
enum GlobalArgument: Equatable {
    case scalar
    case context
    /// Memory of `size` bytes (`nullable`: or NULL).
    case memory(size: Int, nullable: Bool)
    /// A `struct bpf_dynptr *`: a dynptr the function may read.
    case dynptr
    /// A trusted pointer to kernel struct `kernelType` (`nullable`: or NULL).
    case trusted(kernelType: Int, name: String, nullable: Bool)
    /// An `__arg_arena` pointer: a number to the verifier.
    case arena
}

/// A global function's prototype, as the verifier checks its calls and verifies it.
struct GlobalPrototype {
    let start: Int
    let name: String
    let arguments: [GlobalArgument]
    let parameterNames: [String]
}

extension Analysis {
    /// The prototype of the global function at `start`, or the error a call at `pc` gets when its
    /// BTF says something the kernel refuses.
    func globalPrototype(_ st: VerifierState, _ pc: Int, start: Int) throws(VerifierError) -> GlobalPrototype {
        if let known = globalPrototypes.first(where: { $0.start == start }) { return known }
        guard let btf = program.programBTF, let info = program.functionInfos.first(where: { $0.instruction == start }),
              let function = btf[info.typeID], function.kind == .function,
              let proto = btf[function.referencedType], proto.kind == .functionPrototype,
              case .parameters(let parameters) = proto.detail else {
            throw fail(.invalidProgram, pc, "the global function at insn \(start) has no valid BTF prototype",
                       "the kernel verifies global functions from their BTF: build with -g", state: st)
        }
        let name = function.name
        func refuse(_ why: String, _ hint: String? = nil) -> VerifierError {
            fail(.invalidProgram, pc, "global function \(name) (insn \(start)) cannot be verified from its BTF prototype: \(why)",
                 hint ?? "the kernel verifies a global function alone, for any arguments its prototype allows; make it static to verify it with its caller's arguments",
                 state: st)
        }
        guard parameters.count <= 5 else { throw refuse("it takes \(parameters.count) arguments, more than 5") }
        let returned = btf.resolve(proto.referencedType)
        switch btf[returned]?.kind {
        case .int?, .enumeration?, .enumeration64?: break
        default:
            throw refuse("it returns \(btf.typeName(proto.referencedType)); a global function must return an integer",
                         "return int (or make the function static)")
        }
        var arguments: [GlobalArgument] = []
        for (i, parameter) in parameters.enumerated() {
            let label = "argument \(i + 1) ('\(parameter.name)', \(btf.typeName(parameter.type)))"
            var tags: Set<String> = []
            for t in btf.types where t.kind == .declTag && t.referencedType == info.typeID && t.name.hasPrefix("arg:") {
                guard case .componentIndex(let index) = t.detail, index == Int32(i) else { continue }
                let tag = String(t.name.dropFirst(4))
                guard ["ctx", "trusted", "untrusted", "nonnull", "nullable", "arena"].contains(tag) else {
                    throw refuse("\(label) has the unknown tag 'arg:\(tag)'")
                }
                tags.insert(tag)
            }
            let type = btf.resolve(parameter.type)
            guard let t = btf[type], t.kind == .pointer else {
                guard tags.isEmpty else { throw refuse("\(label) is tagged \(tags.sorted().map { "arg:\($0)" }.joined(separator: ", ")) but is not a pointer") }
                switch btf[type]?.kind {
                case .int?, .enumeration?, .enumeration64?: arguments.append(.scalar)
                default: throw refuse("\(label) is neither a number nor a pointer", "pass structs by pointer")
                }
                continue
            }
            func invalidTags() -> VerifierError { refuse("\(label) has an invalid combination of tags (\(tags.sorted().joined(separator: ", ")))") }
            let pointee = btf.resolve(t.referencedType)
            let pointeeType = btf[pointee]
            let structName = pointeeType.flatMap { $0.kind == .structure || $0.kind == .union ? $0.name : nil }
            if tags.contains("ctx") || isContextType(btf, pointerTarget: t.referencedType) {
                guard tags.subtracting(["ctx"]).isEmpty else { throw invalidTags() }
                arguments.append(.context)
                continue
            }
            if structName == "bpf_dynptr" {
                guard tags.isEmpty else { throw invalidTags() }
                arguments.append(.dynptr)
                continue
            }
            if tags.contains("trusted") {
                guard !tags.contains("nonnull") else { throw invalidTags() }
                guard let kernel = kernelBTF, !program.kernelBTFIsProgramBTF else {
                    throw fail(.undecided, pc, "cannot decide: global function \(name)'s \(label) is a trusted kernel pointer, typed by the kernel's BTF, which the verifier was not given")
                }
                guard let structName, !structName.isEmpty else { throw refuse("\(label) is tagged arg:trusted but does not point to a named struct") }
                let essential = Analysis.essentialName(structName)
                guard let id = kernel.typeID(named: essential, kind: pointeeType!.kind) else {
                    throw refuse("\(label) points to struct \(essential), which the kernel's BTF does not have")
                }
                arguments.append(.trusted(kernelType: id, name: essential, nullable: tags.contains("nullable")))
                continue
            }
            if tags.contains("untrusted") {
                throw fail(.undecided, pc, "cannot decide: global function \(name)'s \(label) is tagged arg:untrusted, which this verifier does not model yet")
            }
            if tags.contains("arena") {
                guard tags == ["arena"] else { throw invalidTags() }
                arguments.append(.arena)
                continue
            }
            guard !tags.contains("nullable") else { throw invalidTags() }
            guard pointee != 0, let size = try? btf.size(of: t.referencedType) else {
                throw refuse("\(label) points to \(pointee == 0 ? "void" : btf.typeName(t.referencedType)), whose size is unknown",
                             pointee == 0 ? "give the pointer a sized type, or tag it __arg_ctx if it is the context" : "define the struct, or make the function static")
            }
            arguments.append(.memory(size: size, nullable: !tags.contains("nonnull")))
        }
        let prototype = GlobalPrototype(start: start, name: name, arguments: arguments, parameterNames: parameters.map(\.name))
        globalPrototypes.append(prototype)
        return prototype
    }

    /// A CO-RE flavor's name without its `___suffix` (`task_struct___local` is `task_struct`).
    static func essentialName(_ name: String) -> String {
        let chars = Array(name.utf8)
        var i = 0
        while i + 3 <= chars.count {
            if chars[i] == 95 && chars[i + 1] == 95 && chars[i + 2] == 95 && i > 0 { return String(decoding: chars[..<i], as: UTF8.self) }
            i += 1
        }
        return name
    }

    /// Whether a pointer to `target` is the program type's context (`btf_is_prog_ctx_type`): its
    /// struct has the name of the type's UAPI context struct (kprobes: `bpf_user_pt_regs_t` too).
    func isContextType(_ btf: BTF, pointerTarget target: Int) -> Bool {
        if program.type == .kprobe {
            var id = target
            var steps = 0
            while steps < 16, let t = btf[id], [.const, .volatile, .restrict, .typeTag, .typedef].contains(t.kind) {
                if t.kind == .typedef && t.name == "bpf_user_pt_regs_t" { return true }
                id = t.referencedType
                steps += 1
            }
        }
        if program.type == .ext, let t = btf[btf.resolve(target)], t.kind == .structure {
            // An extension takes its target's context, a type not known here: any context struct.
            return Analysis.contextStructs.contains(t.name) || t.name == "pt_regs"
        }
        guard let t = btf[btf.resolve(target)], t.kind == .structure, let expected = Analysis.contextStructName(program.type) else { return false }
        // kprobes: `struct bpf_user_pt_regs_t` too (how programs for older kernels name it).
        return t.name == expected || (program.type == .kprobe && t.name == "bpf_user_pt_regs_t")
    }

    /// The struct a program type's context is declared as (`bpf_ctx_convert`); nil where only
    /// `__arg_ctx` makes an argument the context (tracing, LSM, struct_ops, syscall...).
    static func contextStructName(_ type: ProgramType) -> String? {
        switch type {
        case .socketFilter, .schedCls, .schedAct, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local, .skSkb, .flowDissector: "__sk_buff"
        case .xdp: "xdp_md"
        case .kprobe: "pt_regs"
        case .perfEvent: "bpf_perf_event_data"
        case .rawTracepoint, .rawTracepointWritable: "bpf_raw_tracepoint_args"
        case .cgroupSock: "bpf_sock"
        case .cgroupSockAddr: "bpf_sock_addr"
        case .sockOps: "bpf_sock_ops"
        case .skMsg: "sk_msg_md"
        case .cgroupDevice: "bpf_cgroup_dev_ctx"
        case .cgroupSysctl: "bpf_sysctl"
        case .cgroupSockopt: "bpf_sockopt"
        case .skLookup: "bpf_sk_lookup"
        case .skReuseport: "sk_reuseport_md"
        case .netfilter: "bpf_nf_ctx"
        default: nil
        }
    }

    /// A call to the global function at `target`: the caller's arguments checked against its
    /// prototype; the function is queued for its own verification; R0 is an unknown number.
    func globalCall(_ st: inout VerifierState, _ pc: Int, target: Int) throws(VerifierError) -> StepResult {
        let proto = try globalPrototype(st, pc, start: target)
        if st.rcuDepth > 0 || st.preemptDepth > 0, let sleeping = globalFunctionSleepingCall(target) {
            throw fail(.lock, pc, "global function \(proto.name) may sleep (it calls \(helperName(sleeping)) at insn \(sleeping)), but it is called inside a \(st.rcuDepth > 0 ? "bpf_rcu_read_lock section" : "bpf_preempt_disable section")",
                       "call it after the section ends", state: st)
        }
        for (i, argument) in proto.arguments.enumerated() {
            try checkGlobalArgument(&st, pc, proto, index: i, argument)
        }
        if globalFunctionMovesPacket(target) { invalidatePacketPointers(&st) }
        if !globalFunctionsCalled.contains(target) { globalFunctionsCalled.append(target) }
        globalCallEdges.append(GlobalCallEdge(caller: verificationRoot, callee: target, frames: st.frames.count))
        addCallEdge(st.current.subprogram, target)
        for r in 1...5 { st[r] = .uninitialized }
        st[0] = .unknownScalar
        return .next(pc + 1)
    }

    /// Argument `index` of a call to global function `proto` (`btf_check_func_arg_match`).
    func checkGlobalArgument(_ st: inout VerifierState, _ pc: Int, _ proto: GlobalPrototype, index i: Int,
                             _ argument: GlobalArgument) throws(VerifierError) {
        let regno = i + 1
        let r = st[regno]
        let label = "argument \(regno) of global function \(proto.name) ('\(proto.parameterNames[i])')"
        if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
        func bad(_ what: String, _ hint: String? = nil) -> VerifierError {
            argumentError(st, pc, regno: regno, label: label, what: what, hint: hint)
        }
        let isNull = r.kind == .scalar && r.value.constantValue == 0
        switch argument {
        case .scalar:
            guard r.kind == .scalar else { throw bad("a number") }
        case .arena:
            guard r.kind == .scalar else { throw bad("an arena pointer or a number") }
        case .context:
            guard r.kind == .context else { throw bad("the program's context", "pass the context pointer the program received") }
            guard r.offset == 0, r.value.constantValue == 0 else {
                throw bad("the program's context itself (offset 0)", "pass the context pointer unchanged")
            }
        case .memory(let size, let nullable):
            if isNull {
                needPrecise(st, pc, registers: [regno])
                return
            }
            if r.kind.isNullable && !nullable {
                throw fail(.nullPointer, pc, "R\(regno) may be NULL (\(label) is tagged __arg_nonnull)",
                           "check the result of \(originName(r)) before passing it", state: st, registers: [regno])
            }
            guard r.kind.isPointer, r.kind != .mapPointer, r.kind != .mapPointerOrNull, r.kind != .function else {
                throw bad("a pointer to \(size) bytes\(nullable ? " or NULL" : "")")
            }
            // The function may read and write every byte (the kernel checks both accesses); a
            // possibly NULL pointer is checked as the memory it points to when it is not NULL.
            var checked = st
            if r.kind.isNullable { checked[regno].kind = r.kind.nonNull }
            let what = "\(size) bytes (its pointee)"
            do {
                try checkHelperMemory(&checked, pc, regno: regno, size: .constant(UInt64(size)), write: false,
                                      helper: "global function \(proto.name)", what: what)
                try checkHelperMemory(&checked, pc, regno: regno, size: .constant(UInt64(size)), write: true,
                                      helper: "global function \(proto.name)", what: what)
            } catch var error {
                // Name the argument where the memory check does not.
                if !error.summary.contains("global function") { error.summary = "\(label): " + error.summary }
                throw error
            }
            checked[regno] = r
            st = checked
        case .dynptr:
            _ = try initializedDynptr(st, pc, regno: regno, label: label, mutable: false)
        case .trusted(_, let name, let nullable):
            if nullable && isNull {
                needPrecise(st, pc, registers: [regno])
                return
            }
            if r.kind == .kernelPointerOrNull && !nullable {
                throw fail(.nullPointer, pc, "R\(regno) may be NULL (\(label) is a trusted pointer, not tagged __arg_nullable)",
                           "check the result of \(originName(r)) before passing it", state: st, registers: [regno])
            }
            guard r.kind == .kernelPointer || r.kind == .kernelPointerOrNull else {
                throw bad("a trusted pointer to struct \(name)\(nullable ? " or NULL" : "")")
            }
            guard !r.kernelFlags.contains(.allocated), r.btfType == 0 || kernelType(r.btfType, offset: r.offset, is: name) else {
                throw bad("a trusted pointer to struct \(name), not to \(kernelTypeName(r.btfType))")
            }
            // The kernel takes `ptr_`, `trusted_ptr_` and `rcu_ptr_` here (`check_reg_type`), not an
            // untrusted, user or per-CPU pointer.
            guard r.kernelFlags.isDisjoint(with: [.untrusted, .user, .percpu]) else {
                throw bad("a trusted pointer to struct \(name)", "pointers read through other kernel pointers are not trusted")
            }
            guard r.offset == 0, r.value.constantValue == 0 else { throw bad("a pointer to the start of struct \(name)") }
        }
    }

    /// Whether the function starting at `start`, or one it calls, calls a helper that may move the packet
    /// (the kernel's `changes_pkt_data`, found before verification).
    func globalFunctionMovesPacket(_ start: Int) -> Bool {
        firstCall(from: start) { pc in
            let ins = insns[pc]
            return ins.src == 0 && (ins.imm == 202 || HelperPrototype[ins.imm]?.changesPacket == true)
        } != nil
    }

    /// The first call in the function starting at `start`, or in one it calls, that may sleep (the
    /// kernel's `might_sleep`): a sleepable helper or kfunc.
    func globalFunctionSleepingCall(_ start: Int) -> Int? {
        firstCall(from: start) { pc in
            let ins = insns[pc]
            if ins.src == 0 { return [148, 161, 191, 193].contains(ins.imm) }
            if ins.src == CallKind.kfunc.rawValue, let name = program.kfuncs[pc] {
                return KfuncFlags.of(name)?.contains(.sleepable) == true
            }
            return false
        }
    }

    /// The first helper or kfunc call for which `matches` holds, in the function starting at `start` or
    /// in one it calls (directly or through calls), found by reading the instructions.
    func firstCall(from start: Int, where matches: (Int) -> Bool) -> Int? {
        var seen: [Int] = []
        var work = [start]
        while let s = work.popLast() {
            guard !seen.contains(s) else { continue }
            seen.append(s)
            var pc = s
            while pc < insns.count && subprogramOf[pc] == s {
                let ins = insns[pc]
                if ins.opcode == Opcode.call {
                    if ins.src == CallKind.local.rawValue {
                        work.append(pc + 1 + Int(ins.imm))
                    } else if matches(pc) {
                        return pc
                    }
                }
                pc += ins.opcode == Opcode.lddw ? 2 : 1
            }
        }
        return nil
    }

    /// The registers a global function starts with, from its prototype (`do_check_common`).
    func globalEntryState(_ proto: GlobalPrototype) -> VerifierState {
        var state = VerifierState(frames: [Frame(callSite: -1, subprogram: proto.start)])
        state[10] = stackPointer(frame: 0)
        for (i, argument) in proto.arguments.enumerated() {
            var r = Register()
            switch argument {
            case .scalar, .arena:
                r = .unknownScalar
            case .context:
                r.kind = .context
            case .memory(let size, let nullable):
                r.kind = nullable ? .memoryOrNull : .memory
                r.size = size
                if nullable { r.id = freshID() }
                r.origin = -2 - i
            case .dynptr:
                r.kind = .constDynptr
                r.dynptrKind = .local
                r.id = freshID()
            case .trusted(let kernelType, _, let nullable):
                r.kind = nullable ? .kernelPointerOrNull : .kernelPointer
                r.btfType = kernelType
                r.kernelFlags = .trusted
                r.id = freshID()
                r.origin = -2 - i
            }
            state[i + 1] = r
        }
        return state
    }

    /// Verifies, one by one and each once, the global functions the paths explored so far call
    /// (and those they call).
    func verifyGlobalFunctions() throws(VerifierError) {
        var i = 0
        while i < globalFunctionsCalled.count {
            let start = globalFunctionsCalled[i]
            i += 1
            if start == exceptionCallbackStart { continue }
            guard let proto = globalPrototypes.first(where: { $0.start == start }) else { continue }
            verificationRoot = start
            verificationRootPeak = 1
            verifyingGlobalFunction = proto
            if options.logLevel >= 1 && log.utf8.count < options.logLimit {
                log += "Validating \(proto.name)() at insn \(start), for any arguments its prototype allows\n"
            }
            pending = [Path(state: globalEntryState(proto), pc: start, parent: nil, from: -1)]
            while !pending.isEmpty {
                try explore(pending.removeLast())
            }
            rootPeaks.append(GlobalCallEdge(caller: start, callee: start, frames: verificationRootPeak))
            verifyingGlobalFunction = nil
        }
    }

    /// The exit of a global function verified alone: R0 must be a number (it returns an int).
    func globalFunctionExit(_ st: inout VerifierState, _ pc: Int, _ proto: GlobalPrototype) throws(VerifierError) -> StepResult {
        try readable(st, 0, pc, " (global function \(proto.name)'s return value)")
        guard st[0].kind == .scalar else {
            throw fail(.returnValue, pc, "global function \(proto.name) must return a number, but R0 is \(st[0].describe(maps: maps))",
                       "its callers get an unknown int", state: st, registers: [0])
        }
        if !st.references.isEmpty { throw referenceLeak(st, pc) }
        return .exit
    }

    /// The deepest call chain through global functions verified alone (each one's frames start
    /// where its deepest caller's were), and no recursion through them (`check_max_stack_depth`).
    func checkGlobalCallDepth() throws(VerifierError) {
        guard !globalCallEdges.isEmpty else { return }
        var base: [Int] = []      // parallel to `roots`
        var roots: [Int] = [0]
        for e in globalCallEdges where !roots.contains(e.callee) { roots.append(e.callee) }
        var state = [UInt8](filled: 0, count: roots.count)   // 0 new, 1 visiting, 2 done
        base = [Int](filled: 0, count: roots.count)
        func visit(_ k: Int) throws(VerifierError) {
            if state[k] == 2 { return }
            if state[k] == 1 {
                let name = globalPrototypes.first(where: { $0.start == roots[k] })?.name ?? "at insn \(roots[k])"
                throw fail(.callStack, nil, "recursive call: global function \(name) calls itself through other global functions",
                           "the kernel refuses recursion, however bounded; use a loop")
            }
            state[k] = 1
            var deepest = 0
            for e in globalCallEdges where e.callee == roots[k] {
                guard let c = roots.firstIndex(of: e.caller) else { continue }
                try visit(c)
                deepest = max(deepest, base[c] + e.frames)
            }
            base[k] = deepest
            state[k] = 2
        }
        for k in roots.indices { try visit(k) }
        for k in roots.indices where roots[k] != 0 {
            let peak = rootPeaks.first(where: { $0.caller == roots[k] })?.frames ?? 1
            if base[k] + peak > Analysis.maxFrames {
                let name = globalPrototypes.first(where: { $0.start == roots[k] })?.name ?? "at insn \(roots[k])"
                throw fail(.callStack, nil, "the call stack of \(base[k] + peak) frames is too deep (through global function \(name), \(base[k]) frames down)",
                           "call fewer functions inside each other (the kernel allows 8 frames)")
            }
        }
    }
}

/// A call to a global function: from the verification root `caller` (0: the program; else the
/// global function being verified), with `frames` frames active at the call.
struct GlobalCallEdge {
    let caller: Int
    let callee: Int
    let frames: Int
}
