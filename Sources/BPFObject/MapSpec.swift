/// A map type, with the kernel's `BPF_MAP_TYPE_*` number.
public enum MapType: UInt32, Sendable, Hashable, CaseIterable {
    case unspecified = 0, hash, array, programArray, perfEventArray, perCPUHash, perCPUArray, stackTrace
    case cgroupArray, lruHash, lruPerCPUHash, lpmTrie, arrayOfMaps, hashOfMaps, devmap, sockmap, cpumap
    case xskmap, sockhash, cgroupStorage, reuseportSockarray, perCPUCgroupStorage, queue, stack
    case skStorage, devmapHash, structOps, ringBuffer, inodeStorage, taskStorage, bloomFilter
    case userRingBuffer, cgrpStorage, arena

    /// Whether values hold one 8-byte-aligned slot per CPU (as user space reads and writes them).
    public var isPerCPU: Bool {
        switch self {
        case .perCPUHash, .perCPUArray, .lruPerCPUHash, .perCPUCgroupStorage: true
        default: false
        }
    }

    /// The kernel's name, as bpftool prints it (`hash`, `percpu_array`, `ringbuf`, ...).
    public var kernelName: String {
        switch self {
        case .unspecified: "unspec"
        case .hash: "hash"
        case .array: "array"
        case .programArray: "prog_array"
        case .perfEventArray: "perf_event_array"
        case .perCPUHash: "percpu_hash"
        case .perCPUArray: "percpu_array"
        case .stackTrace: "stack_trace"
        case .cgroupArray: "cgroup_array"
        case .lruHash: "lru_hash"
        case .lruPerCPUHash: "lru_percpu_hash"
        case .lpmTrie: "lpm_trie"
        case .arrayOfMaps: "array_of_maps"
        case .hashOfMaps: "hash_of_maps"
        case .devmap: "devmap"
        case .sockmap: "sockmap"
        case .cpumap: "cpumap"
        case .xskmap: "xskmap"
        case .sockhash: "sockhash"
        case .cgroupStorage: "cgroup_storage"
        case .reuseportSockarray: "reuseport_sockarray"
        case .perCPUCgroupStorage: "percpu_cgroup_storage"
        case .queue: "queue"
        case .stack: "stack"
        case .skStorage: "sk_storage"
        case .devmapHash: "devmap_hash"
        case .structOps: "struct_ops"
        case .ringBuffer: "ringbuf"
        case .inodeStorage: "inode_storage"
        case .taskStorage: "task_storage"
        case .bloomFilter: "bloom_filter"
        case .userRingBuffer: "user_ringbuf"
        case .cgrpStorage: "cgrp_storage"
        case .arena: "arena"
        }
    }
}

/// Map types print as the kernel and bpftool spell them, in every message.
extension MapType: CustomStringConvertible {
    public var description: String { kernelName }
}

/// Where a map definition came from.
public enum MapOrigin: Hashable, Sendable {
    /// A BTF-defined map in `.maps`.
    case btf
    /// A `struct bpf_map_def` in the legacy `maps` section.
    case legacy
    /// Global data: `.data`, `.rodata`, `.bss`, `.data.*`, `.rodata.*`, `.kconfig`.
    case globalData(section: String)
    /// A struct_ops map: a variable of `.struct_ops` or `.struct_ops.link` (see ``StructOpsSpec``).
    case structOps(section: String)
}

/// A map as an object describes it: pure data, before any runtime or kernel creates it.
///
/// ```swift
/// let counts = object.maps["counts"]!
/// print(counts.type, counts.keySize, counts.valueSize, counts.maxEntries)
/// ```
public struct MapSpec: Hashable, Sendable {
    public var name: String
    public var type: MapType
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    public var flags: UInt32
    /// 0 = none, 1 = by name (`LIBBPF_PIN_BY_NAME`).
    public var pinning: UInt32 = 0
    public var numaNode: UInt32 = 0
    public var mapExtra: UInt64 = 0
    /// BTF type ids of the key and value, when the object has them.
    public var keyType: Int?
    public var valueType: Int?
    /// The inner map of an array/hash of maps.
    public var innerMap: Box?
    /// Initial contents of a program array or map of maps: slot → program or map name.
    public var initialReferences: [Int: String] = [:]
    /// Initial bytes of a global-data map (its single value).
    public var initialValue: [UInt8]?
    /// Where the value's `struct bpf_spin_lock` is (from BTF), for `bpf_spin_lock` and `BPF_F_LOCK`.
    public var spinLockOffset: Int?
    /// Whether the contents are read-only to programs once loaded (`.rodata`, `.kconfig`).
    public var readOnly = false
    public var origin: MapOrigin
    /// For a struct_ops map, its kernel struct type, data and the programs its function pointers
    /// name. Its `valueSize` is the object's struct size until a loader resizes it to the kernel's
    /// value type (`bpf_struct_ops_<type>`).
    public var structOps: StructOpsSpec?

    /// Indirection so a spec can hold its inner map.
    public final class Box: Hashable, Sendable {
        public let spec: MapSpec
        public init(_ spec: MapSpec) { self.spec = spec }
        public static func == (a: Box, b: Box) -> Bool { a.spec == b.spec }
        public func hash(into hasher: inout Hasher) { hasher.combine(spec) }
    }

    public init(name: String, type: MapType, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32 = 0, origin: MapOrigin = .btf) {
        self.name = name
        self.type = type
        self.keySize = keySize
        self.valueSize = valueSize
        self.maxEntries = maxEntries
        self.flags = flags
        self.origin = origin
    }

    /// Whether this is a global-data map (`.data`, `.rodata`, `.bss`, ...).
    public var isGlobalData: Bool {
        if case .globalData = origin { return true }
        return false
    }

    /// Whether this is constant data (`.rodata`, `.rodata.*`, `.kconfig`): read-only to programs and
    /// frozen by both backends once loaded, so its bytes stay `initialValue` for good and the verifier
    /// may read them as known values, as the kernel reads frozen read-only maps (`.kconfig` as filled
    /// for the backend: the running kernel's configuration, or the values given to the runtime).
    public var isConstantData: Bool { isGlobalData && readOnly && (name.hasPrefix(".rodata") || name == ".kconfig") }
}

/// Map update flags (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`, `BPF_F_LOCK`), the same for the Swift
/// runtime's maps and the kernel's.
public struct MapUpdateFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let any: MapUpdateFlags = []
    public static let noExist = MapUpdateFlags(rawValue: 1)
    public static let exist = MapUpdateFlags(rawValue: 2)
    public static let lock = MapUpdateFlags(rawValue: 4)
}
