import BPFObject
extension KernelMap {
    private func bytes<T: BitwiseCopyable>(of value: T, size: Int, role: String, _ command: BPFCommand) throws(BPFError) -> [UInt8] {
        guard MemoryLayout<T>.size == size else {
            throw BPFError.invalidArgument("map \(name): \(role) type \(T.self) is \(MemoryLayout<T>.size) bytes, the map's \(role)s are \(size)", command: command)
        }
        return withUnsafeBytes(of: value) { Array($0) }
    }

    private func value<T: BitwiseCopyable>(_ bytes: [UInt8], as type: T.Type, _ command: BPFCommand) throws(BPFError) -> T {
        guard MemoryLayout<T>.size == valueSize else {
            throw BPFError.invalidArgument("map \(name): value type \(T.self) is \(MemoryLayout<T>.size) bytes, the map's values are \(valueSize)", command: command)
        }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// The value at `key` as `V`; nil when absent. Per-CPU maps: the first CPU's slot (see `perCPUValues`).
    public func lookup<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, as type: V.Type) throws(BPFError) -> V? {
        guard let raw = try lookup(key: bytes(of: key, size: keySize, role: "key", .mapLookupElem)) else { return nil }
        return try value(raw, as: V.self, .mapLookupElem)
    }

    /// Stores `value` at `key`. Per-CPU maps: the same value in every CPU's slot.
    public func update<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, value: V, flags: UpdateFlags = .any) throws(BPFError) {
        let k = try bytes(of: key, size: keySize, role: "key", .mapUpdateElem)
        var v = try bytes(of: value, size: valueSize, role: "value", .mapUpdateElem)
        if type.isPerCPU { v = perCPUBytes(Array(repeating: v, count: cpuSlots)) }
        try update(key: k, value: v, flags: flags)
    }

    /// Deletes `key`; throws ENOENT when absent.
    public func delete<K: BitwiseCopyable>(key: K) throws(BPFError) {
        try delete(key: bytes(of: key, size: keySize, role: "key", .mapDeleteElem))
    }

    /// Per-CPU maps: every CPU's value at `key`, in CPU order; nil when absent.
    public func perCPUValues<K: BitwiseCopyable, V: BitwiseCopyable>(key: K, as type: V.Type) throws(BPFError) -> [V]? {
        guard let raw = try lookup(key: bytes(of: key, size: keySize, role: "key", .mapLookupElem)) else { return nil }
        let stride = (valueSize + 7) & ~7
        var result: [V] = []
        for cpu in 0..<cpuSlots {
            result.append(try value(Array(raw[cpu * stride ..< cpu * stride + valueSize]), as: V.self, .mapLookupElem))
        }
        return result
    }

    /// Per-CPU maps: one buffer from one value per CPU (each padded to 8 bytes).
    public func perCPUBytes(_ values: [[UInt8]]) -> [UInt8] {
        let stride = (valueSize + 7) & ~7
        var out = [UInt8](repeating: 0, count: stride * cpuSlots)
        for (cpu, value) in values.prefix(cpuSlots).enumerated() {
            out.replaceSubrange(cpu * stride ..< cpu * stride + min(value.count, valueSize), with: value.prefix(valueSize))
        }
        return out
    }

    /// Every entry as (`K`, `V`), by next-key iteration and lookups.
    public func entries<K: BitwiseCopyable, V: BitwiseCopyable>(as keyType: K.Type, _ valueType: V.Type) throws(BPFError) -> [(key: K, value: V)] {
        guard MemoryLayout<K>.size == keySize else {
            throw BPFError.invalidArgument("map \(name): key type \(K.self) is \(MemoryLayout<K>.size) bytes, the map's keys are \(keySize)", command: .mapGetNextKey)
        }
        var result: [(key: K, value: V)] = []
        for key in try keys() {
            guard let raw = try lookup(key: key) else { continue }   // deleted meanwhile
            result.append((key.withUnsafeBytes { $0.loadUnaligned(as: K.self) }, try value(Array(raw.prefix(valueSize)), as: V.self, .mapLookupElem)))
        }
        return result
    }

    /// Queues and stacks: pushes a typed value.
    public func push<V: BitwiseCopyable>(_ value: V, flags: UpdateFlags = .any) throws(BPFError) {
        try push(bytes(of: value, size: valueSize, role: "value", .mapUpdateElem), flags: flags)
    }

    /// Queues and stacks: pops a typed value; nil when empty.
    public func pop<V: BitwiseCopyable>(as type: V.Type) throws(BPFError) -> V? {
        guard let raw = try pop() else { return nil }
        return try value(raw, as: V.self, .mapLookupAndDeleteElem)
    }
}
