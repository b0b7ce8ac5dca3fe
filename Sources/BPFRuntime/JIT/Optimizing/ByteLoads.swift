extension OptPasses {
    /// Bytes of a value built from single-byte loads: position (byte of the value) → offset from
    /// the snapshot register `base`.
    private struct ByteExpression {
        var base: Int
        var bytes: [Int: Int32]
    }

    /// Byte loads recombined into wide loads: a value built, within one block, by OR-ing single-byte
    /// loads shifted into place (`p[0] << 24 | p[1] << 16 | ...`) becomes one 2-, 4- or 8-byte load,
    /// byte-swapped when the bytes were in network order. Only in verified code, where each byte was
    /// proven in bounds (so the wide load is too) and loads are not checked; a store or a call in
    /// between ends the pattern. The base register is copied where the first byte is loaded
    /// (the copy is dead, and removed, when nothing combines).
    static func combineByteLoads(_ p: inout OptProgram) {
        guard p.verified else { return }
        for b in p.blocks.indices {
            var out: [OptOp] = []
            var expressions: [Int: ByteExpression] = [:]
            var snapshots: [Int: Int] = [:]  // base register → its copy, until the base is redefined
            for var op in p.blocks[b].ops {
                var made: ByteExpression?
                switch op.kind {
                case .load(1, false) where !op.checked:
                    if let base = op.args[0].register {
                        let snapshot: Int
                        if let s = snapshots[base] { snapshot = s } else {
                            snapshot = p.newRegister()
                            snapshots[base] = snapshot
                            out.append(OptOp(kind: .mov, dst: snapshot, args: [.v(base)], pc: op.pc))
                        }
                        made = ByteExpression(base: snapshot, bytes: [0: op.offset])
                    }
                case .mov:
                    if let r = op.args[0].register, let e = expressions[r], op.w || e.bytes.keys.allSatisfy({ $0 < 4 }) { made = e }
                case .alu(.shl):
                    if let r = op.args[0].register, var e = expressions[r], let c = op.args[1].constant, c % 8 == 0 {
                        let shift = Int(c / 8), width = op.w ? 8 : 4
                        if e.bytes.keys.allSatisfy({ $0 + shift < width }) {
                            e.bytes = Dictionary(uniqueKeysWithValues: e.bytes.map { ($0.key + shift, $0.value) })
                            made = e
                        }
                    }
                case .alu(.or):
                    if let x = op.args[0].register, let y = op.args[1].register, let e1 = expressions[x], let e2 = expressions[y],
                       e1.base == e2.base, Set(e1.bytes.keys).isDisjoint(with: e2.bytes.keys) {
                        let e = ByteExpression(base: e1.base, bytes: e1.bytes.merging(e2.bytes) { a, _ in a })
                        if op.w || e.bytes.keys.allSatisfy({ $0 < 4 }) { made = e }
                    }
                case .store, .atomic, .service, .directCall, .zeroFrame:
                    expressions.removeAll()
                default:
                    break
                }
                // A complete 2-, 4- or 8-byte value: one load (and a swap).
                if let e = made, case .alu(.or) = op.kind, [2, 4, 8].contains(e.bytes.count), e.bytes.keys.max()! == e.bytes.count - 1 {
                    let n = e.bytes.count
                    let low = e.bytes.values.min()!
                    let little = (0..<n).allSatisfy { e.bytes[$0] == low + Int32($0) }
                    let big = (0..<n).allSatisfy { e.bytes[$0] == low + Int32(n - 1 - $0) }
                    if little || big {
                        let dst = op.dst
                        out.append(OptOp(kind: .load(size: n, signed: false), dst: dst, args: [.v(e.base)], offset: low, pc: op.pc))
                        if big { out.append(OptOp(kind: .swap(bits: n * 8), dst: dst, args: [.v(dst)], pc: op.pc)) }
                        op = OptOp(kind: .mov, dst: dst, args: [.v(dst)], pc: op.pc)  // a no-op, removed as dead
                    }
                }
                for d in op.defs {
                    expressions[d] = nil
                    snapshots[d] = nil
                    // Expressions over a snapshot stay valid: the snapshot is never redefined.
                }
                if let made, op.dst >= 0 { expressions[op.dst] = made }
                if case .mov = op.kind, op.args[0] == .v(op.dst) { continue }
                out.append(op)
            }
            p.blocks[b].ops = out
        }
    }
}
