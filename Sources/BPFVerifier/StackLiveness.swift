import BPFCore

// Stack liveness, as the kernel's verifier kept it before Linux 6.18's static analysis
// (`mark_reg_read` on stack slots, `REG_LIVE_READ`, `propagate_liveness`; 6.18 computes the same
// facts ahead of time): a stored state compares only the stack slots its future reads before
// writing them. A slot some later instruction overwrites whole before any read, or never touches,
// holds nothing the rest of the program depends on, so two states that differ only there are the
// same state for what follows.
//
// Each read of stack bytes (a load, an atomic, a helper, kfunc or global function reading memory)
// marks its 8-byte slots read in the checkpoints of the path, walking up from the reading point
// until a store of the whole slot (8 bytes at the slot's start, by a store instruction) on the way
// screens it, or the checkpoint where the slot's frame was entered. When a state is pruned, the
// slots the pruning state's future reads are read by this path's future too, and are marked from
// the prune point.
//
// The marks of a checkpoint are complete once every path below it has ended (it is then in the
// explored list, the only states that prune with them). States whose marks may miss reads of a
// loop that converged (`Checkpoint.exact`, MayGoto.swift) compare every slot. Slots where either
// state holds an iterator or a dynptr are always compared (the kfuncs and helpers that use them
// read their slots directly, and writes over them are refused or destroy them). A callback's write
// to its caller's stack reads the slot too (it is refused where the caller keeps a pointer).
extension Analysis {
    /// Marks the slots of frame `f` that `offset..<offset+size` touches as read at the
    /// instruction being executed (`pc`).
    func markStackRead(frame f: Int, offset: Int, size: Int, pc: Int) {
        guard let owner = segmentOwner else { return }
        markStackRead(frame: f, mask: PrecisionSet.slotMask(offset: offset, size: max(size, 1)), from: owner, before: pc)
    }

    /// Marks slots `mask` of frame `f` read by a point of the path whose latest checkpoint is
    /// `node`, reached after executing the instructions of `node`'s segment below `end`
    /// (`end` excluded).
    func markStackRead(frame f: Int, mask: UInt64, from node: Checkpoint, before end: Int) {
        var mask = mask
        var c = node
        var last = end - 1
        while mask != 0 {
            guard c.depth > f, mask & ~c.liveSlots[f] != 0 else { return }
            mask &= ~screenedSlots(c, frame: f, through: last)
            let fresh = mask & ~c.liveSlots[f]
            if fresh == 0 { return }
            c.liveSlots[f] |= fresh
            mask = fresh
            // The checkpoint at the function's entry: the frame did not exist before it.
            if c.depth == f + 1 && c.entryFrom >= 0
                && c.state.frames.withUnsafeBufferPointer({ c.entryFrom == $0[f].callSite && c.pc == $0[f].subprogram }) { return }
            guard let parent = c.parent, c.entryFrom >= 0 else { return }
            last = c.entryFrom
            c = parent
        }
    }

    /// The slots of frame `f` that a store in checkpoint `c`'s segment, up to instruction `last`,
    /// overwrites whole.
    func screenedSlots(_ c: Checkpoint, frame f: Int, through last: Int) -> UInt64 {
        // Every whole-slot store of the segment is at or before `last` (always so for a segment
        // that ended): the mask kept as they were recorded. A segment is a straight line of one
        // function, so its instructions are at or after `c.pc`.
        if last >= c.lastWholeStore && f < 8 { return c.wholeStores[f] }
        var screened: UInt64 = 0
        for a in c.stackAccesses where Int(a.frame) == f && a.size == 8 && a.offset % 8 == 0 && Int(a.pc) >= c.pc && Int(a.pc) <= last {
            guard isWholeSlotStore(Int(a.pc)) else { continue }
            screened |= PrecisionSet.slotMask(offset: Int(a.offset), size: 8)
        }
        return screened
    }

    /// Whether instruction `pc` is an 8-byte store (so at a constant offset, an access covers
    /// exactly its 8 bytes).
    func isWholeSlotStore(_ pc: Int) -> Bool {
        let ins = insns[pc]
        return (ins.instructionClass == .st || ins.instructionClass == .stx) && ins.opcode & 0xe0 == MemoryMode.memory.rawValue
            && MemorySize(rawValue: ins.opcode & 0x18)?.bytes == 8
    }

    /// After a prune by `cp`: what its future reads, this path's future reads.
    func propagateStackReads(_ cp: Checkpoint, frames: Int, parent: Checkpoint) {
        for f in 0..<min(frames, 8) where cp.liveSlots[f] != 0 {
            markStackRead(frame: f, mask: cp.liveSlots[f], from: parent, before: previousPC + 1)
        }
    }
}
