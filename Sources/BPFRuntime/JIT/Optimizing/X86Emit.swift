/// Emits x86-64 from ``OptProgram`` after register allocation. The code has the first tier's
/// entry convention (`entry(frame) -> r0`, r12 the run's ``JITFrame``), so runs, prepared runs and
/// the service into Swift work unchanged; r10 and r11 are scratch, the other twelve registers
/// (but rsp and r12) hold virtual registers.
struct OptX86Emitter {
    static let allocatable: [X86Reg] = [.rax, .rdi, .rsi, .rdx, .rcx, .r8, .rbx, .r13, .r14, .r15, .rbp, .r9]
    static let callerSaved: Set<X86Reg> = [.rax, .rcx, .rdx, .rsi, .rdi, .r8, .r9]
    static let s1 = X86Reg.r11, s2 = X86Reg.r10, frameReg = X86Reg.r12

    let program: OptProgram
    var asm: X86Assembler
    var locations: [OptLocation?] = []
    var slotCount = 0
    private var blockLabels: [X86Label] = []
    private var finish: X86Label!
    private var unwind: X86Label!
    private var cold: [(label: X86Label, emit: ColdCode)] = []

    private enum ColdCode {
        case service(op: OptOp, resume: X86Label, liveAfter: [UInt64], result: X86Reg?)
        case virtual(dst: X86Reg, slow: X86Label, resume: X86Label)
        case budget(pc: Int, resume: X86Label)
        /// A load whose likely converted-field entry did not match: the full path (address in r11).
        case checkedLoad(op: OptOp, result: X86Reg, resume: X86Label, liveAfter: [UInt64])
        /// A call into Swift ended the run: drop what was pushed around the call, then unwind.
        case unwind(bytes: Int32)
    }

    init(program: OptProgram, listing: Bool) {
        self.program = program
        asm = X86Assembler(listing: listing)
    }

    private func frame(_ offset: Int32) -> X86Mem { X86Mem(base: Self.frameReg, disp: offset) }

    /// The code. A verified program that calls nothing and has no out-of-line paths gets a lean
    /// entry and exit (found by emitting it once in full): only the host registers its allocation
    /// uses are saved, and nothing of the run's frame is touched but its live-in registers.
    mutating func emit() -> [UInt8] {
        let start = self
        let full = emit(lean: false)
        let calls = program.blocks.contains { block in
            if case .fail = block.terminator { return true }
            return block.ops.contains { op in
                switch op.kind {
                case .directCall, .service: return true
                default: return false
                }
            }
        }
        guard program.verified, cold.isEmpty, !calls else { return full }
        self = start
        return emit(lean: true)
    }

    private mutating func emit(lean: Bool) -> [UInt8] {
        var allocator = OptRegisterAllocator(program: program, colors: Self.allocatable.count)
        allocator.preferred = (0..<program.registerCount).map { $0 < 11 ? Self.allocatable.firstIndex(of: JITCompiler.bpfRegisters[$0]) ?? -1 : -1 }
        // Shift counts in rcx (cl), so a shift by a register needs no save of rcx.
        for block in program.blocks {
            for op in block.ops {
                if case .alu(let alu) = op.kind, alu == .shl || alu == .shr || alu == .sar, let r = op.args[1].register {
                    allocator.preferred[r] = Self.allocatable.firstIndex(of: .rcx)!
                }
            }
        }
        (locations, slotCount) = allocator.allocate()
        let order = program.reversePostOrder()
        blockLabels = program.blocks.map { _ in asm.newLabel() }
        finish = asm.newLabel()
        unwind = asm.newLabel()
        var rpoIndex = [Int](repeating: -1, count: program.blocks.count)
        for (i, b) in order.enumerated() { rpoIndex[b] = i }
        let liveness = OptLiveness(program)

        // Entry.
        let slotBytes = Int32((slotCount * 8 + 15) / 16 * 16)
        // Lean: the callee-saved registers the allocation uses, in allocation order. Full: those and
        // r12 (the frame), padded so that calls into Swift find rsp 16-byte aligned. No `savedRSP`:
        // each call into Swift that ends the run unwinds its own pushes (``emitService``).
        let usedCalleeSaved = Self.allocatable.indices.filter { c in locations.contains { $0 == .register(c) } }
            .map { Self.allocatable[$0] }.filter { [.rbx, .rbp, .r13, .r14, .r15].contains($0) }
        let hostSaved: [X86Reg] = lean ? usedCalleeSaved : usedCalleeSaved + [.r12]
        // With the return address, an even count of saved registers needs one more word.
        let pad = !lean && hostSaved.count % 2 == 0
        if lean {
            asm.comment("entry (lean: no calls, no out-of-line paths): save the host registers used, load the live eBPF registers")
            for r in hostSaved { asm.push(r) }
            if slotCount > 0 { asm.alu(.sub, true, .rsp, imm: slotBytes) }
            asm.mov(true, Self.s2, .rdi)
        } else {
            asm.comment("entry: save the host registers used and r12, load the live eBPF registers from the frame")
            for r in hostSaved { asm.push(r) }
            asm.mov(true, Self.frameReg, .rdi)
            if slotCount > 0 || pad { asm.alu(.sub, true, .rsp, imm: slotBytes + (pad ? 8 : 0)) }
        }
        let base = lean ? Self.s2 : Self.frameReg
        for r in 0..<min(11, program.registerCount) where OptLiveness.contains(liveness.liveIn[0], r) {
            let m = X86Mem(base: base, disp: JITFrame.registers + Int32(r * 8))
            if let reg = register(of: r) {
                asm.load(reg, m, bits: 64)
            } else {
                asm.load(Self.s1, m, bits: 64)
                write(r, from: Self.s1)
            }
        }
        for (i, b) in order.enumerated() {
            asm.bind(blockLabels[b])
            let block = program.blocks[b]
            // Live sets after each operation.
            var live = liveness.liveOut[b]
            for v in block.terminator.uses { if let r = v.register { OptLiveness.set(&live, r) } }
            var after = [[UInt64]](repeating: [], count: block.ops.count)
            for j in block.ops.indices.reversed() {
                after[j] = live
                OptLiveness.step(block.ops[j], &live)
            }
            for (j, op) in block.ops.enumerated() { emitOp(op, liveAfter: after[j]) }
            let next = i + 1 < order.count ? order[i + 1] : -1
            emitTerminator(block, next: next, backEdge: { rpoIndex[$0] <= i })
        }
        // Exit.
        if lean {
            asm.bind(unwind)
            asm.bind(finish)
            if slotCount > 0 { asm.alu(.add, true, .rsp, imm: slotBytes) }
        } else {
            asm.bind(unwind)
            asm.load(.rax, frame(JITFrame.registers), bits: 64)
            asm.bind(finish)
            if slotCount > 0 || pad { asm.alu(.add, true, .rsp, imm: slotBytes + (pad ? 8 : 0)) }
        }
        for r in hostSaved.reversed() { asm.pop(r) }
        asm.ret()
        var k = 0
        while k < cold.count {
            let item = cold[k]
            asm.bind(item.label)
            switch item.emit {
            case let .service(op, resume, liveAfter, result):
                emitService(op, liveAfter: liveAfter, result: result)
                asm.jmp(resume)
            case let .virtual(dst, slow, resume):
                for s in 0..<JITFrame.virtualSlots {
                    let nextSlot = asm.newLabel()
                    asm.alu(.cmp, Self.s1, frame(JITFrame.virtualTable + Int32(s * 16)))
                    asm.jcc(.ne, nextSlot)
                    asm.load(dst, frame(JITFrame.virtualTable + Int32(s * 16 + 8)), bits: 64)
                    asm.jmp(resume)
                    asm.bind(nextSlot)
                }
                asm.jmp(slow)
            case let .budget(pc, resume):
                emitService(OptOp(kind: .service, pc: pc), liveAfter: [], result: nil)
                asm.jmp(resume)
            case let .checkedLoad(op, result, resume, liveAfter):
                emitCheckedLoad(op, result: result, resume: resume, liveAfter: liveAfter)
                asm.jmp(resume)
            case .unwind(let bytes):
                asm.alu(.add, true, .rsp, imm: bytes)
                asm.jmp(unwind)
            }
            k += 1
        }
        asm.resolve()
        patchTables()
        return asm.bytes
    }

    // MARK: - Locations

    private func location(_ r: Int) -> OptLocation { locations[r] ?? .slot(0) }

    private func slotMem(_ s: Int) -> X86Mem { X86Mem(base: .rsp, disp: Int32(s * 8)) }

    private func register(of r: Int) -> X86Reg? {
        if case .register(let c) = location(r) { return Self.allocatable[c] }
        return nil
    }

    /// The register holding `v`, loading it into `scratch` when it is not in one.
    private mutating func read(_ v: OptValue, into scratch: X86Reg) -> X86Reg {
        switch v {
        case .k(let c):
            asm.movImm(scratch, c)
            return scratch
        case .v(let r):
            switch location(r) {
            case .register(let c): return Self.allocatable[c]
            case .slot(let s):
                asm.load(scratch, slotMem(s), bits: 64)
                return scratch
            }
        }
    }

    /// `v` into exactly `target`.
    private mutating func move(_ v: OptValue, to target: X86Reg, w: Bool = true) {
        switch v {
        case .k(let c): asm.movImm(target, w ? c : c & 0xffff_ffff)
        case .v(let r):
            switch location(r) {
            case .register(let c): if Self.allocatable[c] != target { asm.mov(w, target, Self.allocatable[c]) }
            case .slot(let s): asm.load(target, slotMem(s), bits: w ? 64 : 32)
            }
        }
    }

    /// Where to compute the value of `r`: its register, or scratch.
    private func target(_ r: Int, scratch: X86Reg = Self.s1) -> X86Reg { register(of: r) ?? scratch }

    private mutating func write(_ r: Int, from source: X86Reg) {
        switch location(r) {
        case .register(let c): if Self.allocatable[c] != source { asm.mov(true, Self.allocatable[c], source) }
        case .slot(let s): asm.store(slotMem(s), source, bits: 64)
        }
    }

    private func immediate(_ v: OptValue, w: Bool) -> Int32? {
        guard let c = v.constant else { return nil }
        if !w { return Int32(truncatingIfNeeded: c) }
        return Int32(exactly: Int64(bitPattern: c))
    }

    // MARK: - Operations

    private mutating func emitOp(_ op: OptOp, liveAfter: [UInt64]) {
        let w = op.w
        switch op.kind {
        case .mov:
            let d = target(op.dst)
            move(op.args[0], to: d, w: w)
            // A 32-bit move to itself still clears the upper half.
            if !w, case .v(let r) = op.args[0], register(of: r) == d { asm.mov(false, d, d) }
            write(op.dst, from: d)
        case .alu(let alu):
            emitALU(alu, op, w: w, liveAfter: liveAfter)
        case .neg:
            let d = target(op.dst)
            move(op.args[0], to: d, w: w)
            asm.unary(3, w, d)
            write(op.dst, from: d)
        case let .extend(bits, signed):
            let d = target(op.dst)
            let a = read(op.args[0], into: Self.s2)
            if bits == 32 && !signed { asm.mov(false, d, a) } else { asm.extend(d, a, bits: bits, signed: signed, w: w) }
            write(op.dst, from: d)
        case .swap(let bits):
            let d = target(op.dst)
            move(op.args[0], to: d)
            switch bits {
            case 16: asm.swap16(d); asm.extend(d, d, bits: 16, signed: false, w: false)
            case 32: asm.bswap(false, d)
            default: asm.bswap(true, d)
            }
            write(op.dst, from: d)
        case let .select(cond, cmpW):
            let a = op.args[0], b = op.args[1]
            func inRegister(_ v: OptValue) -> X86Reg? { v.register.flatMap { register(of: $0) } }
            let simple = inRegister(a) != nil && (immediate(b, w: cmpW) != nil || inRegister(b) != nil)
            // The value a cmov can take: a register, or a constant loaded into r11 before the compare.
            func source(_ v: OptValue) -> X86Reg {
                if let r = inRegister(v) { return r }
                move(v, to: Self.s1)
                return Self.s1
            }
            if simple, let d = register(of: op.dst), op.args[3] == .v(op.dst) {
                // x = cond ? t : x: one cmov into x's register.
                let t = source(op.args[2])
                asm.cmov(compare(cond, cmpW, a, b), true, d, t)
            } else if simple, let d = register(of: op.dst), op.args[2] == .v(op.dst) {
                let f = source(op.args[3])
                asm.cmov(compare(cond, cmpW, a, b).inverted, true, d, f)
            } else if simple {
                move(op.args[3], to: Self.s2)
                let t = source(op.args[2])
                asm.cmov(compare(cond, cmpW, a, b), true, Self.s2, t)
                write(op.dst, from: Self.s2)
            } else {
                let x86 = compare(cond, cmpW, a, b)
                let taken = asm.newLabel(), done = asm.newLabel()
                asm.jcc(x86, taken)
                move(op.args[3], to: Self.s2)
                asm.jmp(done)
                asm.bind(taken)
                move(op.args[2], to: Self.s2)
                asm.bind(done)
                write(op.dst, from: Self.s2)
            }
        case let .load(size, signed):
            let result = target(op.dst, scratch: Self.s2)
            let resume = asm.newLabel()
            if op.mayBeVirtual, program.verified, let slot = Self.likelyVirtualSlot(op) {
                // Most likely a converted field (`ctx->data` at 0, `data_end` at 4, `data_meta` at 8
                // are the first three entries of the table): compare with that entry inline, and
                // take every other address through the full path, out of line. Verified code only:
                // the entry of a field a context lacks repeats one it has (or holds address 1, which
                // no pointer the verifier accepted has), where an unverified program may compute any
                // address and must find the full path's range check.
                let base = read(op.args[0], into: Self.s1)
                asm.lea(Self.s1, X86Mem(base: base, disp: op.offset))
                let general = asm.newLabel()
                asm.alu(.cmp, Self.s1, frame(JITFrame.virtualTable + Int32(slot * 16)))
                asm.jcc(.ne, general)
                asm.load(result, frame(JITFrame.virtualTable + Int32(slot * 16 + 8)), bits: 64)
                cold.append((general, .checkedLoad(op: op, result: result, resume: resume, liveAfter: liveAfter)))
            } else if op.checked || op.mayBeVirtual {
                let base = read(op.args[0], into: Self.s1)
                asm.lea(Self.s1, X86Mem(base: base, disp: op.offset))
                emitCheckedLoad(op, result: result, resume: resume, liveAfter: liveAfter)
            } else {
                let base = read(op.args[0], into: Self.s1)
                var address = X86Mem(base: base, disp: op.offset)
                if let index = op.index { address.index = read(index, into: Self.s2) }
                asm.load(result, address, bits: size * 8, signed: signed)
            }
            asm.bind(resume)
            write(op.dst, from: result)
        case .store(let size):
            var address = X86Mem(base: Self.s1)
            let resume = asm.newLabel()
            let value: X86Reg? = immediate(op.args[1], w: size == 8) == nil ? read(op.args[1], into: Self.s2) : nil
            let base = read(op.args[0], into: Self.s1)
            if op.checked {
                asm.lea(Self.s1, X86Mem(base: base, disp: op.offset))
                emitRegionCheck(size: size, write: true, slow: coldService(op, resume: resume, liveAfter: liveAfter, result: nil))
            } else {
                address = X86Mem(base: base, disp: op.offset)
                if let index = op.index {
                    if let r = index.register.flatMap({ register(of: $0) }) {
                        address.index = r
                    } else if case .v(let r) = index, case .slot(let slot) = location(r) {
                        // The index in a stack slot (r10 may hold the value): add it to a copy of the base.
                        if base != Self.s1 { asm.mov(true, Self.s1, base) }
                        asm.alu(.add, Self.s1, slotMem(slot))
                        address = X86Mem(base: Self.s1, disp: op.offset)
                    }
                }
            }
            if let value { asm.store(address, value, bits: size * 8) } else { asm.storeImm(address, immediate(op.args[1], w: size == 8)!, bits: size * 8) }
            asm.bind(resume)
        case let .atomic(size, atomicOp):
            emitAtomic(op, size: size, atomicOp: atomicOp, liveAfter: liveAfter)
        case .arrayLookup(let array):
            let key = read(op.args[0], into: Self.s1)
            let after = asm.newLabel(), null = asm.newLabel()
            asm.load(Self.s1, X86Mem(base: key), bits: 32)
            asm.alu(.cmp, false, Self.s1, imm: Int32(bitPattern: array.maxEntries))
            asm.jcc(.ae, null)
            if array.stride & (array.stride - 1) == 0 {
                if array.stride > 1 { asm.shift(.shl, true, Self.s1, imm: UInt8(array.stride.trailingZeroBitCount)) }
            } else {
                asm.imul(true, Self.s1, Self.s1, imm: Int32(array.stride))
            }
            asm.movImm(Self.s2, array.valueBase)
            asm.alu(.add, true, Self.s2, Self.s1)
            asm.jmp(after)
            asm.bind(null)
            asm.movImm(Self.s2, 0)
            asm.bind(after)
            write(op.dst, from: Self.s2)
        case let .directCall(function, object):
            for (i, a) in op.args.enumerated() {
                let r = read(a, into: Self.s1)
                asm.store(frame(JITFrame.registers + Int32((2 + i) * 8)), r, bits: 64)
            }
            let saved = savedAround(op, liveAfter: liveAfter)
            push(saved)
            asm.movImm(.rdi, object)
            for (i, r) in [X86Reg.rsi, .rdx, .rcx].prefix(op.args.count).enumerated() {
                asm.load(r, frame(JITFrame.registers + Int32((2 + i) * 8)), bits: 64)
            }
            asm.movImm(Self.s1, function)
            asm.callRegister(Self.s1)
            asm.mov(true, Self.s2, .rax)
            pop(saved)
            write(op.dst, from: Self.s2)
        case .service:
            emitService(op, liveAfter: liveAfter, result: nil)
        case .zeroFrame:
            let top = read(op.args[0], into: Self.s1)
            asm.zeroXMM0()
            var o: Int32 = -16
            while o >= -512 {
                asm.storeXMM0(X86Mem(base: top, disp: o))
                o -= 16
            }
        }
    }

    private mutating func emitALU(_ alu: OptALU, _ op: OptOp, w: Bool, liveAfter: [UInt64]) {
        let a = op.args[0], b = op.args[1]
        switch alu {
        case .div, .sdiv, .mod, .smod:
            emitDivMod(alu, op, w: w)
            return
        case .shl, .shr, .sar:
            let kind: X86Shift = alu == .shl ? .shl : alu == .shr ? .shr : .sar
            if let c = b.constant {
                let d = target(op.dst)
                move(a, to: d, w: w)
                let count = UInt8(truncatingIfNeeded: c) & (w ? 63 : 31)
                if count != 0 { asm.shift(kind, w, d, imm: count) } else if !w { asm.mov(false, d, d) }
                write(op.dst, from: d)
            } else {
                move(a, to: Self.s2, w: w)
                let count = read(b, into: Self.s1)
                // rcx needs saving only when it holds a value that is still needed.
                var rcxBusy = false
                for r in 0..<program.registerCount where r != op.dst && OptLiveness.contains(liveAfter, r) && register(of: r) == .rcx { rcxBusy = true }
                if count == .rcx {
                    asm.shiftCL(kind, w, Self.s2)
                } else if !rcxBusy {
                    asm.mov(true, .rcx, count)
                    asm.shiftCL(kind, w, Self.s2)
                } else {
                    asm.push(.rcx)
                    asm.mov(true, .rcx, count)
                    asm.shiftCL(kind, w, Self.s2)
                    asm.pop(.rcx)
                }
                if !w { asm.mov(false, Self.s2, Self.s2) }
                write(op.dst, from: Self.s2)
            }
            return
        default: break
        }
        var d = target(op.dst)
        let bRegister: X86Reg? = b.register.flatMap { register(of: $0) }
        if bRegister == d, a != b {
            if alu.commutative {
                applyALU(alu, w: w, d, a)
                write(op.dst, from: d)
                return
            }
            d = Self.s1
        }
        if alu == .mul, let k = immediate(b, w: w) {
            let source = read(a, into: Self.s2)
            asm.imul(w, d, source, imm: k)
            write(op.dst, from: d)
            return
        }
        if alu == .add, w, d != Self.s1, case .v(let ar) = a, let aReg = register(of: ar), aReg != d {
            // Three-address add: lea.
            if let k = immediate(b, w: true) {
                asm.lea(d, X86Mem(base: aReg, disp: k))
                write(op.dst, from: d)
                return
            }
            if let bReg = bRegister, bReg != .rsp {
                asm.lea(d, X86Mem(base: aReg, index: bReg))
                write(op.dst, from: d)
                return
            }
        }
        move(a, to: d, w: w)
        applyALU(alu, w: w, d, b)
        write(op.dst, from: d)
    }

    /// d = d op v.
    private mutating func applyALU(_ alu: OptALU, w: Bool, _ d: X86Reg, _ v: OptValue) {
        if alu == .mul {
            if let k = immediate(v, w: w) { asm.imul(w, d, d, imm: k) } else { asm.imul(w, d, read(v, into: Self.s2)) }
            return
        }
        let x86: X86ALU = [OptALU.add: X86ALU.add, .sub: .sub, .or: .or, .and: .and, .xor: .xor][alu]!
        if let k = immediate(v, w: w) { asm.alu(x86, w, d, imm: k) } else { asm.alu(x86, w, d, read(v, into: Self.s2)) }
    }

    /// eBPF's division rules: x/0 = 0, x%0 = x, INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0. A constant
    /// divisor needs no guard for the cases it cannot be (no test for zero unless it is zero, none
    /// for -1 unless it is -1).
    private mutating func emitDivMod(_ alu: OptALU, _ op: OptOp, w: Bool) {
        let signed = alu == .sdiv || alu == .smod, isMod = alu == .mod || alu == .smod
        let divisor = op.args[1].constant.map { w ? $0 : $0 & 0xffff_ffff }
        let mayBeZero = divisor == nil || divisor == 0
        let mayBeMinusOne = signed && (divisor == nil || divisor == (w ? UInt64.max : 0xffff_ffff))
        move(op.args[1], to: Self.s1, w: w)
        move(op.args[0], to: Self.s2, w: w)
        let zero = asm.newLabel(), done = asm.newLabel()
        if mayBeZero {
            asm.test(w, Self.s1, Self.s1)
            asm.jcc(.e, zero)
        }
        var minusOne: X86Label?
        if mayBeMinusOne {
            minusOne = asm.newLabel()
            asm.alu(.cmp, w, Self.s1, imm: -1)
            asm.jcc(.e, minusOne!)
        }
        asm.push(.rax)
        asm.push(.rdx)
        asm.mov(true, .rax, Self.s2)
        if signed { asm.signExtendAccumulator(w) } else { asm.movImm(.rdx, 0) }
        asm.unary(signed ? 7 : 6, w, Self.s1)
        asm.mov(true, Self.s2, isMod ? .rdx : .rax)
        asm.pop(.rdx)
        asm.pop(.rax)
        if mayBeZero || minusOne != nil { asm.jmp(done) }
        if mayBeZero {
            asm.bind(zero)
            if !isMod { asm.movImm(Self.s2, 0) }
        }
        if let minusOne {
            if mayBeZero { asm.jmp(done) }
            asm.bind(minusOne)
            if isMod { asm.movImm(Self.s2, 0) } else { asm.unary(3, w, Self.s2) }
        }
        asm.bind(done)
        write(op.dst, from: Self.s2)
    }

    /// Compares a with b and returns the x86 condition for `cond`; `avoid` is a register the
    /// comparison must not clobber.
    private mutating func compare(_ cond: OptCond, _ w: Bool, _ a: OptValue, _ b: OptValue) -> X86Cond {
        var cond = cond, a = a, b = b
        if a.constant != nil && b.constant == nil { swap(&a, &b); cond = cond.swapped }
        let scratchA = Self.s1, scratchB = Self.s2
        let aReg = read(a, into: scratchA)
        if cond == .set {
            if let k = immediate(b, w: w) { asm.test(w, aReg, imm: k) } else { asm.test(w, aReg, read(b, into: scratchB)) }
            return .ne
        }
        if let k = immediate(b, w: w) {
            if k == 0 && (cond == .eq || cond == .ne) { asm.test(w, aReg, aReg) } else { asm.alu(.cmp, w, aReg, imm: k) }
        } else {
            asm.alu(.cmp, w, aReg, read(b, into: scratchB))
        }
        return X86Cond(cond)
    }

    private mutating func emitTerminator(_ block: OptBlock, next: Int, backEdge: (Int) -> Bool) {
        let term = block.terminator
        if !program.verified, term.successors.contains(where: backEdge) {
            // Unverified loops spend the run's budget.
            let resume = asm.newLabel(), stub = asm.newLabel()
            asm.alu(.sub, frame(JITFrame.budget), imm: 1)
            asm.jcc(.e, stub)
            asm.bind(resume)
            cold.append((stub, .budget(pc: block.terminatorPC, resume: resume)))
        }
        switch term {
        case .jump(let t):
            if t != next { asm.jmp(blockLabels[t]) }
        case let .branch(cond, w, a, b, t, e):
            let x86 = compare(cond, w, a, b)
            if t == next {
                asm.jcc(x86.inverted, blockLabels[e])
            } else {
                asm.jcc(x86, blockLabels[t])
                if e != next { asm.jmp(blockLabels[e]) }
            }
        case let .table(index, w, targets, otherwise):
            let i = read(index, into: Self.s1)
            if !w || i != Self.s1 { asm.mov(w, Self.s1, i) }
            asm.alu(.cmp, true, Self.s1, imm: Int32(targets.count))
            asm.jcc(.ae, blockLabels[otherwise])
            let table = asm.newLabel()
            asm.leaLabel(Self.s2, table)
            asm.loadSigned32(Self.s1, X86Mem(base: Self.s2, index: Self.s1, scale: 4))
            asm.alu(.add, true, Self.s1, Self.s2)
            asm.jmpRegister(Self.s1)
            asm.bind(table)
            tables.append((asm.offset, targets))
            for _ in targets { asm.data32(0) }
        case .exit(let v):
            move(v, to: .rax)
            asm.jmp(finish)
        case .fail(let pc):
            emitService(OptOp(kind: .service, pc: pc), liveAfter: [], result: nil)
            asm.jmp(finish)
        }
    }

    var tables: [(offset: Int, targets: [Int])] = []

    /// Fills the jump tables once every block is placed.
    mutating func patchTables() {
        for (start, targets) in tables {
            for (i, t) in targets.enumerated() {
                asm.patch32(at: start + i * 4, Int32(asm.offset(of: blockLabels[t]) - start))
            }
        }
    }

    // MARK: - Memory

    /// The entry of the converted-field table a load most likely reads: XDP's `data`, `data_end` and
    /// `data_meta` (offsets 0, 4, 8) are its entries 0–2; nil for other offsets.
    static func likelyVirtualSlot(_ op: OptOp) -> Int? {
        guard op.offset >= 0, op.offset % 4 == 0, op.offset / 4 < 3 else { return nil }
        return Int(op.offset / 4)
    }

    /// A load that may read a converted field or needs its bounds checked, its address in r11:
    /// a converted field is read from the frame's table, any other address is checked against the
    /// regions (when `op.checked`) and read; what fails goes to the service. Continues at `resume`
    /// (the caller binds it) or falls through.
    private mutating func emitCheckedLoad(_ op: OptOp, result: X86Reg, resume: X86Label, liveAfter: [UInt64]) {
        guard case let .load(size, signed) = op.kind else { return }
        let slow = coldService(op, resume: resume, liveAfter: liveAfter, result: result)
        if op.mayBeVirtual {
            let virtual = asm.newLabel()
            asm.mov(true, Self.s2, Self.s1)
            asm.alu(.sub, Self.s2, frame(JITFrame.virtualLow))
            asm.alu(.cmp, Self.s2, frame(JITFrame.virtualLength))
            asm.jcc(.b, virtual)
            cold.append((virtual, .virtual(dst: result, slow: slow, resume: resume)))
        }
        if op.checked { emitRegionCheck(size: size, write: false, slow: slow) }
        asm.load(result, X86Mem(base: Self.s1), bits: size * 8, signed: signed)
    }

    /// Falls through when the `size` bytes at r11 lie in the packet, the input or the stack (or the
    /// region cached last); jumps to `slow` otherwise.
    private mutating func emitRegionCheck(size: Int, write: Bool, slow: X86Label) {
        asm.regionCheck(address: Self.s1, frameBase: Self.frameReg, size: size, write: write, slow: slow)
    }

    private mutating func coldService(_ op: OptOp, resume: X86Label, liveAfter: [UInt64], result: X86Reg?) -> X86Label {
        let label = asm.newLabel()
        cold.append((label, .service(op: op, resume: resume, liveAfter: liveAfter, result: result)))
        return label
    }

    private mutating func emitAtomic(_ op: OptOp, size: Int, atomicOp: Int32, liveAfter: [UInt64]) {
        let w = size == 8
        let resume = asm.newLabel()
        // The operand first (it may live in r11), then the address in r11.
        move(op.args[1], to: Self.s2)
        let base = read(op.args[0], into: Self.s1)
        asm.lea(Self.s1, X86Mem(base: base, disp: op.offset))
        if !op.onStack {
            let slow = coldService(op, resume: resume, liveAfter: liveAfter, result: op.dst >= 0 ? Self.s2 : nil)
            if op.checked { emitRegionCheck(size: size, write: true, slow: slow) }
            asm.test(false, Self.s1, imm: Int32(size - 1))
            asm.jcc(.ne, slow)
        }
        let m = X86Mem(base: Self.s1)
        switch atomicOp {
        case 0x00: asm.lockALU(.add, w, m, Self.s2)
        case 0x40: asm.lockALU(.or, w, m, Self.s2)
        case 0x50: asm.lockALU(.and, w, m, Self.s2)
        case 0xa0: asm.lockALU(.xor, w, m, Self.s2)
        case 0x01: asm.lockXadd(w, m, Self.s2)
        case 0xe1: asm.xchg(w, m, Self.s2)
        case 0xf1:
            asm.push(.rax)
            asm.push(.rax)
            // rax = r0 (it may be in a slot addressed from rsp: two pushes moved it 16 bytes).
            if case .v(let r) = op.args[2], case .slot(let s) = location(r) {
                asm.load(.rax, X86Mem(base: .rsp, disp: Int32(s * 8 + 16)), bits: 64)
            } else if case .v(let r) = op.args[2], let reg = register(of: r) {
                asm.mov(true, .rax, reg == .rax ? .rax : reg)
                if reg == .rax { asm.load(.rax, X86Mem(base: .rsp), bits: 64) }
            } else {
                move(op.args[2], to: .rax)
            }
            asm.lockCmpxchg(w, m, Self.s2)
            if !w { asm.mov(false, .rax, .rax) }
            asm.mov(true, Self.s2, .rax)
            asm.pop(.rax)
            asm.pop(.rax)
        default:
            let aluOp: X86ALU = atomicOp == 0x41 ? .or : atomicOp == 0x51 ? .and : .xor
            asm.fetchLogicLoop(aluOp, wide: w, at: m, operand: Self.s2)
        }
        asm.bind(resume)
        if op.dst >= 0 {
            if !w && atomicOp != 0xf1 { asm.mov(false, Self.s2, Self.s2) }
            write(op.dst, from: Self.s2)
        }
    }

    // MARK: - Calls into Swift

    /// Caller-saved registers holding values live after `op` (other than what it defines).
    private func savedAround(_ op: OptOp, liveAfter: [UInt64]) -> [X86Reg] {
        var saved = Set<X86Reg>()
        let defs = Set(op.defs)
        for r in 0..<program.registerCount where !liveAfter.isEmpty && OptLiveness.contains(liveAfter, r) && !defs.contains(r) {
            if let reg = register(of: r), Self.callerSaved.contains(reg) { saved.insert(reg) }
        }
        return Self.allocatable.filter { saved.contains($0) }
    }

    private mutating func push(_ saved: [X86Reg]) {
        for r in saved { asm.push(r) }
        if saved.count % 2 == 1 { asm.alu(.sub, true, .rsp, imm: 8) }
    }

    private mutating func pop(_ saved: [X86Reg]) {
        if saved.count % 2 == 1 { asm.alu(.add, true, .rsp, imm: 8) }
        for r in saved.reversed() { asm.pop(r) }
    }

    /// The service for `op.pc`: the operands stored as the eBPF registers it reads, the call, an
    /// unwind when it ends the run, then what it wrote read back (`result`: the register a
    /// load's or a fetching atomic's value goes to).
    private mutating func emitService(_ op: OptOp, liveAfter: [UInt64], result: X86Reg?) {
        for (reg, value) in zip(op.reads, op.args) {
            let r = read(value, into: Self.s2)
            asm.store(frame(JITFrame.registers + Int32(reg) * 8), r, bits: 64)
        }
        var saved = savedAround(op, liveAfter: liveAfter)
        if let result { saved.removeAll { $0 == result } }
        push(saved)
        asm.mov(true, .rdi, Self.frameReg)
        asm.movImm32(.rsi, UInt32(op.pc))
        asm.movImm(Self.s1, JITCompiler.serviceAddress)
        asm.callRegister(Self.s1)
        asm.test(true, .rax, .rax)
        let pushed = Int32((saved.count + saved.count % 2) * 8)
        if pushed == 0 {
            asm.jcc(.ne, unwind)
        } else {
            let stub = asm.newLabel()
            cold.append((stub, .unwind(bytes: pushed)))
            asm.jcc(.ne, stub)
        }
        pop(saved)
        if let result {
            asm.load(result, frame(JITFrame.registers + Int32(op.serviceDst) * 8), bits: 64)
        }
        for (reg, vreg) in op.writes {
            asm.load(Self.s1, frame(JITFrame.registers + Int32(reg) * 8), bits: 64)
            write(vreg, from: Self.s1)
        }
    }
}
