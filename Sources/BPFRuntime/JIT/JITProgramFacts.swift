import BPFCore

/// What every JIT back end learns from a program before emitting it: where its functions start
/// (bpf-to-bpf callees and the callbacks `lddw` names), where jumps land, whether it uses
/// `may_goto`, and how many bytes of each frame must be zeroed on entry.
struct JITProgramFacts {
    /// Each function's first instruction, every time the program names one, in order; `callback`:
    /// named by a `lddw` (entered by helpers such as `bpf_loop`), not by a call. Call targets are
    /// not range-checked here: each back end decides what an out-of-range one means.
    var functions: [(target: Int, callback: Bool)] = []
    /// Every instruction a jump, a call or a callback reference can reach.
    var jumpTargets = Set<Int>()
    var usesMayGoto = false
    /// Frame bytes to zero on entry: none for a verified program (it never reads stack it did not
    /// write), else as far down as the program can address (all 512 bytes when r10 escapes).
    var zeroBytes = 512

    init(slots: [Instruction], verified: Bool) {
        var minOffset = 0
        var escapes = false
        var i = 0
        while i < slots.count {
            let ins = slots[i]
            let cls = ins.opcode & 7
            if ins.opcode == 0x85 && ins.src == 1 {
                let target = i + 1 + Int(ins.imm)
                functions.append((target, false))
                jumpTargets.insert(target)
            } else if ins.opcode == 0x18, i + 1 < slots.count,
                      let target = JITCompiler.callbackTarget(UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: slots[i + 1].imm)) << 32),
                      target < slots.count {
                functions.append((target, true))
                jumpTargets.insert(target)
            } else if cls == 5 || cls == 6, ins.opcode != 0x85, ins.opcode != 0x8d, ins.opcode != 0x95 {
                jumpTargets.insert(i + 1 + (ins.opcode == 0x06 ? Int(ins.imm) : Int(ins.offset)))
            }
            if ins.opcode == Opcode.mayGoto { usesMayGoto = true }
            // r10 used other than as the base of a load or store makes every frame fully addressable.
            switch cls {
            case 1: if ins.src == 10 { minOffset = min(minOffset, Int(ins.offset)) }
            case 2, 3: if ins.dst == 10 { minOffset = min(minOffset, Int(ins.offset)) }
                if cls == 3 && ins.src == 10 { escapes = true }
            case 4, 5, 6, 7:
                if ins.opcode & 8 != 0 && ins.src == 10 { escapes = true }
                if ins.dst == 10 && ins.opcode != 0x85 && ins.opcode != 0x95 && ins.opcode != 0x05 && ins.opcode != 0x06 { escapes = true }
            case 0: if ins.opcode >= 0x40 && ins.opcode != 0x18 && ins.src == 10 { escapes = true }
            default: break
            }
            i += ins.opcode == 0x18 ? 2 : 1
        }
        zeroBytes = verified ? 0 : escapes ? 512 : min(512, ((-minOffset) + 15) / 16 * 16)
    }
}
