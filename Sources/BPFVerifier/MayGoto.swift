import BPFCore

// `may_goto` (BPF_JMP | BPF_JCOND, src BPF_MAY_GOTO): a jump taken once the call frame's loop
// budget is spent. Either outcome is possible wherever it is reached, so both are explored, as the
// kernel does: the jump first, and the fall-through (one more unit of budget spent, the frame's
// `mayGotoDepth` one higher) later.
//
// A loop that ends only through `may_goto` (`while (can_loop)`, `cond_break`) would be explored
// iteration by iteration up to the complexity limit. It converges instead, as in the kernel:
//
// - Widening. The fall-through state of each visit is compared with the state of the previous
//   visit of the same `may_goto` on the path (same frame): a scalar that changed and is not precise
//   there becomes unknown. Loop counters whose values decide nothing stop changing after a visit or
//   two. Our precision also covers scalars added to pointers (the kernel tracks those through the
//   pointer's own range instead and does not mark them), so here only the *strong* marks count
//   (`Checkpoint.strongRegisters`: a branch decided, a helper argument...), as the kernel's
//   precision does. Widening only loses information, so it is always sound.
// - Convergence. A state at a `may_goto` that an earlier visit of it on the same path, in the same
//   frame and at a lower `mayGotoDepth`, contains — every scalar's range, precise or not — needs no
//   exploring: what follows it is what follows that visit, which is being explored. The depth
//   difference means the loop spent budget on the way round, so it cannot run forever; a path that
//   comes back through the jump (the budget spent) with the same depth and state is still an
//   infinite loop, as in the kernel.
// - Precision marks of the states on a converged path (and above it) may then miss what the rest
//   of the loop will need, so those states prune only states they contain entirely (`exact`), and
//   so does every path pruned by one of them (the kernel compares such states exactly until the
//   loop is done).
extension Analysis {
    /// Earlier visits a state at a `may_goto` is compared with for convergence (the newest first).
    static let mayGotoConvergenceWindow = 8

    static var allRegisters: SIMD8<UInt16> { SIMD8(repeating: 0x7ff) }
    static var allSlots: SIMD8<UInt64> { SIMD8(repeating: ~0) }

    func mayGoto(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction, _ parent: Checkpoint?) -> StepResult {
        var fall = st
        let top = fall.frames.count - 1
        fall.frames[top].mayGotoDepth += 1
        if let previous = previousVisit(of: pc, depth: fall.frames.count, from: parent) {
            widen(&fall, against: previous)
        }
        fork(fall, at: pc + 1, parent: parent)
        return .next(pc + 1 + Int(ins.offset))
    }

    /// Walks the path up from `start` through the states of the current invocation of the frame
    /// at `depth` (stopping where the path entered it), calling `body` with each state at `pc`.
    func forEachVisit(of pc: Int, depth: Int, from start: Checkpoint?, _ body: (Checkpoint) -> Bool) {
        var node = start
        while let c = node {
            let count = c.state.frames.count
            if count < depth { return }
            if c.pc == pc && count == depth && !body(c) { return }
            node = c.parent
        }
    }

    /// The previous visit of the `may_goto` at `pc` on this path, in the same frame (the current
    /// visit's own state, `parent`, excluded).
    func previousVisit(of pc: Int, depth: Int, from parent: Checkpoint?) -> Checkpoint? {
        var found: Checkpoint?
        let start = parent?.pc == pc ? parent?.parent : parent
        forEachVisit(of: pc, depth: depth, from: start) { c in
            found = c
            return false
        }
        return found
    }

    /// Forgets the scalars (registers, spills, 4-byte stores) that changed since `previous` and
    /// decided nothing there.
    /// `callbackRun` (a bpf_loop callback's return, CallbackLoops.swift): every precise mark
    /// counts, as the kernel marks a scalar added to a pointer precise.
    func widen(_ cur: inout VerifierState, against previous: Checkpoint, callbackRun: Bool = false) {
        let old = previous.state
        for f in cur.frames.indices where f < old.frames.count {
            let preciseRegisters = callbackRun ? previous.preciseRegisters[f] : previous.strongRegisters[f]
            let preciseSlots = callbackRun ? previous.preciseSlots[f] : previous.strongSlots[f]
            for r in 0..<10 where preciseRegisters & (1 << UInt16(r)) == 0 {
                let o = old.frames[f].registers[r], c = cur.frames[f].registers[r]
                guard o.kind == .scalar, c.kind == .scalar, o.value != c.value else { continue }
                cur.frames[f].registers[r] = .scalar(.unknown)
            }
            let oldFrame = old.frames[f]
            for s in cur.frames[f].spills.indices where s < oldFrame.spills.count && s < 64 && preciseSlots & (1 << UInt64(s)) == 0 {
                guard let o = oldFrame.spills[s], o.kind == .scalar, let c = cur.frames[f].spills[s], c.kind == .scalar,
                      o.value != c.value else { continue }
                cur.frames[f].spills[s] = .scalar(.unknown)
            }
            for u in cur.frames[f].narrow.indices where u < oldFrame.narrow.count && u / 2 < 64 && preciseSlots & (1 << UInt64(u / 2)) == 0 {
                guard let o = oldFrame.narrow[u], let c = cur.frames[f].narrow[u], o != c else { continue }
                cur.frames[f].narrow[u] = .unsigned(0, UInt64(UInt32.max))
            }
        }
    }

    /// An earlier visit of the `may_goto` at `pc` on this path, in the same frame and at a lower
    /// depth, whose state contains `st` entirely (every scalar's range, precise or not).
    func convergedLoop(_ st: VerifierState, _ pc: Int, _ parent: Checkpoint?, live: UInt16) -> Checkpoint? {
        let depth = st.frames.count
        let mayGotoDepth = st.frames[depth - 1].mayGotoDepth
        var found: Checkpoint?
        var compared = 0
        forEachVisit(of: pc, depth: depth, from: parent) { c in
            guard c.state.frames[depth - 1].mayGotoDepth < mayGotoDepth else { return true }
            if c.state.subsumes(st, live: live, preciseRegisters: Analysis.allRegisters, preciseSlots: Analysis.allSlots, lockMaps: lockMaps) {
                found = c
                return false
            }
            compared += 1
            return compared < Analysis.mayGotoConvergenceWindow
        }
        return found
    }

    /// Marks `node` and every state above it as pruning only states they contain entirely. A
    /// marked state's ancestors are all marked already, so the walk stops at the first one.
    func markLoopDependent(_ node: Checkpoint) {
        var c: Checkpoint? = node
        while let n = c, !n.exact {
            n.exact = true
            c = n.parent
        }
    }
}
