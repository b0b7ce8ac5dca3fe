import BPFObject

/// `BPF_MAP_TYPE_PROG_ARRAY`: slots holding programs, the targets of `bpf_tail_call`. The 4-byte
/// value is a program id (``LoadedProgram/id``), as the kernel's user API returns ids. When the
/// object that created it is released, the array is cleared, as Linux clears a program array when
/// user space closes it — that also breaks the reference cycle between programs and the array.
final class ProgramArrayMap: RuntimeMap, @unchecked Sendable {
    private var slots: [LoadedProgram?]

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 4, spec.valueSize == 4 else {
            throw MapError(.invalid, "program array '\(spec.name)': key and value sizes must be 4")
        }
        slots = Array(repeating: nil, count: spec.maxEntries)
        try super.init(spec: spec)
    }

    override var userValueSize: Int { 4 }

    private func index(_ key: [UInt8]) throws(MapError) -> Int {
        try checkKey(key.count)
        let i = Int(key.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        guard i < spec.maxEntries else { throw MapError(.tooBig, "program array '\(spec.name)': index \(i) out of range") }
        return i
    }

    func set(_ i: Int, _ program: LoadedProgram?) {
        lock.withLock { _ in slots[i] = program }
    }

    func slotProgram(_ i: Int) -> LoadedProgram? {
        guard i >= 0, i < spec.maxEntries else { return nil }
        return lock.withLock { _ in slots[i] }
    }

    func clear() { lock.withLock { _ in for i in slots.indices { slots[i] = nil } } }

    override func lookupValue(_ key: UnsafeRawBufferPointer) throws(MapError) -> [UInt8]? {
        try slotProgram(index(Array(key))).map { RuntimeMap.bytes(of: $0.id) }
    }

    override func updateValue(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, flags: MapUpdateFlags) throws(MapError) {
        let i = try index(Array(key))
        let id = value.loadUnaligned(as: UInt32.self)
        guard let program = IDRegistry<LoadedProgram>.programs.object(id: id) else {
            throw MapError(.badDescriptor, "program array '\(spec.name)': no program with id \(id)")
        }
        if flags.contains(.noExist) { throw MapError(.exists, "program array '\(spec.name)': every index exists (BPF_NOEXIST)") }
        set(i, program)
    }

    override func deleteValue(_ key: UnsafeRawBufferPointer) throws(MapError) {
        let i = try index(Array(key))
        try lock.withLock { _ throws(MapError) in
            guard slots[i] != nil else { throw MapError(.noEntry, "program array '\(spec.name)': slot \(i) is empty") }
            slots[i] = nil
        }
    }

    override func nextKey(after key: [UInt8]?) -> [UInt8]? {
        var next = 0
        if let key, key.count == 4 { next = key.withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self)) } + 1 }
        return next < spec.maxEntries ? RuntimeMap.bytes(of: UInt32(next)) : nil
    }

    override func programLookup(_ key: UnsafeRawPointer, _ call: borrowing HelperCall) throws(MapError) -> UInt64 {
        throw MapError(.invalid, "program array '\(spec.name)': programs cannot look up program arrays")
    }
}

extension RuntimeMap {
    /// For a program array: puts `program` in slot `index` (nil empties it).
    public func setProgram(_ program: LoadedProgram?, at index: Int) throws(MapError) {
        guard let array = self as? ProgramArrayMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a program array") }
        guard index >= 0, index < spec.maxEntries else { throw MapError(.tooBig, "program array '\(spec.name)': index \(index) out of range") }
        array.set(index, program)
    }

    /// For a program array: the program in slot `index`.
    public func program(at index: Int) throws(MapError) -> LoadedProgram? {
        guard let array = self as? ProgramArrayMap else { throw MapError(.invalid, "map '\(spec.name)' (\(spec.type)) is not a program array") }
        return array.slotProgram(index)
    }
}
