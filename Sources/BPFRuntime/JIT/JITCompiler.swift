import BPFCore

/// Translates eBPF to x86-64.
///
/// Register assignment (as the Linux JIT, so helper arguments are already where the C ABI wants
/// them): r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx, r5 r8, r6 rbx, r7 r13, r8 r14, r9 r15, r10 rbp.
/// r12 holds the run's ``JITFrame``, r9 the backward-jump budget, r10 and r11 are scratch.
///
/// With the verifier's proofs (`proven`), the code also drops what verification makes redundant:
/// the bounds checks of proven accesses, the zeroing of stack frames (no uninitialised stack is
/// read) and the backward-jump budget (every loop is proven to end).
///
/// Each bpf-to-bpf function saves the caller's r6–r10 with five pushes, so calls are native `call`s
/// and every function body runs with a 16-byte aligned `rsp`. Everything rare — helper calls,
/// accesses the inline checks refuse, errors — goes through one thunk into Swift
/// (``JITRuntime/service``), which sees all registers in the frame.
struct JITCompiler {
    let slots: [Instruction]
    let proven: [Bool]?
    /// Array maps whose lookups are inlined, and hash maps whose lookups and updates are direct
    /// calls, by the handle a `lddw` loads.
    let maps: JITMaps
    var asm: X86Assembler
    private var jumpTargets = Set<Int>()
    private var labels: [X86Label] = []
    private var functionEntries: [Int: X86Label] = [:]
    private var stubs: [(label: X86Label, pc: Int, resume: X86Label)] = []
    /// Cold code of 32-bit loads in the converted-field range: look the address up in the frame's table.
    private var virtualStubs: [(label: X86Label, dst: X86Reg, slow: X86Label, resume: X86Label)] = []
    private var thunk: X86Label!
    private var finish: X86Label!
    private var epilogue: X86Label!
    private var zeroBytes = 512
    /// With proofs, function 0 runs in the entry's own frame (no call, no saves of r6–r10): its
    /// instructions are `0..<mainEnd`, and its exits and frame-ending tail calls leave through `finish`.
    private var mainInline = false
    private var mainEnd = 0
    /// A program whose instructions never need the frame (no checks, no service, no bpf-to-bpf
    /// calls) gets a lean entry: it saves only the host registers it writes and loads only r1, r2
    /// and r10 (a verified program reads no other register before writing it).
    private(set) var lean = false
    /// An unconditional jump the conditional jump before it took over (see ``emitJump(_:pc:)``).
    private var skipped = -1
    /// Whether the instructions compiled so far reached the frame or the service.
    private var bodyUsesFrame = false
    /// Code offset of each instruction (for the listing).
    private(set) var pcOffsets: [Int] = []
    /// Code offset of each function's prologue, by its first instruction (function 0 included
    /// unless it runs in the entry's frame).
    private(set) var functionOffsets: [Int: Int] = [:]
    /// Code offset of the callback entry (see ``emitCallbackEntry()``), emitted only when a `lddw`
    /// names a callback function.
    private(set) var callbackEntryOffset = -1
    private var hasCallbacks = false
    /// Whether the program has `may_goto`: every function (and the entries) then reserves 16 bytes
    /// of the host stack, whose upper word is the frame's loop budget (`[rsp+8]` in the body).
    private var usesMayGoto = false
    /// The budget each frame starts with (``ExecutionOptions/mayGotoBudget``).
    var mayGotoBudget = Opcode.mayGotoBudget
    private static let mayGotoSlot = X86Mem(base: .rsp, disp: 8)

    /// The first instruction of the callback function a `lddw` value names, if it names one.
    static func callbackTarget(_ value: UInt64) -> Int? {
        guard value >= Interpreter.callbackHandleBase, value - Interpreter.callbackHandleBase < UInt64(Int32.max) else { return nil }
        return Int(value - Interpreter.callbackHandleBase)
    }

    static let bpfRegisters: [X86Reg] = [.rax, .rdi, .rsi, .rdx, .rcx, .r8, .rbx, .r13, .r14, .r15, .rbp]
    static let ctx = X86Reg.r12
    static let budget = X86Reg.r9
    static let scratch = X86Reg.r11
    static let scratch2 = X86Reg.r10

    /// Constant blinding (as the kernel's `bpf_jit_harden`): every immediate the program supplies
    /// is emitted XORed with a fresh random key and unblinded at run time, so the code never holds
    /// the program's chosen constants.
    let blinding: Bool
    private var random = SystemRandomNumberGenerator()

    init(slots: [Instruction], proven: [Bool]?, maps: JITMaps = JITMaps(), blinding: Bool = false, listing: Bool) {
        self.slots = slots
        self.proven = proven
        self.maps = maps
        self.blinding = blinding
        self.asm = X86Assembler(listing: listing)
    }

    private func reg(_ r: UInt8) -> X86Reg { Self.bpfRegisters[Int(r)] }

    private func frame(_ offset: Int32) -> X86Mem { X86Mem(base: Self.ctx, disp: offset) }

    /// The service function's address, embedded in the code (constant for the process).
    static var serviceAddress: UInt64 { UInt64(UInt(bitPattern: unsafeBitCast(JITRuntime.serviceEntry, to: UnsafeRawPointer.self))) }

    // MARK: - Analysis

    /// Call targets (function entries) and how much of each frame a program can address.
    private mutating func analyze() {
        let facts = JITProgramFacts(slots: slots, verified: proven != nil)
        functionEntries[0] = asm.newLabel()
        for (target, callback) in facts.functions {
            // A callback (bpf_loop, for_each_map_elem) is compiled as a function, which
            // helpers enter through the callback entry.
            if functionEntries[target] == nil { functionEntries[target] = asm.newLabel() }
            if callback { hasCallbacks = true }
        }
        jumpTargets = facts.jumpTargets
        usesMayGoto = facts.usesMayGoto
        zeroBytes = facts.zeroBytes
        // The verifier keeps every jump inside its function and refuses recursion, so function 0
        // is the instructions before the first other function.
        mainInline = proven != nil
        mainEnd = functionEntries.keys.filter { $0 > 0 }.min() ?? slots.count
    }

    // MARK: - Driver

    mutating func compile() -> [UInt8] {
        analyze()
        if mainInline {
            // A first pass finds out whether the code needs the frame at all.
            var probe = self
            probe.asm = X86Assembler(listing: false)
            _ = probe.compileOnce()
            lean = !probe.bodyUsesFrame
        }
        return compileOnce()
    }

    private mutating func compileOnce() -> [UInt8] {
        labels = (0..<slots.count).map { _ in asm.newLabel() }
        thunk = asm.newLabel()
        finish = asm.newLabel()
        epilogue = asm.newLabel()
        emitEntry()
        pcOffsets = [Int](repeating: -1, count: slots.count + 1)
        let frameOperandsBefore = asm.r12Operands
        var pc = 0
        while pc < slots.count {
            if let entry = functionEntries[pc], !(pc == 0 && mainInline) {
                if pc != 0 { asm.jmp(labels[pc]) }
                asm.bind(entry)
                functionOffsets[pc] = asm.offset
                emitPrologue()
            }
            asm.bind(labels[pc])
            pcOffsets[pc] = asm.offset
            let ins = slots[pc]
            if skipped == pc {
                // A `goto` folded into the conditional jump before it.
                pc += 1
                continue
            }
            emit(ins, pc: pc)
            pc += ins.opcode == 0x18 ? 2 : 1
        }
        bodyUsesFrame = bodyUsesFrame || asm.r12Operands != frameOperandsBefore || !stubs.isEmpty || !virtualStubs.isEmpty
        // Running off the end of the program.
        pcOffsets[slots.count] = asm.offset
        asm.movImm32(Self.scratch2, UInt32(slots.count))
        asm.call(thunk)
        asm.bind(epilogue)
        emitEpilogue()
        for stub in virtualStubs {
            asm.bind(stub.label)
            for i in 0..<JITFrame.virtualSlots {
                let next = asm.newLabel()
                asm.alu(.cmp, Self.scratch, frame(JITFrame.virtualTable + Int32(i * 16)))
                asm.jcc(.ne, next)
                asm.load(stub.dst, frame(JITFrame.virtualTable + Int32(i * 16 + 8)), bits: 64)
                asm.jmp(stub.resume)
                asm.bind(next)
            }
            asm.jmp(stub.slow)
        }
        for stub in stubs {
            asm.bind(stub.label)
            asm.movImm32(Self.scratch2, UInt32(stub.pc))
            asm.call(thunk)
            asm.jmp(stub.resume)
        }
        emitThunk()
        if hasCallbacks { emitCallbackEntry() }
        asm.resolve()
        return asm.bytes
    }

    /// `entry(frame)`: saves the host's callee-saved registers, loads the eBPF registers from the
    /// frame and calls function 0; `finish` is also where unwinding lands.
    private mutating func emitEntry() {
        if lean {
            emitLeanEntry()
            return
        }
        for r: X86Reg in [.rbx, .rbp, .r12, .r13, .r14, .r15] { asm.push(r) }
        if usesMayGoto { asm.alu(.sub, true, .rsp, imm: 16) }
        asm.push(X86Mem(base: .rdi, disp: JITFrame.savedRSP))
        asm.store(X86Mem(base: .rdi, disp: JITFrame.savedRSP), .rsp, bits: 64)
        asm.mov(true, Self.ctx, .rdi)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.load(r, frame(JITFrame.registers + Int32(i * 8)), bits: 64) }
        asm.load(Self.budget, frame(JITFrame.budget), bits: 64)
        if mainInline {
            // Function 0's budget: the word above the saved savedRSP.
            if usesMayGoto { initMayGoto() }
            asm.jmp(labels[0])
        } else {
            asm.alu(.add, true, .rbp, imm: 512)
            asm.call(functionEntries[0]!)
        }
        asm.bind(finish)
        asm.store(frame(JITFrame.budget), Self.budget, bits: 64)
        asm.pop(frame(JITFrame.savedRSP))
        if usesMayGoto { asm.alu(.add, true, .rsp, imm: 16) }
        for r: X86Reg in [.r15, .r14, .r13, .r12, .rbp, .rbx] { asm.pop(r) }
        asm.ret()
    }

    /// `callback(frame, function)`: how a helper (bpf_loop, for_each_map_elem) runs a callback
    /// function of the program. Like the entry, it saves the host's registers and loads r0–r10
    /// from the frame (the caller's, with r1–r5 set to the callback's arguments); the function's
    /// prologue opens its frame below the caller's. An error inside unwinds to here, through `finish`.
    private mutating func emitCallbackEntry() {
        callbackEntryOffset = asm.offset
        for r: X86Reg in [.rbx, .rbp, .r12, .r13, .r14, .r15] { asm.push(r) }
        if usesMayGoto { asm.alu(.sub, true, .rsp, imm: 16) }  // as the entry, which `finish` unwinds
        asm.push(X86Mem(base: .rdi, disp: JITFrame.savedRSP))
        asm.store(X86Mem(base: .rdi, disp: JITFrame.savedRSP), .rsp, bits: 64)
        asm.mov(true, Self.ctx, .rdi)
        asm.mov(true, Self.scratch, .rsi)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.load(r, frame(JITFrame.registers + Int32(i * 8)), bits: 64) }
        asm.load(Self.budget, frame(JITFrame.budget), bits: 64)
        asm.callRegister(Self.scratch)
        asm.jmp(finish)
    }

    /// The x86 registers a lean entry saves: those of r6–r9 the program writes, rbp when it uses
    /// r10, and a padding slot when needed so direct calls see a 16-byte aligned stack.
    private var leanSaves: [X86Reg] {
        var written = Set<UInt8>()
        var usesR10 = false
        for pc in 0..<mainEnd {
            let ins = slots[pc]
            let cls = ins.opcode & 7
            if cls == 0 || cls == 1 || cls == 4 || cls == 7 { written.insert(ins.dst) }
            if cls == 3 && ins.opcode & 0xe0 == 0xc0 { written.insert(ins.src) }
            if ins.dst == 10 || ins.src == 10 { usesR10 = true }
        }
        var saves: [X86Reg] = []
        for r in 6...9 where written.contains(UInt8(r)) { saves.append(Self.bpfRegisters[r]) }
        if usesR10 { saves.append(.rbp) }
        // rsp is 8 past a 16-byte boundary on entry; an odd number of pushes aligns it.
        if saves.count % 2 == 0 { saves.append(.r11) }
        return saves
    }

    /// The lean entry (see ``lean``): `finish` pops what it pushed.
    private mutating func emitLeanEntry() {
        let saves = leanSaves
        for r in saves { asm.push(r) }
        if usesMayGoto { asm.alu(.sub, true, .rsp, imm: 16) }
        asm.load(.rsi, X86Mem(base: .rdi, disp: JITFrame.registers + 16), bits: 64)
        if saves.contains(.rbp) { asm.load(.rbp, X86Mem(base: .rdi, disp: JITFrame.registers + 80), bits: 64) }
        asm.load(.rdi, X86Mem(base: .rdi, disp: JITFrame.registers + 8), bits: 64)
        if usesMayGoto { initMayGoto() }
        asm.jmp(labels[0])
        asm.bind(finish)
        if usesMayGoto { asm.alu(.add, true, .rsp, imm: 16) }
        for r in saves.reversed() { asm.pop(r) }
        asm.ret()
    }

    /// A function's start: save the caller's r6–r10, open a 512-byte frame and zero what the
    /// program can address of it.
    private mutating func emitPrologue() {
        for r: X86Reg in [.rbx, .r13, .r14, .r15, .rbp] { asm.push(r) }
        asm.alu(.sub, true, .rbp, imm: 512)
        if zeroBytes > 0 {
            asm.zeroXMM0()
            var o = -16
            while o >= -zeroBytes {
                asm.storeXMM0(X86Mem(base: .rbp, disp: Int32(o)))
                o -= 16
            }
        }
        if usesMayGoto {
            asm.alu(.sub, true, .rsp, imm: 16)
            initMayGoto()
        }
    }

    /// A new frame's `may_goto` budget.
    private mutating func initMayGoto() {
        asm.storeImm(Self.mayGotoSlot, Int32(clamping: mayGotoBudget), bits: 64)
    }

    private mutating func emitEpilogue() {
        if usesMayGoto { asm.alu(.add, true, .rsp, imm: 16) }
        for r: X86Reg in [.rbp, .r15, .r14, .r13, .rbx] { asm.pop(r) }
        asm.ret()
    }

    /// The way into Swift: spill the registers, call the service with (frame, pc in r10d), reload,
    /// and unwind when it says so (1: the program ends with r0, 3: an error). Returns with the
    /// status (0, or 2: a tail call ended this frame) in r11.
    private mutating func emitThunk() {
        asm.bind(thunk)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.store(frame(JITFrame.registers + Int32(i * 8)), r, bits: 64) }
        asm.store(frame(JITFrame.budget), Self.budget, bits: 64)
        asm.mov(true, .rdi, Self.ctx)
        asm.mov(false, .rsi, Self.scratch2)
        asm.alu(.sub, true, .rsp, imm: 8)
        asm.movImm(Self.scratch, Self.serviceAddress)
        asm.callRegister(Self.scratch)
        asm.alu(.add, true, .rsp, imm: 8)
        asm.mov(true, Self.scratch, .rax)
        asm.load(Self.budget, frame(JITFrame.budget), bits: 64)
        for (i, r) in Self.bpfRegisters.enumerated() { asm.load(r, frame(JITFrame.registers + Int32(i * 8)), bits: 64) }
        let unwind = asm.newLabel()
        asm.alu(.cmp, false, Self.scratch, imm: 1)
        asm.jcc(.e, unwind)
        asm.alu(.cmp, false, Self.scratch, imm: 3)
        asm.jcc(.e, unwind)
        asm.ret()
        asm.bind(unwind)
        asm.load(.rsp, frame(JITFrame.savedRSP), bits: 64)
        asm.jmp(finish)
    }

    /// A call into the service for instruction `pc` from cold code, resuming at `resume`.
    private mutating func stub(pc: Int, resume: X86Label) -> X86Label {
        let label = asm.newLabel()
        stubs.append((label, pc, resume))
        return label
    }

    // MARK: - Instructions

    private mutating func emit(_ ins: Instruction, pc: Int) {
        let cls = ins.opcode & 7
        switch cls {
        case 4, 7: emitALU(ins, w: cls == 7)
        case 5, 6: emitJump(ins, pc: pc)
        case 0:
            if ins.opcode == 0x18 {
                let value = UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: slots[pc + 1].imm)) << 32
                constant(reg(ins.dst), value)
            } else {
                emitService(pc: pc)  // legacy packet loads
            }
        default: emitMemory(ins, pc: pc)
        }
    }

    private mutating func emitService(pc: Int) {
        bodyUsesFrame = true
        asm.movImm32(Self.scratch2, UInt32(pc))
        asm.call(thunk)
    }

    private mutating func emitALU(_ ins: Instruction, w: Bool) {
        let d = reg(ins.dst), s = reg(ins.src)
        let useReg = ins.opcode & 8 != 0
        switch ins.opcode & 0xf0 {
        case 0x00, 0x10, 0x40, 0x50, 0xa0:
            let op: X86ALU = [0x00: .add, 0x10: .sub, 0x40: .or, 0x50: .and, 0xa0: .xor][ins.opcode & 0xf0]!
            if useReg { asm.alu(op, w, d, s) } else if blinding { let k = immediate(ins.imm); asm.alu(op, w, d, k) } else { asm.alu(op, w, d, imm: ins.imm) }
        case 0x20:
            if useReg { asm.imul(w, d, s) } else if blinding { let k = immediate(ins.imm); asm.imul(w, d, k) } else { asm.imul(w, d, d, imm: ins.imm) }
        case 0x30, 0x90:
            emitDivMod(ins, w: w, isMod: ins.opcode & 0xf0 == 0x90)
        case 0x60, 0x70, 0xc0:
            let kind: X86Shift = [0x60: .shl, 0x70: .shr, 0xc0: .sar][ins.opcode & 0xf0]!
            if useReg {
                emitShiftByRegister(kind, w: w, d: d, s: s)
            } else {
                let count = UInt8(truncatingIfNeeded: ins.imm) & (w ? 63 : 31)
                if count == 0 {
                    if !w { asm.mov(false, d, d) }
                } else {
                    asm.shift(kind, w, d, imm: count)
                }
            }
        case 0x80:
            asm.unary(3, w, d)
        case 0xb0:
            if useReg {
                switch ins.offset {
                case 8, 16: asm.extend(d, s, bits: Int(ins.offset), signed: true, w: w)
                case 32 where w: asm.extend(d, s, bits: 32, signed: true, w: true)
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
            case (false, 16): asm.extend(d, d, bits: 16, signed: false, w: false)
            case (false, 32): asm.mov(false, d, d)
            case (false, _): break
            case (true, 16): asm.swap16(d); asm.extend(d, d, bits: 16, signed: false, w: false)
            case (true, 32): asm.bswap(false, d)
            default: asm.bswap(true, d)
            }
        default:
            break
        }
    }

    /// The program's 32-bit immediate, sign-extended to 64 bits, in r11: blinded when asked.
    private mutating func immediate(_ imm: Int32, into r: X86Reg = Self.scratch) -> X86Reg {
        if blinding {
            let key = Int32(bitPattern: random.next())
            asm.movImm(r, UInt64(bitPattern: Int64(imm ^ key)))
            asm.alu(.xor, true, r, imm: key)
        } else {
            asm.movImm(r, UInt64(bitPattern: Int64(imm)))
        }
        return r
    }

    /// `value` into `d` (a `lddw`, or a 32-bit `mov` zero-extended), blinded when asked.
    private mutating func constant(_ d: X86Reg, _ value: UInt64) {
        guard blinding else { return asm.movImm(d, value) }
        let key = random.next() as UInt64
        let temporary = d == Self.scratch ? Self.scratch2 : Self.scratch
        asm.movImm(d, value ^ key)
        asm.movImm(temporary, key)
        asm.alu(.xor, true, d, temporary)
    }

    private mutating func emitShiftByRegister(_ kind: X86Shift, w: Bool, d: X86Reg, s: X86Reg) {
        if s == .rcx {
            asm.shiftCL(kind, w, d)
        } else if d == .rcx {
            asm.mov(true, Self.scratch, .rcx)
            asm.mov(true, .rcx, s)
            asm.shiftCL(kind, w, Self.scratch)
            asm.mov(true, .rcx, Self.scratch)
        } else {
            asm.mov(true, Self.scratch, .rcx)
            asm.mov(true, .rcx, s)
            asm.shiftCL(kind, w, d)
            asm.mov(true, .rcx, Self.scratch)
        }
        // A 32-bit shift by 0 leaves the upper half alone on some processors; clear it as the ISA requires.
        if !w { asm.mov(false, d, d) }
    }

    /// Division and remainder with the eBPF rules: x/0 = 0, x%0 = x, INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0.
    private mutating func emitDivMod(_ ins: Instruction, w: Bool, isMod: Bool) {
        let d = reg(ins.dst)
        let signed = ins.offset == 1
        if ins.opcode & 8 == 0 {
            let imm = ins.imm
            if imm == 0 {
                if !isMod { asm.movImm(d, 0) } else if !w { asm.mov(false, d, d) }
                return
            }
            if signed && imm == -1 {
                if isMod { asm.movImm(d, 0) } else { asm.unary(3, w, d) }
                return
            }
            let divisor = w ? UInt64(bitPattern: Int64(imm)) : UInt64(UInt32(bitPattern: imm))
            if !signed && imm > 0 && imm & (imm - 1) == 0 {
                let k = UInt8(imm.trailingZeroBitCount)
                if isMod {
                    asm.alu(.and, w, d, imm: imm - 1)
                } else if k == 0 {
                    if !w { asm.mov(false, d, d) }
                } else {
                    asm.shift(.shr, w, d, imm: k)
                }
                return
            }
            constant(Self.scratch, divisor)
            emitDivCore(w: w, isMod: isMod, signed: signed, d: d)
            return
        }
        let s = reg(ins.src)
        asm.mov(w, Self.scratch, s)
        let zero = asm.newLabel(), done = asm.newLabel()
        asm.test(w, Self.scratch, Self.scratch)
        asm.jcc(.e, zero)
        var minusOne: X86Label?
        if signed {
            minusOne = asm.newLabel()
            asm.alu(.cmp, w, Self.scratch, imm: -1)
            asm.jcc(.e, minusOne!)
        }
        emitDivCore(w: w, isMod: isMod, signed: signed, d: d)
        asm.jmp(done)
        asm.bind(zero)
        if !isMod { asm.movImm(d, 0) } else if !w { asm.mov(false, d, d) }
        if let minusOne {
            asm.jmp(done)
            asm.bind(minusOne)
            if isMod { asm.movImm(d, 0) } else { asm.unary(3, w, d) }
        }
        asm.bind(done)
    }

    /// d = d / r11 or d % r11, r11 neither 0 nor (signed) -1; rax and rdx are preserved.
    private mutating func emitDivCore(w: Bool, isMod: Bool, signed: Bool, d: X86Reg) {
        let saveRax = d != .rax, saveRdx = d != .rdx
        if saveRax { asm.mov(true, Self.scratch2, .rax) }
        if saveRdx { asm.push(.rdx) }
        if d != .rax { asm.mov(true, .rax, d) }
        if signed { asm.signExtendAccumulator(w) } else { asm.movImm(.rdx, 0) }
        asm.unary(signed ? 7 : 6, w, Self.scratch)
        let result: X86Reg = isMod ? .rdx : .rax
        if d != result { asm.mov(w, d, result) }
        if saveRdx { asm.pop(.rdx) }
        if saveRax { asm.mov(true, .rax, Self.scratch2) }
    }

    private mutating func emitJump(_ ins: Instruction, pc: Int) {
        let w = ins.opcode & 7 == 5
        switch ins.opcode {
        case 0x05, 0x06:
            let target = pc + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset))
            emitBudget(target: target, pc: pc)
            asm.jmp(labels[target])
            return
        case 0x85:
            if ins.src == 1 {
                let target = pc + 1 + Int(ins.imm)
                let after = asm.newLabel()
                asm.alu(.cmp, .rbp, frame(JITFrame.callLimit))
                asm.jcc(.b, stub(pc: pc, resume: after))
                asm.call(functionEntries[target]!)
                asm.bind(after)
            } else if ins.imm == 1, let handle = mapHandle(beforeCall: pc), let array = maps.arrays[handle] {
                emitInlineArrayLookup(array, pc: pc)
            } else if (1...3).contains(ins.imm), proven != nil, let handle = mapHandle(beforeCall: pc),
                      let map = maps.direct[handle], let function = map.function(helper: ins.imm) {
                emitDirectMapCall(map, function: function, helper: ins.imm)
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
            asm.alu(.cmp, Self.mayGotoSlot, imm: 0)
            asm.jcc(.e, labels[target])
            asm.alu(.sub, Self.mayGotoSlot, imm: 1)
            return
        case 0x95:
            if mainInline && pc < mainEnd { asm.jmp(finish) } else { emitEpilogue() }
            return
        default: break
        }
        let target = pc + 1 + Int(ins.offset)
        emitBudget(target: target, pc: pc)
        let d = reg(ins.dst), s = reg(ins.src)
        let useReg = ins.opcode & 8 != 0
        let op = ins.opcode & 0xf0
        let cond = X86Cond(OptCond(jumpOpcode: ins.opcode) ?? .sle)
        if op == 0x40 {
            if useReg { asm.test(w, d, s) } else if blinding { let k = immediate(ins.imm); asm.test(w, d, k) } else { asm.test(w, d, imm: ins.imm) }
        } else if useReg {
            asm.alu(.cmp, w, d, s)
        } else if ins.imm == 0 && (op == 0x10 || op == 0x50) {
            asm.test(w, d, d)
        } else {
            if blinding { let k = immediate(ins.imm); asm.alu(.cmp, w, d, k) } else { asm.alu(.cmp, w, d, imm: ins.imm) }
        }
        // `if cond goto +1; goto L` (clang's loop latch) becomes `if !cond goto L` when the goto is
        // reached no other way and spends no budget.
        if target == pc + 2, proven != nil, pc + 1 < slots.count, slots[pc + 1].opcode == 0x05 || slots[pc + 1].opcode == 0x06,
           !jumpTargets.contains(pc + 1) {
            let far = slots[pc + 1]
            skipped = pc + 1
            asm.jcc(cond.inverted, labels[pc + 2 + (far.opcode == 0x06 ? Int(far.imm) : Int(far.offset))])
            return
        }
        asm.jcc(cond, labels[target])
    }

    /// Backward jumps spend the budget, so a runaway loop stops.
    /// A verified program's loops are proven to end, so it has no budget to spend.
    private mutating func emitBudget(target: Int, pc: Int) {
        guard target <= pc, proven == nil else { return }
        let after = asm.newLabel()
        asm.alu(.sub, true, Self.budget, imm: 1)
        asm.jcc(.e, stub(pc: pc, resume: after))
        asm.bind(after)
    }

    private mutating func emitHelperCall(pc: Int) {
        emitService(pc: pc)
        asm.test(false, Self.scratch, Self.scratch)
        asm.jcc(.ne, mainInline && pc < mainEnd ? finish : epilogue)
    }

    // MARK: - Memory

    private mutating func emitMemory(_ ins: Instruction, pc: Int) {
        let cls = ins.opcode & 7
        let mode = ins.opcode & 0xe0
        let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
        let bits = size * 8
        let isLoad = cls == 1
        let isAtomic = cls == 3 && mode == 0xc0
        let base = isLoad ? ins.src : ins.dst
        let offset = Int32(ins.offset)
        let write = !isLoad
        let onStack = base == 10 && Int(offset) >= -512 && Int(offset) + size <= 0
        let isProven = onStack || (proven.map { pc < $0.count && $0[pc] } ?? false)
        let resume = asm.newLabel()
        var address = X86Mem(base: reg(base), disp: offset)
        // A 32-bit load may read a converted context field: those go to Swift (the verifier proves
        // no load that reads one).
        let mayBeVirtual = ins.opcode == 0x61 && base != 10 && !isProven
        if !isProven || mayBeVirtual || (isAtomic && !onStack) {
            asm.lea(Self.scratch, address)
            address = X86Mem(base: Self.scratch)
            let slow = stub(pc: pc, resume: resume)
            if mayBeVirtual {
                let virtual = asm.newLabel()
                asm.mov(true, Self.scratch2, Self.scratch)
                asm.alu(.sub, Self.scratch2, frame(JITFrame.virtualLow))
                asm.alu(.cmp, Self.scratch2, frame(JITFrame.virtualLength))
                asm.jcc(.b, virtual)
                virtualStubs.append((virtual, reg(ins.dst), slow, resume))
            }
            if !isProven { emitRegionCheck(size: size, write: write, slow: slow) }
            if isAtomic {
                asm.test(false, Self.scratch, imm: Int32(size - 1))
                asm.jcc(.ne, slow)
            }
        }
        let d = reg(ins.dst), s = reg(ins.src)
        switch cls {
        case 1:
            asm.load(d, address, bits: bits, signed: mode == 0x80)
        case 2:
            if blinding { let k = immediate(ins.imm, into: Self.scratch2); asm.store(address, k, bits: bits) } else { asm.storeImm(address, ins.imm, bits: bits) }
        default:
            if isAtomic { emitAtomic(ins, w: size == 8, address: address, s: s) } else { asm.store(address, s, bits: bits) }
        }
        asm.bind(resume)
    }

    /// Falls through when the `size` bytes at r11 lie in the packet, the input or the stack;
    /// jumps to `slow` otherwise.
    private mutating func emitRegionCheck(size: Int, write: Bool, slow: X86Label) {
        asm.regionCheck(address: Self.scratch, frameBase: Self.ctx, size: size, write: write, slow: slow)
    }

    /// `bpf_map_lookup_elem` of an array map named by the `lddw r1` just before the call:
    /// r0 = the value's address, or 0 past the end. A key the inline check cannot read takes the
    /// full helper call in Swift.
    /// The map handle r1 holds at the helper call at `pc`, when a `lddw` earlier in the same
    /// straight-line stretch loaded it and nothing since wrote r1.
    private func mapHandle(beforeCall pc: Int) -> UInt64? {
        var i = pc - 1
        while i >= 0 {
            if jumpTargets.contains(i + 1) { return nil }
            if i >= 1 && slots[i - 1].opcode == 0x18 {
                // The second slot of a lddw.
                let load = slots[i - 1]
                guard load.dst == 1 else { i -= 2; continue }
                guard load.src == 0 else { return nil }
                return UInt64(UInt32(bitPattern: load.imm)) | UInt64(UInt32(bitPattern: slots[i].imm)) << 32
            }
            let ins = slots[i]
            let cls = ins.opcode & 7
            switch cls {
            case 2: break
            case 3: if ins.opcode & 0xe0 == 0xc0 && (ins.src == 1 || ins.imm == 0xf1) { return nil }
            case 5, 6: if ins.opcode == 0x85 || ins.opcode == 0x8d { return nil }
            default: if ins.dst == 1 { return nil }
            }
            i -= 1
        }
        return nil
    }

    /// `bpf_map_lookup_elem` / `update_elem` / `delete_elem` on a map the verifier checked the key
    /// (and value) of: a direct C-convention call with the map object in rdi; r2–r4 are already the
    /// key, value and flags. Verified code spends no budget, so r9 needs no saving.
    private mutating func emitDirectMapCall(_ map: JITDirectMap, function: UInt64, helper: Int32) {
        asm.comment("direct call: map '\(map.map.spec.name)' \(["lookup", "update", "delete"][Int(helper) - 1])")
        asm.movImm(.rdi, map.object)
        asm.movImm(Self.scratch, function)
        asm.callRegister(Self.scratch)
    }

    private mutating func emitInlineArrayLookup(_ array: JITArrayMap, pc: Int) {
        asm.comment("inline array map lookup")
        let after = asm.newLabel(), null = asm.newLabel()
        asm.mov(true, Self.scratch, reg(2))
        // The verifier checked the key pointer of a verified program's lookup.
        if proven == nil { emitRegionCheck(size: 4, write: false, slow: stub(pc: pc, resume: after)) }
        asm.load(Self.scratch, X86Mem(base: Self.scratch), bits: 32)
        asm.alu(.cmp, false, Self.scratch, imm: Int32(bitPattern: array.maxEntries))
        asm.jcc(.ae, null)
        if array.stride & (array.stride - 1) == 0 {
            if array.stride > 1 { asm.shift(.shl, true, Self.scratch, imm: UInt8(array.stride.trailingZeroBitCount)) }
        } else {
            asm.imul(true, Self.scratch, Self.scratch, imm: Int32(array.stride))
        }
        asm.movImm(.rax, array.valueBase)
        asm.alu(.add, true, .rax, Self.scratch)
        asm.jmp(after)
        asm.bind(null)
        asm.movImm(.rax, 0)
        asm.bind(after)
    }

    private mutating func emitAtomic(_ ins: Instruction, w: Bool, address m: X86Mem, s: X86Reg) {
        let op = ins.imm
        switch op {
        case 0x00: asm.lockALU(.add, w, m, s)
        case 0x40: asm.lockALU(.or, w, m, s)
        case 0x50: asm.lockALU(.and, w, m, s)
        case 0xa0: asm.lockALU(.xor, w, m, s)
        case 0x01: asm.lockXadd(w, m, s)
        case 0xe1: asm.xchg(w, m, s)
        case 0xf1:
            asm.lockCmpxchg(w, m, s)
            if !w { asm.mov(false, .rax, .rax) }
        default:
            // fetch_or / fetch_and / fetch_xor: a compare-exchange loop.
            let aluOp: X86ALU = op == 0x41 ? .or : op == 0x51 ? .and : .xor
            asm.mov(true, Self.scratch2, s)
            asm.fetchLogicLoop(aluOp, wide: w, at: m, operand: Self.scratch2)
            asm.mov(w, s, Self.scratch2)
        }
    }
}

/// What the JIT needs to inline lookups of one array map.
/// The maps a program's code may reach without the service: array lookups inlined; hash map
/// lookups, updates and deletes and array updates called directly. The maps are kept alive by the code.
struct JITMaps: Sendable {
    var arrays: [UInt64: JITArrayMap] = [:]
    var direct: [UInt64: JITDirectMap] = [:]
}

/// A map (not per-CPU) whose helpers the code calls directly: the C entry point for helpers 1–3
/// (lookup, update, delete), where there is one.
struct JITDirectMap: Sendable {
    let map: RuntimeMap
    var object: UInt64 { UInt64(UInt(bitPattern: Unmanaged.passUnretained(map).toOpaque())) }
    let lookup: Bool, update: Bool, delete: Bool

    func function(helper: Int32) -> UInt64? {
        switch helper {
        case 1 where lookup: Self.address(of: Self.hashLookup)
        case 2 where update: Self.address(of: Self.updateEntry)
        case 3 where delete: Self.address(of: Self.deleteEntry)
        default: nil
        }
    }

    private static func address<F>(of function: F) -> UInt64 { UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self))) }

    static let hashLookup: @convention(c) (UnsafeRawPointer, UnsafeRawPointer) -> UInt64 = { map, key in
        Unmanaged<HashMap>.fromOpaque(map).takeUnretainedValue().directLookup(key)
    }
    static let updateEntry: @convention(c) (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UInt64) -> UInt64 = { map, key, value, flags in
        Unmanaged<RuntimeMap>.fromOpaque(map).takeUnretainedValue().directUpdate(key, value, flags: flags)
    }
    static let deleteEntry: @convention(c) (UnsafeRawPointer, UnsafeRawPointer) -> UInt64 = { map, key in
        Unmanaged<RuntimeMap>.fromOpaque(map).takeUnretainedValue().directDelete(key)
    }
}

struct JITArrayMap: Sendable {
    var valueBase: UInt64
    var maxEntries: UInt32
    var stride: Int
}
