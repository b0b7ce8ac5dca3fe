/// Where a virtual register lives: a machine register (by its number in ``OptRegisterAllocator/registers``'
/// target) or a stack slot.
enum OptLocation: Equatable {
    case register(Int)
    case slot(Int)
}

/// Graph-colouring register allocation over the program's virtual registers: an interference
/// graph from liveness, simplified Chaitin-style and coloured with every allocatable machine
/// register of the target, preferring a move's partner's register so moves disappear; what does
/// not fit goes to a stack slot. Target-neutral: colours are indices into the back end's list.
struct OptRegisterAllocator {
    let program: OptProgram
    let colors: Int
    /// Preferred colour per virtual register (the fixed mapping of eBPF r0–r10 of the first tier, so
    /// helper arguments need fewer moves), or -1.
    var preferred: [Int] = []

    init(program: OptProgram, colors: Int) {
        self.program = program
        self.colors = colors
    }

    func allocate() -> (locations: [OptLocation?], slots: Int) {
        let n = program.registerCount
        let liveness = OptLiveness(program)
        var adjacency = [Set<Int>](repeating: [], count: n)
        var moves = [[Int]](repeating: [], count: n)
        var used = [Bool](repeating: false, count: n)
        func interfere(_ a: Int, _ b: Int) {
            guard a != b else { return }
            adjacency[a].insert(b)
            adjacency[b].insert(a)
        }
        for b in program.reversePostOrder() {
            var live = liveness.liveOut[b]
            for v in program.blocks[b].terminator.uses { if let r = v.register { OptLiveness.set(&live, r); used[r] = true } }
            for op in program.blocks[b].ops.reversed() {
                var except = -1
                if case .mov = op.kind, let source = op.args[0].register {
                    // A 64-bit copy holds its source's value, so the two may share a register; a
                    // 32-bit one truncates it, so they interfere like any other definition.
                    if op.w { except = source }
                    moves[op.dst].append(source)
                    moves[source].append(op.dst)
                }
                let defs = op.defs
                for d in defs {
                    used[d] = true
                    for word in 0..<live.count where live[word] != 0 {
                        var bits = live[word]
                        while bits != 0 {
                            let r = word * 64 + bits.trailingZeroBitCount
                            bits &= bits - 1
                            if r != except { interfere(d, r) }
                        }
                    }
                    for e in defs { interfere(d, e) }
                }
                OptLiveness.step(op, &live)
                for a in op.args { if let r = a.register { used[r] = true } }
            }
            // Registers live into the entry are loaded together there.
            if b == 0 {
                var all: [Int] = []
                for r in 0..<n where OptLiveness.contains(live, r) { all.append(r); used[r] = true }
                for x in all { for y in all { interfere(x, y) } }
            }
        }
        // Simplify: repeatedly remove a node of degree < colours (else the one of highest degree,
        // which may spill); colour in the reverse order.
        var degree = adjacency.map(\.count)
        var removed = [Bool](repeating: false, count: n)
        var stack: [Int] = []
        var remaining = (0..<n).filter { used[$0] }
        for r in 0..<n where !used[r] { removed[r] = true }
        while !remaining.isEmpty {
            var pick = -1
            for r in remaining where degree[r] < colors { pick = r; break }
            if pick < 0 { pick = remaining.max(by: { degree[$0] < degree[$1] })! }
            removed[pick] = true
            stack.append(pick)
            for m in adjacency[pick] where !removed[m] { degree[m] -= 1 }
            remaining.removeAll { $0 == pick }
        }
        var locations = [OptLocation?](repeating: nil, count: n)
        var slots = 0
        while let r = stack.popLast() {
            var taken = [Bool](repeating: false, count: colors)
            for m in adjacency[r] { if case .register(let c)? = locations[m] { taken[c] = true } }
            var choice = -1
            for partner in moves[r] { if case .register(let c)? = locations[partner], !taken[c] { choice = c; break } }
            if choice < 0, r < preferred.count, preferred[r] >= 0, !taken[preferred[r]] { choice = preferred[r] }
            if choice < 0 { choice = taken.firstIndex(of: false) ?? -1 }
            if choice >= 0 {
                locations[r] = .register(choice)
            } else {
                locations[r] = .slot(slots)
                slots += 1
            }
        }
        return (locations, slots)
    }
}
