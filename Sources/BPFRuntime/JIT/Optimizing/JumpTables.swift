extension OptPasses {
    /// Dense switches become jump tables: a tree of blocks that do nothing but compare the same
    /// register with constants (clang's lowering of `switch` for BPF, which has no indirect jump)
    /// is replaced by one bounds check and an indirect jump through a table of its targets. The
    /// target of each value is found by running the tree on it, so the table means exactly what
    /// the compares meant. Values past the table take the tree's way for them: known when the
    /// register is masked to the table's range, or when every compare is unsigned.
    static func formJumpTables(_ p: inout OptProgram) {
        var predecessors = [Int](repeating: 0, count: p.blocks.count)
        for b in p.reversePostOrder() { for s in p.successors(b) { predecessors[s] += 1 } }
        // Registers defined once, by an `and` with a small constant: their range is [0, mask].
        var definitions = [Int](repeating: 0, count: p.registerCount)
        var mask = [UInt64?](repeating: nil, count: p.registerCount)
        for block in p.blocks {
            for op in block.ops {
                for d in op.defs { definitions[d] += 1 }
                if case .alu(.and) = op.kind, op.dst >= 0, let k = op.args[1].constant, k < 256 { mask[op.dst] = k }
            }
        }
        for b in p.reversePostOrder() {
            guard case let .branch(_, w, .v(x), .k, _, _) = p.blocks[b].terminator else { continue }
            // The tree: blocks reached only from it, empty, branching on x against a constant.
            var region: Set<Int> = [b]
            var work = [b]
            while let r = work.popLast() {
                for s in p.successors(r) where !region.contains(s) && predecessors[s] == 1 && p.blocks[s].ops.isEmpty {
                    if case let .branch(_, w2, .v(x2), .k, _, _) = p.blocks[s].terminator, x2 == x, w2 == w {
                        region.insert(s)
                        work.append(s)
                    }
                }
            }
            guard region.count >= 3 else { continue }
            var conditions: [OptCond] = []
            var largest: UInt64 = 0
            for r in region {
                if case let .branch(cond, _, _, .k(k), _, _) = p.blocks[r].terminator {
                    conditions.append(cond)
                    largest = max(largest, w ? k : k & 0xffff_ffff)
                }
            }
            func walk(_ value: UInt64) -> Int {
                var current = b
                while true {
                    guard case let .branch(cond, w, _, .k(k), t, e) = p.blocks[current].terminator else { return current }
                    let next = cond.holds(value, k, w: w) ? t : e
                    if !region.contains(next) || next == b { return next }
                    current = next
                }
            }
            let count: Int
            var otherwise: Int?
            // The range the head block's last definition of x gives it.
            var local: UInt64?
            if let last = p.blocks[b].ops.last(where: { $0.defs.contains(x) }) {
                if case .alu(.and) = last.kind, last.dst == x, let k = last.args[1].constant, k < 256 { local = k }
            }
            if let m = local ?? (definitions[x] == 1 ? mask[x] : nil) {
                count = Int(m) + 1
            } else if largest < 256, conditions.allSatisfy({ [.eq, .ne, .gt, .ge, .lt, .le].contains($0) }) {
                count = Int(largest) + 1
                otherwise = walk(largest + 1)
            } else {
                continue
            }
            let targets = (0..<count).map { walk(UInt64($0)) }
            guard Set(targets).count >= 3 else { continue }
            p.blocks[b].terminator = .table(.v(x), w: w, targets: targets, otherwise: otherwise ?? targets[0])
        }
    }
}
