import BPFObject

/// What a helper argument must be.
public enum HelperArgument: Hashable, Sendable {
    /// Any initialized value.
    case anything
    /// A scalar.
    case scalar
    /// A map (`lddw` of a map, or an inner map).
    case map
    /// A pointer to the map's key (key size bytes, initialized).
    case mapKey
    /// A pointer to a whole map value, read (initialized).
    case mapValue
    /// A pointer to a whole map value the helper writes.
    case mapValueOutput
    /// A pointer to memory the helper reads; its size is the next argument.
    case memory
    /// Like `memory`, or NULL when the size is 0.
    case memoryOrNull
    /// A pointer to memory the helper writes; its size is the next argument.
    case memoryOutput
    /// The size of the previous memory argument (greater than 0).
    case size
    /// The size of the previous memory argument, possibly 0.
    case sizeOrZero
    /// A constant size (ringbuf reservations).
    case constantSize
    /// A pointer to memory of a fixed size the helper writes (e.g. `long *res`).
    case fixedOutput(Int)
    /// The program's context.
    case context
    /// A callback function (`lddw` of a function).
    case function
    /// A stack pointer or NULL (the callback's context).
    case stackOrNull
    /// A ringbuf record from `bpf_ringbuf_reserve`, released by the call.
    case releasedRecord
    /// A `struct bpf_spin_lock` inside a map value.
    case spinLock
    /// A NUL-terminated constant string in a read-only map (`.rodata`).
    case constantString
}

/// What a helper returns.
public enum HelperReturn: Hashable, Sendable {
    /// A scalar in `lo...hi` (signed).
    case integer(Int64, Int64)
    /// Any scalar.
    case unknown
    /// The map's value or NULL (an inner map for maps of maps).
    case mapValueOrNull
    /// A ringbuf record of the reserved size, or NULL; an acquired reference.
    case recordOrNull
}

/// A helper's prototype: its kernel id, name, arguments and result, and what it changes.
///
/// ```swift
/// let lookup = HelperPrototype.table[1]!    // bpf_map_lookup_elem(map, key) -> value or NULL
/// ```
public struct HelperPrototype: Sendable {
    public var id: Int32
    public var name: String
    public var arguments: [HelperArgument]
    public var returns: HelperReturn
    /// The helper moves or resizes the packet: every packet pointer is invalidated.
    public var changesPacket = false
    /// Map types the helper accepts for its map argument (nil: the ordinary key/value maps).
    public var mapTypes: Set<MapType>?
    /// Program types that may call it (nil: every type).
    public var programTypes: Set<ProgramType>?

    init(_ id: Int32, _ name: String, _ arguments: [HelperArgument], _ returns: HelperReturn = .unknown,
         changesPacket: Bool = false, mapTypes: Set<MapType>? = nil, programTypes: Set<ProgramType>? = nil) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.returns = returns
        self.changesPacket = changesPacket
        self.mapTypes = mapTypes
        self.programTypes = programTypes
    }

    static let tracing: Set<ProgramType> = [.kprobe, .tracepoint, .perfEvent, .rawTracepoint, .rawTracepointWritable,
                                             .tracing, .lsm, .syscall, .unspecified]
    static let keyValueMaps: Set<MapType> = [.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash, .lpmTrie,
                                              .arrayOfMaps, .hashOfMaps, .cgroupStorage, .perCPUCgroupStorage,
                                              .skStorage, .inodeStorage, .taskStorage, .cgrpStorage, .devmap, .devmapHash,
                                              .sockmap, .sockhash, .cpumap, .xskmap, .stackTrace, .cgroupArray,
                                              .reuseportSockarray]
    static let updatable: Set<MapType> = keyValueMaps.subtracting([.arrayOfMaps, .hashOfMaps, .stackTrace])
    static let queues: Set<MapType> = [.queue, .stack]
    static let forEachMaps: Set<MapType> = [.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash]
    static let perCPUMaps: Set<MapType> = [.perCPUHash, .perCPUArray, .lruPerCPUHash]

    /// The helpers the verifier knows, by id: every helper the Swift runtime implements.
    public static let table: [Int32: HelperPrototype] = {
        let skb = Set(ProgramType.allCases.filter { SKBAccess($0) != nil })
        let list: [HelperPrototype] = [
            .init(1, "bpf_map_lookup_elem", [.map, .mapKey], .mapValueOrNull, mapTypes: keyValueMaps),
            .init(2, "bpf_map_update_elem", [.map, .mapKey, .mapValue, .scalar], mapTypes: updatable),
            .init(3, "bpf_map_delete_elem", [.map, .mapKey], mapTypes: updatable),
            .init(4, "bpf_probe_read", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, 0), programTypes: tracing),
            .init(5, "bpf_ktime_get_ns", []),
            // Like the kernel's prototype, only the format and its size are checked (r3-r5 may be unset).
            .init(6, "bpf_trace_printk", [.memory, .size]),
            .init(7, "bpf_get_prandom_u32", [], .integer(0, Int64(UInt32.max))),
            .init(8, "bpf_get_smp_processor_id", [], .integer(0, 8191)),
            .init(9, "bpf_skb_store_bytes", [.context, .scalar, .memory, .size, .scalar], .integer(-4095, 0), changesPacket: true),
            .init(12, "bpf_tail_call", [.context, .map, .scalar], mapTypes: [.programArray]),
            .init(14, "bpf_get_current_pid_tgid", []),
            .init(15, "bpf_get_current_uid_gid", []),
            .init(16, "bpf_get_current_comm", [.memoryOutput, .size], .integer(-4095, 0)),
            .init(25, "bpf_perf_event_output", [.context, .map, .scalar, .memory, .sizeOrZero], .integer(-4095, 0), mapTypes: [.perfEventArray]),
            .init(26, "bpf_skb_load_bytes", [.context, .scalar, .memoryOutput, .size], .integer(-4095, 0), programTypes: skb),
            .init(28, "bpf_csum_diff", [.memoryOrNull, .sizeOrZero, .memoryOrNull, .sizeOrZero, .scalar]),
            .init(38, "bpf_skb_change_tail", [.context, .scalar, .scalar], .integer(-4095, 0), changesPacket: true),
            .init(39, "bpf_skb_pull_data", [.context, .scalar], .integer(-4095, 0), changesPacket: true),
            .init(41, "bpf_set_hash_invalid", [.context]),
            .init(42, "bpf_get_numa_node_id", [], .integer(0, 1023)),
            .init(43, "bpf_skb_change_head", [.context, .scalar, .scalar], .integer(-4095, 0), changesPacket: true),
            .init(44, "bpf_xdp_adjust_head", [.context, .scalar], .integer(-4095, 0), changesPacket: true, programTypes: [.xdp]),
            .init(45, "bpf_probe_read_str", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, Int64(Int32.max)), programTypes: tracing),
            .init(49, "bpf_set_hash", [.context, .scalar]),
            .init(54, "bpf_xdp_adjust_meta", [.context, .scalar], .integer(-4095, 0), changesPacket: true, programTypes: [.xdp]),
            .init(65, "bpf_xdp_adjust_tail", [.context, .scalar], .integer(-4095, 0), changesPacket: true, programTypes: [.xdp]),
            .init(87, "bpf_map_push_elem", [.map, .mapValue, .scalar], .integer(-4095, 0), mapTypes: queues.union([.bloomFilter])),
            .init(88, "bpf_map_pop_elem", [.map, .mapValueOutput], .integer(-4095, 0), mapTypes: queues),
            .init(89, "bpf_map_peek_elem", [.map, .mapValueOutput], .integer(-4095, 0), mapTypes: queues.union([.bloomFilter])),
            .init(93, "bpf_spin_lock", [.spinLock], .integer(0, 0)),
            .init(94, "bpf_spin_unlock", [.spinLock], .integer(0, 0)),
            .init(105, "bpf_strtol", [.memory, .size, .scalar, .fixedOutput(8)], .integer(-4095, Int64(Int32.max))),
            .init(106, "bpf_strtoul", [.memory, .size, .scalar, .fixedOutput(8)], .integer(-4095, Int64(Int32.max))),
            .init(112, "bpf_probe_read_user", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, 0)),
            .init(113, "bpf_probe_read_kernel", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, 0)),
            .init(114, "bpf_probe_read_user_str", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, Int64(Int32.max))),
            .init(115, "bpf_probe_read_kernel_str", [.memoryOutput, .sizeOrZero, .anything], .integer(-4095, Int64(Int32.max))),
            .init(118, "bpf_jiffies64", []),
            .init(125, "bpf_ktime_get_boot_ns", []),
            .init(130, "bpf_ringbuf_output", [.map, .memory, .sizeOrZero, .scalar], .integer(-4095, 0), mapTypes: [.ringBuffer]),
            .init(131, "bpf_ringbuf_reserve", [.map, .constantSize, .scalar], .recordOrNull, mapTypes: [.ringBuffer]),
            .init(132, "bpf_ringbuf_submit", [.releasedRecord, .scalar], .integer(0, 0)),
            .init(133, "bpf_ringbuf_discard", [.releasedRecord, .scalar], .integer(0, 0)),
            .init(134, "bpf_ringbuf_query", [.map, .scalar], mapTypes: [.ringBuffer]),
            .init(160, "bpf_ktime_get_coarse_ns", []),
            .init(164, "bpf_for_each_map_elem", [.map, .function, .stackOrNull, .scalar], .integer(-4095, Int64(Int32.max)), mapTypes: forEachMaps),
            .init(165, "bpf_snprintf", [.memoryOutput, .sizeOrZero, .constantString, .memoryOrNull, .sizeOrZero], .integer(-4095, Int64(Int32.max))),
            .init(181, "bpf_loop", [.scalar, .function, .stackOrNull, .scalar], .integer(-4095, 1 << 23)),
            .init(182, "bpf_strncmp", [.memory, .size, .constantString], .unknown),
            .init(195, "bpf_map_lookup_percpu_elem", [.map, .mapKey, .scalar], .mapValueOrNull, mapTypes: perCPUMaps),
        ]
        var table: [Int32: HelperPrototype] = [:]
        for p in list {
            var p = p
            // The skb helpers follow the context's rules (SKBAccess lists the ids each type has).
            if [9, 26, 38, 39, 41, 43, 49].contains(p.id) {
                p.programTypes = Set(skb.filter { SKBAccess($0)!.helpers.contains(p.id) })
            }
            table[p.id] = p
        }
        return table
    }()
}
