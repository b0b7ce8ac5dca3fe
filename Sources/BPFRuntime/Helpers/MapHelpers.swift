import BPFObject
/// The map helpers: `bpf_map_lookup_elem`, `update_elem`, `delete_elem`, `push_elem`, `pop_elem`,
/// `peek_elem` and `lookup_percpu_elem`, with the kernel's return conventions (a pointer or NULL,
/// 0 or a negative errno).
enum MapHelpers {
    static let einval = UInt64(bitPattern: -22)

    static func map(_ call: borrowing HelperCall, argument n: Int = 1) throws(HelperError) -> RuntimeMap {
        guard let map = call.map(handle: call.argument(n)) else {
            throw HelperError("argument \(n) (0x\(String(call.argument(n), radix: 16))) is not a map")
        }
        return map
    }

    /// The key argument, checked against the map's key size (maps without keys accept anything).
    static func key(_ call: borrowing HelperCall, _ map: RuntimeMap, argument n: Int = 2) throws(HelperError) -> UnsafeMutableRawPointer {
        if map.spec.keySize == 0 { return UnsafeMutableRawPointer(bitPattern: 8)! }
        return try call.memory(at: call.argument(n), size: map.spec.keySize, write: false)
    }

    /// Runs a map operation, turning a MapError into the negative errno the program sees.
    static func errno(_ body: () throws(MapError) -> Void) -> UInt64 {
        do {
            try body()
            return 0
        } catch {
            return error.helperReturnValue
        }
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.mapLookupElem, name: "bpf_map_lookup_elem") { call in
            let map = try map(call)
            let key = try key(call, map)
            do throws(MapError) { return try map.programLookup(key, call) } catch { throw HelperError(error.description) }
        },
        Helper(id: KernelHelperID.mapUpdateElem, name: "bpf_map_update_elem") { call in
            let map = try map(call)
            let key = try key(call, map)
            let value = try call.memory(at: call.argument(3), size: map.spec.valueSize, write: false)
            if map.spec.keySize == 0 {
                // Queues, stacks and bloom filters take update as push.
                return errno { () throws(MapError) in
                    try map.push(UnsafeRawBufferPointer(start: value, count: map.spec.valueSize), flags: MapUpdateFlags(rawValue: call.argument(4)))
                }
            }
            return errno { () throws(MapError) in try map.programUpdate(key, value, flags: MapUpdateFlags(rawValue: call.argument(4)), call) }
        },
        Helper(id: KernelHelperID.mapDeleteElem, name: "bpf_map_delete_elem") { call in
            let map = try map(call)
            let key = try key(call, map)
            return errno { () throws(MapError) in try map.programDelete(key) }
        },
        Helper(id: KernelHelperID.mapPushElem, name: "bpf_map_push_elem") { call in
            let map = try map(call)
            let value = try call.memory(at: call.argument(2), size: map.spec.valueSize, write: false)
            return errno { () throws(MapError) in
                try map.push(UnsafeRawBufferPointer(start: value, count: map.spec.valueSize), flags: MapUpdateFlags(rawValue: call.argument(3)))
            }
        },
        Helper(id: KernelHelperID.mapPopElem, name: "bpf_map_pop_elem") { call in
            let map = try map(call)
            let value = try call.memory(at: call.argument(2), size: map.spec.valueSize, write: true)
            return errno { () throws(MapError) in try map.pop(into: value, remove: true) }
        },
        Helper(id: KernelHelperID.mapPeekElem, name: "bpf_map_peek_elem") { call in
            let map = try map(call)
            // A bloom filter reads the value to test; queues and stacks write the next value.
            let isBloom = map.spec.type == .bloomFilter
            let value = try call.memory(at: call.argument(2), size: map.spec.valueSize, write: !isBloom)
            return errno { () throws(MapError) in try map.pop(into: value, remove: false) }
        },
        Helper(id: KernelHelperID.mapLookupPercpuElem, name: "bpf_map_lookup_percpu_elem") { call in
            let map = try map(call)
            let key = try key(call, map)
            let cpu = Int(call.argument(3))
            guard map.spec.type.isPerCPU, cpu >= 0, cpu < VirtualCPUs.shared.count else { return 0 }
            do throws(MapError) { return try map.lookupOnCPU(key, cpu: cpu) } catch { throw HelperError(error.description) }
        },
    ]
}

extension RuntimeMap {
    /// A per-CPU map's value address on a given CPU (`bpf_map_lookup_percpu_elem`), or 0.
    func lookupOnCPU(_ key: UnsafeRawPointer, cpu: Int) throws(MapError) -> UInt64 {
        if let array = self as? ArrayMap {
            guard let i = array.index(key) else { return 0 }
            return UInt64(UInt(bitPattern: array.value(i) + cpu * slotSize))
        }
        if let hash = self as? HashMap {
            return hash.lookupAddress(key).map { UInt64(UInt(bitPattern: $0 + cpu * slotSize)) } ?? 0
        }
        return 0
    }
}
