import BPFCore
import BPFObject

// Open-coded iterators (`bpf_for`, `bpf_repeat`, `bpf_iter_num_*`, `bpf_iter_task_*`...): a
// `struct bpf_iter_X` on the stack, created by `bpf_iter_X_new`, advanced by `bpf_iter_X_next` (an
// element, or NULL once the iteration is over) and released by `bpf_iter_X_destroy`, as the kernel's
// `process_iter_arg` and `process_iter_next_call` check them:
//
// - `new` takes uninitialized stack of the iterator's size at a constant offset; the slots then hold
//   the iterator (not readable or writable directly) and it is a reference: it must be destroyed on
//   every path, and only a created iterator is advanced or destroyed.
// - `next` forks: one path gets NULL (the loop ends); the other an element (`int *` for numbers: 4
//   read-only bytes; a typed kernel pointer for kernel objects) with the frame's loop depth one
//   higher. The kernel trusts iterators to end; their loops converge as `may_goto` loops do
//   (`MayGoto.swift`): the element path is widened against the previous visit of the same `next`,
//   and a state an earlier visit (at a lower depth) contains is pruned.
extension Analysis {
    /// `bpf_iter_X_new|next|destroy`, split: (X, the operation), or nil for another name.
    static func iteratorCall(_ name: String) -> (type: String, operation: Substring)? {
        guard name.hasPrefix("bpf_iter_") else { return nil }
        for operation in ["_new", "_next", "_destroy"] where name.hasSuffix(operation) {
            let type = name.dropFirst("bpf_iter_".count).dropLast(operation.count)
            guard !type.isEmpty else { return nil }
            return (String(type), operation.dropFirst())
        }
        return nil
    }

    /// Whether the call at `pc` advances an iterator (its loop converges there).
    func isIteratorNext(_ pc: Int) -> Bool {
        guard insns[pc].opcode == Opcode.call, insns[pc].src == CallKind.kfunc.rawValue, let name = program.kfuncs[pc] else { return false }
        return Analysis.iteratorCall(name)?.operation == "next"
    }

    /// Checks an iterator kfunc call; for `next`, forks the element path (returned true: the caller
    /// continues with the NULL path).
    func iteratorCall(_ st: inout VerifierState, _ pc: Int, name: String, type: String, operation: Substring,
                      parent: Checkpoint?) throws(VerifierError) {
        guard let btf = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program calls kfunc '\(name)', whose prototype is in the kernel's BTF, which the verifier was not given")
        }
        guard let function = btf.typeID(named: name, kind: .function), let f = btf[function],
              let proto = btf[f.referencedType], case .parameters(let declared) = proto.detail, !declared.isEmpty else {
            throw fail(.invalidProgram, pc, "kfunc '\(name)' is not in the kernel's BTF",
                       "the kernel refuses to load a program calling a kfunc it does not have", state: st)
        }
        let parameters = Self.named(declared, kfunc: name)
        guard let structID = btf.typeID(named: "bpf_iter_" + type, kind: .structure), let size = try? btf.size(of: structID), size > 0 else {
            throw fail(.undecided, pc, "cannot decide: the kernel's BTF has no struct bpf_iter_\(type) for \(name)")
        }
        let slots = (size + 7) / 8
        let r1 = st[1]
        guard r1.kind == .stack, let v = r1.value.constantValue else {
            throw fail(.helperArgument, pc, "argument 1 of \(name) must be a struct bpf_iter_\(type) on the stack at a constant offset, but R1 is \(r1.describe(maps: maps))",
                       state: st, registers: [1])
        }
        let offset = r1.offset + Int(Int64(bitPattern: v))
        guard offset % 8 == 0, offset >= -512, offset + slots * 8 <= 0 else {
            throw fail(.outOfBounds, pc, "the struct bpf_iter_\(type) at fp\(offset) (\(size) bytes) must be 8-byte aligned inside the stack frame",
                       state: st, registers: [1])
        }
        let f1 = r1.frame
        let existing = st.frames[f1].spill(at: offset)
        let held = existing?.kind == .iterator && existing?.btfType == structID ? existing : nil
        if operation == "new" {
            if held != nil {
                throw fail(.helperArgument, pc, "\(name) on the struct bpf_iter_\(type) at fp\(offset), which already holds an iterator",
                           "destroy it with bpf_iter_\(type)_destroy first", state: st, registers: [1])
            }
            // The other arguments, as any kfunc's (numbers, typed pointers...).
            _ = try checkKfuncArguments(&st, pc, name: name, parameters: parameters, flags: KfuncFlags.of(name) ?? [], btf: btf, from: 1)
            var it = Register()
            it.kind = .iterator
            it.btfType = structID
            it.id = freshID()
            it.referenceID = it.id
            it.origin = pc
            for s in 0..<slots {
                try writeStack(&st, pc, frame: f1, offset: offset + s * 8, size: 8, value: it)
            }
            let sub = st.frames[f1].subprogram
            stackDepth[sub] = max(stackDepth[sub], -offset)
            noteFastcallDepth(sub, -offset)
            st.references.append(Reference(id: it.id, instruction: pc, helper: 0))
            for r in 1...5 { st[r] = .uninitialized }
            st[0] = .unknownScalar
            return
        }
        guard let iterator = held else {
            throw fail(.helperArgument, pc, "\(name) needs the iterator bpf_iter_\(type)_new created at fp\(offset), but there is none",
                       "create it with bpf_iter_\(type)_new (bpf_for, bpf_repeat) first", state: st, registers: [1])
        }
        if operation == "destroy" {
            st.references.removeAll { $0.id == iterator.referenceID }
            noteStackWrite(st, frame: f1, lo: offset, end: offset + slots * 8)
            for s in 0..<slots {
                st.frames[f1].setSpill(at: offset + s * 8, nil)
                for i in 0..<8 { st.frames[f1].setByte(offset + s * 8 + i, .invalid) }
            }
            for r in 0...5 { st[r] = .uninitialized }
            return
        }
        // next: on a drained iterator, NULL again (no fork, as the kernel's process_iter_next_call).
        if iterator.iteratorDrained {
            for r in 1...5 { st[r] = .uninitialized }
            st[0] = .scalar(.constant(0))
            return
        }
        // next: the element path (forked) and the end (this path, which drains the iterator).
        var element = st
        for r in 1...5 { element[r] = .uninitialized }
        let top = element.frames.count - 1
        element.frames[top].mayGotoDepth += 1
        var r0 = Register()
        let returnType = btf.resolve(proto.referencedType)
        if let t = btf[returnType], t.kind == .pointer, let target = btf[btf.resolve(t.referencedType)] {
            if target.kind == .structure || target.kind == .union {
                r0.kind = .kernelPointer
                r0.btfType = btf.resolve(t.referencedType)
                r0.kernelFlags = .trusted
            } else {
                r0.kind = .memory
                r0.size = (try? btf.size(of: btf.resolve(t.referencedType))) ?? 0
                r0.readOnly = true
            }
        } else {
            throw fail(.undecided, pc, "cannot decide: \(name) returns \(btf.typeName(proto.referencedType))")
        }
        element[0] = r0
        if let previous = previousVisit(of: pc, depth: element.frames.count, from: parent) {
            widen(&element, against: previous)
        }
        fork(element, at: pc + 1, parent: parent)
        var drained = iterator
        drained.iteratorDrained = true
        for s in 0..<slots where st.frames[f1].spill(at: offset + s * 8)?.kind == .iterator {
            st.frames[f1].spills[Frame.slot(offset + s * 8)] = drained
        }
        for r in 1...5 { st[r] = .uninitialized }
        st[0] = .scalar(.constant(0))
    }

    /// Whether the iterator whose pointer R1 holds (at an iterator's `next`) is still active: its
    /// loop converges only then (the kernel's `is_state_visited` checks `BPF_ITER_STATE_ACTIVE`).
    func iteratorActive(_ st: VerifierState) -> Bool {
        let r1 = st[1]
        guard r1.kind == .stack, let v = r1.value.constantValue, r1.frame < st.frames.count else { return false }
        let offset = r1.offset + Int(Int64(bitPattern: v))
        guard offset < 0, offset >= -512, let it = st.frames[r1.frame].spill(at: offset), it.kind == .iterator else { return false }
        return !it.iteratorDrained
    }
}

extension Register {
    /// An iterator's state (`BPF_ITER_STATE_DRAINED` once a `next` returned NULL: every later
    /// `next` returns NULL too, without forking). Kept in `frame`, which iterators do not
    /// otherwise use, so pruning compares it (`regsafe` compares `iter.state`).
    var iteratorDrained: Bool {
        get { frame == 1 }
        set { frame = newValue ? 1 : 0 }
    }
}
