import BPFCore
import BPFObject

/// The transfer function: one instruction applied to an abstract state.
extension Analysis {
    func step(_ st: inout VerifierState, _ pc: Int, _ parent: Checkpoint?) throws(VerifierError) -> StepResult {
        let ins = insns[pc]
        // Checked where a path reaches the write, as the kernel's check_reg_arg does (code no path
        // reaches may write r10).
        if Self.writtenRegister(ins) == 10 {
            throw fail(.invalidProgram, pc, "r10 is the read-only frame pointer and cannot be written", state: st)
        }
        switch ins.instructionClass {
        case .alu, .alu64:
            try alu(&st, pc, ins)
            return .next(pc + 1)
        case .jmp, .jmp32:
            return try jump(&st, pc, ins, parent)
        case .ld:
            if ins.opcode == Opcode.lddw {
                try loadImmediate(&st, pc, ins)
                return .next(pc + 2)
            }
            try legacyPacketLoad(&st, pc, ins)
            try subprogramPacketLoad(st, pc, parent, what: "ld_abs/ld_ind")
            return .next(pc + 1)
        case .ldx:
            let base = st[Int(ins.src)].kind
            try load(&st, pc, ins)
            try samePointerClass(st, pc, base)
            return .next(pc + 1)
        case .st, .stx:
            if ins.opcode & 0xe0 == MemoryMode.atomic.rawValue {
                try atomic(&st, pc, ins)
            } else {
                try store(&st, pc, ins)
                try samePointerClass(st, pc, st[Int(ins.dst)].kind)
            }
            return .next(pc + 1)
        }
    }

    /// The register an instruction writes by its fields (nil: none; calls write r0-r5 implicitly).
    static func writtenRegister(_ ins: Instruction) -> Int? {
        switch ins.instructionClass {
        case .alu, .alu64, .ldx: return Int(ins.dst)
        case .ld: return ins.opcode == Opcode.lddw ? Int(ins.dst) : 0
        case .stx where ins.opcode & 0xe0 == MemoryMode.atomic.rawValue:
            if ins.imm == 0xf1 { return 0 }               // cmpxchg: r0
            if ins.imm == 0x100 { return Int(ins.dst) }   // load-acquire
            return ins.imm & 1 != 0 ? Int(ins.src) : nil  // the fetching operations: src
        default: return nil
        }
    }

    func readable(_ st: VerifierState, _ reg: Int, _ pc: Int, _ what: String = "") throws(VerifierError) {
        if st[reg].kind == .uninitialized {
            throw fail(.uninitializedRegister, pc, "R\(reg) is read before it is set\(what)",
                       reg >= 1 && reg <= 5 ? "r1-r5 are not preserved across calls; set R\(reg) again after a call" : "give R\(reg) a value on every path that reaches here",
                       state: st, registers: [reg])
        }
    }

    // MARK: ALU

    func alu(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let width = ins.instructionClass == .alu64 ? 64 : 32
        let op = ALUOperation(rawValue: ins.opcode & 0xf0)!
        let fromRegister = ins.opcode & 0x08 != 0
        let d = Int(ins.dst), s = Int(ins.src)
        if (op == .div || op == .mod) && !fromRegister && ins.imm == 0 {
            // The kernel refuses a constant divisor of 0 (a register that may be 0 is defined: 0, or unchanged).
            throw fail(.invalidProgram, pc, "division by zero: the divisor is the constant 0", state: st)
        }
        if op == .mov {
            if fromRegister {
                try readable(st, s, pc)
                var src = st[s]
                if width == 64 && ins.offset == Instruction.addressSpaceCastOffset {
                    try addressSpaceCast(&st, pc, ins)
                    return
                }
                if ins.offset != 0 {
                    guard src.kind == .scalar else {
                        st[d] = .unknownScalar
                        return
                    }
                    var v = src.value.signExtended(from: Int(ins.offset))
                    if width == 32 { v = v.zeroExtended32 }
                    st[d] = .scalar(v)
                    return
                }
                if width == 64 {
                    if src.kind == .scalar && src.id == 0 && !src.value.isConstant {
                        src.id = freshID()
                        st[s] = src
                    }
                    st[d] = src
                } else if src.kind == .scalar && src.value.umax <= 0xffff_ffff {
                    // The upper half is zero: the copy is the same value, linked as a 64-bit copy
                    // is (the kernel's check_alu_op for a u32-wide source).
                    if src.id == 0 && !src.value.isConstant {
                        src.id = freshID()
                        st[s] = src
                    }
                    st[d] = src
                } else {
                    st[d] = .scalar(src.kind == .scalar ? src.value.zeroExtended32 : Scalar.unsigned(0, 0xffff_ffff))
                }
            } else {
                let value = width == 64 ? UInt64(bitPattern: Int64(ins.imm)) : UInt64(UInt32(bitPattern: ins.imm))
                st[d] = .scalar(.constant(value))
            }
            return
        }
        try readable(st, d, pc)
        let dst = st[d]
        if op == .neg || op == .end {
            guard dst.kind == .scalar else {
                throw fail(.invalidPointer, pc, "\(op == .neg ? "negation" : "byte swap") of pointer R\(d) is not allowed",
                           state: st, registers: [d])
            }
            var v = dst.value
            if op == .neg {
                v = Scalar.alu(.sub, .constant(0), v, width: width)
            } else if width == 64 {
                v = v.byteSwapped(bits: Int(ins.imm))
            } else if fromRegister {
                v = v.byteSwapped(bits: Int(ins.imm))
            } else {
                v = v.truncated(toBytes: Int(ins.imm) / 8)
            }
            st[d] = .scalar(v)
            return
        }
        var src: Register
        if fromRegister {
            try readable(st, s, pc)
            src = st[s]
        } else {
            let imm = width == 64 ? UInt64(bitPattern: Int64(ins.imm)) : UInt64(UInt32(bitPattern: ins.imm))
            src = .scalar(.constant(imm))
        }
        if dst.kind == .arena || src.kind == .arena {
            // Any arithmetic on an arena pointer is an arena pointer (the kernel's adjust_reg_min_max_vals).
            st[d] = dst.kind == .arena ? dst : src
            return
        }
        if dst.kind == .scalar && src.kind == .scalar {
            let kind: ALUKind
            switch op {
            case .add: kind = .add
            case .sub: kind = .sub
            case .mul: kind = .mul
            case .div: kind = ins.offset == 1 ? .sdiv : .udiv
            case .mod: kind = ins.offset == 1 ? .smod : .umod
            case .or: kind = .or
            case .and: kind = .and
            case .lsh: kind = .lsh
            case .rsh: kind = .rsh
            case .xor: kind = .xor
            case .arsh: kind = .arsh
            default: kind = .add
            }
            if kind == .lsh || kind == .rsh || kind == .arsh {
                // The kernel refuses a constant count outside the width, and takes a register count that
                // may reach it as giving any value (undefined shifts: JITs differ).
                if !fromRegister && (ins.imm < 0 || Int(ins.imm) >= width) {
                    throw fail(.invalidProgram, pc, "shift by \(ins.imm): the count of a \(width)-bit shift must be 0...\(width - 1)", state: st)
                }
                if fromRegister && src.value.umax >= UInt64(width) {
                    st[d] = .scalar(width == 32 ? Scalar.unsigned(0, 0xffff_ffff) : .unknown)
                    return
                }
            }
            var result = Register.scalar(Scalar.alu(kind, dst.value, src.value, width: width))
            if width == 64 && (kind == .add || kind == .sub) && dst.id != 0 && dst.offset == 0, let k = src.value.constantValue {
                // A linked scalar plus a constant stays linked, that constant apart: a range check
                // on either refines the other (the kernel's BPF_ADD_CONST; a second one unlinks).
                let delta = kind == .sub ? 0 &- Int64(bitPattern: k) : Int64(bitPattern: k)
                if delta != 0 && delta > Int64(Int32.min) && delta <= Int64(Int32.max) {
                    result.id = dst.id
                    result.offset = Int(delta)
                }
            }
            st[d] = result
            return
        }
        // Pointer arithmetic. The difference of two pointers is a number (root may compute it).
        if dst.kind.isPointer && src.kind.isPointer {
            guard op == .sub else {
                throw fail(.invalidPointer, pc, "\(op) of two pointers (R\(d), R\(s)) is not allowed", state: st, registers: [d, s])
            }
            st[d] = .scalar(width == 32 ? Scalar.unsigned(0, 0xffff_ffff) : .unknown)
            return
        }
        // A 32-bit subtraction with a pointer operand is a number to a privileged program (the
        // kernel's adjust_ptr_min_max_vals with allow_ptr_leaks); other 32-bit ALU is refused.
        if width == 32 && op == .sub {
            st[d] = .unknownScalar
            return
        }
        guard width == 64 else {
            throw fail(.invalidPointer, pc, "32-bit arithmetic on a pointer (R\(dst.kind.isPointer ? d : s)) is not allowed",
                       "use 64-bit arithmetic (a 32-bit result would drop the pointer's upper half)", state: st, registers: [d, s])
        }
        guard op == .add || (op == .sub && dst.kind.isPointer) else {
            throw fail(.invalidPointer, pc, "\(op) on a pointer (R\(dst.kind.isPointer ? d : s)) is not allowed",
                       "only adding or subtracting a scalar moves a pointer", state: st, registers: [d, s])
        }
        if op == .sub && dst.kind == .stack {
            // The kernel refuses it (adjust_ptr_min_max_vals): JITs may not handle a frame pointer moved down by subtraction.
            throw fail(.invalidPointer, pc, "subtraction from the stack pointer R\(d) is not allowed",
                       "add a negative offset instead (r\(d) += -8)", state: st, registers: [d])
        }
        let pointer = dst.kind.isPointer ? dst : src
        let scalar = dst.kind.isPointer ? src.value : dst.value
        let pointerReg = dst.kind.isPointer ? d : s
        // The scalar moves the pointer: its value matters (for pruning; the kernel checks the
        // pointer's range instead, so it is not `strong`).
        needPrecise(st, pc, registers: fromRegister ? [d, s] : [d], strong: false)
        switch pointer.kind {
        case .context, .stack, .mapValue, .packet, .packetMeta, .memory, .kernelPointer: break
        case .mapPointer where op == .add && scalar.constantValue == 0:
            // A map plus a known 0 is the map (the kernel's adjust_ptr_min_max_vals, CONST_PTR_TO_MAP).
            st[d] = pointer
            return
        case .mapValueOrNull, .memoryOrNull, .mapPointerOrNull, .kernelPointerOrNull:
            throw fail(.nullPointer, pc, "arithmetic on R\(pointerReg), which may be NULL",
                       "check the result of \(originName(pointer)) against NULL first", state: st, registers: [pointerReg])
        default:
            throw fail(.invalidPointer, pc, "arithmetic on R\(pointerReg) (\(pointer.kind.name)) is not allowed", state: st, registers: [pointerReg])
        }
        var result = pointer
        let limit: Int64 = 1 << 29
        if let c = scalar.constantValue {
            let delta = Int64(bitPattern: c)
            let newOffset = op == .sub ? Int64(pointer.offset) - delta : Int64(pointer.offset) + delta
            guard delta > -limit && delta < limit, newOffset > -limit && newOffset < limit else {
                throw fail(.outOfBounds, pc, "pointer offset \(newOffset) of R\(d) is out of range", state: st, registers: [d, s])
            }
            result.offset = Int(newOffset)
        } else {
            if pointer.kind == .memory && pointer.sliceOf == Register.flowKeysMemory {
                throw fail(.invalidPointer, pc, "R\(d) pointer arithmetic on flow_keys prohibited: it moves only by constants",
                           state: st, registers: [d, s])
            }
            let v = op == .sub ? Scalar.sub(pointer.value, scalar) : Scalar.add(pointer.value, scalar)
            guard v.smin > -limit && v.smax < limit else {
                if (op == .sub ? 0 &- scalar.smax : scalar.smin) < 0 && scalar.smin > Int64.min {
                    throw fail(.outOfBounds, pc, "R\(d) would move by a value that may be negative (\(scalar))",
                               "use an unsigned index or check that it is >= 0 before adding it to the pointer",
                               state: st, registers: [d, s])
                }
                throw fail(.outOfBounds, pc, "R\(d) may be moved by a value with no usable bound (\(scalar))",
                           "bound the value with a comparison (e.g. if (i < N)) before adding it to the pointer",
                           state: st, registers: [d, s])
            }
            result.value = v
            if pointer.kind == .packet || pointer.kind == .packetMeta {
                result.id = freshID()
                result.size = 0
            }
        }
        st[d] = result
    }

    /// For a target that implements only some map types (the Swift runtime): the map's type must be one.
    func checkMapImplemented(_ pc: Int, _ map: Int) throws(VerifierError) {
        let spec = maps[map]
        if let types = options.target.mapTypes, !types.contains(spec.type) {
            throw fail(.unsupported, pc, "map '\(spec.name)' is a \(spec.type.kernelName) map, which \(options.target.name) does not implement",
                       "the kernel accepts it; run the program in the kernel")
        }
    }

    func originName(_ reg: Register) -> String {
        if reg.origin < -1, let proto = verifyingGlobalFunction {
            return "argument \(-1 - reg.origin) ('\(proto.parameterNames[min(-2 - reg.origin, proto.parameterNames.count - 1)])') of global function \(proto.name), which callers may pass as NULL unless it is tagged __arg_nonnull,"
        }
        guard reg.origin >= 0 else { return "the lookup" }
        if insns[reg.origin].opcode == Opcode.call { return "\(helperName(reg.origin)) (insn \(reg.origin))" }
        if reg.kind == .kernelPointerOrNull { return "the kernel pointer read at insn \(reg.origin) (the kernel says it may be NULL)" }
        return "the load at insn \(reg.origin)"
    }

    // MARK: 64-bit immediates

    func loadImmediate(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let d = Int(ins.dst)
        switch LoadImmediateSource(rawValue: ins.src) {
        case .constant:
            if let name = program.externs[pc] {
                st[d] = try kernelSymbol(st, pc, name: name)
                return
            }
            let low = UInt64(UInt32(bitPattern: ins.imm)), high = UInt64(UInt32(bitPattern: insns[pc + 1].imm))
            st[d] = .scalar(.constant(low | high << 32))
        case .mapFD, .mapIndex:
            guard let ref = program.mapReferences[pc] else {
                throw fail(.invalidProgram, pc, "lddw of map \(ins.imm), which the verifier was not given")
            }
            try checkMapImplemented(pc, ref.map)
            try checkGraphMapUse(st, pc, map: ref.map)
            try checkMapProgramCompatibility(st, pc, map: ref.map)
            if maps[ref.map].type == .arena { try useArena(st, pc, map: ref.map) }
            var r = Register()
            r.kind = .mapPointer
            r.map = ref.map
            st[d] = r
        case .mapValue, .mapIndexValue:
            guard let ref = program.mapReferences[pc] else {
                throw fail(.invalidProgram, pc, "lddw of a value of map \(ins.imm), which the verifier was not given")
            }
            let spec = maps[ref.map]
            let offset = ref.valueOffset ?? Int(insns[pc + 1].imm)
            if spec.type == .arena {
                // An arena global's address is its user-space address: a number (check_ld_imm).
                try useArena(st, pc, map: ref.map)
                st[d] = .unknownScalar
                return
            }
            guard spec.type == .array, offset >= 0, offset < max(spec.valueSize, 1) else {
                throw fail(.invalidProgram, pc, "direct value access to map '\(spec.name)' at offset \(offset) is not allowed",
                           "only array maps have value addresses, inside their \(spec.valueSize)-byte value")
            }
            try checkGraphMapUse(st, pc, map: ref.map)
            try checkMapProgramCompatibility(st, pc, map: ref.map)
            var r = Register()
            r.kind = .mapValue
            r.map = ref.map
            r.offset = offset
            st[d] = r
        case .function:
            var r = Register()
            r.kind = .function
            r.frame = pc + 1 + Int(ins.imm)
            st[d] = r
        case .btfID:
            if let name = program.externs[pc] {
                st[d] = try kernelSymbol(st, pc, name: name)
                return
            }
            throw fail(.undecided, pc, "cannot decide: lddw of a kernel variable by BTF id",
                       "the Swift runtime has no kernel variables")
        case nil:
            throw fail(.invalidProgram, pc, "unknown lddw source \(ins.src)")
        }
    }

    // MARK: Jumps

    func jump(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction, _ parent: Checkpoint?) throws(VerifierError) -> StepResult {
        if ins.opcode == Opcode.mayGoto { return mayGoto(&st, pc, ins, parent) }
        let is32 = ins.instructionClass == .jmp32
        let op = JumpOperation(rawValue: ins.opcode & 0xf0)!
        switch op {
        case .ja:
            return .next(pc + 1 + (is32 ? Int(ins.imm) : Int(ins.offset)))
        case .exit:
            return try exit(&st, pc)
        case .call:
            if ins.opcode == Opcode.callx {
                throw fail(.unsupported, pc, "indirect call (callx) is not allowed",
                           "the kernel verifier has no callx either; call the function directly")
            }
            switch CallKind(rawValue: ins.src) {
            case .local:
                return try localCall(&st, pc, target: pc + 1 + Int(ins.imm))
            case .kfunc:
                guard let name = program.kfuncs[pc] else {
                    throw fail(.undecided, pc, "cannot decide: kfunc call (BTF id \(ins.imm))", "the verifier names kfuncs by the object's relocations")
                }
                if let implemented = options.target.kfuncs, !implemented.contains(name) {
                    throw fail(.helperUnavailable, pc, "kfunc '\(name)' is not implemented by \(options.target.name)",
                               "the kernel may accept it; run the program in the kernel", state: st)
                }
                if name == "bpf_throw" { return try throwException(&st, pc) }
                try kfuncCall(&st, pc, name: name, parent: parent)
                return .next(pc + 1)
            default:
                try helperCall(&st, pc, ins, parent)
                if let callback = deferredCallback {
                    // The continuation waits for every path of the callback (pending is a stack),
                    // then forgets what the callback wrote to its callers' stacks.
                    deferredCallback = nil
                    fork(st, at: pc + 1, parent: parent, afterCallback: callback.target, callback: callback.start)
                    fork(callback.state, at: callback.target, parent: parent)
                    return .exit
                }
                return .next(pc + 1)
            }
        default:
            break
        }
        let d = Int(ins.dst)
        try readable(st, d, pc)
        let fromRegister = ins.opcode & 0x08 != 0
        let src: Register
        if fromRegister {
            try readable(st, Int(ins.src), pc)
            src = st[Int(ins.src)]
        } else {
            src = .scalar(.constant(is32 ? UInt64(UInt32(bitPattern: ins.imm)) : UInt64(bitPattern: Int64(ins.imm))))
        }
        let target = pc + 1 + Int(ins.offset)
        if fromRegister && st[d].kind.isPointer != src.kind.isPointer {
            // A pointer compared with a scalar register: a NULL check only if the scalar is 0.
            needPrecise(st, pc, registers: [d, Int(ins.src)])
        }
        // The state itself becomes the fall-through branch's (one copy, for the taken branch).
        var taken = st
        let dst = st[d]
        let (takenOK, fallOK) = refine(&taken, &st, op: op, is32: is32, d: d, s: fromRegister ? Int(ins.src) : nil, dst: dst, src: src)
        if !(takenOK && fallOK) {
            // The operands' values decided the branch: a state with other values may go the other way.
            needPrecise(takenOK ? taken : st, pc, registers: fromRegister ? [d, Int(ins.src)] : [d])
        }
        if takenOK && fallOK {
            fork(taken, at: target, parent: parent)
            return .next(pc + 1)
        }
        if takenOK {
            st = taken
            return .next(target)
        }
        if fallOK {
            return .next(pc + 1)
        }
        // Neither is possible: this path cannot happen.
        return .exit
    }

    /// Refines the states of both branches; returns which are feasible.
    func refine(_ taken: inout VerifierState, _ fall: inout VerifierState, op: JumpOperation, is32: Bool, d: Int, s: Int?,
                dst: Register, src: Register) -> (Bool, Bool) {
        if dst.kind == .scalar && src.kind == .scalar {
            let t = refineScalars(op: op, is32: is32, dst.value, src.value)
            let f = refineScalars(op: negate(op), is32: is32, dst.value, src.value)
            if let t {
                setScalar(&taken, d, t.0)
                if let s { setScalar(&taken, s, t.1) }
            }
            if let f {
                setScalar(&fall, d, f.0)
                if let s { setScalar(&fall, s, f.1) }
            }
            return (t != nil, f != nil)
        }
        // NULL checks.
        if !is32 && (op == .jeq || op == .jne) {
            var nullable: Register?
            // As the kernel: only a comparison with the immediate 0 is a NULL check (a register holding 0
            // leaves the pointer maybe-NULL on both branches).
            if dst.kind.isNullable && s == nil && src.value.constantValue == 0 { nullable = dst }
            if let p = nullable {
                markNull(&taken, p, isNull: op == .jeq)
                markNull(&fall, p, isNull: op == .jne)
                return (true, true)
            }
            // Two pointers, exactly one maybe NULL (neither a typed kernel pointer): where they are
            // equal, that one is not NULL (the kernel's check_cond_jmp_op, eq_branch_regs; it marks
            // that register only).
            if let s, dst.kind.isPointer && src.kind.isPointer && dst.kind.isNullable != src.kind.isNullable
                && dst.kind != .kernelPointer && dst.kind != .kernelPointerOrNull
                && src.kind != .kernelPointer && src.kind != .kernelPointerOrNull {
                let r = dst.kind.isNullable ? d : s
                if op == .jeq { taken[r].kind = taken[r].kind.nonNull } else { fall[r].kind = fall[r].kind.nonNull }
                return (true, true)
            }
            // A pointer that cannot be NULL compared with 0.
            let pointer = dst.kind.isPointer ? dst : src
            let other = dst.kind.isPointer ? src : dst
            // (Typed kernel pointers other than trusted ones may be NULL: both branches are explored.)
            // Only the kinds the kernel knows are not NULL (`reg_not_null`): a context, stack or packet
            // pointer compared with 0 leaves both branches open there, so both are explored here too.
            let knownNonNull: Bool
            switch pointer.kind {
            case .socket, .tcpSocket, .socketCommon, .mapValue, .memory: knownNonNull = true
            case .kernelPointer: knownNonNull = pointer.isTrustedKernelPointer
            default: knownNonNull = false
            }
            if knownNonNull && other.kind == .scalar && other.value.constantValue == 0 {
                return op == .jeq ? (false, true) : (true, false)
            }
        }
        // Packet bounds.
        if !is32 {
            var p = dst, end = src, flipped = false
            if !isPacketPair(p, end) {
                p = src; end = dst; flipped = true
            }
            if isPacketPair(p, end) {
                // Which branch knows p <= end (or p < end)?
                let effective = flipped ? swapOperands(op) : op
                // A strict `p < end` proves one byte more (the kernel's find_good_pkt_pointers
                // with range_right_open).
                switch effective {
                case .jgt: markPacketRange(&fall, p)
                case .jge: markPacketRange(&fall, p, strict: true)
                case .jle: markPacketRange(&taken, p)
                case .jlt: markPacketRange(&taken, p, strict: true)
                default: break
                }
                return (true, true)
            }
        }
        return (true, true)
    }

    func isPacketPair(_ p: Register, _ end: Register) -> Bool {
        if p.kind == .packet && end.kind == .packetEnd { return true }
        if p.kind == .packetMeta && end.kind == .packet && end.offset == 0 && end.value.constantValue == 0 { return true }
        return false
    }

    /// `a op b` rewritten as `b op' a`.
    func swapOperands(_ op: JumpOperation) -> JumpOperation {
        switch op {
        case .jgt: .jlt
        case .jge: .jle
        case .jlt: .jgt
        case .jle: .jge
        case .jsgt: .jslt
        case .jsge: .jsle
        case .jslt: .jsgt
        case .jsle: .jsge
        default: op
        }
    }

    func markPacketRange(_ st: inout VerifierState, _ p: Register, strict: Bool = false) {
        guard p.offset >= 0, p.value.umax <= 0xffff, p.value.smin >= 0, p.value.umax + UInt64(p.offset) <= 0xffff else { return }
        // (As the kernel: `p < end` at offset 0 proves nothing.)
        if strict && p.offset == 0 { return }
        let kind = p.kind, id = p.id, range = strict ? p.offset + 1 : p.offset
        st.forEachRegister { r in
            if r.kind == kind && r.id == id && r.size < range { r.size = range }
        }
    }

    func markNull(_ st: inout VerifierState, _ p: Register, isNull: Bool) {
        let id = p.id
        // Only a pointer that is itself the reference (not a pointer derived from one: a dynptr's
        // slice, bpf_sk_fullsock's socket) releases it by being NULL.
        if isNull && p.referenceID != 0 && p.referenceID == p.id {
            st.references.removeAll { $0.id == p.referenceID }
        }
        st.forEachRegister { r in
            guard r.kind.isNullable && r.id == id else { return }
            if isNull {
                r = .scalar(.constant(0))
            } else {
                r.kind = r.kind.nonNull
            }
        }
    }

    func setScalar(_ st: inout VerifierState, _ reg: Int, _ value: Scalar) {
        let id = st[reg].id, offset = st[reg].offset
        st[reg].value = value
        if id != 0 {
            st.forEachRegister { r in
                // A scalar linked with a constant apart (`offset`, BPF_ADD_CONST) is this value moved by the difference.
                if r.kind == .scalar && r.id == id {
                    r.value = r.offset == offset ? value
                        : Scalar.alu(.add, value, .constant(UInt64(bitPattern: Int64(r.offset - offset))), width: 64)
                }
            }
        }
    }

    func negate(_ op: JumpOperation) -> JumpOperation? {
        switch op {
        case .jeq: .jne
        case .jne: .jeq
        case .jgt: .jle
        case .jle: .jgt
        case .jge: .jlt
        case .jlt: .jge
        case .jsgt: .jsle
        case .jsle: .jsgt
        case .jsge: .jslt
        case .jslt: .jsge
        default: nil   // jset: handled as "not set"
        }
    }

    /// The values of both operands when `a op b` holds; nil when it cannot. `op` nil is "not jset".
    func refineScalars(op: JumpOperation?, is32: Bool, _ a: Scalar, _ b: Scalar) -> (Scalar, Scalar)? {
        var a = a, b = b
        if let op, let order = Ordering(op) {
            // One check serves both widths and both signednesses: it narrows the pair of bounds
            // the comparison speaks about.
            let feasible = switch (is32, order.signed) {
            case (true, false): Self.refine(order, &a.u32min, &a.u32max, &b.u32min, &b.u32max)
            case (true, true): Self.refine(order, &a.s32min, &a.s32max, &b.s32min, &b.s32max)
            case (false, false): Self.refine(order, &a.umin, &a.umax, &b.umin, &b.umax)
            case (false, true): Self.refine(order, &a.smin, &a.smax, &b.smin, &b.smax)
            }
            guard feasible, a.sync(), b.sync() else { return nil }
            return (a, b)
        }
        if is32 {
            switch op {
            case .jeq:
                guard let t = a.tnum.intersect(Tnum(value: b.tnum.value & 0xffff_ffff, mask: b.tnum.mask | 0xffff_ffff_0000_0000)),
                      let t2 = b.tnum.intersect(Tnum(value: a.tnum.value & 0xffff_ffff, mask: a.tnum.mask | 0xffff_ffff_0000_0000)) else { return nil }
                a.tnum = t; b.tnum = t2
                a.u32min = max(a.u32min, b.u32min); a.u32max = min(a.u32max, b.u32max)
                a.s32min = max(a.s32min, b.s32min); a.s32max = min(a.s32max, b.s32max)
                b.u32min = a.u32min; b.u32max = a.u32max; b.s32min = a.s32min; b.s32max = a.s32max
            case .jne:
                if a.isConstant32 && b.isConstant32 && UInt32(truncatingIfNeeded: a.tnum.value) == UInt32(truncatingIfNeeded: b.tnum.value) { return nil }
                if b.isConstant32 {
                    let c = UInt32(truncatingIfNeeded: b.tnum.value)
                    if a.u32min == c && a.u32min < .max { a.u32min += 1 } else if a.u32max == c && a.u32max > 0 { a.u32max -= 1 }
                    let sc = Int32(bitPattern: c)
                    if a.s32min == sc && a.s32min < .max { a.s32min += 1 } else if a.s32max == sc && a.s32max > .min { a.s32max -= 1 }
                }
            case .jset:
                if let c = b.constantValue.map({ $0 & 0xffff_ffff }) {
                    if a.tnum.max & c == 0 { return nil }
                    if c.nonzeroBitCount == 1 { a.tnum = Tnum(value: a.tnum.value | c, mask: a.tnum.mask & ~c) }
                }
            case nil:
                if let c = b.constantValue.map({ $0 & 0xffff_ffff }) {
                    if a.tnum.value & c != 0 { return nil }
                    a.tnum = Tnum(value: a.tnum.value & ~c, mask: a.tnum.mask & ~c)
                }
            default: break
            }
        } else {
            switch op {
            case .jeq:
                guard let t = a.tnum.intersect(b.tnum) else { return nil }
                a.tnum = t
                a.umin = max(a.umin, b.umin); a.umax = min(a.umax, b.umax)
                a.smin = max(a.smin, b.smin); a.smax = min(a.smax, b.smax)
                a.u32min = max(a.u32min, b.u32min); a.u32max = min(a.u32max, b.u32max)
                a.s32min = max(a.s32min, b.s32min); a.s32max = min(a.s32max, b.s32max)
                b = a
            case .jne:
                if let x = a.constantValue, let y = b.constantValue, x == y { return nil }
                if let c = b.constantValue {
                    if a.umin == c && a.umin < .max { a.umin += 1 } else if a.umax == c && a.umax > 0 { a.umax -= 1 }
                    let sc = Int64(bitPattern: c)
                    if a.smin == sc && a.smin < .max { a.smin += 1 } else if a.smax == sc && a.smax > .min { a.smax -= 1 }
                }
                if let c = a.constantValue {
                    if b.umin == c && b.umin < .max { b.umin += 1 } else if b.umax == c && b.umax > 0 { b.umax -= 1 }
                }
            case .jset:
                if let c = b.constantValue {
                    if a.tnum.max & c == 0 { return nil }
                    if c.nonzeroBitCount == 1 { a.tnum = Tnum(value: a.tnum.value | c, mask: a.tnum.mask & ~c) }
                }
            case nil:
                if let c = b.constantValue {
                    if a.tnum.value & c != 0 { return nil }
                    a.tnum = Tnum(value: a.tnum.value & ~c, mask: a.tnum.mask & ~c)
                }
            default: break
            }
        }
        guard a.sync(), b.sync() else { return nil }
        return (a, b)
    }

    /// An ordered comparison: which way, and whether it is signed.
    struct Ordering {
        enum Relation { case greater, greaterOrEqual, less, lessOrEqual }
        var relation: Relation
        var signed: Bool

        init?(_ op: JumpOperation) {
            switch op {
            case .jgt: (relation, signed) = (.greater, false)
            case .jge: (relation, signed) = (.greaterOrEqual, false)
            case .jlt: (relation, signed) = (.less, false)
            case .jle: (relation, signed) = (.lessOrEqual, false)
            case .jsgt: (relation, signed) = (.greater, true)
            case .jsge: (relation, signed) = (.greaterOrEqual, true)
            case .jslt: (relation, signed) = (.less, true)
            case .jsle: (relation, signed) = (.lessOrEqual, true)
            default: return nil
            }
        }
    }

    /// Narrows the bounds `aMin...aMax` and `bMin...bMax` (of one view: unsigned or signed, 32 or
    /// 64 bits) to the values for which `a <relation> b` holds; false when none do.
    static func refine<T: FixedWidthInteger>(_ order: Ordering, _ aMin: inout T, _ aMax: inout T,
                                             _ bMin: inout T, _ bMax: inout T) -> Bool {
        switch order.relation {
        case .greater:
            guard bMin < .max, aMax > .min else { return false }
            aMin = max(aMin, bMin + 1); bMax = min(bMax, aMax - 1)
        case .greaterOrEqual:
            aMin = max(aMin, bMin); bMax = min(bMax, aMax)
        case .less:
            guard bMax > .min, aMin < .max else { return false }
            aMax = min(aMax, bMax - 1); bMin = max(bMin, aMin + 1)
        case .lessOrEqual:
            aMax = min(aMax, bMax); bMin = max(bMin, aMin)
        }
        return true
    }
}
