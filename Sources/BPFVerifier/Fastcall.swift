import BPFCore
import BPFObject

// bpf_fastcall (the kernel's `mark_fastcall_patterns`, `check_fastcall_stack_contract`,
// `remove_fastcall_spills_fills`): a call that clobbers only R0 and its arguments may be wrapped by
// clang in spills and fills of the other caller-saved registers,
//
//     *(u64 *)(r10 - Y) = rX      ...      call f      ...      rX = *(u64 *)(r10 - Y)
//
// pairs at the same distance before and after the call, at offsets going up from the lowest 8-byte
// stack store of the function. Where the kernel inlines the callee (bpf_get_smp_processor_id on
// x86-64 in the tracing types, the bpf_cast_to_kern_ctx and bpf_rdonly_cast kfuncs) it removes those spills and fills,
// and the function's stack depth becomes what lies above them — unless another instruction of the
// function reaches that region, or a pattern wraps a call the kernel does not inline. Only the
// depth changes: the spills and fills are verified as written.
struct FastcallPatterns {
    /// Per instruction: a spill or fill of a pattern.
    var pattern: [Bool] = []
    /// Per function (by first instruction): the offset above its patterns' slots (0 when they
    /// reach fp-8; `Int.max`: no pattern), whether they must stay, and the deepest stack byte an
    /// instruction outside the patterns reaches.
    var stackOff: [Int] = []
    var keep: [Bool] = []
    var otherDepth: [Int] = []
}

extension Analysis {
    /// The registers a call clobbers under the bpf_fastcall contract (R0 unless void, and its
    /// arguments), and whether the kernel inlines it; nil for calls it does not summarize.
    func fastcallSummary(_ pc: Int) -> (clobbered: UInt16, inlined: Bool)? {
        let ins = insns[pc]
        if ins.src == CallKind.kfunc.rawValue {
            switch program.kfuncs[pc] {
            case "bpf_cast_to_kern_ctx": return (0b11, true)
            case "bpf_rdonly_cast": return (0b111, true)
            default: return nil
            }
        }
        guard ins.src == 0 else { return nil }
        // The registers the call clobbers: r0 unless it returns nothing, and its arguments.
        // (A bit set and a plain mask: no set or optional prototype to build on the first
        // verification of a process.)
        guard let shape = HelperPrototype.callShape(ins.imm) else { return nil }
        let mask = (shape.returnsVoid ? 0 : 1) | UInt16(((1 << shape.arguments) - 1) << 1)
        // bpf_get_smp_processor_id, inlined by the verifier on x86-64, is bpf_fastcall in the
        // tracing types' prototype (bpf_tracing_func_proto), not in the base one others get.
        let tracing = ProgramTypeSet(.kprobe, .tracepoint, .perfEvent, .rawTracepoint, .rawTracepointWritable, .tracing, .lsm, .structOps)
        return (mask, ins.imm == 8 && tracing.contains(program.type))
    }

    /// Finds the patterns of every function (before exploring: the stack contract needs them).
    func markFastcallPatterns() {
        // The arrays are made at the first pattern found; without one they stay empty (no
        // function's depth changes).
        var f = FastcallPatterns()
        let starts = subprograms.filter { $0 >= 0 && $0 < insns.count }
        func isSpill(_ i: Instruction) -> Bool { i.opcode == 0x7b && i.dst == 10 }   // stxdw [r10 + off]
        func isFill(_ i: Instruction) -> Bool { i.opcode == 0x79 && i.src == 10 }    // ldxdw rX, [r10 + off]
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : insns.count
            var lowest = 0
            for pc in start..<end where !secondSlot[pc] && isSpill(insns[pc]) { lowest = min(lowest, Int(insns[pc].offset)) }
            for pc in start..<end where !secondSlot[pc] && insns[pc].opcode == Opcode.call {
                guard let summary = fastcallSummary(pc) else { continue }
                var expected: UInt16 = ~summary.clobbered & 0b111111
                var off = lowest
                var i = 1
                while i <= 6 && pc - i >= 0 && pc + i < insns.count {
                    let stx = insns[pc - i], ldx = insns[pc + i]
                    guard isSpill(stx), isFill(ldx), stx.src == ldx.dst, expected & (1 << UInt16(stx.src)) != 0,
                          Int(stx.offset) == off, Int(ldx.offset) == off else { break }
                    if f.pattern.isEmpty {
                        f.pattern = [Bool](filled: false, count: insns.count)
                        f.stackOff = [Int](filled: Int.max, count: insns.count)
                        f.keep = [Bool](filled: false, count: insns.count)
                        f.otherDepth = [Int](filled: 0, count: insns.count)
                    }
                    expected &= ~(1 << UInt16(stx.src))
                    f.pattern[pc - i] = true
                    f.pattern[pc + i] = true
                    i += 1
                    off += 8
                }
                if i == 1 { continue }
                if !summary.inlined { f.keep[start] = true }
                f.stackOff[start] = min(f.stackOff[start], off)
            }
        }
        fastcall = f
    }

    /// A stack access reaching `depth` bytes below the frame of the function at `sub`, by the
    /// instruction being executed.
    func noteFastcallDepth(_ sub: Int, _ depth: Int) {
        guard !fastcall.pattern.isEmpty, !fastcall.pattern[currentPC] else { return }
        fastcall.otherDepth[sub] = max(fastcall.otherDepth[sub], depth)
    }

    /// The stack depth of the function at `sub` once the kernel removed its patterns' spills and
    /// fills (its depth as verified when they stay).
    func depthAfterFastcall(_ sub: Int) -> Int {
        guard !fastcall.stackOff.isEmpty else { return stackDepth[sub] }
        let off = fastcall.stackOff[sub]
        guard off != Int.max, !fastcall.keep[sub], fastcall.otherDepth[sub] <= -off else { return stackDepth[sub] }
        return min(stackDepth[sub], -off)
    }
}
