import BPFCore

// `bpf_loop(nr_loops, callback, ctx, flags)`: its callback is explored run by run, as the kernel
// does it (`check_helper_call`'s BPF_FUNC_loop case, `push_callback_call`, `prepare_func_exit`,
// `is_state_visited`'s `calls_callback` rule):
//
// - At the call, R1 becomes precise. If the calling frame has started fewer callback runs than
//   R1's maximum (`callbackDepth`, the kernel's `callback_depth`), a run of the callback is queued
//   with that count one higher; the path after the helper (the loop ending after the runs so far)
//   goes on first, with the count back at 0.
// - The callback's exit returns to the call instruction itself, with everything the run changed
//   in its callers' stacks: the helper is called again, which queues the next run and goes on
//   after the helper with the state after this one. So a caller's counter that each run
//   increments is known exactly after 0, 1, 2... runs (`bpf_loop(1, ...)` leaves it at 1).
// - Widening: on that return, a scalar (register, spill or 4-byte store, in the callers' frames)
//   that changed since the previous visit of the call on this path and decided nothing there
//   becomes unknown (the kernel's `widen_imprecise_scalars`; every precise mark counts, a scalar
//   added to a pointer too, as the kernel marks it). A 4-byte store off the 8-byte grid keeps no
//   value, as in the kernel (Memory.swift, `writeStack`): a bound kept there would stop the runs
//   from converging (xdp_synproxy's option offset).
// - Convergence: a state at the call that an earlier visit of it on this path, in the same
//   frame, contains (every scalar's range, precise or not) needs no exploring: what follows is what
//   follows that visit, which is being explored. The exact infinite-loop check is not made there.
//   The states of the runs between the two visits then prune only states they contain entirely
//   (`markCallbackRunsDependent`).
// - A state at the call is pruned by a finished one only if that one had started no more runs
//   in any frame (it then explored at least as many more).
//
// Other helpers with callbacks (`bpf_for_each_map_elem`...) keep the write-set model
// (Calls.swift, `startCallback`).
extension Analysis {
    static let loopHelper: Int32 = 181

    /// Whether the instruction at `pc` calls `bpf_loop`.
    func isLoopCall(_ pc: Int) -> Bool {
        let ins = insns[pc]
        return ins.opcode == Opcode.call && ins.src == 0 && ins.imm == Analysis.loopHelper
    }

    /// `bpf_loop`'s callback run, `callbackState` its first state (its frame pushed): queued if
    /// the frame has started fewer runs than R1 allows; the path after the helper starts its
    /// count again.
    func startLoopCallback(_ st: inout VerifierState, _ pc: Int, callbackState: VerifierState, parent: Checkpoint?) {
        needPrecise(st, pc, registers: [1])
        let top = st.frames.count - 1
        if UInt64(st.frames[top].callbackDepth) < st[1].value.umax {
            var run = callbackState
            run.frames[top].callbackDepth += 1
            fork(run, at: run.frames[top + 1].subprogram, parent: parent)
        }
        st.frames[top].callbackDepth = 0
    }

    /// The exit of a `bpf_loop` callback (checked already): back to the call, its frame gone,
    /// imprecise scalars that changed since the previous visit of the call widened.
    func loopCallbackReturn(_ st: inout VerifierState) -> StepResult {
        let callSite = st.current.callSite
        st.frames.removeLast()
        var previous: Checkpoint?
        forEachVisit(of: callSite, depth: st.frames.count, from: segmentOwner) { c in
            previous = c
            return false
        }
        if let previous { widen(&st, against: previous, callbackRun: true) }
        return .next(callSite)
    }

    /// An earlier visit of the `bpf_loop` call at `pc` on this path, in the same frame, whose
    /// state contains `st` entirely (every scalar's range, precise or not).
    func convergedCallbackLoop(_ st: VerifierState, _ pc: Int, _ parent: Checkpoint?, live: UInt16) -> Checkpoint? {
        var found: Checkpoint?
        var compared = 0
        forEachVisit(of: pc, depth: st.frames.count, from: parent) { c in
            if callbackRunsCover(c.state, st),
               c.state.subsumes(st, live: live, preciseRegisters: Analysis.allRegisters, preciseSlots: Analysis.allSlots, lockMaps: lockMaps) {
                found = c
                return false
            }
            compared += 1
            return compared < Analysis.mayGotoConvergenceWindow
        }
        return found
    }

    /// After a convergence at a `bpf_loop` call: the states of the runs between the earlier visit
    /// `header` and this point prune only states they contain entirely (their precision marks miss
    /// what the header's other paths will find; the header and the states above it get those
    /// marks as its exploration goes on). The kernel compares such states exactly while the
    /// loop's entry state is still being explored.
    func markCallbackRunsDependent(_ node: Checkpoint, below header: Checkpoint) {
        var c: Checkpoint? = node
        while let n = c, n !== header {
            n.exact = true
            c = n.parent
        }
    }

    /// Whether a finished state at a `bpf_loop` call may prune `cur` there: it had started no
    /// more callback runs than `cur` in any frame.
    func callbackRunsCover(_ old: VerifierState, _ cur: VerifierState) -> Bool {
        for f in old.frames.indices where f < cur.frames.count && old.frames[f].callbackDepth > cur.frames[f].callbackDepth {
            return false
        }
        return true
    }
}
