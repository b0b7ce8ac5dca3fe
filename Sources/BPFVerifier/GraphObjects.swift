import BPFCore
import BPFObject

// Allocated objects and graph collections, as Linux 6.18's verifier checks them:
//
// - `bpf_obj_new_impl(type_id__k, NULL)` allocates a struct of the program's own BTF: the result
//   (NULL-checked) is an *owning* reference the program must hand on (push it into a list or an
//   rbtree, store it with `bpf_kptr_xchg`) or drop (`bpf_obj_drop_impl`) on every path. Its fields
//   are read and written directly, except the special ones (`bpf_spin_lock`, `bpf_list_head`,
//   `bpf_list_node`, `bpf_rb_root`, `bpf_rb_node`, `bpf_refcount`, kptrs...).
// - A `bpf_list_head` or `bpf_rb_root` lives in a map value, global data (a `private(X)` section) or
//   an allocated object, next to the `bpf_spin_lock` that guards it; its BTF declaration tag
//   `contains:STRUCT:NODE` names what it holds. Every list/rbtree operation needs that lock held —
//   the lock of the same map value (the same lookup) or object.
// - Pushing (`bpf_list_push_*_impl`, `bpf_rbtree_add_impl`) takes an owning reference to the node's
//   struct and turns it into a *non-owning* one: still readable and writable while the lock is held,
//   gone (unknown scalars) when it is released. `bpf_list_pop_*` and `bpf_rbtree_remove` give owning
//   references back; `bpf_list_front`/`back`, `bpf_rbtree_first`/`root`/`left`/`right` non-owning ones.
// - `bpf_rbtree_add_impl`'s `less` is a callback verified with two non-owning node arguments,
//   returning 0 or 1.
// - `bpf_refcount_acquire_impl` gives a new owning reference to an object with a `bpf_refcount`.
//
// Allocated pointers are typed kernel pointers (`kernelPointer`) whose `btfType` is a type of the
// program's BTF (``VerifierProgram/programBTF``), flagged `allocated` (and `nonOwning`, `percpu`).

extension KernelPointerFlags {
    /// An object of the program's own BTF from `bpf_obj_new` (`MEM_ALLOC`): `btfType` is in the
    /// program's BTF.
    static let allocated = KernelPointerFlags(rawValue: 32)
    /// A non-owning reference to an allocated object in a list or rbtree (`NON_OWN_REF`): valid until
    /// the lock is released.
    static let nonOwning = KernelPointerFlags(rawValue: 64)
    /// An allocated object loaded from a kptr inside an RCU section that has ended
    /// (`MEM_ALLOC | PTR_UNTRUSTED`): the kernel refuses every access through it.
    static let rcuEnded = KernelPointerFlags(rawValue: 128)
}

/// A special field of a struct or map value of the program's BTF: what the program may only touch
/// through helpers and kfuncs.
struct GraphField: Hashable, Sendable {
    enum Kind: String, Sendable {
        case spinLock = "bpf_spin_lock", listHead = "bpf_list_head", listNode = "bpf_list_node"
        case rbRoot = "bpf_rb_root", rbNode = "bpf_rb_node", refcount = "bpf_refcount", kptr = "kptr", other
    }
    var kind: Kind
    var offset: Int
    var size: Int
    /// The field's struct name, for messages (`bpf_list_head`, `bpf_timer`...).
    var name: String
    /// For a list head or rb root: the struct it contains (`__contains(STRUCT, NODE)`) and its node's offset.
    var valueType = 0
    var nodeOffset = 0
    var contains = ""
    /// For a kptr: the struct it points to, in the program's BTF.
    var kptrTarget = 0
    /// For a kptr: which of the kernel's kinds its type tag declares.
    var kptrKind = KptrKind.referenced

    /// A kptr field's kind, by its type tag (the kernel's `btf_find_kptr`).
    enum KptrKind: String, Sendable {
        /// `__kptr` (`BPF_KPTR_REF`): holds a referenced object, moved in and out by `bpf_kptr_xchg`.
        case referenced = "kptr"
        /// `__kptr_untrusted` (`BPF_KPTR_UNREF`): a plain pointer the program stores and loads.
        case untrusted = "kptr_untrusted"
        /// `__percpu_kptr` (`BPF_KPTR_PERCPU`): a per-CPU object from `bpf_percpu_obj_new`.
        case percpu = "percpu_kptr"
        /// `__uptr` (`BPF_UPTR`): user memory pinned by the kernel (task storage only).
        case user = "uptr"
    }

    var isRoot: Bool { kind == .listHead || kind == .rbRoot }
}

/// The special fields of one struct or map value, and what is wrong with their declaration.
struct GraphRecord: Sendable {
    var fields: [GraphField] = []
    /// Why the kernel refuses the type (a `__contains` naming nothing, a head without a lock...).
    var problem: String?
    var spinLock: GraphField? { fields.first { $0.kind == .spinLock } }
    var hasRoots: Bool { fields.contains { $0.isRoot } }
    func field(at offset: Int) -> GraphField? { fields.first { $0.offset == offset } }
    func overlapping(_ lo: Int, _ hi: Int) -> GraphField? { fields.first { lo < $0.offset + $0.size && hi > $0.offset } }
}

/// The program's BTF read for graph objects: records by struct and by map, computed once.
final class GraphRecords {
    let btf: BTF?
    private var byType: [(Int, GraphRecord)] = []
    /// Per map, the record of its value: an index into `mapRecords`, -1 for none (most maps: an
    /// `[Int]` costs no run-time metadata, an array of optional records would).
    private var byMap: [Int]
    private var mapRecords: [GraphRecord] = []
    private var tags: [Int: [(component: Int32, value: String)]]?
    /// Per drop/refcount_acquire call instruction: the struct (with special fields; 0 for a plain
    /// one) it was first reached with. The kernel patches each such call for one type.
    var callTypes: [(pc: Int, type: Int)] = []

    init(btf: BTF?, maps: [MapSpec]) {
        self.btf = btf
        byMap = [Int](filled: -1, count: maps.count)
        guard btf != nil else { return }
        for m in maps.indices {
            guard let type = maps[m].valueType, let record = record(valueType: type) else { continue }
            byMap[m] = mapRecords.count
            mapRecords.append(record)
        }
    }

    /// The kind of a special struct by name (a switch, not a dictionary: no one-time set-up on the
    /// verifier's first program).
    static func specialStruct(_ name: String) -> GraphField.Kind? {
        switch name {
        case "bpf_spin_lock": .spinLock
        case "bpf_list_head": .listHead
        case "bpf_list_node": .listNode
        case "bpf_rb_root": .rbRoot
        case "bpf_rb_node": .rbNode
        case "bpf_refcount": .refcount
        case "bpf_timer", "bpf_wq", "bpf_res_spin_lock", "bpf_task_work": .other
        default: nil
        }
    }

    /// The record of map `m`'s value (nil: no BTF, or no special fields).
    func map(_ m: Int) -> GraphRecord? { m >= 0 && m < byMap.count && byMap[m] >= 0 ? mapRecords[byMap[m]] : nil }

    /// The record of struct `type` of the program's BTF.
    func type(_ type: Int) -> GraphRecord {
        if let found = byType.first(where: { $0.0 == type }) { return found.1 }
        var record = GraphRecord()
        collect(type, base: 0, into: &record, depth: 0)
        finish(&record)
        byType.append((type, record))
        return record
    }

    private func record(valueType: Int) -> GraphRecord? {
        guard let btf, let t = btf[btf.resolve(valueType)] else { return nil }
        var record = GraphRecord()
        if t.kind == .dataSection, case .variables(let vars) = t.detail {
            for v in vars {
                guard let variable = btf[v.type], variable.kind == .variable else { continue }
                add(member: variable.referencedType, offset: v.offset, tagTarget: v.type, component: -1, into: &record, depth: 0)
            }
        } else {
            collect(btf.resolve(valueType), base: 0, into: &record, depth: 0)
        }
        finish(&record)
        // The kernel records at most BTF_FIELDS_MAX (11) special fields of a map value; with more,
        // btf_parse_fields fails and the map is created with no record at all: its kptrs, locks
        // and timers are then plain bytes (and bpf_kptr_xchg finds no kptr there).
        if record.fields.filter({ $0.kind != .listNode && $0.kind != .rbNode }).count > Self.maxMapFields { return nil }
        return record.fields.isEmpty && record.problem == nil ? nil : record
    }

    /// The kernel's `BTF_FIELDS_MAX`.
    static let maxMapFields = 11

    private func collect(_ type: Int, base: Int, into record: inout GraphRecord, depth: Int) {
        guard let btf, depth < 8, let t = btf[type], case .members(let members) = t.detail else { return }
        for (i, m) in members.enumerated() where m.bitfieldSize == 0 {
            add(member: m.type, offset: base + m.bitOffset / 8, tagTarget: type, component: Int32(i), into: &record, depth: depth)
        }
    }

    private func add(member: Int, offset: Int, tagTarget: Int, component: Int32, into record: inout GraphRecord, depth: Int) {
        guard let btf else { return }
        let resolved = btf.resolve(member)
        guard let t = btf[resolved] else { return }
        let size = (try? btf.size(of: resolved)) ?? 0
        switch t.kind {
        case .structure where Self.specialStruct(t.name) != nil:
            var field = GraphField(kind: Self.specialStruct(t.name)!, offset: offset, size: size, name: t.name)
            if field.isRoot {
                guard let tag = contains(tagTarget, component) else {
                    record.problem = record.problem ?? "a \(t.name) at offset \(offset) has no __contains(struct, field) declaration tag"
                    break
                }
                let parts = tag.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 3, let value = btf.typeID(named: String(parts[1]), kind: .structure),
                      case .members(let members)? = btf[value]?.detail,
                      let node = members.first(where: { $0.name == parts[2] }) else {
                    record.problem = record.problem ?? "the \(t.name) at offset \(offset) contains '\(tag.dropFirst("contains:".count))', which the program's BTF does not define"
                    break
                }
                let nodeKind: String = field.kind == .listHead ? "bpf_list_node" : "bpf_rb_node"
                guard btf[btf.resolve(node.type)]?.name == nodeKind else {
                    record.problem = record.problem ?? "the \(t.name) at offset \(offset) contains struct \(parts[1]) by field '\(parts[2])', which is not a \(nodeKind)"
                    break
                }
                field.valueType = value
                field.nodeOffset = node.bitOffset / 8
                field.contains = String(parts[1])
            }
            record.fields.append(field)
        case .structure:
            collect(resolved, base: offset, into: &record, depth: depth + 1)
        case .array:
            // Arrays of heads, roots, kptrs or structs holding them: one field per element, sharing the tag.
            guard case let .array(element, _, count) = t.detail, count > 0, count <= 1024, depth < 8,
                  let elementSize = try? btf.size(of: element), elementSize > 0 else { break }
            let e = btf[btf.resolve(element)]
            guard e?.kind == .structure || e?.kind == .array || e?.kind == .pointer else { break }
            for i in 0..<count {
                add(member: element, offset: offset + i * elementSize, tagTarget: tagTarget, component: component, into: &record, depth: depth + 1)
            }
        case .pointer:
            // `struct foo __kptr *`: a pointer to a type tag "kptr", "kptr_untrusted" or "percpu_kptr".
            var target = t.referencedType
            var tag: GraphField.KptrKind?
            while let tt = btf[target], tt.kind == .typeTag || tt.kind == .const || tt.kind == .volatile {
                if tt.kind == .typeTag, let kind = GraphField.KptrKind(rawValue: tt.name) { tag = kind }
                target = tt.referencedType
            }
            if let tag {
                var field = GraphField(kind: .kptr, offset: offset, size: 8, name: tag.rawValue)
                field.kptrTarget = btf.resolve(target)
                field.kptrKind = tag
                record.fields.append(field)
            }
        default:
            break
        }
    }

    private func finish(_ record: inout GraphRecord) {
        func has(_ kind: GraphField.Kind) -> Bool { record.fields.contains { $0.kind == kind } }
        if has(.listNode) && has(.rbNode) && !has(.refcount) && record.problem == nil {
            // The kernel refuses such a struct in the object's BTF (btf_parse_fields).
            record.problem = "it is a node of both a list and an rbtree but has no struct bpf_refcount"
        }
        let locks = record.fields.filter { $0.kind == .spinLock }.count
        if record.hasRoots && locks != 1 && record.problem == nil {
            record.problem = locks == 0 ? "it holds a bpf_list_head or bpf_rb_root but no bpf_spin_lock"
                : "it holds \(locks) bpf_spin_locks (one guards its lists and rbtrees)"
        }
    }

    /// The `contains:...` declaration tag on member `component` of `target` (-1: the variable itself).
    private func contains(_ target: Int, _ component: Int32) -> String? {
        if tags == nil {
            var index: [Int: [(component: Int32, value: String)]] = [:]
            for t in btf?.types ?? [] where t.kind == .declTag && t.name.hasPrefix("contains:") {
                if case .componentIndex(let c) = t.detail { index[t.referencedType, default: []].append((c, t.name)) }
            }
            tags = index
        }
        return tags?[target]?.first { $0.component == component }?.value
    }
}

extension Analysis {
    /// The graph-object kfuncs this file checks.
    static func isGraphKfunc(_ name: String) -> Bool {
        switch name {
        case "bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl", "bpf_refcount_acquire_impl",
             "bpf_list_push_front_impl", "bpf_list_push_back_impl", "bpf_list_pop_front", "bpf_list_pop_back", "bpf_list_front",
             "bpf_list_back", "bpf_rbtree_add_impl", "bpf_rbtree_remove", "bpf_rbtree_first", "bpf_rbtree_root", "bpf_rbtree_left",
             "bpf_rbtree_right":
            true
        default: false
        }
    }

    /// The kfuncs the kernel lets a program call while it holds a bpf_spin_lock (`kfunc_spin_allowed`):
    /// the list, rbtree and refcount ones, and the number iterator's.
    static func isAllowedUnderLock(_ name: String) -> Bool {
        name.hasPrefix("bpf_list_") || name.hasPrefix("bpf_rbtree_") || name == "bpf_refcount_acquire_impl" || name.hasPrefix("bpf_iter_num_")
            || name.hasPrefix("bpf_res_spin_")
    }

    /// A struct of the program's BTF, for messages.
    func localTypeName(_ id: Int) -> String {
        guard let btf = program.programBTF, id != 0 else { return "an unknown type" }
        return btf.typeName(id)
    }

    /// A call to one of the graph-object kfuncs (``isGraphKfunc(_:)``).
    func graphCall(_ st: inout VerifierState, _ pc: Int, name: String, parent: Checkpoint?) throws(VerifierError) {
        guard let kernel = kernelBTF else {
            throw fail(.undecided, pc, "cannot decide: the program calls kfunc '\(name)', whose prototype is in the kernel's BTF, which the verifier was not given")
        }
        guard kernel.typeID(named: name, kind: .function) != nil else {
            throw fail(.invalidProgram, pc, "kfunc '\(name)' is not in the kernel's BTF",
                       "the kernel refuses to load a program calling a kfunc it does not have", state: st)
        }
        guard let btf = program.programBTF else {
            throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' works on types of the program's own BTF, which the verifier was not given")
        }
        if let lock = st.lock, !Self.isAllowedUnderLock(name) {
            throw fail(.lock, pc, "call to kfunc '\(name)' while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "only the list, rbtree and refcount kfuncs may be called while the lock is held", state: st)
        }
        if name.hasPrefix("bpf_list_") || name.hasPrefix("bpf_rbtree_") { try checkNotInRbtreeCallback(st, pc, name) }
        var r0 = Register.uninitialized
        switch name {
        case "bpf_obj_new_impl", "bpf_percpu_obj_new_impl":
            let percpu = name == "bpf_percpu_obj_new_impl"
            let r1 = st[1]
            guard r1.kind == .scalar, let id = r1.value.constantValue else {
                throw argumentError(st, pc, regno: 1, label: "argument 1 of \(name) ('local_type_id__k')", what: "a constant",
                                    hint: "pass bpf_core_type_id_local(struct ...) (the bpf_obj_new macro does)")
            }
            needPrecise(st, pc, registers: [1])
            guard id <= UInt64(UInt32.max) else {
                throw fail(.helperArgument, pc, "the local type id \(Int64(bitPattern: id)) passed to \(name) is not in [0, U32_MAX]", state: st, registers: [1])
            }
            guard let t = btf[Int(id)], t.kind == .structure else {
                throw fail(.helperArgument, pc, "\(name) allocates structs: type \(id) of the program's BTF is \(btf[Int(id)] == nil ? "not defined" : btf.typeName(Int(id)))",
                           state: st, registers: [1])
            }
            let record = graphRecords.type(Int(id))
            if let problem = record.problem {
                throw fail(.invalidProgram, pc, "\(btf.typeName(Int(id))) cannot be allocated: \(problem)", state: st, registers: [1])
            }
            if percpu {
                guard record.fields.isEmpty else {
                    throw fail(.helperArgument, pc, "\(name) allocates structs of scalars only; \(btf.typeName(Int(id))) has a \(record.fields[0].name)",
                               state: st, registers: [1])
                }
                guard t.sizeOrType <= 512 else {
                    throw fail(.helperArgument, pc, "\(name): \(btf.typeName(Int(id))) is \(t.sizeOrType) bytes, more than the 512 a per-CPU object may have",
                               state: st, registers: [1])
                }
            }
            r0.kind = .kernelPointerOrNull
            r0.btfType = Int(id)
            r0.kernelFlags = percpu ? [.trusted, .allocated, .percpu] : [.trusted, .allocated]
            r0.id = freshID()
            r0.referenceID = r0.id
            r0.origin = pc
            st.references.append(Reference(id: r0.id, instruction: pc, helper: 0))
        case "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl":
            let percpu = name == "bpf_percpu_obj_drop_impl"
            let r1 = try ownedObject(st, pc, regno: 1, name: name, percpu: percpu)
            guard r1.offset == 0, r1.value.constantValue == 0 else {
                throw fail(.helperArgument, pc, "R1 must point to the start of the object passed to \(name) (its offset is \(r1.offset))",
                           "drop the pointer bpf_obj_new returned (container_of a node pointer first)", state: st, registers: [1])
            }
            try checkOneTypePerCall(st, pc, name: name, type: r1.btfType)
            release(&st, r1.referenceID)
        case "bpf_refcount_acquire_impl":
            let r1 = st[1]
            if r1.kind == .kernelPointerOrNull {
                throw argumentError(st, pc, regno: 1, label: "argument 1 of \(name)", what: "", hint: nil)
            }
            guard r1.kind == .kernelPointer, r1.kernelFlags.contains(.allocated), r1.kernelFlags.isDisjoint(with: [.percpu, .untrusted]) else {
                throw argumentError(st, pc, regno: 1, label: "argument 1 of \(name)",
                                    what: "an owning or non-owning reference to an allocated object, or an RCU-protected one", hint: nil)
            }
            guard graphRecords.type(r1.btfType).fields.contains(where: { $0.kind == .refcount }) else {
                throw fail(.helperArgument, pc, "\(name): \(localTypeName(r1.btfType)) has no struct bpf_refcount field", state: st, registers: [1])
            }
            guard r1.offset == 0, r1.value.constantValue == 0 else {
                throw fail(.helperArgument, pc, "R1 must point to the start of the object passed to \(name) (its offset is \(r1.offset))", state: st, registers: [1])
            }
            try checkOneTypePerCall(st, pc, name: name, type: r1.btfType)
            r0 = r1
            // On an owning reference it cannot fail (the object is alive); on a non-owning one the
            // object may be on its way out: NULL then.
            r0.kind = r1.referenceID != 0 ? .kernelPointer : .kernelPointerOrNull
            r0.kernelFlags = [.trusted, .allocated]
            r0.id = freshID()
            r0.referenceID = r0.id
            r0.origin = pc
            st.references.append(Reference(id: r0.id, instruction: pc, helper: 0))
        case "bpf_list_push_front_impl", "bpf_list_push_back_impl", "bpf_rbtree_add_impl":
            let rb = name == "bpf_rbtree_add_impl"
            let root = try graphRoot(st, pc, regno: 1, name: name, kind: rb ? .rbRoot : .listHead)
            let node = try graphNode(st, pc, regno: 2, name: name, root: root, owning: true)
            if rb {
                let less = st[3]
                guard less.kind == .function else {
                    throw argumentError(st, pc, regno: 3, label: "argument 3 of \(name) ('less')", what: "a callback function", hint: nil)
                }
                try rbtreeLessCallback(&st, pc, target: less.frame, root: root, parent: parent)
            }
            // The owning reference goes into the collection: what pointed to the object is now a
            // non-owning reference, valid while the lock is held.
            let ref = node.referenceID
            st.references.removeAll { $0.id == ref }
            st.forEachRegister { r in
                if r.referenceID == ref && (r.kind == .kernelPointer || r.kind == .kernelPointerOrNull) {
                    r.referenceID = 0
                    r.kernelFlags.insert(.nonOwning)
                }
            }
            r0 = .unknownScalar
        case "bpf_list_pop_front", "bpf_list_pop_back", "bpf_list_front", "bpf_list_back", "bpf_rbtree_first", "bpf_rbtree_root":
            let root = try graphRoot(st, pc, regno: 1, name: name, kind: name.hasPrefix("bpf_list_") ? .listHead : .rbRoot)
            r0 = graphNodePointer(pc, root: root, owning: name.hasPrefix("bpf_list_pop_"))
            if r0.referenceID != 0 { st.references.append(Reference(id: r0.id, instruction: pc, helper: 0)) }
        case "bpf_rbtree_remove", "bpf_rbtree_left", "bpf_rbtree_right":
            let root = try graphRoot(st, pc, regno: 1, name: name, kind: .rbRoot)
            _ = try graphNode(st, pc, regno: 2, name: name, root: root, owning: false)
            r0 = graphNodePointer(pc, root: root, owning: name == "bpf_rbtree_remove")
            if r0.referenceID != 0 { st.references.append(Reference(id: r0.id, instruction: pc, helper: 0)) }
        default:
            throw fail(.undecided, pc, "cannot decide: kfunc '\(name)' is not modelled by this verifier yet")
        }
        for r in 1...5 { st[r] = .uninitialized }
        st[0] = r0
    }

    /// R`regno` as an owning reference to an allocated object (per-CPU or not), for drop.
    func ownedObject(_ st: VerifierState, _ pc: Int, regno: Int, name: String, percpu: Bool) throws(VerifierError) -> Register {
        let r = st[regno]
        let label = "argument \(regno) of \(name)"
        if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
        guard r.kind == .kernelPointer, r.kernelFlags.contains(.allocated), r.kernelFlags.contains(.percpu) == percpu else {
            throw argumentError(st, pc, regno: regno, label: label, what: percpu ? "a per-CPU object from bpf_percpu_obj_new" : "an object from bpf_obj_new",
                                hint: r.kind == .scalar ? "it was dropped, or pushed and the lock released" : nil)
        }
        guard r.referenceID != 0, !r.kernelFlags.contains(.nonOwning) else {
            throw argumentError(st, pc, regno: regno, label: label, what: "an object the program owns",
                                hint: "a node in a list or rbtree belongs to it: pop or remove it first")
        }
        return r
    }

    /// The kernel fixes each bpf_obj_drop/bpf_refcount_acquire call for one struct (its special
    /// fields): the same call reached with objects of different structs is refused.
    func checkOneTypePerCall(_ st: VerifierState, _ pc: Int, name: String, type: Int) throws(VerifierError) {
        let key = graphRecords.type(type).fields.isEmpty ? 0 : type
        if let previous = graphRecords.callTypes.first(where: { $0.pc == pc })?.type {
            guard previous == key else {
                throw fail(.helperArgument, pc, "this call to \(name) is reached with objects of different types (\(localTypeName(type)) here)",
                           "the kernel fixes each call for one type: inline the function that holds it, or mark it __attribute__((nomerge))",
                           state: st, registers: [1])
            }
        } else {
            graphRecords.callTypes.append((pc, key))
        }
    }

    /// Releases reference `id`: every copy becomes an unknown scalar.
    func release(_ st: inout VerifierState, _ id: UInt32) {
        st.references.removeAll { $0.id == id }
        st.forEachRegister { r in
            if r.referenceID == id { r = .unknownScalar }
        }
    }

    /// R`regno` as a list head or rb root at a constant offset of a map value or allocated object,
    /// whose lock the program holds (`__process_kf_arg_ptr_to_graph_root`).
    func graphRoot(_ st: VerifierState, _ pc: Int, regno: Int, name: String, kind: GraphField.Kind) throws(VerifierError) -> GraphField {
        let r = st[regno]
        let label = "argument \(regno) of \(name)"
        if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
        let what = "a pointer to a struct \(kind.rawValue) in a map value, global data or an allocated object"
        let record: GraphRecord?
        let place: String
        switch r.kind {
        case .mapValue:
            record = graphRecords.map(r.map)
            place = "the value of map '\(maps[r.map].name)'"
        case .kernelPointer where r.kernelFlags.contains(.allocated) && !r.kernelFlags.contains(.percpu):
            record = graphRecords.type(r.btfType)
            place = localTypeName(r.btfType)
        default:
            throw argumentError(st, pc, regno: regno, label: label, what: what, hint: nil)
        }
        guard let v = r.value.constantValue else {
            throw fail(.helperArgument, pc, "R\(regno) has a variable offset (\(r.value)): the \(kind.rawValue) must be at a constant offset",
                       state: st, registers: [regno])
        }
        let offset = r.offset + Int(Int64(bitPattern: v))
        if let problem = record?.problem {
            throw fail(.invalidProgram, pc, "\(place) cannot hold lists or rbtrees: \(problem)", state: st, registers: [regno])
        }
        guard let record, let field = record.field(at: offset), field.kind == kind else {
            throw fail(.helperArgument, pc, "there is no struct \(kind.rawValue) at offset \(offset) of \(place) (R\(regno))", state: st, registers: [regno])
        }
        if let problem = graphRecords.type(field.valueType).problem {
            throw fail(.invalidProgram, pc, "the \(kind.rawValue) of \(place) holds \(localTypeName(field.valueType)), which the kernel refuses: \(problem)",
                       state: st, registers: [regno])
        }
        // The lock of the same value (the same lookup) or object must be held.
        let lockOffset = record.spinLock?.offset ?? 0
        let held: Bool
        if let lock = st.lock {
            held = r.kind == .mapValue ? lock.map == r.map && lock.offset == lockOffset && st.lockID == r.id
                : lock.map == Self.allocatedLockMap && lock.offset == lockOffset && st.lockID == r.id
        } else {
            held = false
        }
        guard held else {
            throw fail(.lock, pc, "the bpf_spin_lock at offset \(lockOffset) of \(place) must be held for the \(kind.rawValue) passed to \(name)",
                       "call bpf_spin_lock on the lock next to the \(kind.rawValue) (same map value or object) first", state: st, registers: [regno])
        }
        return field
    }

    /// The `map` a held lock of an allocated object records.
    static let allocatedLockMap = -2

    /// R`regno` as a node of `root`'s struct: owning (push, add) or non-owning (remove, left, right).
    func graphNode(_ st: VerifierState, _ pc: Int, regno: Int, name: String, root: GraphField, owning: Bool) throws(VerifierError) -> Register {
        let r = st[regno]
        let label = "argument \(regno) of \(name)"
        let nodeKind = root.kind == .listHead ? "bpf_list_node" : "bpf_rb_node"
        if r.kind == .uninitialized { throw argumentUnset(st, pc, regno: regno, label: label) }
        if r.kind == .kernelPointerOrNull { throw argumentError(st, pc, regno: regno, label: label, what: "", hint: nil) }
        guard r.kind == .kernelPointer, r.kernelFlags.contains(.allocated), !r.kernelFlags.contains(.percpu) else {
            throw argumentError(st, pc, regno: regno, label: label, what: "a pointer to the \(nodeKind) of an allocated object", hint: nil)
        }
        if owning {
            guard r.referenceID != 0, !r.kernelFlags.contains(.nonOwning) else {
                throw argumentError(st, pc, regno: regno, label: label, what: "an object the program owns",
                                    hint: "it is already in a list or rbtree (a non-owning reference): a node is added once")
            }
        } else if r.referenceID != 0 || !r.kernelFlags.contains(.nonOwning) {
            throw argumentError(st, pc, regno: regno, label: label, what: "a non-owning reference to a node in the rbtree",
                                hint: "pass a node bpf_rbtree_first (or left, right, root) returned, or one added under this lock")
        }
        guard r.value.constantValue != nil else {
            throw fail(.helperArgument, pc, "R\(regno) has a variable offset (\(r.value)): the \(nodeKind) must be at a constant offset",
                       state: st, registers: [regno])
        }
        let offset = r.offset + Int(Int64(bitPattern: r.value.constantValue!))
        guard let field = graphRecords.type(r.btfType).field(at: offset), field.name == nodeKind else {
            throw fail(.helperArgument, pc, "there is no struct \(nodeKind) at offset \(offset) of \(localTypeName(r.btfType)) (R\(regno))",
                       state: st, registers: [regno])
        }
        guard r.btfType == root.valueType, offset == root.nodeOffset else {
            throw fail(.helperArgument, pc,
                       "the \(root.name) passed to \(name) holds struct \(root.contains) by its \(nodeKind) at offset \(root.nodeOffset), but R\(regno) is the \(nodeKind) at offset \(offset) of \(localTypeName(r.btfType))",
                       state: st, registers: [regno])
        }
        return r
    }

    /// What a list or rbtree kfunc returns: the node's struct at the node's offset, owning (a new
    /// reference) or not; NULL when the collection is empty.
    func graphNodePointer(_ pc: Int, root: GraphField, owning: Bool) -> Register {
        var r = Register()
        r.kind = .kernelPointerOrNull
        r.btfType = root.valueType
        r.offset = root.nodeOffset
        r.kernelFlags = owning ? [.trusted, .allocated] : [.trusted, .allocated, .nonOwning]
        r.id = freshID()
        r.origin = pc
        if owning { r.referenceID = r.id }
        return r
    }

    /// `bpf_rbtree_add_impl`'s `less(a, b)`: verified as a callback whose two arguments are non-owning
    /// node pointers of the tree's struct, returning 0 or 1 (it runs under the tree's lock, which it
    /// may not take or release).
    func rbtreeLessCallback(_ st: inout VerifierState, _ pc: Int, target: Int, root: GraphField, parent: Checkpoint?) throws(VerifierError) {
        guard st.frames.count < Analysis.maxFrames else {
            throw fail(.callStack, pc, "the call stack is too deep: more than \(Analysis.maxFrames) frames", state: st)
        }
        var frame = Frame(callSite: pc, subprogram: target)
        frame.isCallback = true
        frame.referencesAtEntry = st.references.count
        frame.registers[10] = stackPointer(frame: st.frames.count)
        for regno in 1...2 {
            var node = graphNodePointer(pc, root: root, owning: false)
            node.kind = .kernelPointer
            node.id = 0
            frame.registers[regno] = node
        }
        for regno in 3...5 { frame.registers[regno] = .uninitialized }
        addCallEdge(st.current.subprogram, target)
        var callbackState = st
        callbackState.lock = nil
        callbackState.lockID = 0
        callbackState.frames.append(frame)
        fork(callbackState, at: target, parent: parent)
    }

    /// `bpf_rbtree_add_impl`'s `less` runs under the tree's lock: it may not take or release a lock,
    /// nor call the kfuncs that need one.
    func checkNotInRbtreeCallback(_ st: VerifierState, _ pc: Int, _ name: String) throws(VerifierError) {
        if st.frames.contains(where: { $0.isCallback && program.kfuncs[$0.callSite] == "bpf_rbtree_add_impl" }) {
            throw fail(.lock, pc, "\(name) in the less() callback of bpf_rbtree_add_impl, which runs with the tree's lock held",
                       "compare the two nodes only", state: st)
        }
    }

    /// `bpf_spin_lock`/`bpf_spin_unlock` of the lock inside an allocated object.
    func allocatedSpinLock(_ st: inout VerifierState, _ pc: Int, regno: Int, lock: Bool) throws(VerifierError) {
        let r = st[regno]
        guard let v = r.value.constantValue, !r.kernelFlags.contains(.percpu) else {
            throw fail(.lock, pc, "R\(regno) must point to a struct bpf_spin_lock at a constant offset", state: st, registers: [regno])
        }
        let offset = r.offset + Int(Int64(bitPattern: v))
        guard let field = graphRecords.type(r.btfType).spinLock, field.offset == offset else {
            throw fail(.lock, pc, "R\(regno) points at offset \(offset) of \(localTypeName(r.btfType)), which has no struct bpf_spin_lock there",
                       state: st, registers: [regno])
        }
        try spinLock(&st, pc, take: lock, map: Self.allocatedLockMap, offset: offset, id: r.id)
    }

    /// Takes (`bpf_spin_lock`) or releases (`bpf_spin_unlock`) the lock at `offset` of a map value
    /// (`map`; `id`: the lookup it came from, 0 for global data) or an allocated object
    /// (``allocatedLockMap``; `id`: the allocation). One lock is held at a time, and the unlock must
    /// name the same lock of the same value or object.
    func spinLock(_ st: inout VerifierState, _ pc: Int, take: Bool, map: Int, offset: Int, id: UInt32) throws(VerifierError) {
        if take {
            if let held = st.lock {
                throw fail(.lock, pc, "bpf_spin_lock is already held (taken at insn \(held.instruction))", state: st)
            }
            st.lock = (map, offset, pc)
            st.lockID = id
            return
        }
        guard let held = st.lock else {
            throw fail(.lock, pc, "bpf_spin_unlock without a held lock", "call bpf_spin_lock first", state: st)
        }
        guard held.map == map, held.offset == offset, st.lockID == id else {
            throw fail(.lock, pc, "bpf_spin_unlock of a different lock than the one taken at insn \(held.instruction)", state: st)
        }
        st.lock = nil
        lockReleased(&st)
    }

    /// After `bpf_spin_unlock`: the non-owning references the lock protected become unknown scalars.
    func lockReleased(_ st: inout VerifierState) {
        st.lockID = 0
        st.forEachRegister { r in
            if (r.kind == .kernelPointer || r.kind == .kernelPointerOrNull) && r.kernelFlags.contains(.nonOwning) { r = .unknownScalar }
        }
    }

    /// A load or store of `size` bytes at `off` through R`regno`, an allocated object: any field but
    /// the special ones, at a constant offset inside the struct. Loads give numbers.
    func allocatedAccess(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int, access: String) throws(VerifierError) {
        let r = st[regno]
        let name = localTypeName(r.btfType)
        if r.kernelFlags.contains(.percpu) {
            throw fail(.invalidPointer, pc, "R\(regno) is a per-CPU object (\(name)): read and write it through bpf_this_cpu_ptr or bpf_per_cpu_ptr",
                       state: st, registers: [regno])
        }
        if r.kernelFlags.contains(.rcuEnded) {
            throw fail(.invalidPointer, pc, "R\(regno) (\(name), loaded from a kptr inside an RCU section) is used after bpf_rcu_read_unlock",
                       "use the object inside the section, or take it out of the map with bpf_kptr_xchg", state: st, registers: [regno])
        }
        if r.kernelFlags.contains(.untrusted) && access != "read" {
            throw fail(.invalidPointer, pc, "R\(regno) (an untrusted pointer to \(name), loaded from a kptr outside an RCU section) is only read",
                       "load the kptr inside bpf_rcu_read_lock()/bpf_rcu_read_unlock(), or take the object out with bpf_kptr_xchg",
                       state: st, registers: [regno])
        }
        guard r.value.constantValue == 0 else {
            throw fail(.invalidPointer, pc, "R\(regno) (\(name)) has a variable offset (\(r.value)): fields are accessed at constant offsets",
                       state: st, registers: [regno])
        }
        let o = r.offset + off
        let structSize = (try? program.programBTF?.size(of: r.btfType) ?? 0) ?? 0
        guard o >= 0, o + size <= structSize else {
            throw fail(.outOfBounds, pc, "\(access) of \(size) bytes at offset \(o) of R\(regno) is outside \(name) (\(structSize) bytes)",
                       state: st, registers: [regno])
        }
        if let field = graphRecords.type(r.btfType).overlapping(o, o + size) {
            throw fail(.invalidPointer, pc, "\(access) of the \(field.name) at offset \(field.offset) of \(name) directly is not allowed",
                       "it is only used through its kfuncs and helpers", state: st, registers: [regno])
        }
    }

    /// The kptr field R (bpf_kptr_xchg's first argument) points to, in a map value or an allocated
    /// object, as what it holds: an allocated object of the program's BTF (a local kptr: its struct is
    /// not the kernel's) or a trusted kernel object. Nil when the program's BTF does not say.
    func kptrField(_ st: VerifierState, _ r: Register) -> Register? {
        guard let v = r.value.constantValue else { return nil }
        let record: GraphRecord?
        switch r.kind {
        case .mapValue: record = graphRecords.map(r.map)
        case .kernelPointer where r.kernelFlags.contains(.allocated): record = graphRecords.type(r.btfType)
        default: return nil
        }
        // bpf_kptr_xchg exchanges referenced and per-CPU kptrs only (process_kptr_func).
        guard let field = record?.field(at: r.offset + Int(Int64(bitPattern: v))), field.kind == .kptr,
              field.kptrKind == .referenced || field.kptrKind == .percpu,
              let btf = program.programBTF, let target = btf[field.kptrTarget], target.kind == .structure else { return nil }
        var result = Register()
        if field.kptrKind == .referenced, let kernel = kernelStruct(named: target.name) {
            result.btfType = kernel
            result.kernelFlags = .trusted
        } else {
            result.btfType = field.kptrTarget
            result.kernelFlags = field.kptrKind == .percpu ? [.trusted, .allocated, .percpu] : [.trusted, .allocated]
        }
        return result
    }

    /// bpf_kptr_xchg's first argument R`regno` (`process_kptr_func`): a referenced or per-CPU kptr
    /// field of a map value or allocated object, as what it holds (``kptrField(_:_:)``). Nil when
    /// the program has no BTF to tell (then any constant map value pointer passes).
    func kptrArgument(_ st: VerifierState, _ pc: Int, regno: Int) throws(VerifierError) -> Register? {
        let r = st[regno]
        if let field = kptrField(st, r) { return field }
        guard program.programBTF != nil, let v = r.value.constantValue else { return nil }
        let record: GraphRecord?
        let place: String
        switch r.kind {
        case .mapValue:
            record = graphRecords.map(r.map)
            place = "the value of map '\(maps[r.map].name)'"
        case .kernelPointer where r.kernelFlags.contains(.allocated):
            record = graphRecords.type(r.btfType)
            place = localTypeName(r.btfType)
        default:
            return nil
        }
        let offset = r.offset + Int(Int64(bitPattern: v))
        guard let record, record.fields.contains(where: { $0.kind == .kptr }) else {
            throw fail(.helperArgument, pc, "R\(regno) has no valid kptr: \(place) has no kptr field the kernel records",
                       "declare the field `struct T __kptr *`; a value with more than \(GraphRecords.maxMapFields) special fields has none",
                       state: st, registers: [regno])
        }
        guard let field = record.field(at: offset), field.kind == .kptr else {
            throw fail(.helperArgument, pc, "R\(regno) points at offset \(offset) of \(place), which is not a kptr field", state: st, registers: [regno])
        }
        throw fail(.helperArgument, pc, "the \(field.name) at offset \(offset) of \(place) is not a referenced kptr: bpf_kptr_xchg exchanges __kptr and __percpu_kptr fields",
                   state: st, registers: [regno])
    }

    /// The kernel's struct of this name (a kptr to it holds kernel objects, else objects of the
    /// program's BTF); when the kernel BTF is the program's own, only the kernel objects the Swift
    /// runtime's kfuncs create (``runtimeKernelObjects``).
    func kernelStruct(named name: String) -> Int? {
        if program.kernelBTFIsProgramBTF && !Self.runtimeKernelObjects.contains(name) { return nil }
        return kernelBTF?.typeID(named: name, kind: .structure)
    }

    /// Kernel objects a program typed by its own BTF (in the Swift runtime) may keep in a kptr:
    /// those of the kfuncs the runtime implements (crypto contexts, the kernel test run's
    /// prog_test_ref_kfunc, which only bpf_kfunc_call_test_release takes there).
    static let runtimeKernelObjects: Set<String> = ["bpf_crypto_ctx", "prog_test_ref_kfunc"]

    /// What bpf_kptr_xchg stores (R`regno`) must be what the field holds.
    func checkKptrStore(_ st: VerifierState, _ pc: Int, regno: Int, field: Register?) throws(VerifierError) {
        let r = st[regno]
        guard let field else {
            if r.kernelFlags.contains(.allocated) {
                throw fail(.helperArgument, pc, "R\(regno) (an allocated \(localTypeName(r.btfType))) can only be stored into a __kptr field of its type",
                           state: st, registers: [regno])
            }
            return
        }
        let allocated = field.kernelFlags.contains(.allocated)
        guard allocated == r.kernelFlags.contains(.allocated), field.btfType == r.btfType, r.offset == 0,
              !r.kernelFlags.contains(.nonOwning), r.kernelFlags.contains(.percpu) == field.kernelFlags.contains(.percpu) else {
            let name = allocated ? localTypeName(field.btfType) : kernelTypeName(field.btfType)
            throw fail(.helperArgument, pc, "the __kptr field holds \(name) objects, but R\(regno) is \(r.describe(maps: maps))",
                       "store the object itself (offset 0) that bpf_obj_new or an acquiring kfunc returned", state: st, registers: [regno])
        }
    }

    /// A load, store or atomic update touching a kptr field of a map value (the kernel's
    /// `check_map_access` and `check_map_kptr_access`): nil when the access touches none. The access
    /// must be exactly the field (8 bytes at its offset, a constant one) and a plain load or store.
    ///
    /// A load gives a maybe-NULL typed pointer to the field's struct (`btf_ld_kptr_type`): an
    /// RCU-protected one when the field is a referenced kptr of an RCU-protected type (a local
    /// object, or one of the kernel's `rcu_protected_types`: task_struct, cgroup, bpf_cpumask...) and
    /// the load is inside an RCU section (`bpf_rcu_read_lock`, a held spin lock, or any non-sleepable
    /// program); an untrusted one otherwise. (Loads of per-CPU kptrs and `__uptr`s are undecided.) Referenced and per-CPU kptrs are
    /// written only by `bpf_kptr_xchg`; an untrusted kptr takes NULL or a pointer to its struct.
    func mapKptrAccess(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int, access: Access,
                       stored: Register? = nil) throws(VerifierError) -> Register? {
        let r = st[regno]
        guard r.kind == .mapValue, let record = graphRecords.map(r.map) else { return nil }
        let lo = Int64(r.offset + off) &+ r.value.smin, hi = Int64(r.offset + off) &+ r.value.smax &+ Int64(size)
        guard let field = record.fields.first(where: { $0.kind == .kptr && lo < Int64($0.offset + 8) && hi > Int64($0.offset) }) else { return nil }
        let place = "the \(field.name) at offset \(field.offset) of the value of '\(maps[r.map].name)'"
        guard let v = r.value.constantValue else {
            throw fail(.invalidPointer, pc, "R\(regno) has a variable offset (\(r.value)) and may touch \(place): kptrs are accessed at constant offsets",
                       state: st, registers: [regno])
        }
        let start = r.offset + off + Int(Int64(bitPattern: v))
        guard start == field.offset, size == 8 else {
            throw fail(.invalidPointer, pc, "\(access.verb) of \(size) bytes at offset \(start) touches \(place): a kptr is accessed as the 8 bytes at its offset",
                       state: st, registers: [regno])
        }
        guard access != .atomic else {
            throw fail(.invalidPointer, pc, "atomic update of \(place): kptrs are only loaded and stored (or exchanged with bpf_kptr_xchg)",
                       state: st, registers: [regno])
        }
        let btf = program.programBTF
        let targetName = btf?[field.kptrTarget]?.name ?? ""
        let kernelTarget = kernelStruct(named: targetName)
        if access == .write {
            guard field.kptrKind == .untrusted else {
                throw fail(.invalidPointer, pc, "store into \(place) (a \(field.kptrKind == .referenced ? "referenced" : field.kptrKind.rawValue) kptr): it is written only by bpf_kptr_xchg",
                           "exchange the object in with bpf_kptr_xchg(&v->field, ptr)", state: st, registers: [regno])
            }
            guard let value = stored, !(value.kind == .scalar && value.value.constantValue == 0) else { return nil }
            let fits = (value.kind == .kernelPointer || value.kind == .kernelPointerOrNull) && kernelTarget != nil
                && value.kernelFlags.isDisjoint(with: [.user, .percpu, .allocated, .nonOwning]) && value.offset >= 0 && value.value.constantValue == 0
                && kernelType(value.btfType, offset: value.offset, is: targetName)
            guard fits else {
                throw fail(.invalidPointer, pc, "\(place) holds pointers to struct \(targetName), but the stored value is \(value.describe(maps: maps))",
                           "store NULL or a typed kernel pointer to that struct", state: st, registers: [regno])
            }
            return nil
        }
        if field.kptrKind == .user {
            throw fail(.undecided, pc, "cannot decide: a read of \(place) (a __uptr: user memory the kernel pins; not modelled yet)")
        }
        if field.kptrKind == .percpu {
            throw fail(.undecided, pc, "cannot decide: a read of \(place) (a per-CPU object, used through bpf_per_cpu_ptr; not modelled yet)")
        }
        let local = kernelTarget == nil
        let inRCU = st.rcuDepth > 0 || st.lock != nil || !program.sleepable
        let rcuSafe = field.kptrKind == .referenced && (local || Self.rcuProtectedKernelTypes.contains(targetName))
        var result = Register()
        result.kind = .kernelPointerOrNull
        result.btfType = kernelTarget ?? field.kptrTarget
        if rcuSafe && inRCU {
            result.kernelFlags = .rcu
            if local {
                result.kernelFlags.insert(.allocated)
                // An object that can be in a list or rbtree is also a non-owning reference.
                if graphRecords.type(field.kptrTarget).fields.contains(where: { $0.kind == .listNode || $0.kind == .rbNode }) {
                    result.kernelFlags.insert(.nonOwning)
                }
            }
        } else {
            // Untrusted: readable (a local object's fields too), never written, never passed on.
            result.kernelFlags = local ? [.allocated, .untrusted] : .untrusted
        }
        result.id = freshID()
        result.origin = pc
        return result
    }

    /// A helper never reads or writes a map value's kptr field (`check_map_access` with
    /// `ACCESS_HELPER`: "kptr cannot be accessed indirectly by helper").
    func checkNoKptrTouched(_ st: VerifierState, _ pc: Int, regno: Int, size: Int, helper: String) throws(VerifierError) {
        let r = st[regno]
        guard r.kind == .mapValue, let record = graphRecords.map(r.map) else { return }
        let lo = Int64(r.offset) &+ r.value.smin, hi = Int64(r.offset) &+ r.value.smax &+ Int64(size)
        guard let field = record.fields.first(where: { $0.kind == .kptr && lo < Int64($0.offset + 8) && hi > Int64($0.offset) }) else { return }
        throw fail(.helperArgument, pc, "\(helper) would touch the \(field.name) at offset \(field.offset) of the value of '\(maps[r.map].name)' through R\(regno): helpers never access kptrs",
                   "pass the bytes around the kptr, or load the kptr and use the pointer", state: st, registers: [regno])
    }

    /// The kernel types whose referenced kptrs load as RCU-protected pointers (`rcu_protected_types`).
    static let rcuProtectedKernelTypes: Set<String> = ["task_struct", "cgroup", "bpf_cpumask", "prog_test_ref_kfunc", "bpf_crypto_ctx"]

    /// Map values: the special fields (lists, rbtrees, nodes, refcounts) are not accessed directly.
    func checkGraphFieldAccess(_ st: VerifierState, _ pc: Int, regno: Int, lo: Int64, hi: Int64, verb: String) throws(VerifierError) {
        let r = st[regno]
        guard r.kind == .mapValue, let record = graphRecords.map(r.map) else { return }
        for field in record.fields where field.kind != .spinLock && field.kind != .kptr && field.kind != .other {
            if lo < Int64(field.offset + field.size) && hi > Int64(field.offset) {
                throw fail(.invalidPointer, pc, "\(verb) of the \(field.name) at offset \(field.offset) of the value of '\(maps[r.map].name)' directly is not allowed",
                           "it is only used through its kfuncs", state: st, registers: [regno])
            }
        }
    }

    /// Tracing programs (kprobe, tracepoint, perf_event, raw_tracepoint) may not use maps holding
    /// lists or rbtrees, as the kernel refuses them.
    func checkGraphMapUse(_ st: VerifierState, _ pc: Int, map: Int) throws(VerifierError) {
        guard let record = graphRecords.map(map), record.hasRoots else { return }
        switch program.type {
        case .kprobe, .tracepoint, .perfEvent, .rawTracepoint, .rawTracepointWritable:
            throw fail(.invalidProgram, pc, "\(program.type.kernelName) programs cannot use map '\(maps[map].name)', which holds a bpf_list_head or bpf_rb_root",
                       "the kernel allows lists and rbtrees to tracing programs of BTF-typed kinds only (fentry, tp_btf...)", state: st)
        default:
            break
        }
    }
}
