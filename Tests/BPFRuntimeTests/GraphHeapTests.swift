@testable import BPFRuntime
import Testing

/// The runtime's red-black tree (`GraphHeap`) under random adds and removes: after every operation
/// the links, the order, the colours and the black heights hold, and `first` is the smallest key.
@Suite("graph heap rbtree")
struct GraphHeapTests {
    @Test("random adds and removes keep the red-black rules")
    func randomTree() throws {
        let heap = GraphHeap.shared
        let root = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 8)
        root.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        defer { root.deallocate() }
        let (tree, _) = try heap.collection(at: root, kind: .rbtree)
        // Objects: an 8-byte key, then the 32-byte node.
        func key(_ node: UInt) -> Int64 { UnsafeRawPointer(bitPattern: node - 8)!.load(as: Int64.self) }
        var generator = SystemRandomNumberGenerator()
        var inTree: [UInt] = []
        for step in 0..<600 {
            if inTree.isEmpty || Int.random(in: 0..<3, using: &generator) > 0 {
                let object = UInt(heap.allocate(size: 40, refcounted: false))
                UnsafeMutableRawPointer(bitPattern: object)!.storeBytes(of: Int64.random(in: 0..<50, using: &generator), as: Int64.self)
                let node = object + 8
                var parent: UInt = 0, left = false, cursor = heap.rbRoot(tree)
                while cursor != 0 {
                    parent = cursor
                    left = key(node) < key(cursor)
                    cursor = heap.rbChild(of: cursor, in: tree, left: left)
                }
                try heap.rbInsert(node, in: tree, parent: parent, left: left)
                inTree.append(node)
            } else {
                let node = inTree.remove(at: Int.random(in: 0..<inTree.count, using: &generator))
                #expect(heap.rbRemove(node, from: tree) == node)
                #expect(heap.rbRemove(node, from: tree) == nil, "removed twice")
                for pointer in try heap.drop(node - 8) { pointer.deallocate() }
            }
            if let violation = heap.rbViolation(tree, key: key) {
                Issue.record("step \(step): \(violation)")
                return
            }
            #expect(heap.rbFirst(tree).map(key) == inTree.map(key).min(), "step \(step)")
        }
        for node in inTree {
            _ = heap.rbRemove(node, from: tree)
            for pointer in try heap.drop(node - 8) { pointer.deallocate() }
        }
        #expect(heap.rbRoot(tree) == 0)
    }

    @Test("a map's memory forgotten frees the objects its lists alone held; reused memory starts an empty list")
    func forgetAndReuse() throws {
        let heap = GraphHeap.shared
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { memory.deallocate() }
        memory.initializeMemory(as: UInt8.self, repeating: 0)
        let head = memory.baseAddress! + 16
        let (list, _) = try heap.collection(at: head, kind: .list)
        var objects: [UInt] = []
        for _ in 0..<3 {
            let object = UInt(heap.allocate(size: 32, refcounted: false))
            guard case .done = try heap.push(object + 8, into: list, back: true) else {
                Issue.record("push refused")
                return
            }
            objects.append(object)
        }
        #expect(objects.allSatisfy { heap.isObject($0) && heap.region(containing: $0 + 31)?.start == $0 })
        // The same head, still marked: the same list.
        #expect(try heap.collection(at: head, kind: .list).0 == list)
        // Zeroed (memory reused at that address): a new, empty list; the old one's objects dropped.
        (head).initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        let (fresh, freed) = try heap.collection(at: head, kind: .list)
        #expect(fresh != list && Set(freed.map { UInt(bitPattern: $0) }) == Set(objects))
        for pointer in freed { pointer.deallocate() }
        #expect(heap.listEnd(fresh, back: false, remove: false) == nil)
        // Forgetting the memory drops what the new list holds.
        let object = UInt(heap.allocate(size: 32, refcounted: false))
        _ = try heap.push(object + 8, into: fresh, back: false)
        heap.forget(memory)
        #expect(!heap.isObject(object) && heap.region(containing: object) == nil)
    }
}
