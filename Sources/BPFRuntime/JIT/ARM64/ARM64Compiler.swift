import BPFCore

/// Translates eBPF to AArch64, one instruction at a time, with the semantics and the containment of
/// the x86-64 ``JITCompiler``: the same run frame (``JITFrame``), the same inline checks of every
/// unproven load, store and atomic against the frame's region tables, the same backward-jump budget
/// and zeroed stack frames for unverified code, and the same way into Swift for everything rare
/// (helper calls, accesses the inline checks refuse, errors), through one thunk that spills the
/// registers into the frame and calls the service with (frame, pc).
///
/// It only produces bytes, so it runs on any host: on x86-64 the code runs under `qemu-aarch64`
/// (``ARM64Emulator``), whose runner supplies the service.
///
/// Register assignment (as the Linux arm64 JIT): r0 x7, r1–r5 x0–x4, r6–r9 x19–x22, r10 x25.
/// x26 holds the frame, x27 the backward-jump budget; x9–x12 are scratch, x16 holds the service's address.
///
/// Each bpf-to-bpf function saves the caller's r6–r10 and the link register (48 bytes of the host
/// stack), so calls are native `bl`s. Division needs no checks: AArch64's `udiv`/`sdiv` already give
/// x/0 = 0 and INT_MIN/-1 = INT_MIN, and `msub` then gives the eBPF remainders.
struct ARM64Compiler {
    let slots: [Instruction]
    let proven: [Bool]?
    let blinding: Bool
    var mayGotoBudget = Opcode.mayGotoBudget
    /// The service's address when the code runs in this process; nil: the code loads it from the
    /// frame's word at ``serviceSlot`` (the emulator's runner puts its own there).
    let serviceAddress: UInt64?
    var asm = ARM64Assembler()

    /// Where the frame holds the service's address for code compiled without one: just past ``JITFrame``.
    static let serviceSlot = Int32(JITFrame.size)
    /// The frame the code addresses, with the arm64 extension.
    static let frameSize = JITFrame.size + 8

    static let bpfRegisters: [ARM64Reg] = [.x(7), .x(0), .x(1), .x(2), .x(3), .x(4), .x(19), .x(20), .x(21), .x(22), .x(25)]
    static let ctx = ARM64Reg.x(26)
    static let budget = ARM64Reg.x(27)
    static let address = ARM64Reg.x(9)
    static let scratch = ARM64Reg.x(10)
    static let scratch2 = ARM64Reg.x(11)
    static let scratch3 = ARM64Reg.x(12)
    static let call = ARM64Reg.x(16)

    private var functionEntries: [Int: ARM64Label] = [:]
    private var labels: [ARM64Label] = []
    private var stubs: [(label: ARM64Label, pc: Int, resume: ARM64Label)] = []
    private var thunk: ARM64Label!
    private var finish: ARM64Label!
    private var epilogue: ARM64Label!
    private var zeroBytes = 512
    private var usesMayGoto = false
    private var random = SystemRandomNumberGenerator()
    /// Code offset of each instruction slot (-1 for the second half of a `lddw`); the last entry is
    /// where the code for running off the end starts.
    private(set) var pcOffsets: [Int] = []
    /// Code offset of each function's prologue, by its first instruction.
    private(set) var functionOffsets: [Int: Int] = [:]

    init(slots: [Instruction], proven: [Bool]?, blinding: Bool = false, serviceAddress: UInt64? = nil) {
        self.slots = slots
        self.proven = proven
        self.blinding = blinding
        self.serviceAddress = serviceAddress
    }

    private func reg(_ r: UInt8) -> ARM64Reg { Self.bpfRegisters[Int(r)] }

    // MARK: - Analysis

    /// Function entries and how much of each frame the program can address (as ``JITCompiler``).
    private mutating func analyze() {
        let facts = JITProgramFacts(slots: slots, verified: proven != nil)
        functionEntries[0] = asm.newLabel()
        for (target, callback) in facts.functions where !callback && target >= 0 && target < slots.count && functionEntries[target] == nil {
            functionEntries[target] = asm.newLabel()
        }
        usesMayGoto = facts.usesMayGoto
        zeroBytes = facts.zeroBytes
    }

    // MARK: - Driver

    /// The code, or nil when even far branches cannot reach (code over 128 MiB).
    mutating func compile() -> [UInt8]? {
        let start = self
        if let code = compileOnce() { return code }
        // Short conditional branches reach ±1 MiB: compile again with far ones.
        self = start
        asm.farBranches = true
        return compileOnce()
    }

    private mutating func compileOnce() -> [UInt8]? {
        analyze()
        labels = (0..<slots.count).map { _ in asm.newLabel() }
        thunk = asm.newLabel()
        finish = asm.newLabel()
        epilogue = asm.newLabel()
        emitEntry()
        pcOffsets = [Int](repeating: -1, count: slots.count + 1)
        var pc = 0
        while pc < slots.count {
            if let entry = functionEntries[pc] {
                if pc != 0 { asm.b(labels[pc]) }
                asm.bind(entry)
                functionOffsets[pc] = asm.offset
                emitPrologue()
            }
            asm.bind(labels[pc])
            pcOffsets[pc] = asm.offset
            let ins = slots[pc]
            emit(ins, pc: pc)
            pc += ins.opcode == 0x18 ? 2 : 1
        }
        // Running off the end of the program.
        pcOffsets[slots.count] = asm.offset
        asm.movImm(Self.scratch, UInt64(slots.count))
        asm.bl(thunk)
        asm.bind(epilogue)
        emitEpilogue()
        for stub in stubs {
            asm.bind(stub.label)
            asm.movImm(Self.scratch, UInt64(stub.pc))
            asm.bl(thunk)
            asm.b(stub.resume)
        }
        emitThunk()
        guard asm.resolve() else { return nil }
        return asm.bytes
    }

    /// `entry(frame)`: saves the host's callee-saved registers, loads the eBPF registers from the
    /// frame and calls function 0; `finish` is also where unwinding lands. Returns r0.
    private mutating func emitEntry() {
        asm.pair(load: false, .x(29), .lr, .sp, -96, mode: 3)
        for (i, pair) in [(19, 20), (21, 22), (23, 24), (25, 26), (27, 28)].enumerated() {
            asm.pair(load: false, .x(UInt32(pair.0)), .x(UInt32(pair.1)), .sp, Int32(16 + 16 * i), mode: 2)
        }
        asm.movSP(.x(29), .sp)
        // The previous savedRSP (a callback or tail call nests runs on one frame), then this sp.
        asm.ldr(Self.address, .x(0), JITFrame.savedRSP)
        asm.pair(load: false, Self.address, .zr, .sp, -16, mode: 3)
        asm.movSP(Self.address, .sp)
        asm.str(Self.address, .x(0), JITFrame.savedRSP)
        asm.mov(true, Self.ctx, .x(0))
        for (i, r) in Self.bpfRegisters.enumerated() { asm.ldr(r, Self.ctx, JITFrame.registers + Int32(i * 8)) }
        asm.ldr(Self.budget, Self.ctx, JITFrame.budget)
        asm.addSubImm(.add, true, reg(10), reg(10), 512)
        asm.bl(functionEntries[0]!)
        asm.bind(finish)
        asm.str(Self.budget, Self.ctx, JITFrame.budget)
        asm.pair(load: true, Self.address, Self.scratch, .sp, 16, mode: 1)
        asm.str(Self.address, Self.ctx, JITFrame.savedRSP)
        asm.mov(true, .x(0), reg(0))
        for (i, pair) in [(19, 20), (21, 22), (23, 24), (25, 26), (27, 28)].enumerated() {
            asm.pair(load: true, .x(UInt32(pair.0)), .x(UInt32(pair.1)), .sp, Int32(16 + 16 * i), mode: 2)
        }
        asm.pair(load: true, .x(29), .lr, .sp, 96, mode: 1)
        asm.ret()
    }

    /// A function's start: save the caller's r6–r10 and the link register, open a 512-byte frame
    /// and zero what the program can address of it; with `may_goto`, 16 bytes whose upper word
    /// (`[sp+8]`) is the frame's loop budget.
    private mutating func emitPrologue() {
        asm.pair(load: false, reg(6), reg(7), .sp, -48, mode: 3)
        asm.pair(load: false, reg(8), reg(9), .sp, 16, mode: 2)
        asm.pair(load: false, reg(10), .lr, .sp, 32, mode: 2)
        asm.addSubImm(.sub, true, reg(10), reg(10), 512)
        var o = -16
        while o >= -zeroBytes {
            asm.pair(load: false, .zr, .zr, reg(10), Int32(o), mode: 2)
            o -= 16
        }
        if usesMayGoto {
            asm.addSubImm(.sub, true, .sp, .sp, 16)
            asm.movImm(Self.address, mayGotoBudget)
            asm.ldst(opc: 0, size: 8, Self.address, .sp, scaled: 1)
        }
    }

    private mutating func emitEpilogue() {
        if usesMayGoto { asm.addSubImm(.add, true, .sp, .sp, 16) }
        asm.pair(load: true, reg(10), .lr, .sp, 32, mode: 2)
        asm.pair(load: true, reg(8), reg(9), .sp, 16, mode: 2)
        asm.pair(load: true, reg(6), reg(7), .sp, 48, mode: 1)
        asm.ret()
    }

    /// The way into Swift (or the runner): spill the registers, call the service with (frame, pc
    /// in x10), reload, and unwind when it says so (1: the program ends with r0, 3: an error).
    /// Returns with the status (0, or 2: a tail call ended this frame) in x9.
    private mutating func emitThunk() {
        asm.bind(thunk)
        asm.pair(load: false, .x(29), .lr, .sp, -16, mode: 3)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.str(r, Self.ctx, JITFrame.registers + Int32(i * 8)) }
        asm.str(Self.budget, Self.ctx, JITFrame.budget)
        asm.mov(true, .x(0), Self.ctx)
        asm.mov(false, .x(1), Self.scratch)
        if let serviceAddress { asm.movImm(Self.call, serviceAddress) } else { asm.ldr(Self.call, Self.ctx, Self.serviceSlot) }
        asm.blr(Self.call)
        asm.mov(true, Self.address, .x(0))
        asm.ldr(Self.budget, Self.ctx, JITFrame.budget)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.ldr(r, Self.ctx, JITFrame.registers + Int32(i * 8)) }
        let unwind = asm.newLabel()
        asm.addSubImm(.subs, false, .zr, Self.address, 1)
        asm.bcond(.eq, unwind)
        asm.addSubImm(.subs, false, .zr, Self.address, 3)
        asm.bcond(.eq, unwind)
        asm.pair(load: true, .x(29), .lr, .sp, 16, mode: 1)
        asm.ret()
        asm.bind(unwind)
        asm.ldr(Self.scratch, Self.ctx, JITFrame.savedRSP)
        asm.movSP(.sp, Self.scratch)
        asm.b(finish)
    }

    /// A call into the service for instruction `pc` from cold code, resuming at `resume`.
    private mutating func stub(pc: Int, resume: ARM64Label) -> ARM64Label {
        let label = asm.newLabel()
        stubs.append((label, pc, resume))
        return label
    }

    private mutating func emitService(pc: Int) {
        asm.movImm(Self.scratch, UInt64(pc))
        asm.bl(thunk)
    }

    // MARK: - Constants

    /// `value` into `d`, blinded when asked: XORed with a fresh key and unblinded at run time.
    private mutating func constant(_ d: ARM64Reg, _ value: UInt64) {
        guard blinding else { return asm.movImm(d, value) }
        let key = random.next() as UInt64
        let temporary = d == Self.scratch3 ? Self.scratch2 : Self.scratch3
        asm.movImm(d, value ^ key)
        asm.movImm(temporary, key)
        asm.logical(.eor, true, d, d, temporary)
    }

    /// The instruction's immediate, sign-extended to 64 bits, in `r` (default x10).
    private mutating func immediate(_ imm: Int32, into r: ARM64Reg = Self.scratch) -> ARM64Reg {
        constant(r, UInt64(bitPattern: Int64(imm)))
        return r
    }

    // MARK: - Instructions

    private mutating func emit(_ ins: Instruction, pc: Int) {
        let cls = ins.opcode & 7
        switch cls {
        case 4, 7: emitALU(ins, w: cls == 7, pc: pc)
        case 5, 6: emitJump(ins, pc: pc)
        case 0:
            if ins.opcode == 0x18 {
                let value = UInt64(UInt32(bitPattern: ins.imm)) | (pc + 1 < slots.count ? UInt64(UInt32(bitPattern: slots[pc + 1].imm)) << 32 : 0)
                constant(reg(ins.dst), value)
            } else {
                emitService(pc: pc)  // legacy packet loads
            }
        default: emitMemory(ins, pc: pc)
        }
    }

    private mutating func emitALU(_ ins: Instruction, w: Bool, pc: Int) {
        guard ins.dst <= 10, ins.src <= 10 else { return emitService(pc: pc) }
        let d = reg(ins.dst)
        let useReg = ins.opcode & 8 != 0
        let op = ins.opcode & 0xf0
        // The second operand: the source register or the immediate (in x10).
        func operand(_ compiler: inout ARM64Compiler) -> ARM64Reg { useReg ? compiler.reg(ins.src) : compiler.immediate(ins.imm) }
        switch op {
        case 0x00, 0x10:
            let sub = op == 0x10
            if !useReg && !blinding && ins.imm >= 0 && ins.imm < 4096 {
                asm.addSubImm(sub ? .sub : .add, w, d, d, UInt32(ins.imm))
            } else if !useReg && !blinding && ins.imm < 0 && ins.imm > -4096 {
                asm.addSubImm(sub ? .add : .sub, w, d, d, UInt32(-ins.imm))
            } else {
                let s = operand(&self)
                asm.addSub(sub ? .sub : .add, w, d, d, s)
            }
        case 0x40, 0x50, 0xa0:
            let kind: ARM64Assembler.Logical = op == 0x40 ? .orr : op == 0x50 ? .and : .eor
            let s = operand(&self)
            asm.logical(kind, w, d, d, s)
        case 0x20:
            let s = operand(&self)
            asm.madd(w, d, d, s, .zr)
        case 0x30, 0x90:
            // AArch64 division gives x/0 = 0 and INT_MIN/-1 = INT_MIN; msub then gives x%0 = x and INT_MIN%-1 = 0.
            let signed = ins.offset == 1
            let s = useReg ? reg(ins.src) : immediate(ins.imm, into: Self.scratch2)
            if op == 0x30 {
                asm.dataProc2(signed ? .sdiv : .udiv, w, d, d, s)
            } else {
                asm.dataProc2(signed ? .sdiv : .udiv, w, Self.scratch, d, s)
                asm.madd(w, d, Self.scratch, s, d, sub: true)
            }
        case 0x60, 0x70, 0xc0:
            if useReg {
                let kind: ARM64Assembler.DataProc2 = op == 0x60 ? .lslv : op == 0x70 ? .lsrv : .asrv
                asm.dataProc2(kind, w, d, d, reg(ins.src))
            } else {
                let count = UInt32(UInt8(truncatingIfNeeded: ins.imm) & (w ? 63 : 31))
                if count == 0 {
                    if !w { asm.mov(false, d, d) }
                } else if op == 0x60 {
                    asm.lsl(w, d, d, count)
                } else if op == 0x70 {
                    asm.lsr(w, d, d, count)
                } else {
                    asm.asr(w, d, d, count)
                }
            }
        case 0x80:
            asm.addSub(.sub, w, d, .zr, d)
        case 0xb0:
            if useReg {
                let s = reg(ins.src)
                switch ins.offset {
                case 8, 16: asm.sxt(w, d, s, bits: UInt32(ins.offset))
                case 32 where w: asm.sxt(true, d, s, bits: 32)
                default: if !(w && d == s) { asm.mov(w, d, s) }
                }
            } else if w {
                constant(d, UInt64(bitPattern: Int64(ins.imm)))
            } else {
                constant(d, UInt64(UInt32(bitPattern: ins.imm)))
            }
        case 0xd0:
            let swap = ins.opcode == 0xd7 || ins.opcode == 0xdc
            switch (swap, ins.imm) {
            case (false, 16): asm.uxth(d, d)
            case (false, 32): asm.mov(false, d, d)
            case (false, _): break
            case (true, 16): asm.rev16(d, d); asm.uxth(d, d)
            case (true, 32): asm.rev(false, d, d)
            default: asm.rev(true, d, d)
            }
        default:
            emitService(pc: pc)
        }
    }

    private mutating func emitJump(_ ins: Instruction, pc: Int) {
        let w = ins.opcode & 7 == 5
        switch ins.opcode {
        case 0x05, 0x06:
            let target = pc + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset))
            emitBudget(target: target, pc: pc)
            asm.b(label(target))
            return
        case 0x85:
            if ins.src == 1, let entry = functionEntries[pc + 1 + Int(ins.imm)] {
                let after = asm.newLabel()
                asm.ldr(Self.scratch, Self.ctx, JITFrame.callLimit)
                asm.cmp(true, reg(10), Self.scratch)
                asm.bcond(.lo, stub(pc: pc, resume: after))
                asm.bl(entry)
                asm.bind(after)
            } else {
                emitHelperCall(pc: pc)
            }
            return
        case 0x8d:
            emitHelperCall(pc: pc)
            return
        case Opcode.mayGoto:
            // Jump once the frame's budget is spent, else spend one unit.
            let target = pc + 1 + Int(ins.offset)
            emitBudget(target: target, pc: pc)
            asm.ldst(opc: 1, size: 8, Self.address, .sp, scaled: 1)
            asm.cbz(true, Self.address, label(target))
            asm.addSubImm(.sub, true, Self.address, Self.address, 1)
            asm.ldst(opc: 0, size: 8, Self.address, .sp, scaled: 1)
            return
        case 0x95:
            asm.b(epilogue)
            return
        default: break
        }
        guard ins.dst <= 10, ins.src <= 10 else { return emitService(pc: pc) }
        let target = pc + 1 + Int(ins.offset)
        emitBudget(target: target, pc: pc)
        let d = reg(ins.dst)
        let useReg = ins.opcode & 8 != 0
        let op = ins.opcode & 0xf0
        let cond = ARM64Cond(OptCond(jumpOpcode: ins.opcode) ?? .sle)
        if op == 0x40 {
            let s = useReg ? reg(ins.src) : immediate(ins.imm)
            asm.tst(w, d, s)
        } else if useReg {
            asm.cmp(w, d, reg(ins.src))
        } else if !blinding && ins.imm >= 0 && ins.imm < 4096 {
            asm.addSubImm(.subs, w, .zr, d, UInt32(ins.imm))
        } else {
            let s = immediate(ins.imm)
            asm.cmp(w, d, s)
        }
        asm.bcond(cond, label(target))
    }

    /// The label of instruction `target`, or a stub that stops the run when the target lies outside the program.
    private mutating func label(_ target: Int) -> ARM64Label {
        if target >= 0 && target < slots.count { return labels[target] }
        let l = asm.newLabel()
        stubs.append((l, slots.count, epilogue))
        return l
    }

    /// Backward jumps spend the budget, so a runaway loop stops; verified code has no budget.
    private mutating func emitBudget(target: Int, pc: Int) {
        guard target <= pc, proven == nil else { return }
        let after = asm.newLabel()
        asm.addSubImm(.subs, true, Self.budget, Self.budget, 1)
        asm.bcond(.eq, stub(pc: pc, resume: after))
        asm.bind(after)
    }

    private mutating func emitHelperCall(pc: Int) {
        emitService(pc: pc)
        asm.cbz(false, Self.address, epilogue, nonZero: true)
    }

    // MARK: - Memory

    private mutating func emitMemory(_ ins: Instruction, pc: Int) {
        guard ins.dst <= 10, ins.src <= 10 else { return emitService(pc: pc) }
        let cls = ins.opcode & 7
        let mode = ins.opcode & 0xe0
        let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
        let isLoad = cls == 1
        let isAtomic = cls == 3 && mode == 0xc0
        let base = isLoad ? ins.src : ins.dst
        let offset = Int32(ins.offset)
        let onStack = base == 10 && Int(offset) >= -512 && Int(offset) + size <= 0
        let isProven = onStack || (proven.map { pc < $0.count && $0[pc] } ?? false)
        let resume = asm.newLabel()
        let mayBeVirtual = ins.opcode == 0x61 && base != 10
        let checked = !isProven || mayBeVirtual || (isAtomic && !onStack)
        // The access is at [x9] when the address was computed, else at [base + offset].
        var direct = !checked && !isAtomic && offset >= -256 && offset <= 255
        if !direct {
            if offset >= 0 && offset < 4096 {
                asm.addSubImm(.add, true, Self.address, reg(base), UInt32(offset))
            } else if offset < 0 && offset > -4096 {
                asm.addSubImm(.sub, true, Self.address, reg(base), UInt32(-Int(offset)))
            } else {
                asm.movImm(Self.address, UInt64(bitPattern: Int64(offset)))
                asm.addSub(.add, true, Self.address, reg(base), Self.address)
            }
        }
        if checked {
            direct = false
            let slow = stub(pc: pc, resume: resume)
            if mayBeVirtual {
                // Converted context fields go to Swift.
                asm.ldr(Self.scratch, Self.ctx, JITFrame.virtualLow)
                asm.addSub(.sub, true, Self.scratch, Self.address, Self.scratch)
                asm.ldr(Self.scratch2, Self.ctx, JITFrame.virtualLength)
                asm.cmp(true, Self.scratch, Self.scratch2)
                asm.bcond(.lo, slow)
            }
            if !isProven { emitRegionCheck(size: size, write: !isLoad, slow: slow) }
            if isAtomic {
                asm.movImm(Self.scratch, UInt64(size - 1))
                asm.tst(true, Self.address, Self.scratch)
                asm.bcond(.ne, slow)
            }
        }
        let d = reg(ins.dst), s = reg(ins.src)
        func access(_ compiler: inout ARM64Compiler, opc: UInt32, _ t: ARM64Reg) {
            if direct {
                compiler.asm.ldstUnscaled(opc: opc, size: size, t, compiler.reg(base), offset)
            } else {
                compiler.asm.ldst(opc: opc, size: size, t, Self.address)
            }
        }
        switch cls {
        case 1:
            // ldsx of 4 bytes is ldrsw; of 1 and 2 bytes ldrsb/ldrsh to 64 bits.
            access(&self, opc: mode == 0x80 ? 2 : 1, d)
        case 2:
            let value = immediate(ins.imm, into: Self.scratch)
            access(&self, opc: 0, value)
        default:
            if isAtomic { emitAtomic(ins, w: size == 8, s: s) } else { access(&self, opc: 0, s) }
        }
        asm.bind(resume)
    }

    /// Falls through when the `size` bytes at address lie in one of the frame's regions; jumps to
    /// `slow` otherwise (``ARM64Assembler/regionCheck(address:scratch:frame:size:write:slow:)``).
    private mutating func emitRegionCheck(size: Int, write: Bool, slow: ARM64Label) {
        asm.regionCheck(address: Self.address, scratch: Self.scratch, frame: Self.ctx, size: size, write: write, slow: slow)
    }

    /// An atomic read-modify-write at [x9] as an exclusive load/store loop (every AArch64 has it),
    /// fully ordered as the kernel's atomics.
    private mutating func emitAtomic(_ ins: Instruction, w: Bool, s: ARM64Reg) {
        let op = ins.imm
        let old = Self.scratch, new = Self.scratch2, status = Self.scratch3
        let again = asm.newLabel(), done = asm.newLabel()
        asm.bind(again)
        asm.ldaxr(w, old, Self.address)
        switch op & ~1 {
        case 0x00: asm.addSub(.add, w, new, old, s)
        case 0x40: asm.logical(.orr, w, new, old, s)
        case 0x50: asm.logical(.and, w, new, old, s)
        case 0xa0: asm.logical(.eor, w, new, old, s)
        case 0xe0: asm.mov(w, new, s)
        default:
            // cmpxchg: store only when the old value equals r0.
            asm.cmp(w, old, reg(0))
            asm.bcond(.ne, done)
            asm.mov(w, new, s)
        }
        asm.stlxr(w, status: status, new, Self.address)
        asm.cbz(false, status, again, nonZero: true)
        asm.bind(done)
        asm.dmbISH()
        if op == 0xf1 {
            asm.mov(w, reg(0), old)
        } else if op & 1 != 0 {
            asm.mov(w, s, old)
        }
    }
}
