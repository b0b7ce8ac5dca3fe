import BPFCore

/// Why the optimizing tier left a program to the first tier.
struct OptDecline: Error, CustomStringConvertible {
    var pc: Int
    var reason: String
    var description: String { "instruction \(pc): \(reason)" }
}

/// Lifts eBPF into ``OptProgram``: one block per straight-line stretch, every bpf-to-bpf call
/// inlined (r6–r10 renamed per call, r0–r5 shared as the calling convention shares them).
/// Declines what the tier does not handle: `may_goto`, callbacks, tail calls below function 0,
/// jumps out of a function, programs that grow past ``maxOps`` when inlined.
struct OptLifter {
    let slots: [Instruction]
    let proven: [Bool]?
    let maps: JITMaps
    static let maxOps = 40_000

    var program = OptProgram()
    private var functionStarts: [Int] = [0]
    private var opCount = 0
    private var secondSlot: [Bool] = []
    private var jumpTargets = Set<Int>()

    init(slots: [Instruction], proven: [Bool]?, maps: JITMaps) {
        self.slots = slots
        self.proven = proven
        self.maps = maps
    }

    /// One inlined instance of a function.
    private struct Instance {
        var start: Int, end: Int
        var regs: [Int]
        var depth: Int
        /// Where `exit` continues (the caller's block after the call), nil in function 0.
        var returnBlock: Int?
        var blocks: [Int: Int] = [:]
    }

    mutating func lift() throws(OptDecline) -> OptProgram {
        program.verified = proven != nil
        var i = 0
        var entries = Set<Int>([0])
        secondSlot = [Bool](repeating: false, count: slots.count + 1)
        while i < slots.count {
            let ins = slots[i]
            if ins.opcode == 0x18 && i + 1 < slots.count { secondSlot[i + 1] = true }
            let cls = ins.opcode & 7
            if (cls == 5 || cls == 6) && ins.opcode != 0x85 && ins.opcode != 0x8d && ins.opcode != 0x95 {
                jumpTargets.insert(i + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset)))
            }
            if ins.opcode == Opcode.mayGoto { throw OptDecline(pc: i, reason: "may_goto is left to the first tier") }
            if ins.opcode == 0x85 && ins.src == 1 { entries.insert(i + 1 + Int(ins.imm)) }
            if ins.opcode == 0x85 && ins.src > 1 { throw OptDecline(pc: i, reason: "kfunc calls are left to the first tier") }
            if ins.opcode == 0x18 && i + 1 < slots.count {
                let value = UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: slots[i + 1].imm)) << 32
                if JITCompiler.callbackTarget(value) != nil { throw OptDecline(pc: i, reason: "callbacks are left to the first tier") }
            }
            i += ins.opcode == 0x18 ? 2 : 1
        }
        functionStarts = entries.sorted()
        for s in functionStarts where s < 0 || s >= slots.count { throw OptDecline(pc: s, reason: "a call outside the program") }
        let entry = newBlock()
        var instance = Instance(start: 0, end: functionEnd(0), regs: Array(0...10), depth: 0, returnBlock: nil)
        if proven == nil {
            program.blocks[entry].ops.append(OptOp(kind: .zeroFrame, args: [.v(10)], pc: 0))
        }
        let first = try liftFunction(&instance)
        program.blocks[entry].terminator = .jump(first)
        nameBudgetStops()
        return program
    }

    /// Whether the service, called for `ins`, stops the run at the instruction limit: a jump, an
    /// `exit` or an ALU instruction (not a call, a load, a store or a legacy packet load).
    static func stopsAtLimit(_ ins: Instruction) -> Bool {
        ins.opcode & 7 >= 4 && ins.opcode != 0x85 && ins.opcode != 0x8d
    }

    /// A budget stop calls the service for its block's `terminatorPC`, which must be an instruction
    /// the service stops at. A block closed by falling through into a leader names that leader,
    /// which may be a load the service would do and resume after (the loop then ran on): such
    /// blocks name the program's first jump instead (every loop needs one).
    private mutating func nameBudgetStops() {
        let jump = slots.indices.first { slots[$0].opcode & 7 == 5 || slots[$0].opcode & 7 == 6 ? Self.stopsAtLimit(slots[$0]) : false }
        guard let jump else { return }
        for b in program.blocks.indices {
            let pc = program.blocks[b].terminatorPC
            if pc < 0 || pc >= slots.count || !Self.stopsAtLimit(slots[pc]) { program.blocks[b].terminatorPC = jump }
        }
    }

    private func functionEnd(_ start: Int) -> Int { functionStarts.first(where: { $0 > start }) ?? slots.count }

    private mutating func newBlock() -> Int {
        program.blocks.append(OptBlock())
        return program.blocks.count - 1
    }

    private mutating func block(_ instance: inout Instance, at pc: Int, from: Int) throws(OptDecline) -> Int {
        guard pc >= instance.start && pc < instance.end else {
            if pc == slots.count && instance.end == slots.count {
                // Running off the end of the program: an error.
                let b = newBlock()
                program.blocks[b].terminator = .fail(pc: pc)
                return b
            }
            throw OptDecline(pc: from, reason: "a jump leaves its function")
        }
        if pc > 0, slots[pc - 1].opcode == 0x18, isSecondSlot(pc) { throw OptDecline(pc: from, reason: "a jump into a lddw") }
        if let b = instance.blocks[pc] { return b }
        let b = newBlock()
        instance.blocks[pc] = b
        return b
    }

    private func isSecondSlot(_ pc: Int) -> Bool { pc < secondSlot.count && secondSlot[pc] }

    /// Lifts the instance's function, returning its entry block.
    private mutating func liftFunction(_ instance: inout Instance) throws(OptDecline) -> Int {
        // Leaders: the start, jump targets, instructions after jumps and calls.
        var leaders = Set<Int>([instance.start])
        var pc = instance.start
        while pc < instance.end {
            let ins = slots[pc]
            let cls = ins.opcode & 7
            let next = pc + (ins.opcode == 0x18 ? 2 : 1)
            if cls == 5 || cls == 6 {
                if ins.opcode == 0x05 || ins.opcode == 0x06 {
                    leaders.insert(pc + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset)))
                } else if ins.opcode != 0x85 && ins.opcode != 0x8d && ins.opcode != 0x95 {
                    leaders.insert(pc + 1 + Int(ins.offset))
                }
                leaders.insert(next)
            }
            pc = next
        }
        let entry = try block(&instance, at: instance.start, from: instance.start)
        var current = entry
        pc = instance.start
        var open = true
        while pc < instance.end {
            let ins = slots[pc]
            let next = pc + (ins.opcode == 0x18 ? 2 : 1)
            if leaders.contains(pc) {
                let b = try block(&instance, at: pc, from: pc)
                if open && b != current {
                    program.blocks[current].terminator = .jump(b)
                    program.blocks[current].terminatorPC = pc
                }
                current = b
                open = true
            }
            if !open { pc = next; continue }
            if opCount > Self.maxOps { throw OptDecline(pc: pc, reason: "too large once calls are inlined") }
            open = try liftInstruction(ins, pc: pc, block: current, instance: &instance, next: next)
            pc = next
        }
        if open {
            // Falls off the end of the function.
            program.blocks[current].terminator = .jump(try block(&instance, at: instance.end, from: instance.end - 1))
        }
        return entry
    }

    private func value(_ instance: Instance, _ r: UInt8) -> OptValue { .v(instance.regs[Int(r)]) }

    private mutating func append(_ op: OptOp, _ b: Int) {
        program.blocks[b].ops.append(op)
        opCount += 1
    }

    /// Lifts one instruction into block `b`; false when it ends the block.
    private mutating func liftInstruction(_ ins: Instruction, pc: Int, block b: Int, instance: inout Instance, next: Int) throws(OptDecline) -> Bool {
        let cls = ins.opcode & 7
        let d = instance.regs[Int(ins.dst)]
        let src = value(instance, ins.src)
        let imm = OptValue.k(UInt64(bitPattern: Int64(ins.imm)))
        if ins.dst > 10 || ins.src > 10 { throw OptDecline(pc: pc, reason: "register out of range") }
        switch cls {
        case 4, 7:
            let w = cls == 7
            let operand = ins.opcode & 8 != 0 ? src : imm
            if d == instance.regs[10] { throw OptDecline(pc: pc, reason: "writes r10") }
            switch ins.opcode & 0xf0 {
            case 0xb0:
                if ins.opcode & 8 != 0, [8, 16, 32].contains(Int(ins.offset)), !(ins.offset == 32 && !w) {
                    append(OptOp(kind: .extend(bits: Int(ins.offset), signed: true), dst: d, args: [src], w: w, pc: pc), b)
                } else {
                    append(OptOp(kind: .mov, dst: d, args: [operand], w: w, pc: pc), b)
                }
            case 0x80:
                append(OptOp(kind: .neg, dst: d, args: [.v(d)], w: w, pc: pc), b)
            case 0xd0:
                let swap = ins.opcode == 0xd7 || ins.opcode == 0xdc
                let bits = Int(ins.imm)
                guard [16, 32, 64].contains(bits) else { throw OptDecline(pc: pc, reason: "bad byte-swap width") }
                if swap {
                    append(OptOp(kind: .swap(bits: bits), dst: d, args: [.v(d)], pc: pc), b)
                } else if bits < 64 {
                    append(OptOp(kind: .extend(bits: bits, signed: false), dst: d, args: [.v(d)], pc: pc), b)
                }
            default:
                let signed = ins.offset == 1
                let op: OptALU
                switch ins.opcode & 0xf0 {
                case 0x00: op = .add
                case 0x10: op = .sub
                case 0x20: op = .mul
                case 0x30: op = signed ? .sdiv : .div
                case 0x40: op = .or
                case 0x50: op = .and
                case 0x60: op = .shl
                case 0x70: op = .shr
                case 0x90: op = signed ? .smod : .mod
                case 0xa0: op = .xor
                case 0xc0: op = .sar
                default: throw OptDecline(pc: pc, reason: "unknown ALU opcode")
                }
                append(OptOp(kind: .alu(op), dst: d, args: [.v(d), operand], w: w, pc: pc), b)
            }
            return true
        case 0:
            if ins.opcode == 0x18 {
                guard ins.src == 0 else { throw OptDecline(pc: pc, reason: "unresolved lddw") }
                let value = UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: slots[pc + 1].imm)) << 32
                append(OptOp(kind: .mov, dst: d, args: [.k(value)], pc: pc), b)
            } else {
                // Legacy packet loads: the service, which ends the run when out of bounds.
                var op = OptOp(kind: .service, pc: pc)
                op.args = [value(instance, 6), src]
                op.reads = [6, ins.src]
                op.writes = [(0, instance.regs[0])]
                append(op, b)
            }
            return true
        case 1, 2, 3:
            let mode = ins.opcode & 0xe0
            let size = [4, 2, 1, 8][Int((ins.opcode >> 3) & 3)]
            let base = cls == 1 ? ins.src : ins.dst
            let onStack = base == 10 && Int(ins.offset) >= -512 && Int(ins.offset) + size <= 0
            let isProven = onStack || (proven.map { pc < $0.count && $0[pc] } ?? false)
            if cls == 1 {
                guard mode == 0x60 || mode == 0x80 else { throw OptDecline(pc: pc, reason: "unknown load mode") }
                if d == instance.regs[10] { throw OptDecline(pc: pc, reason: "writes r10") }
                var op = OptOp(kind: .load(size: size, signed: mode == 0x80), dst: d, args: [value(instance, base)], offset: Int32(ins.offset), pc: pc)
                op.checked = !isProven
                // A load the verifier proved never reads a converted field (those are not proven).
                op.mayBeVirtual = ins.opcode == 0x61 && base != 10 && !isProven
                op.reads = [base]
                op.serviceDst = ins.dst
                append(op, b)
            } else if cls == 2 || mode == 0x60 {
                var op = OptOp(kind: .store(size: size), args: [value(instance, base), cls == 2 ? imm : src], offset: Int32(ins.offset), pc: pc)
                op.checked = !isProven
                op.reads = cls == 2 ? [base] : [base, ins.src]
                append(op, b)
            } else if mode == 0xc0 && (size == 4 || size == 8) {
                var op = OptOp(kind: .atomic(size: size, op: ins.imm), args: [value(instance, base), src, value(instance, 0)], offset: Int32(ins.offset), pc: pc)
                op.checked = !isProven
                op.onStack = onStack
                op.reads = [base, ins.src, 0]
                if ins.imm == 0xf1 {
                    op.dst = instance.regs[0]
                    op.serviceDst = 0
                } else if ins.imm & 1 != 0 || ins.imm == 0xe1 {
                    op.serviceDst = ins.src
                    if ins.src == 10 { throw OptDecline(pc: pc, reason: "writes r10") }
                    op.dst = instance.regs[Int(ins.src)]
                }
                guard [0x00, 0x40, 0x50, 0xa0, 0x01, 0x41, 0x51, 0xa1, 0xe1, 0xf1].contains(ins.imm) else {
                    throw OptDecline(pc: pc, reason: "unknown atomic operation")
                }
                append(op, b)
            } else {
                throw OptDecline(pc: pc, reason: "unknown store mode")
            }
            return true
        default:
            break
        }
        // Jumps and calls.
        let w = cls == 5
        switch ins.opcode {
        case 0x05, 0x06:
            let target = pc + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset))
            program.blocks[b].terminator = .jump(try block(&instance, at: target, from: pc))
            program.blocks[b].terminatorPC = pc
            return false
        case 0x95:
            if let returnBlock = instance.returnBlock {
                program.blocks[b].terminator = .jump(returnBlock)
            } else {
                program.blocks[b].terminator = .exit(.v(instance.regs[0]))
            }
            program.blocks[b].terminatorPC = pc
            return false
        case 0x85 where ins.src == 1:
            let target = pc + 1 + Int(ins.imm)
            let after = try block(&instance, at: next, from: pc)
            if instance.depth + 1 >= ExecutionOptions.maxCallFrames {
                // The call depth is exceeded: the service raises the error.
                append(OptOp(kind: .service, pc: pc), b)
                program.blocks[b].terminator = .fail(pc: pc)
                return false
            }
            var callee = Instance(start: target, end: functionEnd(target), regs: instance.regs, depth: instance.depth + 1, returnBlock: after)
            for r in 6...10 { callee.regs[r] = program.newRegister() }
            // The callee sees the caller's r6-r9 (a verified callee never reads them; the moves are then dead).
            for r in 6...9 { append(OptOp(kind: .mov, dst: callee.regs[r], args: [.v(instance.regs[r])], pc: pc), b) }
            append(OptOp(kind: .alu(.add), dst: callee.regs[10], args: [.v(instance.regs[10]), .k(UInt64(bitPattern: -512))], pc: pc), b)
            if proven == nil { append(OptOp(kind: .zeroFrame, args: [.v(callee.regs[10])], pc: pc), b) }
            let entry = try liftFunction(&callee)
            program.blocks[b].terminator = .jump(entry)
            program.blocks[b].terminatorPC = pc
            return false
        case 0x85, 0x8d:
            let r = instance.regs
            if ins.opcode == 0x85, ins.imm == 1, proven != nil, let handle = mapHandle(beforeCall: pc), let array = maps.arrays[handle] {
                append(OptOp(kind: .arrayLookup(array), dst: r[0], args: [.v(r[2])], pc: pc), b)
            } else if ins.opcode == 0x85, (1...3).contains(ins.imm), proven != nil, let handle = mapHandle(beforeCall: pc),
                      let map = maps.direct[handle], let function = map.function(helper: ins.imm) {
                // Lookups and deletes take the key alone: r3 and r4 stay unread (not live into the call).
                let args: [OptValue] = ins.imm == 2 ? [.v(r[2]), .v(r[3]), .v(r[4])] : [.v(r[2])]
                append(OptOp(kind: .directCall(function: function, object: map.object), dst: r[0], args: args, pc: pc), b)
            } else {
                if ins.opcode == 0x85 && ins.imm == 12 && instance.depth > 0 {
                    throw OptDecline(pc: pc, reason: "tail calls below function 0 are left to the first tier")
                }
                var op = OptOp(kind: .service, pc: pc)
                op.reads = [1, 2, 3, 4, 5, 10]
                if ins.opcode == 0x8d { op.reads.append(ins.dst) }
                op.args = op.reads.map { .v(r[Int($0)]) }
                op.writes = [(0, r[0])]
                append(op, b)
            }
            return true
        case Opcode.mayGoto:
            throw OptDecline(pc: pc, reason: "may_goto is left to the first tier")
        default:
            break
        }
        guard let cond = OptCond(jumpOpcode: ins.opcode) else { throw OptDecline(pc: pc, reason: "unknown jump opcode") }
        let target = try block(&instance, at: pc + 1 + Int(ins.offset), from: pc)
        let fall = try block(&instance, at: next, from: pc)
        let rhs = ins.opcode & 8 != 0 ? src : imm
        program.blocks[b].terminator = .branch(cond, w: w, .v(d), rhs, then: target, else: fall)
        program.blocks[b].terminatorPC = pc
        return false
    }

    /// The map handle r1 holds at the helper call at `pc` (a `lddw r1` earlier in the block).
    private func mapHandle(beforeCall pc: Int) -> UInt64? {
        var i = pc - 1
        while i >= 0 {
            if jumpTargets.contains(i + 1) { return nil }
            if i >= 1 && slots[i - 1].opcode == 0x18 && !isSecondSlot(i - 1) {
                let load = slots[i - 1]
                guard load.dst == 1 else { i -= 2; continue }
                return UInt64(UInt32(bitPattern: load.imm)) | UInt64(UInt32(bitPattern: slots[i].imm)) << 32
            }
            let ins = slots[i]
            let cls = ins.opcode & 7
            if cls == 5 || cls == 6 { return nil }
            switch cls {
            case 2: break
            case 3: if ins.opcode & 0xe0 == 0xc0 && (ins.src == 1 || ins.imm == 0xf1) { return nil }
            default: if ins.dst == 1 { return nil }
            }
            i -= 1
        }
        return nil
    }
}
