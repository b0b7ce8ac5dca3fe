extension OptPasses {
    /// The most operations a fully unrolled loop may have (its trip count times its body).
    static let fullUnrollLimit = 512
    /// The most operations a partially unrolled loop body may have (the copies together).
    static let partialUnrollLimit = 128
    /// The most operations unrolling may add to a program.
    static let unrollGrowthLimit = 4_096
    /// The most iterations a loop's trip count is computed for.
    static let maxSimulatedTrips = 4_096

    /// A natural loop: its header, its one latch (the block jumping back) and its blocks.
    struct OptLoop {
        var header: Int
        var latch: Int
        var blocks: [Int]
    }

    /// Immediate dominators (Cooper, Harvey and Kennedy's iteration over reverse post-order);
    /// -1 for unreachable blocks, the entry its own.
    static func dominators(_ p: OptProgram, order: [Int]) -> [Int] {
        var rpoIndex = [Int](repeating: -1, count: p.blocks.count)
        for (i, b) in order.enumerated() { rpoIndex[b] = i }
        var predecessors = [[Int]](repeating: [], count: p.blocks.count)
        for b in order { for s in p.successors(b) { predecessors[s].append(b) } }
        var idom = [Int](repeating: -1, count: p.blocks.count)
        guard let entry = order.first else { return idom }
        idom[entry] = entry
        var changed = true
        while changed {
            changed = false
            for b in order.dropFirst() {
                var new = -1
                for q in predecessors[b] where idom[q] >= 0 {
                    if new < 0 { new = q; continue }
                    var x = q, y = new
                    while x != y {
                        while rpoIndex[x] > rpoIndex[y] { x = idom[x] }
                        while rpoIndex[y] > rpoIndex[x] { y = idom[y] }
                    }
                    new = x
                }
                if new >= 0 && idom[b] != new { idom[b] = new; changed = true }
            }
        }
        return idom
    }

    /// The natural loops with one back edge (a latch whose successor dominates it).
    static func naturalLoops(_ p: OptProgram) -> [OptLoop] {
        let order = p.reversePostOrder()
        let idom = dominators(p, order: order)
        func dominates(_ a: Int, _ b: Int) -> Bool {
            var x = b
            while true {
                if x == a { return true }
                let up = idom[x]
                if up < 0 || up == x { return false }
                x = up
            }
        }
        var predecessors = [[Int]](repeating: [], count: p.blocks.count)
        for b in order { for s in p.successors(b) { predecessors[s].append(b) } }
        var latches: [Int: [Int]] = [:]
        for b in order { for s in p.successors(b) where dominates(s, b) { latches[s, default: []].append(b) } }
        var loops: [OptLoop] = []
        for (header, from) in latches.sorted(by: { $0.key < $1.key }) where from.count == 1 {
            var body: Set<Int> = [header]
            var work = [from[0]]
            while let b = work.popLast() {
                if body.insert(b).inserted { work.append(contentsOf: predecessors[b]) }
            }
            loops.append(OptLoop(header: header, latch: from[0], blocks: body.sorted()))
        }
        return loops
    }

    /// Constants known on entry to each block (nil: not reached), as ``propagateConstants(_:)``
    /// finds them.
    static func constantsOnEntry(_ p: OptProgram) -> [[UInt64?]?] {
        // Not at a fixed point after 50 rounds: nothing is known.
        guard let entry = constantLattices(p, order: p.reversePostOrder()) else {
            return [[UInt64?]?](repeating: nil, count: p.blocks.count)
        }
        return entry.map { state in
            state.map { $0.map { if case .constant(let c) = $0 { c } else { nil } } }
        }
    }

    /// Loops of verified programs whose trip count is a constant are unrolled: fully when the
    /// copies stay small (the induction variable then becomes a constant in each copy, so strided
    /// accesses get constant offsets and the loop's compare and jump go away), else by 2, 4 or 8
    /// when that divides the trip count (one compare and jump per group of iterations).
    ///
    /// The trip count is found by running the loop's exit condition: the registers it reads and,
    /// transitively, those the operations defining them read, must all be defined in the loop only
    /// by pure operations in its header or its latch (which run once per iteration), and hold
    /// constants on entry. Other ways out of the loop (a `break`) stay in every copy: a copy left
    /// early leaves the unrolled loop as the iteration left the loop. Such a loop is only unrolled
    /// fully: partly unrolled, with its check per copy, it ran slower (`jit_checksum` 141–142 ns
    /// by the loop, 149–158 by 4 or 8, same build and session). Innermost loops first;
    /// an outer loop whose inner loops were fully unrolled may follow. Verified code only: an
    /// unverified loop spends the run's budget on its back edge, and the verifier has proven that a
    /// verified one ends.
    static func unrollLoops(_ p: inout OptProgram) {
        guard p.verified else { return }
        var grown = 0
        for _ in 0..<3 {
            var unrolled = false
            let loops = naturalLoops(p)
            let constants = constantsOnEntry(p)
            let headers = Set(loops.map(\.header))
            // Plans first, on this round's program (innermost loops are disjoint, and unrolling one
            // only appends blocks and rewrites its own), then the unrolling.
            var plans: [(loop: OptLoop, copies: Int, full: Bool, exit: Int)] = []
            for loop in loops {
                // Innermost: no other header inside.
                guard !loop.blocks.contains(where: { $0 != loop.header && headers.contains($0) }) else { continue }
                guard let plan = unrollPlan(p, loop, constants: constants) else { continue }
                let size = loop.blocks.reduce(0) { $0 + p.blocks[$1].ops.count + 1 }
                let copies: Int
                if plan.trips * size <= fullUnrollLimit {
                    copies = plan.trips
                } else if !plan.sideExits, let u = [8, 4, 2].first(where: { plan.trips % $0 == 0 && $0 * size <= partialUnrollLimit }) {
                    copies = u
                } else {
                    continue
                }
                guard copies > 1 || plan.trips == 1 else { continue }
                guard grown + (copies - 1) * size <= unrollGrowthLimit else { continue }
                grown += (copies - 1) * size
                plans.append((loop, copies, copies == plan.trips, plan.exit))
            }
            for plan in plans {
                unroll(&p, plan.loop, copies: plan.copies, full: plan.full, exit: plan.exit)
                unrolled = true
            }
            if !unrolled { break }
            propagateConstants(&p)
            eliminateDeadCode(&p)
            mergeBlocks(&p)
        }
    }

    /// The trip count of `loop` (how many times its body runs) and its exit block, when the loop
    /// qualifies for unrolling.
    static func unrollPlan(_ p: OptProgram, _ loop: OptLoop, constants: [[UInt64?]?]) -> (trips: Int, exit: Int, sideExits: Bool)? {
        let inLoop = Set(loop.blocks)
        guard loop.header != 0, !inLoop.contains(0) else { return nil }
        guard case let .branch(cond, w, a, b, then, otherwise) = p.blocks[loop.latch].terminator else { return nil }
        let continues = then == loop.header
        let exit = continues ? otherwise : then
        guard (then == loop.header) != (otherwise == loop.header), !inLoop.contains(exit) else { return nil }
        // The exit condition's slice.
        var slice = Set<Int>()
        var work = [a, b].compactMap(\.register)
        var sliceOps: Set<[Int]> = []
        while let r = work.popLast() {
            guard slice.insert(r).inserted else { continue }
            for blockIndex in loop.blocks {
                for (i, op) in p.blocks[blockIndex].ops.enumerated() where op.defs.contains(r) {
                    guard blockIndex == loop.header || blockIndex == loop.latch, op.writes.isEmpty, op.dst == r else { return nil }
                    switch op.kind {
                    case .mov, .alu, .neg, .extend: break
                    default: return nil
                    }
                    sliceOps.insert([blockIndex, i])
                    work.append(contentsOf: op.args.compactMap(\.register))
                }
            }
        }
        // Values on entry, from outside the loop: the same constants on every way in.
        var predecessors: [Int] = []
        for blockIndex in p.reversePostOrder() where !inLoop.contains(blockIndex) && p.successors(blockIndex).contains(loop.header) {
            predecessors.append(blockIndex)
        }
        guard !predecessors.isEmpty else { return nil }
        var state: [Int: UInt64] = [:]
        for (n, q) in predecessors.enumerated() {
            guard let known = constants[q] else { return nil }
            var lattice: [Lattice] = known.map { $0.map { .constant($0) } ?? .varying }
            for op in p.blocks[q].ops { evaluate(op, &lattice) }
            for r in slice {
                let value: UInt64? = if case .constant(let c) = lattice[r] { c } else { nil }
                if n == 0 {
                    if let value { state[r] = value }
                } else if state[r] != value {
                    state[r] = nil
                }
            }
        }
        // Run the slice, iteration by iteration.
        let ordered = (loop.header == loop.latch ? [loop.header] : [loop.header, loop.latch]).flatMap { blockIndex in
            p.blocks[blockIndex].ops.indices.filter { sliceOps.contains([blockIndex, $0]) }.map { p.blocks[blockIndex].ops[$0] }
        }
        func value(_ v: OptValue) -> UInt64? {
            switch v {
            case .k(let c): c
            case .v(let r): state[r]
            }
        }
        var trips = 0
        while trips < maxSimulatedTrips {
            trips += 1
            for op in ordered {
                var resolved = op
                for j in resolved.args.indices {
                    guard let c = value(resolved.args[j]) else { return nil }
                    resolved.args[j] = .k(c)
                }
                guard let folded = fold(resolved) else { return nil }
                state[op.dst] = folded
            }
            guard let x = value(a), let y = value(b) else { return nil }
            if cond.holds(x, y, w: w) != continues {
                let sideExits = loop.blocks.contains { b in
                    if b == loop.latch { return false }
                    switch p.blocks[b].terminator {
                    case .exit, .fail: return true
                    default: return p.blocks[b].terminator.successors.contains { !inLoop.contains($0) }
                    }
                }
                return (trips, exit, sideExits)
            }
        }
        return nil
    }

    /// Replaces `loop` by `copies` copies of its blocks, in sequence: each copy's latch jumps to
    /// the next copy's header; the last one's branches back to the first copy (or, `full`, jumps
    /// to `exit`). The copies keep the virtual registers (the form is not SSA).
    static func unroll(_ p: inout OptProgram, _ loop: OptLoop, copies: Int, full: Bool, exit: Int) {
        var maps: [[Int: Int]] = [Dictionary(uniqueKeysWithValues: loop.blocks.map { ($0, $0) })]
        for _ in 1..<max(copies, 1) {
            var map: [Int: Int] = [:]
            for b in loop.blocks {
                map[b] = p.blocks.count
                p.blocks.append(p.blocks[b])
            }
            maps.append(map)
        }
        func remap(_ t: OptTerminator, _ map: [Int: Int]) -> OptTerminator {
            func m(_ b: Int) -> Int { map[b] ?? b }
            switch t {
            case .jump(let b): return .jump(m(b))
            case let .branch(c, w, x, y, then, e): return .branch(c, w: w, x, y, then: m(then), else: m(e))
            case let .table(v, w, targets, otherwise): return .table(v, w: w, targets: targets.map(m), otherwise: m(otherwise))
            default: return t
            }
        }
        for (k, map) in maps.enumerated() where k > 0 {
            for b in loop.blocks where b != loop.latch {
                p.blocks[map[b]!].terminator = remap(p.blocks[b].terminator, map)
            }
        }
        let latchTerminator = p.blocks[loop.latch].terminator
        for (k, map) in maps.enumerated() {
            let latch = map[loop.latch]!
            if k + 1 < maps.count {
                p.blocks[latch].terminator = .jump(maps[k + 1][loop.header]!)
            } else if full {
                p.blocks[latch].terminator = .jump(exit)
            } else {
                // Back to the first copy's header, or out.
                p.blocks[latch].terminator = latchTerminator
            }
        }
    }

    /// A block ending in a jump to a block that nothing else reaches takes that block's operations
    /// and terminator (the other is left unreachable), so that passes working within blocks see
    /// the longer stretch.
    static func mergeBlocks(_ p: inout OptProgram) {
        var changed = true
        while changed {
            changed = false
            var predecessors = [Int](repeating: 0, count: p.blocks.count)
            for b in p.reversePostOrder() { for s in p.successors(b) { predecessors[s] += 1 } }
            for b in p.reversePostOrder() {
                while case .jump(let s) = p.blocks[b].terminator, s != b, s != 0, predecessors[s] == 1 {
                    p.blocks[b].ops.append(contentsOf: p.blocks[s].ops)
                    p.blocks[b].terminator = p.blocks[s].terminator
                    p.blocks[b].terminatorPC = p.blocks[s].terminatorPC
                    p.blocks[s].ops = []
                    p.blocks[s].terminator = .exit(.k(0))
                    predecessors[s] = 0
                    changed = true
                }
            }
        }
    }
}
