import BPFCore

// Precision tracking, as the kernel's verifier does it ("mark_chain_precision").
//
// Most scalars never decide anything: a counter added to a sum, a value loaded and stored again.
// State pruning may ignore their ranges. A scalar becomes *precise* when its value matters — it
// moves a pointer, sizes a helper's memory, decides which way a branch goes, is a return value
// checked against a range, or is an array key that makes a lookup non-NULL. From that point the
// verifier walks the path back, through the instructions that computed the value, and marks the
// registers and stack slots it came from precise in every checkpoint on the way. Pruning compares
// precise scalars by range and imprecise ones only by type.
//
// The walk relies on one property of the exploration: between a checkpoint and the next state on
// its path the instructions form a straight line (every jump target, every branch, the
// instruction after a call and every function entry are prune points; a path reaching one by a
// jump, an exit, a bpf-to-bpf or kfunc call or a helper that runs a callback stores a checkpoint
// there, and only one that came straight on — a branch's fall-through, after another helper
// call — may go on without, `Analysis.needsCheckpoint`). A helper call inside a segment is walked
// like any instruction (it sets r0 and clobbers r1-r5). A checkpoint records the instruction
// executed just before it (`entryFrom`) and where its segment accessed the stack, which is all
// the walk needs.

/// Registers and stack slots that must be compared by value, per frame (absolute frame index).
struct PrecisionSet {
    /// Bit r: register r (8 frames at most).
    var registers = SIMD8<UInt16>()
    /// Bit s: the 8-byte slot fp-8(s+1)...fp-8s-1.
    var slots = SIMD8<UInt64>()

    var isEmpty: Bool { registers == SIMD8() && slots == SIMD8() }

    static var everything: PrecisionSet {
        PrecisionSet(registers: SIMD8(repeating: 0x7ff), slots: SIMD8(repeating: ~0))
    }

    func has(_ frame: Int, _ reg: Int) -> Bool { registers[frame] & (1 << UInt16(reg)) != 0 }
    mutating func add(_ frame: Int, _ reg: Int) { registers[frame] |= 1 << UInt16(reg) }
    mutating func remove(_ frame: Int, _ reg: Int) { registers[frame] &= ~(1 << UInt16(reg)) }

    /// The slots an access of `size` bytes at frame offset `offset` touches.
    static func slotMask(offset: Int, size: Int) -> UInt64 {
        guard offset < 0, offset >= -512, size > 0 else { return 0 }
        var mask: UInt64 = 0
        var o = offset
        while o < offset + size && o < 0 {
            mask |= 1 << UInt64(Frame.slot(o))
            o += 1
        }
        return mask
    }
}

/// A few scalar ids, inline (more than 16 go to an array).
struct SmallIDSet {
    private var ids = SIMD16<UInt32>()
    private var count = 0
    private var more: [UInt32] = []
    var isEmpty: Bool { count == 0 }
    func contains(_ id: UInt32) -> Bool {
        for k in 0..<count where ids[k] == id { return true }
        return count == 16 && more.contains(id)
    }
    mutating func insert(_ id: UInt32) {
        if contains(id) { return }
        if count < 16 { ids[count] = id; count += 1 } else { more.append(id) }
    }
}

/// A stack load or store on a checkpoint's segment: which frame and bytes it touched.
struct StackAccess {
    var pc: Int32
    var frame: Int16
    /// Bytes from `offset` on (a variable-offset access covers every byte it may touch).
    var size: Int16
    var offset: Int16
}

extension Analysis {
    /// Records a stack access of the instruction being executed, for precision backtracking.
    func recordStackAccess(_ pc: Int, frame: Int, offset: Int, size: Int) {
        guard let owner = segmentOwner else { return }
        owner.stackAccesses.append(StackAccess(pc: Int32(pc), frame: Int16(frame), size: Int16(size), offset: Int16(offset)))
        if size == 8 && offset % 8 == 0 && frame < 8 && isWholeSlotStore(pc) {
            // What `screenedSlots` would find, kept as the segment grows (StackLiveness.swift).
            owner.wholeStores[frame] |= PrecisionSet.slotMask(offset: offset, size: 8)
            owner.lastWholeStore = max(owner.lastWholeStore, pc)
        }
    }

    /// Marks scalars of the current state whose values matter at `pc` (before it executes):
    /// `registers` of the innermost frame and the stack bytes `slots` cover.
    /// `strong`: the values matter for more than a pointer offset (see `Checkpoint.strongRegisters`).
    func needPrecise(_ st: VerifierState, _ pc: Int, registers: [Int], slot: (frame: Int, offset: Int, size: Int)? = nil,
                     strong: Bool = true) {
        var set = PrecisionSet()
        let top = st.frames.count - 1
        for r in registers where st[r].kind == .scalar { set.add(top, r) }
        if let s = slot { set.slots[s.frame] |= PrecisionSet.slotMask(offset: s.offset, size: s.size) }
        if set.isEmpty { return }
        expandLinked(&set, in: st)
        if options.logLevel >= 3 && log.utf8.count < options.logLimit { log += "NEEDPRECISE \(pc) regs=\(String(set.registers[top], radix: 2)) slots=\(String(set.slots[top], radix: 16))\n" }
        guard let owner = segmentOwner else { return }
        backtrack(set, depth: st.frames.count, from: owner.pc == pc ? nil : previousPC, node: owner)
        if strong && hasMayGoto {
            markingStrong = true
            backtrack(set, depth: st.frames.count, from: owner.pc == pc ? nil : previousPC, node: owner)
            markingStrong = false
        }
    }

    /// After a prune by `cp`: its strong marks become strong on this path too.
    func backtrackStrong(_ cp: Checkpoint, top: Int, live: UInt16, parent: Checkpoint, depth: Int) {
        guard hasMayGoto else { return }
        var strong = PrecisionSet(registers: cp.strongRegisters, slots: cp.strongSlots)
        strong.registers[top] &= live
        if strong.isEmpty { return }
        markingStrong = true
        backtrack(strong, depth: depth, from: previousPC, node: parent)
        markingStrong = false
    }

    /// Adds every scalar sharing an id with a scalar in the set (a range check on one refines
    /// all of them, so their values matter together).
    func expandLinked(_ set: inout PrecisionSet, in st: VerifierState) {
        var ids = SmallIDSet()
        var found = set
        st.frames.withUnsafeBufferPointer { frames in   // read in place (a copy retains each array)
            for f in 0..<frames.count {
                for r in 0..<11 where found.has(f, r) && frames[f].registers[r].kind == .scalar && frames[f].registers[r].id != 0 {
                    ids.insert(frames[f].registers[r].id)
                }
                let slots = found.slots[f]
                if slots == 0 { continue }
                for s in frames[f].spills.indices where slots & (1 << UInt64(s)) != 0 {
                    let spill = frames[f].spills.storage[s]
                    if spill.kind == .scalar && spill.id != 0 { ids.insert(spill.id) }
                }
            }
            if ids.isEmpty { return }
            for f in 0..<frames.count {
                for r in 0..<11 where frames[f].registers[r].kind == .scalar && frames[f].registers[r].id != 0
                    && ids.contains(frames[f].registers[r].id) {
                    found.add(f, r)
                }
                for s in frames[f].spills.indices {
                    let spill = frames[f].spills.storage[s]
                    if spill.kind == .scalar && spill.id != 0 && ids.contains(spill.id) { found.slots[f] |= 1 << UInt64(s) }
                }
            }
        }
        set = found
    }

    /// Walks back from a point on a path (the state of `depth` frames reached after executing
    /// `from`, or checkpoint `node` itself when `from` is nil) and marks what `set` depends on
    /// precise in `node` and its ancestors.
    func backtrack(_ set: PrecisionSet, depth: Int, from: Int?, node: Checkpoint) {
        var set = set
        var depth = depth
        var from = from
        var node: Checkpoint? = node
        while let c = node {
            if let last = from {
                let segmentDepth = c.state.frames.count
                if !walkSegment(&set, last: last, pointDepth: depth, checkpoint: c) {
                    set = .everything
                }
                depth = segmentDepth
            }
            set = mark(c, set)
            if set.isEmpty || c.entryFrom < 0 { return }
            from = c.entryFrom
            node = c.parent
        }
    }

    /// Marks `set` (restricted to the checkpoint's scalars, widened to linked ones) precise in
    /// `c`; returns what was not precise there before.
    func mark(_ c: Checkpoint, _ set: PrecisionSet) -> PrecisionSet {
        // Nothing new at `c`: everything linked to those scalars was marked with them (a
        // checkpoint's state never changes), so the expansion would add nothing either.
        if unmarked(c, set).isEmpty { return PrecisionSet() }
        var set = set
        expandLinked(&set, in: c.state)
        let fresh = unmarked(c, set)
        for f in 0..<c.state.frames.count {
            if markingStrong {
                c.strongRegisters[f] |= fresh.registers[f]
                c.strongSlots[f] |= fresh.slots[f]
            } else {
                c.preciseRegisters[f] |= fresh.registers[f]
                c.preciseSlots[f] |= fresh.slots[f]
            }
        }
        return fresh
    }

    /// The scalars of `set` that `c` does not yet have marked (strong ones while `markingStrong`).
    private func unmarked(_ c: Checkpoint, _ set: PrecisionSet) -> PrecisionSet {
        var fresh = PrecisionSet()
        c.state.frames.withUnsafeBufferPointer { frames in   // read in place (a copy retains each array)
            for f in 0..<frames.count {
                var scalars: UInt16 = 0
                for r in 0..<11 where frames[f].registers[r].kind == .scalar { scalars |= 1 << UInt16(r) }
                let slotCount = frames[f].spills.count
                let slotBits: UInt64 = slotCount >= 64 ? ~0 : (UInt64(1) << UInt64(slotCount)) - 1
                if markingStrong {
                    fresh.registers[f] = set.registers[f] & scalars & ~c.strongRegisters[f]
                    fresh.slots[f] = set.slots[f] & slotBits & ~c.strongSlots[f]
                } else {
                    fresh.registers[f] = set.registers[f] & scalars & ~c.preciseRegisters[f]
                    fresh.slots[f] = set.slots[f] & slotBits & ~c.preciseSlots[f]
                }
            }
        }
        return fresh
    }

    /// Applies the instructions from `last` back to the checkpoint's own instruction, in reverse.
    /// `last` may change the frame depth (a call enters a function, an exit leaves one). Returns
    /// false if the instructions do not form the straight line the walk expects.
    func walkSegment(_ set: inout PrecisionSet, last: Int, pointDepth: Int, checkpoint c: Checkpoint) -> Bool {
        let depth = c.state.frames.count
        let top = depth - 1
        var pc = last
        let ins = insns[last]
        if pointDepth == depth + 1 {
            // `last` entered a function (a bpf-to-bpf call) or a callback (a helper call).
            guard ins.instructionClass == .jmp, ins.opcode & 0xf0 == JumpOperation.call.rawValue else { return false }
            if ins.src == CallKind.local.rawValue {
                set.registers[top] |= set.registers[depth] & 0b111110
            }
            set.registers[depth] = 0
            set.slots[depth] = 0
            if pc == c.pc { return true }
            pc = previous(pc)
        } else if pointDepth == depth - 1 {
            // `last` returned from the function of this segment to its caller.
            guard ins.opcode == Opcode.exit else { return false }
            let caller = pointDepth - 1
            if c.state.frames[top].isCallback {
                // A bpf_loop callback's run back at the call: the caller's registers are its own.
                set.registers[top] = 0
            } else {
                let r0 = set.has(caller, 0)
                set.remove(caller, 0)
                set.registers[top] = r0 ? 1 : 0
            }
            set.slots[top] = 0
            if pc == c.pc { return true }
            pc = previous(pc)
        } else if pointDepth != depth {
            return false
        }
        while true {
            guard pc >= c.pc else { return false }
            transfer(&set, pc, frame: top, accesses: c.stackAccesses)
            if pc == c.pc { return true }
            pc = previous(pc)
        }
    }

    func previous(_ pc: Int) -> Int {
        pc >= 2 && secondSlot[pc - 1] ? pc - 2 : pc - 1
    }

    /// One instruction in reverse: what its results depend on.
    func transfer(_ set: inout PrecisionSet, _ pc: Int, frame top: Int, accesses: [StackAccess]) {
        let ins = insns[pc]
        let d = Int(ins.dst), s = Int(ins.src)
        switch ins.instructionClass {
        case .alu, .alu64:
            guard set.has(top, d) else { return }
            let op = ins.opcode & 0xf0
            let fromRegister = ins.opcode & 0x08 != 0
            if op == ALUOperation.mov.rawValue {
                set.remove(top, d)
                if fromRegister { set.add(top, s) }
            } else if fromRegister && op != ALUOperation.end.rawValue && op != ALUOperation.neg.rawValue {
                set.add(top, s)
            }
        case .ld:
            if ins.opcode == Opcode.lddw {
                set.remove(top, d)
            } else {
                for r in 0...5 { set.remove(top, r) }
            }
        case .ldx:
            guard set.has(top, d) else { return }
            set.remove(top, d)
            if let a = accesses.first(where: { $0.pc == Int32(pc) }) {
                set.slots[Int(a.frame)] |= PrecisionSet.slotMask(offset: Int(a.offset), size: Int(a.size))
            }
        case .st, .stx:
            guard let a = accesses.first(where: { $0.pc == Int32(pc) }) else { return }
            let f = Int(a.frame)
            let mask = PrecisionSet.slotMask(offset: Int(a.offset), size: Int(a.size))
            guard set.slots[f] & mask != 0 else { return }
            let atomic = ins.opcode & 0xe0 == MemoryMode.atomic.rawValue
            if !atomic && a.size == 8 && Int(a.offset) % 8 == 0 { set.slots[f] &= ~mask }
            if ins.instructionClass == .stx { set.add(top, s) }
        case .jmp, .jmp32:
            if ins.opcode == Opcode.mayGoto { return }
            let op = JumpOperation(rawValue: ins.opcode & 0xf0)!
            switch op {
            case .call:
                for r in 0...5 { set.remove(top, r) }
            case .exit, .ja:
                break
            default:
                if ins.opcode & 0x08 != 0 && (set.has(top, d) || set.has(top, s)) {
                    set.add(top, d)
                    set.add(top, s)
                }
            }
        }
    }
}
