/// Live registers per block, as bit sets over virtual registers.
struct OptLiveness {
    let words: Int
    var liveIn: [[UInt64]]
    var liveOut: [[UInt64]]

    init(_ p: OptProgram) {
        words = (p.registerCount + 63) / 64
        liveIn = Array(repeating: Array(repeating: 0, count: words), count: p.blocks.count)
        liveOut = liveIn
        let order = p.reversePostOrder()
        var changed = true
        while changed {
            changed = false
            for b in order.reversed() {
                var out = [UInt64](repeating: 0, count: words)
                for s in p.successors(b) { for i in 0..<words { out[i] |= liveIn[s][i] } }
                var live = out
                Self.transfer(p.blocks[b], &live)
                if live != liveIn[b] || out != liveOut[b] {
                    liveIn[b] = live
                    liveOut[b] = out
                    changed = true
                }
            }
        }
    }

    /// Live-out to live-in across a block.
    static func transfer(_ block: OptBlock, _ live: inout [UInt64]) {
        for v in block.terminator.uses { if let r = v.register { set(&live, r) } }
        for op in block.ops.reversed() { step(op, &live) }
    }

    /// Live after `op` to live before it.
    static func step(_ op: OptOp, _ live: inout [UInt64]) {
        // `op.defs` without building its array (this runs for every operation of every liveness).
        if op.dst >= 0 { clear(&live, op.dst) }
        for w in op.writes { clear(&live, w.vreg) }
        for a in op.args { if let r = a.register { set(&live, r) } }
    }

    static func set(_ s: inout [UInt64], _ r: Int) { s[r >> 6] |= 1 << UInt64(r & 63) }
    static func clear(_ s: inout [UInt64], _ r: Int) { s[r >> 6] &= ~(1 << UInt64(r & 63)) }
    static func contains(_ s: [UInt64], _ r: Int) -> Bool { s[r >> 6] & (1 << UInt64(r & 63)) != 0 }
}

/// The optimizing tier's passes, each over the whole program.
enum OptPasses {
    static func run(_ p: inout OptProgram) {
        propagateConstants(&p)
        reduceDivisions(&p)
        eliminateDeadCode(&p)
        unrollLoops(&p)
        mergeBlocks(&p)
        widenZeroExtendedMoves(&p)
        combineByteLoads(&p)
        eliminateDeadCode(&p)
        formSelects(&p)
        formJumpTables(&p)
        eliminateDeadCode(&p)
        hoistWideConstants(&p)
        formThreeAddressAdds(&p)
        foldAddresses(&p)
        eliminateDeadCode(&p)
    }

    // MARK: - Copies

    /// A 32-bit move of a register whose every definition already leaves the upper half zero (a
    /// 32-bit operation, a narrow unsigned load, ...) is a plain copy: it becomes a 64-bit move, which
    /// the register allocator then coalesces away.
    static func widenZeroExtendedMoves(_ p: inout OptProgram) {
        var narrow = [Bool](repeating: true, count: p.registerCount)
        let entry = OptLiveness(p).liveIn[0]
        for r in 0..<p.registerCount where OptLiveness.contains(entry, r) { narrow[r] = false }  // values from the frame at entry
        for block in p.blocks {
            for op in block.ops {
                for w in op.writes { narrow[w.vreg] = false }
                guard op.dst >= 0 else { continue }
                let zeroExtends: Bool
                switch op.kind {
                case .mov: zeroExtends = !op.w || (op.args[0].constant.map { $0 >> 32 == 0 } ?? false)
                case .alu(let alu): zeroExtends = !op.w || (alu == .and && (op.args[1].constant.map { $0 >> 31 == 0 } ?? false))
                case .neg: zeroExtends = !op.w
                case .load(let size, let signed): zeroExtends = size < 8 && !signed
                case .extend(let bits, let signed): zeroExtends = !signed ? bits <= 32 : !op.w
                case .swap(let bits): zeroExtends = bits <= 32
                default: zeroExtends = false
                }
                if !zeroExtends { narrow[op.dst] = false }
            }
        }
        for b in p.blocks.indices {
            for i in p.blocks[b].ops.indices {
                let op = p.blocks[b].ops[i]
                if case .mov = op.kind, !op.w, let source = op.args[0].register, narrow[source] {
                    p.blocks[b].ops[i].w = true
                }
            }
        }
    }

    // MARK: - Constants

    enum Lattice: Equatable { case unknown, constant(UInt64), varying }

    /// The constants known on entry to each block in `order` (nil: not reached), a forward
    /// data-flow to a fixed point; nil when there is none after 50 rounds.
    static func constantLattices(_ p: OptProgram, order: [Int]) -> [[Lattice]?]? {
        let n = p.registerCount
        var entry = [[Lattice]?](repeating: nil, count: p.blocks.count)
        entry[0] = Array(repeating: .varying, count: n)
        var changed = true
        var rounds = 0
        while changed && rounds < 50 {
            changed = false
            rounds += 1
            for b in order {
                guard var state = entry[b] else { continue }
                for op in p.blocks[b].ops { evaluate(op, &state) }
                for s in p.successors(b) {
                    if var existing = entry[s] {
                        var moved = false
                        for r in 0..<n where existing[r] != state[r] && existing[r] != .varying {
                            existing[r] = existing[r] == .unknown ? state[r] : (state[r] == .unknown ? existing[r] : .varying)
                            moved = true
                        }
                        if moved { entry[s] = existing; changed = true }
                    } else {
                        entry[s] = state
                        changed = true
                    }
                }
            }
        }
        return changed ? nil : entry
    }

    /// Global constant propagation over the blocks (a forward data-flow to a fixed point), then every
    /// constant use rewritten to an immediate, operations on constants folded, and branches on
    /// constants turned into jumps (so the paths they never take become unreachable).
    static func propagateConstants(_ p: inout OptProgram) {
        let order = p.reversePostOrder()
        // Not at a fixed point: nothing is known, nothing is rewritten.
        guard let entry = constantLattices(p, order: order) else { return }
        for b in order {
            guard var state = entry[b] else { continue }
            for i in p.blocks[b].ops.indices {
                var op = p.blocks[b].ops[i]
                var resolved = op
                for j in op.args.indices {
                    if let r = op.args[j].register, case .constant(let c) = state[r] {
                        resolved.args[j] = .k(c)
                        // A constant that needs a 64-bit immediate stays in its register (one load outside a loop).
                        if fitsImmediate(c, w: op.w) { op.args[j] = .k(c) }
                    }
                }
                if op.dst >= 0, op.writes.isEmpty, let folded = fold(resolved) {
                    op = OptOp(kind: .mov, dst: op.dst, args: [.k(folded)], pc: op.pc)
                }
                p.blocks[b].ops[i] = op
                evaluate(op, &state)
            }
            func resolve(_ v: OptValue) -> OptValue {
                if let r = v.register, case .constant(let c) = state[r] { return .k(c) }
                return v
            }
            switch p.blocks[b].terminator {
            case let .branch(cond, w, a, c, t, e):
                var x = resolve(a), y = resolve(c)
                if let kx = x.constant, let ky = y.constant {
                    p.blocks[b].terminator = .jump(cond.holds(kx, ky, w: w) ? t : e)
                    continue
                }
                if let k = x.constant, !fitsImmediate(k, w: w) { x = a }
                if let k = y.constant, !fitsImmediate(k, w: w) { y = c }
                if x.constant != nil && y.constant != nil {
                    p.blocks[b].terminator = .branch(cond, w: w, a, c, then: t, else: e)
                } else if x.constant != nil {
                    p.blocks[b].terminator = .branch(cond.swapped, w: w, y, x, then: t, else: e)
                } else {
                    p.blocks[b].terminator = .branch(cond, w: w, x, y, then: t, else: e)
                }
            case .exit(let v):
                p.blocks[b].terminator = .exit(resolve(v))
            default: break
            }
        }
    }

    /// Whether an operation can take `c` as an immediate (32 bits, sign-extended in 64-bit operations).
    static func fitsImmediate(_ c: UInt64, w: Bool) -> Bool { !w || Int32(exactly: Int64(bitPattern: c)) != nil }

    static func evaluate(_ op: OptOp, _ state: inout [Lattice]) {
        for w in op.writes { state[w.vreg] = .varying }
        guard op.dst >= 0 else { return }
        var resolved = op
        for j in resolved.args.indices {
            if let r = resolved.args[j].register, case .constant(let c) = state[r] { resolved.args[j] = .k(c) }
        }
        if op.writes.isEmpty, let value = fold(resolved) { state[op.dst] = .constant(value) } else { state[op.dst] = .varying }
    }

    /// The value of a pure operation on constants, with eBPF's rules.
    static func fold(_ op: OptOp) -> UInt64? {
        let w = op.w
        func narrow(_ v: UInt64) -> UInt64 { w ? v : v & 0xffff_ffff }
        switch op.kind {
        case .mov:
            guard let a = op.args[0].constant else { return nil }
            return narrow(a)
        case .neg:
            guard let a = op.args[0].constant else { return nil }
            return narrow(0 &- a)
        case .extend(let bits, let signed):
            guard let a = op.args[0].constant else { return nil }
            let mask: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) - 1
            var v = a & mask
            if signed && bits < 64 && v & (1 << UInt64(bits - 1)) != 0 { v |= ~mask }
            return narrow(v)
        case .alu(let alu):
            guard let a0 = op.args[0].constant, let b0 = op.args[1].constant else { return nil }
            let a = narrow(a0), b = narrow(b0)
            switch alu {
            case .add: return narrow(a &+ b)
            case .sub: return narrow(a &- b)
            case .mul: return narrow(a &* b)
            case .or: return a | b
            case .and: return a & b
            case .xor: return a ^ b
            case .shl: return narrow(a << (b & (w ? 63 : 31)))
            case .shr: return a >> (b & (w ? 63 : 31))
            case .sar:
                let s = b & (w ? 63 : 31)
                return w ? UInt64(bitPattern: Int64(bitPattern: a) >> s) : UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: a) >> Int32(s)))
            case .div: return b == 0 ? 0 : a / b
            case .mod: return b == 0 ? a : a % b
            default: return nil
            }
        default:
            return nil
        }
    }

    // MARK: - Division

    /// An unsigned division or modulo by a constant power of two becomes a shift or a mask (the
    /// same value, eBPF's rules included: the divisor is not zero).
    static func reduceDivisions(_ p: inout OptProgram) {
        for b in p.blocks.indices {
            for i in p.blocks[b].ops.indices {
                let op = p.blocks[b].ops[i]
                guard case .alu(let alu) = op.kind, alu == .div || alu == .mod, op.writes.isEmpty,
                      let k0 = op.args[1].constant else { continue }
                let k = op.w ? k0 : k0 & 0xffff_ffff
                guard k != 0, k & (k - 1) == 0 else { continue }
                p.blocks[b].ops[i].kind = .alu(alu == .div ? .shr : .and)
                p.blocks[b].ops[i].args[1] = .k(alu == .div ? UInt64(k.trailingZeroBitCount) : k - 1)
            }
        }
    }

    // MARK: - Dead code

    /// Removes pure operations whose results nothing reads, until none is left.
    static func eliminateDeadCode(_ p: inout OptProgram) {
        for _ in 0..<4 {
            let liveness = OptLiveness(p)
            var removed = false
            for b in p.reversePostOrder() {
                var live = liveness.liveOut[b]
                for v in p.blocks[b].terminator.uses { if let r = v.register { OptLiveness.set(&live, r) } }
                var kept: [OptOp] = []
                for op in p.blocks[b].ops.reversed() {
                    if op.isPure, op.dst >= 0, !OptLiveness.contains(live, op.dst) {
                        removed = true
                        continue
                    }
                    // A move to itself.
                    if case .mov = op.kind, op.w, op.args[0] == .v(op.dst) { removed = true; continue }
                    OptLiveness.step(op, &live)
                    kept.append(op)
                }
                p.blocks[b].ops = kept.reversed()
            }
            if !removed { return }
        }
    }

    // MARK: - Selects

    /// `if cond goto J; x = v; J:` (a block of one pure operation reached only from the branch)
    /// becomes `t = v; x = cond ? x : t` — a `cmov` instead of a branch the processor may mispredict.
    /// Not when the condition compares a loaded value (or a copy of one): the `cmov` would wait for
    /// the load, putting its latency on the path to the next iteration, where a predicted branch
    /// lets the processor run ahead (`jit_bsearch`: 1,110–1,130 ns with such selects, 595–609
    /// without, same session).
    static func formSelects(_ p: inout OptProgram) {
        var predecessors = [Int](repeating: 0, count: p.blocks.count)
        for b in p.reversePostOrder() { for s in p.successors(b) { predecessors[s] += 1 } }
        // Registers holding a loaded value, or a copy or extension of one.
        var loaded = [Bool](repeating: false, count: p.registerCount)
        var changed = true
        while changed {
            changed = false
            for block in p.blocks {
                for op in block.ops where op.dst >= 0 && op.dst < loaded.count && !loaded[op.dst] {
                    var fromLoad = false
                    switch op.kind {
                    case .load: fromLoad = true
                    case .mov, .extend: fromLoad = op.args.first?.register.map { loaded[$0] } ?? false
                    default: break
                    }
                    if fromLoad { loaded[op.dst] = true; changed = true }
                }
            }
        }
        for b in p.reversePostOrder() {
            guard case let .branch(cond, w, a, c, t, e) = p.blocks[b].terminator else { continue }
            if let r = a.register, r < loaded.count, loaded[r] { continue }
            if let r = c.register, r < loaded.count, loaded[r] { continue }
            // The side with the one operation, and where both meet.
            for (side, other, taken) in [(e, t, true), (t, e, false)] {
                let block = p.blocks[side]
                guard side != b, predecessors[side] == 1, block.ops.count == 1, case .jump(let join) = block.terminator, join == other else { continue }
                let op = block.ops[0]
                guard op.isPure, op.dst >= 0, op.writes.isEmpty else { continue }
                if case .alu(let alu) = op.kind, [.div, .sdiv, .mod, .smod].contains(alu) { continue }
                if case .select = op.kind { continue }
                let temporary = p.newRegister()
                var computed: OptOp? = op
                computed!.dst = temporary
                var chosen = OptValue.v(temporary)
                if case .mov = op.kind, op.w, let source = op.args[0].register, source != op.dst {
                    // A copy: select from its source.
                    chosen = .v(source)
                    computed = nil
                } else if case .mov = op.kind, let k = op.args[0].constant {
                    chosen = .k(op.w ? k : k & 0xffff_ffff)
                    computed = nil
                }
                // x = cond ? (taken: x, else t) — `taken` says whether the branch skips the operation.
                let select = OptOp(kind: .select(cond, cmpW: w), dst: op.dst,
                                   args: [a, c, taken ? .v(op.dst) : chosen, taken ? chosen : .v(op.dst)], pc: op.pc)
                if let computed { p.blocks[b].ops.append(computed) }
                p.blocks[b].ops.append(select)
                p.blocks[b].terminator = .jump(join)
                p.blocks[b].terminatorPC = block.terminatorPC
                break
            }
        }
    }
}
