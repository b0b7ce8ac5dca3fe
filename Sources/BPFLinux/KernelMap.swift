import BPFObject
import CBPFLinuxSupport

/// A map in the kernel, created with `BPF_MAP_CREATE` (or opened by id or pin) and owned through its fd.
/// Keys and values are bytes, or any `BitwiseCopyable` type of the map's key and value size.
///
/// ```swift
/// let map = try KernelMap(MapSpec(name: "counts", type: .hash, keySize: 4, valueSize: 8, maxEntries: 64))
/// try map.update(key: UInt32(6), value: UInt64(1), flags: .noExist)
/// let n = try map.lookup(key: UInt32(6), as: UInt64.self)   // Optional(1)
/// ```
public final class KernelMap: Sendable {
    /// The map's fd.
    public let fd: BPFFileDescriptor
    public let type: MapType
    public let keySize: Int
    /// The value size the kernel was given (per CPU, for per-CPU maps).
    public let valueSize: Int
    public let maxEntries: Int
    public let flags: UInt32
    /// The name the kernel holds (sanitised, at most 15 bytes).
    public let name: String
    /// For per-CPU maps, the number of slots in a value from user space (the possible CPUs); else 1.
    public let cpuSlots: Int

    /// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`: the flags the runtime's maps take too.
    public typealias UpdateFlags = MapUpdateFlags

    /// Map flags (`BPF_F_*`) commonly used at creation.
    public enum Flag {
        public static let noPrealloc: UInt32 = 1 << 0
        public static let noCommonLRU: UInt32 = 1 << 1
        public static let numaNode: UInt32 = 1 << 2
        public static let rdonly: UInt32 = 1 << 3
        public static let wronly: UInt32 = 1 << 4
        public static let rdonlyProg: UInt32 = 1 << 7
        public static let wronlyProg: UInt32 = 1 << 8
        public static let mmapable: UInt32 = 1 << 10
    }

    /// Creates the map `spec` describes. `innerMap` is the template of an array/hash of maps; with
    /// `btf`, the map gets the spec's BTF key and value type ids (`keyType`, `valueType`).
    public convenience init(_ spec: MapSpec, innerMap: KernelMap? = nil, btf: KernelBTF? = nil) throws(BPFError) {
        var attr = cbpf_map_create_attr()
        attr.map_type = spec.type.rawValue
        attr.key_size = UInt32(spec.keySize)
        attr.value_size = UInt32(spec.valueSize)
        attr.max_entries = UInt32(spec.maxEntries)
        attr.map_flags = spec.flags
        attr.numa_node = spec.numaNode
        attr.map_extra = spec.mapExtra
        if let btf, spec.valueType != nil || spec.keyType != nil {
            attr.btf_fd = try btf.fd.checked(.mapCreate)
            attr.btf_key_type_id = UInt32(spec.keyType ?? 0)
            attr.btf_value_type_id = UInt32(spec.valueType ?? 0)
        }
        if spec.type == .arrayOfMaps || spec.type == .hashOfMaps {
            guard let innerMap else {
                throw BPFError.invalidArgument("map \(spec.name): \(spec.type.kernelName) needs an inner map", command: .mapCreate)
            }
            attr.inner_map_fd = try innerMap.fd.checked(.mapCreate)
        }
        let name = Self.sanitisedName(spec.name)
        withUnsafeMutableBytes(of: &attr.map_name) { raw in
            cbpf_set_name(raw.baseAddress!.assumingMemoryBound(to: CChar.self), name)
        }
        let fd: BPFFileDescriptor
        do {
            fd = try BPFSyscall.callReturningFD(.mapCreate, &attr)
        } catch {
            var error = error
            error.message = "map \(spec.name) (\(spec.type.kernelName), key \(spec.keySize), value \(spec.valueSize), max_entries \(spec.maxEntries), flags 0x\(String(spec.flags, radix: 16))): " + error.message
            throw error
        }
        try self.init(fd: fd, type: spec.type, keySize: spec.keySize, valueSize: spec.valueSize,
                      maxEntries: spec.maxEntries, flags: spec.flags, name: name)
    }

    /// Wraps an fd already open on a map with these properties (see `KernelMap.open(id:)`).
    public init(fd: BPFFileDescriptor, type: MapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32, name: String) throws(BPFError) {
        self.fd = fd
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.name = name
        self.cpuSlots = type.isPerCPU ? try PossibleCPUs.count : 1
    }

    /// A name the kernel accepts: letters, digits, `_` and `.`, at most 15 bytes.
    public static func sanitisedName(_ name: String) -> String {
        let allowed = name.unicodeScalars.map { scalar -> Character in
            (scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "."))
                ? Character(scalar) : "_"
        }
        return String(allowed.prefix(15))
    }

    /// The size of a value buffer from user space: `valueSize`, or for per-CPU maps
    /// `round_up(valueSize, 8) × possible CPUs`.
    public var userValueSize: Int {
        cpuSlots == 1 && !type.isPerCPU ? valueSize : ((valueSize + 7) & ~7) * cpuSlots
    }

    /// Closes the map's fd now (the kernel frees the map once nothing else holds it).
    public func close() { fd.close() }

    // MARK: - Elements

    private func elementCall(_ command: BPFCommand, key: UnsafeRawPointer?, value: UnsafeRawPointer?, flags: UInt64 = 0) throws(BPFError) {
        var attr = cbpf_map_elem_attr()
        attr.map_fd = try fd.checked(command)
        attr.key = address(key)
        attr.value = address(value)
        attr.flags = flags
        try BPFSyscall.call(command, &attr)
    }

    private func checkKey(_ key: [UInt8], _ command: BPFCommand) throws(BPFError) {
        guard key.count == keySize else {
            throw BPFError.invalidArgument("map \(name): key is \(key.count) bytes, the map's keys are \(keySize)", command: command)
        }
    }

    private func checkValue(_ value: [UInt8], _ command: BPFCommand) throws(BPFError) {
        guard value.count == userValueSize else {
            throw BPFError.invalidArgument("map \(name): value is \(value.count) bytes, the map's values are \(userValueSize) from user space", command: command)
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value, or nil when the key is absent. A nil key peeks a queue or stack.
    public func lookup(key: [UInt8]?, flags: UpdateFlags = []) throws(BPFError) -> [UInt8]? {
        if let key { try checkKey(key, .mapLookupElem) }
        var value = [UInt8](repeating: 0, count: userValueSize)
        do {
            try withOptionalBytes(key) { k in
                value.withUnsafeMutableBytes { v in
                    capture { () throws(BPFError) in try elementCall(.mapLookupElem, key: k, value: v.baseAddress, flags: flags.rawValue) }
                }
            }.get()
        } catch where error.errno == .ENOENT {
            return nil
        }
        return value
    }

    /// `BPF_MAP_UPDATE_ELEM`. A nil key pushes onto a queue or stack.
    public func update(key: [UInt8]?, value: [UInt8], flags: UpdateFlags = .any) throws(BPFError) {
        if let key { try checkKey(key, .mapUpdateElem) }
        try checkValue(value, .mapUpdateElem)
        try withOptionalBytes(key) { k in
            value.withUnsafeBytes { v in
                capture { () throws(BPFError) in try elementCall(.mapUpdateElem, key: k, value: v.baseAddress, flags: flags.rawValue) }
            }
        }.get()
    }

    /// `BPF_MAP_DELETE_ELEM`; throws ENOENT when the key is absent.
    public func delete(key: [UInt8]) throws(BPFError) {
        try checkKey(key, .mapDeleteElem)
        try key.withUnsafeBytes { k in capture { () throws(BPFError) in try elementCall(.mapDeleteElem, key: k.baseAddress, value: nil) } }.get()
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key when nil), or nil at the end.
    public func nextKey(after key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        if let key { try checkKey(key, .mapGetNextKey) }
        var next = [UInt8](repeating: 0, count: keySize)
        do {
            try withOptionalBytes(key) { k in
                next.withUnsafeMutableBytes { n in
                    capture { () throws(BPFError) in try elementCall(.mapGetNextKey, key: k, value: n.baseAddress) }
                }
            }.get()
        } catch where error.errno == .ENOENT {
            return nil
        }
        return next
    }

    /// Every key, by `BPF_MAP_GET_NEXT_KEY`.
    public func keys() throws(BPFError) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var key: [UInt8]? = nil
        while let next = try nextKey(after: key) {
            result.append(next)
            key = next
        }
        return result
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: the value, removed; nil when absent. A nil key pops a queue
    /// or stack.
    public func lookupAndDelete(key: [UInt8]?) throws(BPFError) -> [UInt8]? {
        if let key { try checkKey(key, .mapLookupAndDeleteElem) }
        var value = [UInt8](repeating: 0, count: userValueSize)
        do {
            try withOptionalBytes(key) { k in
                value.withUnsafeMutableBytes { v in
                    capture { () throws(BPFError) in try elementCall(.mapLookupAndDeleteElem, key: k, value: v.baseAddress) }
                }
            }.get()
        } catch where error.errno == .ENOENT {
            return nil
        }
        return value
    }

    /// Queues and stacks: push (`BPF_EXIST` replaces the oldest when full).
    public func push(_ value: [UInt8], flags: UpdateFlags = .any) throws(BPFError) {
        try update(key: nil, value: value, flags: flags)
    }

    /// Queues and stacks: pop; nil when empty.
    public func pop() throws(BPFError) -> [UInt8]? { try lookupAndDelete(key: nil) }

    /// Queues and stacks: peek; nil when empty.
    public func peek() throws(BPFError) -> [UInt8]? { try lookup(key: nil) }

    /// `BPF_MAP_FREEZE`: user space may no longer write the map.
    public func freeze() throws(BPFError) {
        var attr = cbpf_map_elem_attr()
        // The kernel wants every byte after map_fd zero, the padding before `key` too, which a
        // Swift struct initialiser need not clear (an optimised build left it dirty: EINVAL).
        withUnsafeMutableBytes(of: &attr) { $0.initializeMemory(as: UInt8.self, repeating: 0) }
        attr.map_fd = try fd.checked(.mapFreeze)
        try BPFSyscall.call(.mapFreeze, &attr)
    }

    /// Map-in-map and program arrays: stores the fd of `map` (or a program) at `key`.
    public func setFD(_ other: BPFFileDescriptor, key: [UInt8]) throws(BPFError) {
        let raw = try other.checked(.mapUpdateElem)
        try update(key: key, value: withUnsafeBytes(of: raw) { Array($0) })
    }
}

/// Calls `body` with the bytes' address, or nil.
@inline(__always)
func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { raw in body(raw.baseAddress) }
}

/// Runs a typed-throwing body inside a closure that cannot throw (the standard library's buffer
/// methods rethrow untyped errors); `.get()` rethrows it typed.
@inline(__always)
func capture(_ body: () throws(BPFError) -> Void) -> Result<Void, BPFError> {
    do { try body(); return .success(()) } catch { return .failure(error) }
}
