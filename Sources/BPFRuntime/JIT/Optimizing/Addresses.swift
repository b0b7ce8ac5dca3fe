extension OptPasses {
    /// A 64-bit constant added to a register inside a loop (`lddw r1, global; r1 += i`: a global's
    /// or a map value's address, which needs a 10-byte `movabs`) is loaded once, into a register of
    /// its own in the entry block; the loop's `t = K; t += x` becomes `t = c + x` (one `lea`, or folded
    /// into the access by ``foldAddresses(_:)``). At most two constants, each held in a register for
    /// the whole program.
    static func hoistWideConstants(_ p: inout OptProgram) {
        let order = p.reversePostOrder()
        var rpoIndex = [Int](repeating: -1, count: p.blocks.count)
        for (i, b) in order.enumerated() { rpoIndex[b] = i }
        // Blocks of a loop, approximately: from a header to the block jumping back to it, in order.
        var inLoop = [Bool](repeating: false, count: p.blocks.count)
        for (i, b) in order.enumerated() {
            for s in p.successors(b) where rpoIndex[s] >= 0 && rpoIndex[s] <= i {
                for j in rpoIndex[s]...i { inLoop[order[j]] = true }
            }
        }
        var hoisted: [UInt64: Int] = [:]
        for b in order where inLoop[b] && b != 0 {
            var ops = p.blocks[b].ops
            var i = 1
            while i < ops.count {
                let load = ops[i - 1], add = ops[i]
                if case .mov = load.kind, load.w, load.writes.isEmpty, let k = load.args[0].constant, !fitsImmediate(k, w: true),
                   case .alu(.add) = add.kind, add.w, add.writes.isEmpty, add.dst == load.dst, add.args[0] == .v(load.dst),
                   let x = add.args[1].register, x != load.dst {
                    var c = hoisted[k]
                    if c == nil, hoisted.count < 2 {
                        c = p.newRegister()
                        hoisted[k] = c
                        p.blocks[0].ops.append(OptOp(kind: .mov, dst: c!, args: [.k(k)], pc: load.pc))
                    }
                    if let c {
                        var merged = add
                        merged.args = [.v(c), .v(x)]
                        ops[i - 1] = merged
                        ops.remove(at: i)
                        continue
                    }
                }
                i += 1
            }
            p.blocks[b].ops = ops
        }
    }

    /// `t = a; t += x` (64-bit) becomes `t = a + x`, which the back end emits as one `lea` when t
    /// and a end up in different registers, and which ``foldAddresses(_:)`` may fold into an access.
    /// The copy's value has no other reader: the add redefines t right after it.
    static func formThreeAddressAdds(_ p: inout OptProgram) {
        for b in p.blocks.indices {
            var ops = p.blocks[b].ops
            var i = 1
            while i < ops.count {
                let copy = ops[i - 1], add = ops[i]
                if case .mov = copy.kind, copy.w, copy.writes.isEmpty, let a = copy.args[0].register, a != copy.dst,
                   case .alu(.add) = add.kind, add.w, add.writes.isEmpty, add.dst == copy.dst, add.args[0] == .v(copy.dst) {
                    var merged = add
                    merged.args[0] = .v(a)
                    if merged.args[1] == .v(copy.dst) { merged.args[1] = .v(a) }
                    ops[i - 1] = merged
                    ops.remove(at: i)
                    continue
                }
                i += 1
            }
            p.blocks[b].ops = ops
        }
    }

    /// Address arithmetic folded into the accesses that use it: `t = a + b` (or `t = a; t += b`)
    /// whose only uses are the bases of unchecked loads and stores later in the same block becomes
    /// the accesses' `[a + b + offset]` addressing (`t = a + k` moves k into their offsets), and the
    /// add is left dead. Only when neither a nor b is redefined before the last such access, and `t`
    /// is not read after it (nor live out of the block). Checked accesses keep their base register:
    /// their slow path hands it to the service.
    static func foldAddresses(_ p: inout OptProgram) {
        let liveness = OptLiveness(p)
        for b in p.blocks.indices {
            var ops = p.blocks[b].ops
            var i = 0
            while i < ops.count {
                defer { i += 1 }
                let add = ops[i]
                guard case .alu(.add) = add.kind, add.w, add.dst >= 0, add.writes.isEmpty, let t = add.args[0].register else { continue }
                // t = a + b, where a may be the copy just before: `t = a; t += b`.
                var a = t
                if t == add.dst {
                    guard i > 0, case .mov = ops[i - 1].kind, ops[i - 1].w, ops[i - 1].dst == t, let source = ops[i - 1].args[0].register,
                          source != t else { continue }
                    a = source
                }
                let addend = add.args[1]
                if let r = addend.register, r == add.dst { continue }
                let constant = addend.constant.map { Int64(bitPattern: $0) }
                if addend.register == nil && constant == nil { continue }
                // The uses of t after the add, up to its next definition; a and b must still hold
                // their values at each.
                var uses: [Int] = []
                var redefined = false, ok = true, operandsIntact = true
                for j in (i + 1)..<ops.count {
                    let op = ops[j]
                    if op.args.contains(.v(add.dst)) {
                        guard operandsIntact, Self.foldable(op), op.args[0] == .v(add.dst),
                              !op.args.dropFirst().contains(.v(add.dst)) else { ok = false; break }
                        if let k = constant, Int32(exactly: Int64(op.offset) + k) == nil { ok = false; break }
                        uses.append(j)
                    }
                    if op.defs.contains(add.dst) { redefined = true; break }
                    if op.defs.contains(a) || (addend.register.map { op.defs.contains($0) } ?? false) { operandsIntact = false }
                }
                guard ok, !uses.isEmpty else { continue }
                if !redefined && (p.blocks[b].terminator.uses.contains(.v(add.dst)) || OptLiveness.contains(liveness.liveOut[b], add.dst)) { continue }
                for u in uses {
                    if let k = constant {
                        ops[u].args[0] = .v(a)
                        ops[u].offset = Int32(Int64(ops[u].offset) + k)
                    } else {
                        ops[u].args[0] = .v(a)
                        ops[u].args.append(addend)
                        ops[u].indexed = true
                    }
                }
            }
            p.blocks[b].ops = ops
        }
    }

    /// A load or store whose address may be folded: unchecked, not already indexed.
    private static func foldable(_ op: OptOp) -> Bool {
        guard !op.checked, !op.mayBeVirtual, !op.indexed else { return false }
        switch op.kind {
        case .load, .store: return true
        default: return false
        }
    }
}
