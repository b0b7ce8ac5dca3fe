import BPFCore

/// Emits AArch64 from ``OptProgram`` after register allocation: the optimizing tier's second back
/// end, beside ``OptX86Emitter``, sharing the lift, the passes and the allocator. The code has the
/// arm64 first tier's entry convention (`entry(frame) -> r0`, x26 the run's ``JITFrame``) and its
/// containment: every unproven load, store and atomic is checked inline against the frame's region
/// tables and then by the service, unverified loops spend the frame's budget, unverified frames
/// start zeroed, and everything rare (helpers, tail calls, refused accesses, converted context
/// fields, legacy packet loads, errors) calls the service with (frame, pc) — `JITRuntime.service`
/// in process, the runner's own under `qemu-aarch64` (its address then comes from the frame's word
/// at ``ARM64Compiler/serviceSlot``).
///
/// Registers: x9–x12, x16 and x17 are scratch, x26 holds the frame, x18 (the platform's) and x29/x30
/// are left alone; the other 21 hold virtual registers, eBPF r0–r10 preferring the first tier's
/// (r0 x7, r1–r5 x0–x4, r6–r9 x19–x22, r10 x25). The host stack holds, from sp up: the spill
/// slots, a save area for the caller-saved registers live across a call into the service, and the
/// callee-saved registers the code uses; x29 keeps the entry's sp, so a service call that ends the
/// run unwinds with no bookkeeping.
///
/// Maps are not inlined: ``OptimizingCompiler/arm64`` lifts without ``JITMaps``, so map helpers go
/// through the service as in the arm64 first tier.
struct OptARM64Emitter {
    static let allocatable: [ARM64Reg] = [.x(7), .x(0), .x(1), .x(2), .x(3), .x(4), .x(19), .x(20), .x(21), .x(22), .x(25),
                                          .x(5), .x(6), .x(8), .x(13), .x(14), .x(15), .x(23), .x(24), .x(27), .x(28)]
    /// The allocatable registers a call into C clobbers.
    static let callerSaved: [ARM64Reg] = [.x(0), .x(1), .x(2), .x(3), .x(4), .x(5), .x(6), .x(7), .x(8), .x(13), .x(14), .x(15)]
    static let s1 = ARM64Reg.x(9), s2 = ARM64Reg.x(10), s3 = ARM64Reg.x(11), s4 = ARM64Reg.x(12)
    static let ip0 = ARM64Reg.x(16), ip1 = ARM64Reg.x(17)
    static let frameReg = ARM64Reg.x(26)
    /// The largest stack area the code addresses with scaled 64-bit offsets.
    static let maxLocalBytes = 32_000

    let program: OptProgram
    /// The service's address when the code runs in this process; nil: loaded from the frame.
    let serviceAddress: UInt64?
    var asm = ARM64Assembler()
    var locations: [OptLocation?] = []
    var slotCount = 0
    /// Listing comments by code offset (entry, blocks, out-of-line code).
    private(set) var comments: [(offset: Int, text: String)] = []
    private var blockLabels: [ARM64Label] = []
    private var finish: ARM64Label!
    private var unwind: ARM64Label!
    private var cold: [(label: ARM64Label, emit: ColdCode)] = []
    private var tables: [(offset: Int, targets: [Int])] = []
    private var saveBase: Int32 = 0
    private var calleeBase: Int32 = 0
    private var hostSaved: [ARM64Reg] = []
    private var localBytes = 0

    private enum ColdCode {
        case service(op: OptOp, resume: ARM64Label, liveAfter: [UInt64], result: ARM64Reg?)
        /// A converted context field: the address (in x9) against the frame's table.
        case virtual(dst: ARM64Reg, slow: ARM64Label, resume: ARM64Label)
        case budget(pc: Int, resume: ARM64Label)
        /// A load whose likely converted-field entry did not match: the full path (address in x9).
        case checkedLoad(op: OptOp, result: ARM64Reg, resume: ARM64Label, liveAfter: [UInt64])
    }

    init(program: OptProgram, serviceAddress: UInt64?) {
        self.program = program
        self.serviceAddress = serviceAddress
    }

    /// The code, or a decline: inlined map operations (never lifted for this back end), a stack
    /// area past scaled offsets' reach, code past `b`'s ±128 MiB.
    mutating func emit() throws(OptDecline) -> [UInt8] {
        for block in program.blocks {
            for op in block.ops {
                switch op.kind {
                case .arrayLookup, .directCall: throw OptDecline(pc: op.pc, reason: "inlined map calls are not emitted for arm64")
                default: break
                }
            }
        }
        let start = self
        if let code = try emitOnce() { return code }
        // Short conditional branches reach ±1 MiB: emit again with far ones.
        self = start
        asm.farBranches = true
        if let code = try emitOnce() { return code }
        throw OptDecline(pc: 0, reason: "over 128 MiB of arm64 code")
    }

    private mutating func comment(_ text: String) { comments.append((asm.offset, text)) }

    private mutating func emitOnce() throws(OptDecline) -> [UInt8]? {
        var allocator = OptRegisterAllocator(program: program, colors: Self.allocatable.count)
        allocator.preferred = (0..<program.registerCount).map { $0 < 11 ? $0 : -1 }
        (locations, slotCount) = allocator.allocate()
        let order = program.reversePostOrder()
        blockLabels = program.blocks.map { _ in asm.newLabel() }
        finish = asm.newLabel()
        unwind = asm.newLabel()
        var rpoIndex = [Int](repeating: -1, count: program.blocks.count)
        for (i, b) in order.enumerated() { rpoIndex[b] = i }
        let liveness = OptLiveness(program)

        // Stack: spill slots, the save area, the callee-saved registers used (and x26).
        let used = Set(locations.compactMap { location -> ARM64Reg? in
            if case .register(let c)? = location { return Self.allocatable[c] }
            return nil
        })
        hostSaved = Self.allocatable.filter { used.contains($0) && !Self.callerSaved.contains($0) } + [Self.frameReg]
        saveBase = Int32(slotCount * 8)
        calleeBase = saveBase + Int32(Self.callerSaved.count * 8)
        localBytes = (Int(calleeBase) + hostSaved.count * 8 + 15) / 16 * 16
        guard localBytes <= Self.maxLocalBytes else { throw OptDecline(pc: 0, reason: "too many spill slots for the arm64 back end") }

        comment("; entry: save the host registers used, load the live eBPF registers from the frame (x26)")
        asm.pair(load: false, .x(29), .lr, .sp, -16, mode: 3)
        asm.movSP(.x(29), .sp)
        var remaining = localBytes
        while remaining > 0 {
            let chunk = min(remaining, 4080)
            asm.addSubImm(.sub, true, .sp, .sp, UInt32(chunk))
            remaining -= chunk
        }
        for (i, r) in hostSaved.enumerated() { asm.str(r, .sp, calleeBase + Int32(i * 8)) }
        asm.mov(true, Self.frameReg, .x(0))
        for r in 0..<min(11, program.registerCount) where OptLiveness.contains(liveness.liveIn[0], r) {
            let offset = JITFrame.registers + Int32(r * 8)
            if let reg = register(of: r) {
                asm.ldr(reg, Self.frameReg, offset)
            } else {
                asm.ldr(Self.s1, Self.frameReg, offset)
                write(r, from: Self.s1)
            }
        }
        for (i, b) in order.enumerated() {
            asm.bind(blockLabels[b])
            let block = program.blocks[b]
            comment("; block \(b) (eBPF instruction \(block.ops.first?.pc ?? block.terminatorPC))")
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
        comment("; exit: r0 in x0 (from the frame when a call into the service ended the run), restore, return")
        asm.bind(unwind)
        asm.ldr(.x(0), Self.frameReg, JITFrame.registers)
        asm.bind(finish)
        for (i, r) in hostSaved.enumerated() { asm.ldr(r, .sp, calleeBase + Int32(i * 8)) }
        asm.movSP(.sp, .x(29))
        asm.pair(load: true, .x(29), .lr, .sp, 16, mode: 1)
        asm.ret()
        if !cold.isEmpty { comment("; out-of-line code: calls into the service, converted fields, budget stops") }
        var k = 0
        while k < cold.count {
            let item = cold[k]
            asm.bind(item.label)
            switch item.emit {
            case let .service(op, resume, liveAfter, result):
                emitService(op, liveAfter: liveAfter, result: result)
                asm.b(resume)
            case let .virtual(dst, slow, resume):
                for s in 0..<JITFrame.virtualSlots {
                    let nextSlot = asm.newLabel()
                    asm.ldr(Self.s2, Self.frameReg, JITFrame.virtualTable + Int32(s * 16))
                    asm.cmp(true, Self.s1, Self.s2)
                    asm.bcond(.ne, nextSlot)
                    asm.ldr(dst, Self.frameReg, JITFrame.virtualTable + Int32(s * 16 + 8))
                    asm.b(resume)
                    asm.bind(nextSlot)
                }
                asm.b(slow)
            case let .budget(pc, resume):
                emitService(OptOp(kind: .service, pc: pc), liveAfter: [], result: nil)
                asm.b(resume)
            case let .checkedLoad(op, result, resume, liveAfter):
                emitCheckedLoad(op, result: result, resume: resume, liveAfter: liveAfter)
                asm.b(resume)
            }
            k += 1
        }
        guard asm.resolve() else { return nil }
        for (start, targets) in tables {
            for (i, t) in targets.enumerated() {
                asm.patch(at: start + i * 4, UInt32(bitPattern: Int32(asm.offset(of: blockLabels[t]) - start)))
            }
        }
        return asm.bytes
    }

    // MARK: - Locations

    private func location(_ r: Int) -> OptLocation { locations[r] ?? .slot(0) }

    private func slotOffset(_ s: Int) -> Int32 { Int32(s * 8) }

    private func register(of r: Int) -> ARM64Reg? {
        if case .register(let c) = location(r) { return Self.allocatable[c] }
        return nil
    }

    /// The register holding `v`, loading it into `scratch` when it is not in one.
    private mutating func read(_ v: OptValue, into scratch: ARM64Reg) -> ARM64Reg {
        switch v {
        case .k(let c):
            asm.movImm(scratch, c)
            return scratch
        case .v(let r):
            switch location(r) {
            case .register(let c): return Self.allocatable[c]
            case .slot(let s):
                asm.ldr(scratch, .sp, slotOffset(s))
                return scratch
            }
        }
    }

    /// `v` into exactly `target` (its low 32 bits, zero-extended, when `!w`).
    private mutating func move(_ v: OptValue, to target: ARM64Reg, w: Bool = true) {
        switch v {
        case .k(let c): asm.movImm(target, w ? c : c & 0xffff_ffff)
        case .v(let r):
            switch location(r) {
            case .register(let c): if Self.allocatable[c] != target || !w { asm.mov(w, target, Self.allocatable[c]) }
            case .slot(let s): asm.ldst(opc: 1, size: w ? 8 : 4, target, .sp, scaled: UInt32(w ? s : 2 * s))
            }
        }
    }

    /// Where to compute the value of `r`: its register, or scratch.
    private func target(_ r: Int, scratch: ARM64Reg = Self.s1) -> ARM64Reg { register(of: r) ?? scratch }

    private mutating func write(_ r: Int, from source: ARM64Reg) {
        switch location(r) {
        case .register(let c): if Self.allocatable[c] != source { asm.mov(true, Self.allocatable[c], source) }
        case .slot(let s): asm.str(source, .sp, slotOffset(s))
        }
    }

    /// An add or subtract of constant `c` as a 12-bit immediate: the operation and the immediate.
    private static func addImmediate(_ c: UInt64, w: Bool, sub: Bool) -> (ARM64Assembler.AddSub, UInt32)? {
        let k = w ? Int64(bitPattern: c) : Int64(Int32(truncatingIfNeeded: c))
        if k >= 0 && k < 4096 { return (sub ? .sub : .add, UInt32(k)) }
        if k < 0 && k > -4096 { return (sub ? .add : .sub, UInt32(-k)) }
        return nil
    }

    // MARK: - Operations

    private mutating func emitOp(_ op: OptOp, liveAfter: [UInt64]) {
        let w = op.w
        switch op.kind {
        case .mov:
            let d = target(op.dst)
            move(op.args[0], to: d, w: w)
            write(op.dst, from: d)
        case .alu(let alu):
            emitALU(alu, op, w: w)
        case .neg:
            let d = target(op.dst)
            let a = read(op.args[0], into: Self.s2)
            asm.addSub(.sub, w, d, .zr, a)
            write(op.dst, from: d)
        case let .extend(bits, signed):
            let d = target(op.dst)
            let a = read(op.args[0], into: Self.s2)
            if bits >= 64 {
                asm.mov(true, d, a)
            } else if signed {
                if bits == 32 && !w { asm.mov(false, d, a) } else { asm.sxt(w, d, a, bits: UInt32(bits)) }
            } else if bits == 32 {
                asm.mov(false, d, a)
            } else {
                asm.bitfield(signed: false, false, d, a, immr: 0, imms: UInt32(bits - 1))
            }
            write(op.dst, from: d)
        case .swap(let bits):
            let d = target(op.dst)
            let a = read(op.args[0], into: Self.s2)
            switch bits {
            case 16: asm.rev16(d, a); asm.uxth(d, d)
            case 32: asm.rev(false, d, a)
            default: asm.rev(true, d, a)
            }
            write(op.dst, from: d)
        case let .select(cond, cmpW):
            let c = compare(cond, cmpW, op.args[0], op.args[1])
            // Loads of the chosen values do not touch the flags.
            let t = read(op.args[2], into: Self.s4)
            let f = read(op.args[3], into: Self.ip0)
            let d = target(op.dst)
            asm.csel(true, d, t, f, c)
            write(op.dst, from: d)
        case let .load(size, signed):
            let result = target(op.dst, scratch: Self.s3)
            let opc: UInt32 = signed && size < 8 ? 2 : 1
            let resume = asm.newLabel()
            if op.mayBeVirtual, program.verified, let slot = OptX86Emitter.likelyVirtualSlot(op) {
                // Most likely a converted field (XDP's data, data_end, data_meta are the table's
                // first three entries): that entry inline, every other address out of line (as the
                // x86-64 tier; verified code only).
                computeAddress(op)
                let general = asm.newLabel()
                asm.ldr(Self.s2, Self.frameReg, JITFrame.virtualTable + Int32(slot * 16))
                asm.cmp(true, Self.s1, Self.s2)
                asm.bcond(.ne, general)
                asm.ldr(result, Self.frameReg, JITFrame.virtualTable + Int32(slot * 16 + 8))
                cold.append((general, .checkedLoad(op: op, result: result, resume: resume, liveAfter: liveAfter)))
            } else if op.checked || op.mayBeVirtual {
                computeAddress(op)
                emitCheckedLoad(op, result: result, resume: resume, liveAfter: liveAfter)
            } else {
                access(op, opc: opc, size: size, result)
            }
            asm.bind(resume)
            write(op.dst, from: result)
        case .store(let size):
            let resume = asm.newLabel()
            var value = Self.zr
            if op.args[1] != .k(0) { value = read(op.args[1], into: Self.s3) }
            if op.checked {
                computeAddress(op)
                emitRegionCheck(size: size, write: true, slow: coldService(op, resume: resume, liveAfter: liveAfter, result: nil))
                asm.ldst(opc: 0, size: size, value, Self.s1)
            } else {
                access(op, opc: 0, size: size, value)
            }
            asm.bind(resume)
        case let .atomic(size, atomicOp):
            emitAtomic(op, size: size, atomicOp: atomicOp, liveAfter: liveAfter)
        case .arrayLookup, .directCall:
            // Declined before emission (``emit()``).
            asm.brk()
        case .service:
            emitService(op, liveAfter: liveAfter, result: nil)
        case .zeroFrame:
            let top = read(op.args[0], into: Self.s1)
            var o: Int32 = -16
            while o >= -512 {
                asm.pair(load: false, .zr, .zr, top, o, mode: 2)
                o -= 16
            }
        }
    }

    static let zr = ARM64Reg.zr

    private mutating func emitALU(_ alu: OptALU, _ op: OptOp, w: Bool) {
        let a = op.args[0], b = op.args[1]
        let d = target(op.dst)
        switch alu {
        case .add, .sub:
            if let k = b.constant, let immediate = Self.addImmediate(k, w: w, sub: alu == .sub) {
                let x = read(a, into: Self.s2)
                asm.addSubImm(immediate.0, w, d, x, immediate.1)
            } else {
                let x = read(a, into: Self.s2), y = read(b, into: Self.s3)
                asm.addSub(alu == .sub ? .sub : .add, w, d, x, y)
            }
        case .mul:
            let x = read(a, into: Self.s2), y = read(b, into: Self.s3)
            asm.madd(w, d, x, y, .zr)
        case .div, .sdiv:
            // AArch64 division already gives x/0 = 0 and INT_MIN/-1 = INT_MIN.
            let x = read(a, into: Self.s2), y = read(b, into: Self.s3)
            asm.dataProc2(alu == .sdiv ? .sdiv : .udiv, w, d, x, y)
        case .mod, .smod:
            // x - (x/y)*y: x%0 = x and INT_MIN%-1 = 0, as eBPF defines them.
            let x = read(a, into: Self.s2), y = read(b, into: Self.s3)
            asm.dataProc2(alu == .smod ? .sdiv : .udiv, w, Self.s4, x, y)
            asm.madd(w, d, Self.s4, y, x, sub: true)
        case .or, .and, .xor:
            let x = read(a, into: Self.s2), y = read(b, into: Self.s3)
            asm.logical(alu == .or ? .orr : alu == .and ? .and : .eor, w, d, x, y)
        case .shl, .shr, .sar:
            let x = read(a, into: Self.s2)
            if let c = b.constant {
                let count = UInt32(UInt8(truncatingIfNeeded: c) & (w ? 63 : 31))
                if count == 0 {
                    if d != x || !w { asm.mov(w, d, x) }
                } else if alu == .shl {
                    asm.lsl(w, d, x, count)
                } else if alu == .shr {
                    asm.lsr(w, d, x, count)
                } else {
                    asm.asr(w, d, x, count)
                }
            } else {
                // Register shifts take the count modulo the width, as eBPF does.
                let y = read(b, into: Self.s3)
                asm.dataProc2(alu == .shl ? .lslv : alu == .shr ? .lsrv : .asrv, w, d, x, y)
            }
        }
        write(op.dst, from: d)
    }

    /// Compares a with b (scratch x10, x11) and returns the condition that is `cond`.
    private mutating func compare(_ cond: OptCond, _ w: Bool, _ a: OptValue, _ b: OptValue) -> ARM64Cond {
        var cond = cond, a = a, b = b
        if a.constant != nil && b.constant == nil { swap(&a, &b); cond = cond.swapped }
        let x = read(a, into: Self.s2)
        if cond == .set {
            asm.tst(w, x, read(b, into: Self.s3))
            return .ne
        }
        if let k = b.constant, let immediate = Self.addImmediate(k, w: w, sub: true) {
            // cmp x, #k, or cmn x, #-k for small negative k (the same flags).
            asm.addSubImm(immediate.0 == .sub ? .subs : .adds, w, .zr, x, immediate.1)
        } else {
            asm.cmp(w, x, read(b, into: Self.s3))
        }
        return ARM64Cond(cond)
    }

    private static func inverted(_ c: ARM64Cond) -> ARM64Cond { ARM64Cond(rawValue: c.rawValue ^ 1)! }

    private mutating func emitTerminator(_ block: OptBlock, next: Int, backEdge: (Int) -> Bool) {
        let term = block.terminator
        if !program.verified, term.successors.contains(where: backEdge) {
            // Unverified loops spend the run's budget.
            let resume = asm.newLabel(), stub = asm.newLabel()
            asm.ldr(Self.s1, Self.frameReg, JITFrame.budget)
            asm.addSubImm(.subs, true, Self.s1, Self.s1, 1)
            asm.str(Self.s1, Self.frameReg, JITFrame.budget)
            asm.bcond(.eq, stub)
            asm.bind(resume)
            cold.append((stub, .budget(pc: block.terminatorPC, resume: resume)))
        }
        switch term {
        case .jump(let t):
            if t != next { asm.b(blockLabels[t]) }
        case let .branch(cond, w, a, b, t, e):
            let c = compare(cond, w, a, b)
            if t == next {
                asm.bcond(Self.inverted(c), blockLabels[e])
            } else {
                asm.bcond(c, blockLabels[t])
                if e != next { asm.b(blockLabels[e]) }
            }
        case let .table(index, w, targets, otherwise):
            let i = read(index, into: Self.s1)
            asm.mov(w, Self.s1, i)
            if targets.count < 4096 {
                asm.addSubImm(.subs, true, .zr, Self.s1, UInt32(targets.count))
            } else {
                asm.movImm(Self.s2, UInt64(targets.count))
                asm.cmp(true, Self.s1, Self.s2)
            }
            asm.bcond(.hs, blockLabels[otherwise])
            // x10 = the table (four instructions on), x11 = its entry, a distance from the table.
            asm.adr(Self.s2, 16)
            asm.ldstRegister(opc: 2, size: 4, Self.s3, Self.s2, Self.s1, scaled: true)
            asm.addSub(.add, true, Self.s2, Self.s2, Self.s3)
            asm.br(Self.s2)
            tables.append((asm.offset, targets))
            for _ in targets { asm.emit(0) }
        case .exit(let v):
            move(v, to: .x(0))
            asm.b(finish)
        case .fail(let pc):
            emitService(OptOp(kind: .service, pc: pc), liveAfter: [], result: nil)
            asm.b(unwind)
        }
    }

    // MARK: - Memory

    /// x9 = the access's base + offset (checked accesses are never indexed).
    private mutating func computeAddress(_ op: OptOp) {
        let base = read(op.args[0], into: Self.s1)
        let offset = op.offset
        if offset >= 0 && offset < 4096 {
            asm.addSubImm(.add, true, Self.s1, base, UInt32(offset))
        } else if offset < 0 && offset > -4096 {
            asm.addSubImm(.sub, true, Self.s1, base, UInt32(-Int(offset)))
        } else {
            asm.movImm(Self.s2, UInt64(bitPattern: Int64(offset)))
            asm.addSub(.add, true, Self.s1, base, Self.s2)
        }
    }

    /// An unchecked load (`opc` 1, or 2 sign-extending) or store (`opc` 0) of `t` at
    /// `base + index + offset`, in the fewest instructions the offset allows.
    private mutating func access(_ op: OptOp, opc: UInt32, size: Int, _ t: ARM64Reg) {
        var base = read(op.args[0], into: Self.s1)
        let offset = op.offset
        if let index = op.index {
            let i = read(index, into: Self.s2)
            if offset == 0 { return asm.ldstRegister(opc: opc, size: size, t, base, i) }
            asm.addSub(.add, true, Self.s1, base, i)
            base = Self.s1
        }
        if offset >= -256 && offset <= 255 {
            asm.ldstUnscaled(opc: opc, size: size, t, base, offset)
        } else if offset > 0, Int(offset) % size == 0, Int(offset) / size < 4096 {
            asm.ldst(opc: opc, size: size, t, base, scaled: UInt32(Int(offset) / size))
        } else {
            asm.movImm(Self.s2, UInt64(bitPattern: Int64(offset)))
            asm.ldstRegister(opc: opc, size: size, t, base, Self.s2)
        }
    }

    /// A load that may read a converted field or needs its bounds checked, its address in x9: a
    /// converted field is read from the frame's table, any other address is checked against the
    /// regions (when `op.checked`) and read; what fails goes to the service.
    private mutating func emitCheckedLoad(_ op: OptOp, result: ARM64Reg, resume: ARM64Label, liveAfter: [UInt64]) {
        guard case let .load(size, signed) = op.kind else { return }
        let slow = coldService(op, resume: resume, liveAfter: liveAfter, result: result)
        if op.mayBeVirtual {
            let virtual = asm.newLabel()
            asm.ldr(Self.s2, Self.frameReg, JITFrame.virtualLow)
            asm.addSub(.sub, true, Self.s2, Self.s1, Self.s2)
            asm.ldr(Self.s4, Self.frameReg, JITFrame.virtualLength)
            asm.cmp(true, Self.s2, Self.s4)
            asm.bcond(.lo, virtual)
            cold.append((virtual, .virtual(dst: result, slow: slow, resume: resume)))
        }
        if op.checked { emitRegionCheck(size: size, write: false, slow: slow) }
        asm.ldst(opc: signed && size < 8 ? 2 : 1, size: size, result, Self.s1)
    }

    /// Falls through when the `size` bytes at s1 lie in one of the frame's regions; jumps to
    /// `slow` otherwise (``ARM64Assembler/regionCheck(address:scratch:frame:size:write:slow:)``).
    private mutating func emitRegionCheck(size: Int, write: Bool, slow: ARM64Label) {
        asm.regionCheck(address: Self.s1, scratch: Self.s2, frame: Self.frameReg, size: size, write: write, slow: slow)
    }

    private mutating func coldService(_ op: OptOp, resume: ARM64Label, liveAfter: [UInt64], result: ARM64Reg?) -> ARM64Label {
        let label = asm.newLabel()
        cold.append((label, .service(op: op, resume: resume, liveAfter: liveAfter, result: result)))
        return label
    }

    /// An atomic read-modify-write as an exclusive load/store loop, fully ordered (`dmb ish`), as
    /// the arm64 first tier: the address in x9, the operand in a register (x11 when not in one),
    /// the old value in x10, the new in x16, the store's status in x17.
    private mutating func emitAtomic(_ op: OptOp, size: Int, atomicOp: Int32, liveAfter: [UInt64]) {
        let w = size == 8
        let resume = asm.newLabel()
        let operand = read(op.args[1], into: Self.s3)
        computeAddress(op)
        if !op.onStack {
            let slow = coldService(op, resume: resume, liveAfter: liveAfter, result: op.dst >= 0 ? Self.s2 : nil)
            if op.checked { emitRegionCheck(size: size, write: true, slow: slow) }
            asm.movImm(Self.s2, UInt64(size - 1))
            asm.tst(true, Self.s1, Self.s2)
            asm.bcond(.ne, slow)
        }
        let r0 = atomicOp == 0xf1 ? read(op.args[2], into: Self.s4) : Self.s4
        let old = Self.s2, new = Self.ip0, status = Self.ip1
        let again = asm.newLabel(), done = asm.newLabel()
        asm.bind(again)
        asm.ldaxr(w, old, Self.s1)
        switch atomicOp & ~1 {
        case 0x00: asm.addSub(.add, w, new, old, operand)
        case 0x40: asm.logical(.orr, w, new, old, operand)
        case 0x50: asm.logical(.and, w, new, old, operand)
        case 0xa0: asm.logical(.eor, w, new, old, operand)
        case 0xe0: asm.mov(w, new, operand)
        default:
            // cmpxchg: store only when the old value equals r0.
            asm.cmp(w, old, r0)
            asm.bcond(.ne, done)
            asm.mov(w, new, operand)
        }
        asm.stlxr(w, status: status, new, Self.s1)
        asm.cbz(false, status, again, nonZero: true)
        asm.bind(done)
        asm.dmbISH()
        asm.bind(resume)
        if op.dst >= 0 { write(op.dst, from: old) }
    }

    // MARK: - Calls into the service

    /// Caller-saved registers holding values live after `op` (other than what it defines).
    private func savedAround(_ op: OptOp, liveAfter: [UInt64]) -> [ARM64Reg] {
        var saved = Set<ARM64Reg>()
        let defs = Set(op.defs)
        for r in 0..<program.registerCount where !liveAfter.isEmpty && OptLiveness.contains(liveAfter, r) && !defs.contains(r) {
            if let reg = register(of: r), Self.callerSaved.contains(reg) { saved.insert(reg) }
        }
        return Self.callerSaved.filter { saved.contains($0) }
    }

    private func saveOffset(_ r: ARM64Reg) -> Int32 { saveBase + Int32(Self.callerSaved.firstIndex(of: r)! * 8) }

    /// The service for `op.pc`: the operands stored as the eBPF registers it reads, the live
    /// caller-saved registers kept in the save area, the call, an unwind when it ends the run, then
    /// what it wrote read back (`result`: the register a load's or a fetching atomic's value goes to).
    private mutating func emitService(_ op: OptOp, liveAfter: [UInt64], result: ARM64Reg?) {
        for (reg, value) in zip(op.reads, op.args) {
            let r = read(value, into: Self.s1)
            asm.str(r, Self.frameReg, JITFrame.registers + Int32(reg) * 8)
        }
        var saved = savedAround(op, liveAfter: liveAfter)
        if let result { saved.removeAll { $0 == result } }
        for r in saved { asm.str(r, .sp, saveOffset(r)) }
        asm.mov(true, .x(0), Self.frameReg)
        asm.movImm(.x(1), UInt64(op.pc))
        if let serviceAddress { asm.movImm(Self.ip0, serviceAddress) } else { asm.ldr(Self.ip0, Self.frameReg, ARM64Compiler.serviceSlot) }
        asm.blr(Self.ip0)
        // Non-zero: the run ends (r0 in the frame) or failed.
        asm.cbz(true, .x(0), unwind, nonZero: true)
        for r in saved { asm.ldr(r, .sp, saveOffset(r)) }
        if let result {
            asm.ldr(result, Self.frameReg, JITFrame.registers + Int32(op.serviceDst) * 8)
        }
        for (reg, vreg) in op.writes {
            asm.ldr(Self.s1, Self.frameReg, JITFrame.registers + Int32(reg) * 8)
            write(vreg, from: Self.s1)
        }
    }
}

extension OptimizingCompiler {
    /// The optimizing tier for arm64: the shared lift and passes (no maps inlined), then
    /// ``OptARM64Emitter``. `serviceAddress` as ``ARM64Compiler``'s.
    static func arm64(slots: [Instruction], proven: [Bool]?, blinding: Bool,
                      serviceAddress: UInt64?) throws(OptDecline) -> (code: [UInt8], comments: [(offset: Int, text: String)]) {
        if blinding { throw OptDecline(pc: 0, reason: "constant blinding is left to the first tier") }
        var lifter = OptLifter(slots: slots, proven: proven, maps: JITMaps())
        var program = try lifter.lift()
        OptPasses.run(&program)
        var emitter = OptARM64Emitter(program: program, serviceAddress: serviceAddress)
        let code = try emitter.emit()
        return (code, emitter.comments)
    }
}

extension OptimizingCompiler {
    /// The optimizing tier's code for ``JITProgram`` on an arm64 host: the arm64 back end, calling
    /// `JITRuntime.service` in process (maps through the service, not inlined).
    static func arm64Code(for interpreter: Interpreter, proven: [Bool]?, maps: JITMaps) throws(OptDecline) -> JITCode {
        let made = try arm64(slots: Array(interpreter.slots.dropLast()), proven: proven, blinding: interpreter.options.constantBlinding,
                             serviceAddress: JITCompiler.serviceAddress)
        do {
            return try JITCode(optimized: made.code, maps: maps, listing: nil)
        } catch {
            throw OptDecline(pc: 0, reason: "\(error)")
        }
    }
}
