import BPFObject
import Synchronization

/// Allocated objects and graph collections in the Swift runtime: `bpf_obj_new_impl`,
/// `bpf_obj_drop_impl`, `bpf_refcount_acquire_impl`, the list kfuncs (`bpf_list_push_front/back_impl`,
/// `bpf_list_pop_front/back`, `bpf_list_front/back`), the rbtree kfuncs (`bpf_rbtree_add_impl`, which
/// calls the program's `less`, `bpf_rbtree_remove`, `bpf_rbtree_first`, `bpf_rbtree_root/left/right`)
/// and `bpf_kptr_xchg`, with the kernel's results.
///
/// Objects live in the process-wide ``GraphHeap``: each is a zeroed allocation of its struct's size
/// (from the program's BTF), which a run may read and write once a kfunc handed it to the run
/// (``granted(_:_:)``) and until it is freed. The heap, not the program's memory, owns the collections:
/// a `bpf_list_head` or `bpf_rb_root` (in a map value, global data or an object) names its
/// collection by its address and holds a fixed mark that says it was set up; a head at an address
/// whose collection is known but without the mark (memory freed and reused there, zeroed) gets a
/// new empty collection, and the old one's objects are dropped. Nodes, links, colours and
/// reference counts are kept in Swift, so nothing a program writes is ever followed as a pointer.
/// Every node argument must lie inside a live object.
enum GraphKfuncs {
    static let einval = UInt64(bitPattern: -22)

    static func register(into registry: inout HelperRegistry) {
        registry.register(kfunc: "bpf_obj_new_impl") { call in
            guard let btf = call.interpreter.programBTF else { throw HelperError("bpf_obj_new_impl: the program has no BTF to size its object") }
            let id = Int(truncatingIfNeeded: call.argument(1))
            guard let t = btf[id], t.kind == .structure, case .members(let members) = t.detail else {
                throw HelperError("bpf_obj_new_impl: type \(id) of the program's BTF is not a struct")
            }
            let refcounted = members.contains { btf[btf.resolve($0.type)]?.name == "bpf_refcount" }
            return granted(call, GraphHeap.shared.allocate(size: max(Int(t.sizeOrType), 1), refcounted: refcounted))
        }
        registry.register(kfunc: "bpf_obj_drop_impl") { call in
            try drop(call, call.argument(1))
            return 0
        }
        registry.register(kfunc: "bpf_refcount_acquire_impl") { call in
            granted(call, try GraphHeap.shared.acquire(UInt(call.argument(1))))
        }
        for (name, back) in [("bpf_list_push_front_impl", false), ("bpf_list_push_back_impl", true)] {
            registry.register(kfunc: name) { call in
                let head = try root(call, .list)
                let node = UInt(call.argument(2))
                switch try GraphHeap.shared.push(node, into: head, back: back) {
                case .done: return 0
                case .alreadyOwned(let object):
                    // As the kernel: the node is in a collection already, so the reference passed is dropped.
                    try drop(call, UInt64(object))
                    return einval
                }
            }
        }
        for (name, back, pop) in [("bpf_list_pop_front", false, true), ("bpf_list_pop_back", true, true),
                                  ("bpf_list_front", false, false), ("bpf_list_back", true, false)] {
            registry.register(kfunc: name) { call in
                granted(call, UInt64(GraphHeap.shared.listEnd(try root(call, .list), back: back, remove: pop) ?? 0))
            }
        }
        registry.register(kfunc: "bpf_rbtree_add_impl") { call in
            let tree = try root(call, .rbtree)
            let node = UInt(call.argument(2)), less = call.argument(3)
            if let object = try GraphHeap.shared.ownedNode(node) {
                try drop(call, UInt64(object))
                return einval
            }
            // The walk calls the program's `less(node, parent)` without the heap's lock held.
            var parent: UInt = 0, left = false
            var cursor = GraphHeap.shared.rbRoot(tree)
            var steps = 0
            while cursor != 0 {
                steps += 1
                guard steps <= 1 << 24 else { throw HelperError("bpf_rbtree_add_impl: the tree changed while it was walked") }
                parent = cursor
                _ = granted(call, UInt64(cursor))   // the callback reads the node's object
                left = try call.invokeCallback(less, UInt64(node), UInt64(cursor)) & 1 != 0
                cursor = GraphHeap.shared.rbChild(of: cursor, in: tree, left: left)
            }
            try GraphHeap.shared.rbInsert(node, in: tree, parent: parent, left: left)
            return 0
        }
        registry.register(kfunc: "bpf_rbtree_remove") { call in
            granted(call, UInt64(GraphHeap.shared.rbRemove(UInt(call.argument(2)), from: try root(call, .rbtree)) ?? 0))
        }
        registry.register(kfunc: "bpf_rbtree_first") { call in
            granted(call, UInt64(GraphHeap.shared.rbFirst(try root(call, .rbtree)) ?? 0))
        }
        registry.register(kfunc: "bpf_rbtree_root") { call in
            granted(call, UInt64(GraphHeap.shared.rbRoot(try root(call, .rbtree))))
        }
        for (name, left) in [("bpf_rbtree_left", true), ("bpf_rbtree_right", false)] {
            registry.register(kfunc: name) { call in
                let tree = try root(call, .rbtree)
                let node = UInt(call.argument(2))
                // NULL unless the node is in this tree (the kernel's owner check).
                return granted(call, UInt64(GraphHeap.shared.rbChild(of: node, in: tree, left: left)))
            }
        }
    }

    /// The helpers beside the kfuncs: `bpf_kptr_xchg`.
    static let helpers: [Helper] = [
        Helper(id: KernelHelperID.kptrXchg, name: "bpf_kptr_xchg") { call in
            let field = try call.memory(at: call.argument(1), size: 8, write: true)
            guard call.argument(1) % 8 == 0 else { throw HelperError("bpf_kptr_xchg: misaligned kptr field at 0x\(String(call.argument(1), radix: 16))") }
            let old = field.assumingMemoryBound(to: UInt64.self).pointee
            field.storeBytes(of: call.argument(2), as: UInt64.self)
            // What the field held is an object only if the heap handed it out and it is alive: a
            // value written into the field any other way (by Swift code) comes back as NULL.
            return GraphHeap.shared.isObject(UInt(old)) ? granted(call, old) : 0
        },
    ]

    /// Lets the run reach the object `address` (an object or a node in one) lies in, and returns
    /// `address`: a run reaches exactly the objects kfuncs handed it (allocated, popped, found,
    /// taken out of a kptr field) and only until they are freed.
    @discardableResult
    static func granted(_ call: borrowing HelperCall, _ address: UInt64) -> UInt64 {
        if address != 0, let region = GraphHeap.shared.region(containing: UInt(address)), !call.regions.pointee.extra.contains(region) {
            call.grant(region)
        }
        return address
    }

    /// Objects freed: out of the run's reach now, their memory freed when the run ends (so a
    /// stale pointer the run still holds never points at memory given to something else).
    static func retire(_ call: borrowing HelperCall, _ freed: [UnsafeMutableRawPointer]) {
        guard !freed.isEmpty else { return }
        let starts = Set(freed.map { UInt(bitPattern: $0) })
        call.regions.pointee.extra.removeAll { $0.writable && starts.contains($0.start) }
        call.state.pointee.dropped += freed
    }

    /// Drops a reference to the object at `address` (freed when it was the last).
    static func drop(_ call: borrowing HelperCall, _ address: UInt64) throws(HelperError) {
        retire(call, try GraphHeap.shared.drop(UInt(address)))
    }

    /// The collection whose head (argument 1) is in the program's memory.
    static func root(_ call: borrowing HelperCall, _ kind: GraphHeap.Kind) throws(HelperError) -> UInt64 {
        let head = try call.memory(at: call.argument(1), size: 16, write: true)
        guard call.argument(1) % 8 == 0 else { throw HelperError("misaligned \(kind == .list ? "bpf_list_head" : "bpf_rb_root") at 0x\(String(call.argument(1), radix: 16))") }
        let (id, freed) = try GraphHeap.shared.collection(at: head, kind: kind)
        retire(call, freed)
        return id
    }
}

/// The runtime's allocated objects (`bpf_obj_new`) and the lists and rbtrees that hold them, shared
/// by every program of the process (objects outlive runs: they stay in lists, trees and kptr fields
/// of maps). See ``GraphKfuncs``.
final class GraphHeap: Sendable {
    static let shared = GraphHeap()

    enum Kind: Sendable { case list, rbtree }

    struct Object {
        var size: Int
        var refcount: Int
        var refcounted: Bool
    }

    struct Collection {
        var head: UInt
        var kind: Kind
        var list: [UInt] = []
        var root: UInt = 0
    }

    /// A node's place: its collection and, in an rbtree, its links and colour.
    struct Node {
        var owner: UInt64
        var object: UInt
        var left: UInt = 0, right: UInt = 0, parent: UInt = 0
        var red = true
    }

    struct State {
        var objects: [UInt: Object] = [:]
        /// Object starts, sorted, for finding the object an address is in.
        var starts: [UInt] = []
        var collections: [UInt64: Collection] = [:]
        var nodes: [UInt: Node] = [:]
        /// Collections by their head's address.
        var byHead: [UInt: UInt64] = [:]
        var nextID: UInt64 = 1
    }

    private let state = Mutex(State())
    /// How many objects are alive: region checks skip the heap when none are.
    private let live = Atomic<Int>(0)

    /// A new zeroed object of `size` bytes; returns its address (0 if it cannot be allocated).
    func allocate(size: Int, refcounted: Bool) -> UInt64 {
        guard size <= 1 << 20 else { return 0 }
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        let start = UInt(bitPattern: p)
        state.withLock { s in
            s.objects[start] = Object(size: size, refcount: 1, refcounted: refcounted)
            s.starts.insert(start, at: Self.insertionIndex(s.starts, start))
        }
        live.add(1, ordering: .relaxed)
        return UInt64(start)
    }

    /// The live object `address` lies in, as a region.
    func region(containing address: UInt) -> MemoryRegion? {
        state.withLock { s in Self.object(containing: address, s).map { MemoryRegion(start: $0.start, count: $0.object.size, writable: true) } }
    }

    /// Whether `address` is the start of a live object.
    func isObject(_ address: UInt) -> Bool {
        address != 0 && state.withLock { $0.objects[address] != nil }
    }

    /// One more owning reference to a refcounted object (`bpf_refcount_acquire`): its address, or 0.
    func acquire(_ address: UInt) throws(HelperError) -> UInt64 {
        try state.withLock { s throws(HelperError) -> UInt64 in
            guard var object = s.objects[address] else { throw HelperError("bpf_refcount_acquire_impl: 0x\(String(address, radix: 16)) is not an object bpf_obj_new allocated") }
            guard object.refcounted else { throw HelperError("bpf_refcount_acquire_impl: the object has no struct bpf_refcount") }
            guard object.refcount > 0 else { return 0 }
            object.refcount += 1
            s.objects[address] = object
            return UInt64(address)
        }
    }

    /// Drops a reference to the object at `address`; returns what to free (the object and, when it
    /// was the last reference, everything its own lists and trees held).
    func drop(_ address: UInt) throws(HelperError) -> [UnsafeMutableRawPointer] {
        let freed = try state.withLock { s throws(HelperError) -> [UnsafeMutableRawPointer] in
            guard var object = s.objects[address] else { throw HelperError("0x\(String(address, radix: 16)) is not an object bpf_obj_new allocated") }
            object.refcount -= 1
            if object.refcounted && object.refcount > 0 {
                s.objects[address] = object
                return []
            }
            return Self.free(address, &s)
        }
        live.subtract(freed.count, ordering: .relaxed)
        return freed
    }

    /// Removes an object (and, recursively, what its collections hold) from the heap.
    private static func free(_ address: UInt, _ s: inout State) -> [UnsafeMutableRawPointer] {
        var out: [UnsafeMutableRawPointer] = []
        var work = [address]
        while let start = work.popLast() {
            guard let object = s.objects.removeValue(forKey: start) else { continue }
            s.starts.remove(at: insertionIndex(s.starts, start) - 1)
            out.append(UnsafeMutableRawPointer(bitPattern: start)!)
            let end = start + UInt(object.size)
            // Its nodes leave their collections (only a forged drop frees an object still in one).
            for (node, place) in s.nodes where node >= start && node < end { unlink(node, place, &s) }
            // Its own collections' objects lose the collection's reference.
            for (id, c) in s.collections where c.head >= start && c.head < end {
                s.collections[id] = nil
                if s.byHead[c.head] == id { s.byHead[c.head] = nil }
                let held = c.kind == .list ? c.list : s.nodes.filter { $0.value.owner == id }.map(\.key)
                for node in held {
                    guard let place = s.nodes.removeValue(forKey: node), var o = s.objects[place.object] else { continue }
                    o.refcount -= 1
                    s.objects[place.object] = o
                    if !o.refcounted || o.refcount <= 0 { work.append(place.object) }
                }
            }
        }
        return out
    }

    private static func unlink(_ node: UInt, _ place: Node, _ s: inout State) {
        guard var c = s.collections[place.owner] else { s.nodes[node] = nil; return }
        if c.kind == .list {
            c.list.removeAll { $0 == node }
            s.collections[place.owner] = c
            s.nodes[node] = nil
        } else {
            rbErase(node, &c, &s)
            s.collections[place.owner] = c
        }
    }

    /// The index where `value` goes in the sorted `array`.
    private static func insertionIndex(_ array: [UInt], _ value: UInt) -> Int {
        var lo = 0, hi = array.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if array[mid] <= value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    private static func object(containing address: UInt, _ s: State) -> (start: UInt, object: Object)? {
        let i = insertionIndex(s.starts, address)
        guard i > 0, let object = s.objects[s.starts[i - 1]] else { return nil }
        let start = s.starts[i - 1]
        return address < start + UInt(object.size) ? (start, object) : nil
    }

    /// The mark a set-up head holds (the same in every head, so runs of two loads of an object
    /// leave the same bytes).
    private static let mark: (UInt64, UInt64) = (0x5357_4946_5442_5046, 0x4845_4144_2d2d_2d2d)

    /// The collection of the head or root at `head`: the one made for this address while the head
    /// keeps its mark, else a new empty one — and then what an old collection at this address held
    /// (its memory was freed and reused) is dropped: returned to be freed.
    func collection(at head: UnsafeMutableRawPointer, kind: Kind) throws(HelperError) -> (UInt64, [UnsafeMutableRawPointer]) {
        let address = UInt(bitPattern: head)
        let marked = head.load(as: UInt64.self) == Self.mark.0 && head.load(fromByteOffset: 8, as: UInt64.self) == Self.mark.1
        let result = try state.withLock { s throws(HelperError) -> (UInt64, [UnsafeMutableRawPointer]) in
            var freed: [UnsafeMutableRawPointer] = []
            if let id = s.byHead[address], let c = s.collections[id] {
                if marked {
                    guard c.kind == kind else {
                        throw HelperError("a \(c.kind == .list ? "bpf_list_head" : "bpf_rb_root") was used as a \(kind == .list ? "bpf_list_head" : "bpf_rb_root")")
                    }
                    return (id, [])
                }
                freed = Self.discard(id, &s)
            }
            let new = s.nextID
            s.nextID += 1
            s.collections[new] = Collection(head: address, kind: kind)
            s.byHead[address] = new
            head.storeBytes(of: Self.mark.0, as: UInt64.self)
            head.storeBytes(of: Self.mark.1, toByteOffset: 8, as: UInt64.self)
            return (new, freed)
        }
        live.subtract(result.1.count, ordering: .relaxed)
        return result
    }

    /// Discards the lists and rbtrees whose heads lie in `memory` (a map's values, freed with the
    /// map), and frees what they alone held. No run can be using them: the map is gone.
    func forget(_ memory: UnsafeMutableRawBufferPointer) {
        guard live.load(ordering: .relaxed) > 0, let base = memory.baseAddress else { return }
        let start = UInt(bitPattern: base), end = start + UInt(memory.count)
        let freed = state.withLock { s in
            s.collections.filter { $0.value.head >= start && $0.value.head < end }.keys.flatMap { Self.discard($0, &s) }
        }
        live.subtract(freed.count, ordering: .relaxed)
        for object in freed { object.deallocate() }
    }

    /// Removes collection `id`, dropping the reference it held to each of its objects.
    private static func discard(_ id: UInt64, _ s: inout State) -> [UnsafeMutableRawPointer] {
        guard let c = s.collections.removeValue(forKey: id) else { return [] }
        if s.byHead[c.head] == id { s.byHead[c.head] = nil }
        let held = c.kind == .list ? c.list : s.nodes.filter { $0.value.owner == id }.map(\.key)
        var out: [UnsafeMutableRawPointer] = []
        for node in held {
            guard let place = s.nodes.removeValue(forKey: node), var o = s.objects[place.object] else { continue }
            o.refcount -= 1
            s.objects[place.object] = o
            if !o.refcounted || o.refcount <= 0 { out += Self.free(place.object, &s) }
        }
        return out
    }

    enum PushOutcome { case done, alreadyOwned(UInt) }

    /// The object a node is in, and whether the node can be pushed: it must lie inside a live object.
    private static func nodeObject(_ node: UInt, size: Int, _ s: State) throws(HelperError) -> UInt {
        guard let (start, object) = object(containing: node, s), node + UInt(size) <= start + UInt(object.size) else {
            throw HelperError("0x\(String(node, radix: 16)) is not a node inside an object bpf_obj_new allocated")
        }
        return start
    }

    /// If the node is in a collection already, the object it is in (else nil; throws if it is no node).
    func ownedNode(_ node: UInt) throws(HelperError) -> UInt? {
        try state.withLock { s throws(HelperError) -> UInt? in
            let object = try Self.nodeObject(node, size: 32, s)
            return s.nodes[node] != nil ? object : nil
        }
    }

    func push(_ node: UInt, into list: UInt64, back: Bool) throws(HelperError) -> PushOutcome {
        try state.withLock { s throws(HelperError) -> PushOutcome in
            let object = try Self.nodeObject(node, size: 24, s)
            if s.nodes[node] != nil { return .alreadyOwned(object) }
            s.nodes[node] = Node(owner: list, object: object)
            if back { s.collections[list]!.list.append(node) } else { s.collections[list]!.list.insert(node, at: 0) }
            return .done
        }
    }

    /// The first or last node of a list, removed when `remove` (the reference goes to the program).
    func listEnd(_ list: UInt64, back: Bool, remove: Bool) -> UInt? {
        state.withLock { s in
            guard let c = s.collections[list], let node = back ? c.list.last : c.list.first else { return nil }
            if remove {
                if back { s.collections[list]!.list.removeLast() } else { s.collections[list]!.list.removeFirst() }
                s.nodes[node] = nil
            }
            return node
        }
    }

    // MARK: rbtrees (red-black, as the kernel's lib/rbtree.c balances them)

    func rbRoot(_ tree: UInt64) -> UInt { state.withLock { $0.collections[tree]?.root ?? 0 } }

    /// A child of a node of `tree`, or 0 (also when the node is not in the tree).
    func rbChild(of node: UInt, in tree: UInt64, left: Bool) -> UInt {
        state.withLock { s in
            guard let n = s.nodes[node], n.owner == tree else { return 0 }
            return left ? n.left : n.right
        }
    }

    func rbFirst(_ tree: UInt64) -> UInt? {
        state.withLock { s in
            guard var n = s.collections[tree]?.root, n != 0 else { return nil }
            while let l = s.nodes[n]?.left, l != 0 { n = l }
            return n
        }
    }

    /// Links `node` as the `left` or right child of `parent` (0: the root) and rebalances.
    func rbInsert(_ node: UInt, in tree: UInt64, parent: UInt, left: Bool) throws(HelperError) {
        try state.withLock { s throws(HelperError) in
            let object = try Self.nodeObject(node, size: 32, s)
            guard s.nodes[node] == nil, var c = s.collections[tree] else { throw HelperError("bpf_rbtree_add_impl: the node was added meanwhile") }
            if parent == 0 {
                guard c.root == 0 else { throw HelperError("bpf_rbtree_add_impl: the tree changed while it was walked") }
                c.root = node
            } else {
                guard let p = s.nodes[parent], p.owner == tree, (left ? p.left : p.right) == 0 else {
                    throw HelperError("bpf_rbtree_add_impl: the tree changed while it was walked")
                }
                if left { s.nodes[parent]!.left = node } else { s.nodes[parent]!.right = node }
            }
            s.nodes[node] = Node(owner: tree, object: object, parent: parent)
            Self.insertFixup(node, &c, &s)
            s.collections[tree] = c
        }
    }

    /// Removes `node` from `tree`: the node (now owned by the program), or nil when it is not in it.
    func rbRemove(_ node: UInt, from tree: UInt64) -> UInt? {
        state.withLock { s in
            guard let n = s.nodes[node], n.owner == tree, var c = s.collections[tree] else { return nil }
            Self.rbErase(node, &c, &s)
            s.collections[tree] = c
            return node
        }
    }

    /// What breaks the red-black rules in `tree` (nil: nothing): links, order by `key`, colours, black heights.
    func rbViolation(_ tree: UInt64, key: (UInt) -> Int64) -> String? {
        state.withLock { s in
            guard let c = s.collections[tree] else { return "no tree \(tree)" }
            if c.root != 0 && (s.nodes[c.root]?.parent != 0 || Self.red(c.root, s)) { return "the root has a parent or is red" }
            var previous: Int64?
            func walk(_ n: UInt, parent: UInt) -> (height: Int, error: String?) {
                guard n != 0 else { return (1, nil) }
                guard let node = s.nodes[n], node.owner == tree else { return (0, "node 0x\(String(n, radix: 16)) not in the tree") }
                if node.parent != parent { return (0, "wrong parent") }
                if node.red && (Self.red(node.left, s) || Self.red(node.right, s)) { return (0, "a red node with a red child") }
                let l = walk(node.left, parent: n)
                if let e = l.error { return (0, e) }
                if let p = previous, key(n) < p { return (0, "out of order") }
                previous = key(n)
                let r = walk(node.right, parent: n)
                if let e = r.error { return (0, e) }
                if l.height != r.height { return (0, "black heights \(l.height) and \(r.height)") }
                return (l.height + (node.red ? 0 : 1), nil)
            }
            return walk(c.root, parent: 0).error
        }
    }

    private static func red(_ n: UInt, _ s: State) -> Bool { n != 0 && s.nodes[n]!.red }

    private static func setParent(_ n: UInt, _ p: UInt, _ s: inout State) { if n != 0 { s.nodes[n]!.parent = p } }

    /// Puts `new` where `old` was under `old`'s parent.
    private static func replaceChild(_ old: UInt, _ new: UInt, parent: UInt, _ c: inout Collection, _ s: inout State) {
        if parent == 0 {
            c.root = new
        } else if s.nodes[parent]!.left == old {
            s.nodes[parent]!.left = new
        } else {
            s.nodes[parent]!.right = new
        }
    }

    /// Node `n`'s left child (`left`) or right child.
    private static func child(_ n: UInt, _ left: Bool, _ s: State) -> UInt { left ? s.nodes[n]!.left : s.nodes[n]!.right }

    /// Sets node `n`'s left child (`left`) or right child.
    private static func setChild(_ n: UInt, _ left: Bool, _ value: UInt, _ s: inout State) {
        if left { s.nodes[n]!.left = value } else { s.nodes[n]!.right = value }
    }

    /// Rotates at `x` toward the left (`left`: its right child takes its place) or the right.
    private static func rotate(_ x: UInt, left: Bool, _ c: inout Collection, _ s: inout State) {
        let y = child(x, !left, s), parent = s.nodes[x]!.parent
        let inner = child(y, left, s)
        setChild(x, !left, inner, &s)
        setParent(inner, x, &s)
        s.nodes[y]!.parent = parent
        replaceChild(x, y, parent: parent, &c, &s)
        setChild(y, left, x, &s)
        s.nodes[x]!.parent = y
    }

    private static func insertFixup(_ node: UInt, _ c: inout Collection, _ s: inout State) {
        var z = node
        while red(s.nodes[z]!.parent, s) {
            let p = s.nodes[z]!.parent, g = s.nodes[p]!.parent
            // The mirror cases in one: `side` is whether the parent is its parent's left child.
            let side = p == s.nodes[g]!.left
            let u = child(g, !side, s)
            if red(u, s) {
                s.nodes[p]!.red = false; s.nodes[u]!.red = false; s.nodes[g]!.red = true
                z = g
            } else {
                if z == child(p, !side, s) {
                    z = p
                    rotate(z, left: side, &c, &s)
                }
                let p2 = s.nodes[z]!.parent, g2 = s.nodes[p2]!.parent
                s.nodes[p2]!.red = false; s.nodes[g2]!.red = true
                rotate(g2, left: !side, &c, &s)
            }
        }
        s.nodes[c.root]!.red = false
    }

    /// Erases `node` (with the successor replacing a node of two children, as the kernel does)
    /// and rebalances; the node leaves the heap's node table.
    private static func rbErase(_ node: UInt, _ c: inout Collection, _ s: inout State) {
        let z = s.nodes[node]!
        var x: UInt, xParent: UInt
        var removedRed = z.red
        if z.left == 0 || z.right == 0 {
            x = z.left != 0 ? z.left : z.right
            xParent = z.parent
            replaceChild(node, x, parent: z.parent, &c, &s)
            setParent(x, z.parent, &s)
        } else {
            var y = z.right
            while s.nodes[y]!.left != 0 { y = s.nodes[y]!.left }
            removedRed = s.nodes[y]!.red
            x = s.nodes[y]!.right
            if s.nodes[y]!.parent == node {
                xParent = y
            } else {
                xParent = s.nodes[y]!.parent
                replaceChild(y, x, parent: xParent, &c, &s)
                setParent(x, xParent, &s)
                s.nodes[y]!.right = z.right
                setParent(z.right, y, &s)
            }
            replaceChild(node, y, parent: z.parent, &c, &s)
            s.nodes[y]!.parent = z.parent
            s.nodes[y]!.left = z.left
            setParent(z.left, y, &s)
            s.nodes[y]!.red = z.red
        }
        s.nodes[node] = nil
        if !removedRed { eraseFixup(x, parent: xParent, &c, &s) }
    }

    private static func eraseFixup(_ start: UInt, parent start2: UInt, _ c: inout Collection, _ s: inout State) {
        var x = start, parent = start2
        while x != c.root && !red(x, s) && parent != 0 {
            // The mirror cases in one: `side` is whether x is its parent's left child.
            let side = x == s.nodes[parent]!.left
            var w = child(parent, !side, s)
            if red(w, s) {
                s.nodes[w]!.red = false; s.nodes[parent]!.red = true
                rotate(parent, left: side, &c, &s)
                w = child(parent, !side, s)
            }
            if !red(s.nodes[w]!.left, s) && !red(s.nodes[w]!.right, s) {
                s.nodes[w]!.red = true
                x = parent
                parent = s.nodes[x]!.parent
            } else {
                if !red(child(w, !side, s), s) {
                    s.nodes[child(w, side, s)]!.red = false; s.nodes[w]!.red = true
                    rotate(w, left: !side, &c, &s)
                    w = child(parent, !side, s)
                }
                s.nodes[w]!.red = s.nodes[parent]!.red
                s.nodes[parent]!.red = false
                let far = child(w, !side, s)
                if far != 0 { s.nodes[far]!.red = false }
                rotate(parent, left: side, &c, &s)
                x = c.root
                parent = 0
            }
        }
        if x != 0 { s.nodes[x]!.red = false }
    }
}
