/// What a helper argument must be: the kernel's `ARG_*` types (`include/linux/bpf.h`), as the
/// verifier checks them.
public enum HelperArgument: Hashable, Sendable {
    /// Any initialized value (`ARG_ANYTHING`).
    case anything
    /// A scalar (flags and numbers where the verifier wants no pointer).
    case scalar
    /// A map (`ARG_CONST_MAP_PTR`: a `lddw` of a map, or an inner map).
    case map
    /// A pointer to the map's key (`ARG_PTR_TO_MAP_KEY`: key size bytes, initialized).
    case mapKey
    /// A pointer to a whole map value, read (`ARG_PTR_TO_MAP_VALUE`).
    case mapValue
    /// A pointer to a whole map value, or NULL (`ARG_PTR_TO_MAP_VALUE | PTR_MAYBE_NULL`, e.g. the
    /// initial value of `bpf_sk_storage_get`).
    case mapValueOrNull
    /// A pointer to a whole map value the helper writes (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`).
    case mapValueOutput
    /// A pointer to memory the helper reads; its size is the next argument (`ARG_PTR_TO_MEM | MEM_RDONLY`).
    case memory
    /// Like `memory`, or NULL when the size is 0.
    case memoryOrNull
    /// A pointer to memory the helper writes; its size is the next argument (`ARG_PTR_TO_UNINIT_MEM`,
    /// `ARG_PTR_TO_MEM` without `MEM_RDONLY`).
    case memoryOutput
    /// Like `memoryOutput`, or NULL when the size is 0 (`ARG_PTR_TO_MEM_OR_NULL` written: `bpf_snprintf`'s buffer).
    case memoryOutputOrNull
    /// The size of the previous memory argument (`ARG_CONST_SIZE`: greater than 0).
    case size
    /// The size of the previous memory argument, possibly 0 (`ARG_CONST_SIZE_OR_ZERO`).
    case sizeOrZero
    /// A constant size (`ARG_CONST_ALLOC_SIZE_OR_ZERO`: ringbuf reservations).
    case constantSize
    /// A pointer to memory of a fixed size the helper writes (`ARG_PTR_TO_LONG`: 8, `ARG_PTR_TO_INT`: 4).
    case fixedOutput(Int)
    /// The program's context (`ARG_PTR_TO_CTX`).
    case context
    /// The program's context or NULL (`ARG_PTR_TO_CTX_OR_NULL`).
    case contextOrNull
    /// A callback function (`ARG_PTR_TO_FUNC`: a `lddw` of a function).
    case function
    /// A stack pointer or NULL (`ARG_PTR_TO_STACK_OR_NULL`: the callback's context).
    case stackOrNull
    /// A ringbuf record from `bpf_ringbuf_reserve`, released by the call
    /// (`ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`).
    case releasedRecord
    /// A `struct bpf_spin_lock` inside a map value (`ARG_PTR_TO_SPIN_LOCK`).
    case spinLock
    /// A `struct bpf_timer` inside a map value (`ARG_PTR_TO_TIMER`).
    case timer
    /// A NUL-terminated constant string in a read-only map (`ARG_PTR_TO_CONST_STR`).
    case constantString
    /// A socket the verifier tracks: any `struct bpf_sock *` or socket-lookup result
    /// (`ARG_PTR_TO_SOCK_COMMON`).
    case socketCommon
    /// A full socket (`ARG_PTR_TO_SOCKET`: a lookup result or `bpf_sk_fullsock`).
    case socket
    /// A full socket or NULL (`ARG_PTR_TO_SOCKET | PTR_MAYBE_NULL`).
    case socketOrNull
    /// A socket the call releases (`bpf_sk_release`: `ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE`).
    case releasedSocket
    /// A socket from a lookup, or a typed `struct sock_common *` (`ARG_PTR_TO_BTF_ID_SOCK_COMMON`).
    case btfSocketCommon
    /// A typed kernel pointer to the named struct (`ARG_PTR_TO_BTF_ID`: `task_struct`, `file`, ...).
    case btfID(String)
    /// A typed kernel pointer to the named struct, or NULL.
    case btfIDOrNull(String)
    /// A per-CPU kernel variable (`ARG_PTR_TO_PERCPU_BTF_ID`, from a typed `__ksym`).
    case perCPUBTFID
    /// A `struct bpf_dynptr` on the stack the helper initializes (`ARG_PTR_TO_DYNPTR | MEM_UNINIT`).
    case dynptrOutput
    /// An initialized `struct bpf_dynptr` (`ARG_PTR_TO_DYNPTR`).
    case dynptr
    /// A ringbuf dynptr the call releases (`bpf_ringbuf_submit_dynptr`, `bpf_ringbuf_discard_dynptr`).
    case releasedDynptr
    /// A pointer to a map value's `__kptr` field (`ARG_PTR_TO_KPTR`).
    case kptr
    /// Memory of a map value, a packet or the stack whose size the helper knows from BTF
    /// (`ARG_PTR_TO_ALLOC_MEM`-like uses not covered above); checked as a readable pointer.
    case pointer
}

/// A helper's arguments, at most five (r1-r5), kept inline: building a prototype allocates nothing
/// and needs no array type at run time.
public struct HelperArguments: RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral, Hashable, Sendable {
    private var a0 = HelperArgument.anything, a1 = HelperArgument.anything, a2 = HelperArgument.anything
    private var a3 = HelperArgument.anything, a4 = HelperArgument.anything
    public private(set) var endIndex = 0
    public var startIndex: Int { 0 }
    /// No arguments.
    public static var empty: HelperArguments { HelperArguments(nil) }

    /// The arguments in order; the first nil ends them.
    public init(_ a0: HelperArgument? = nil, _ a1: HelperArgument? = nil, _ a2: HelperArgument? = nil,
                _ a3: HelperArgument? = nil, _ a4: HelperArgument? = nil) {
        if let a0 { self.a0 = a0; endIndex = 1 } else { return }
        if let a1 { self.a1 = a1; endIndex = 2 } else { return }
        if let a2 { self.a2 = a2; endIndex = 3 } else { return }
        if let a3 { self.a3 = a3; endIndex = 4 } else { return }
        if let a4 { self.a4 = a4; endIndex = 5 }
    }

    public init(arrayLiteral elements: HelperArgument...) {
        precondition(elements.count <= 5, "a helper takes at most five arguments")
        for (i, e) in elements.enumerated() { endIndex = i + 1; self[i] = e }
    }

    public subscript(i: Int) -> HelperArgument {
        get {
            precondition(i >= 0 && i < endIndex, "argument index out of range")
            switch i {
            case 0: return a0
            case 1: return a1
            case 2: return a2
            case 3: return a3
            default: return a4
            }
        }
        set {
            precondition(i >= 0 && i < endIndex, "argument index out of range")
            switch i {
            case 0: a0 = newValue
            case 1: a1 = newValue
            case 2: a2 = newValue
            case 3: a3 = newValue
            default: a4 = newValue
            }
        }
    }
}

/// What a helper returns: the kernel's `RET_*` types.
public enum HelperReturn: Hashable, Sendable {
    /// A scalar in `lo...hi` (signed) (`RET_INTEGER` with a range the kernel knows).
    case integer(Int64, Int64)
    /// Any scalar (`RET_INTEGER`).
    case unknown
    /// Nothing: R0 is unreadable after the call (`RET_VOID`, e.g. `bpf_tail_call`).
    case void
    /// The map's value or NULL (`RET_PTR_TO_MAP_VALUE_OR_NULL`; an inner map for maps of maps).
    case mapValueOrNull
    /// A map value, never NULL (`RET_PTR_TO_MAP_VALUE`: `bpf_get_local_storage`).
    case mapValue
    /// A ringbuf record of the reserved size, or NULL; an acquired reference (`RET_PTR_TO_RINGBUF_MEM_OR_NULL`).
    case recordOrNull
    /// A full socket or NULL (`RET_PTR_TO_SOCKET_OR_NULL`); `acquires` says whether it must be released.
    case socketOrNull
    /// A `struct bpf_tcp_sock *` or NULL (`RET_PTR_TO_TCP_SOCK_OR_NULL`).
    case tcpSocketOrNull
    /// A `struct bpf_sock *` of any state, or NULL (`RET_PTR_TO_SOCK_COMMON_OR_NULL`).
    case socketCommonOrNull
    /// A typed kernel pointer (`RET_PTR_TO_BTF_ID`), never NULL.
    case btfID(String)
    /// A typed kernel pointer or NULL (`RET_PTR_TO_BTF_ID_OR_NULL`).
    case btfIDOrNull(String)
    /// Memory of the size the argument's BTF type gives, or NULL (`RET_PTR_TO_MEM_OR_BTF_ID | PTR_MAYBE_NULL`:
    /// `bpf_per_cpu_ptr`).
    case memoryOrNull
    /// Memory of the size the argument's BTF type gives (`RET_PTR_TO_MEM_OR_BTF_ID`: `bpf_this_cpu_ptr`).
    case memory
    /// Memory of the size given by the argument named in ``HelperPrototype/returnSizeArgument`` or NULL
    /// (`RET_PTR_TO_DYNPTR_MEM_OR_NULL`, `RET_PTR_TO_ALLOC_MEM_OR_NULL`).
    case sizedMemoryOrNull
}

/// A set of program types, as a bit mask of their kernel numbers.
public struct ProgramTypeSet: Hashable, Sendable, SetAlgebra, ExpressibleByArrayLiteral {
    public var bits: UInt64
    public init() { bits = 0 }
    public init(bits: UInt64) { self.bits = bits }
    public init(arrayLiteral elements: ProgramType...) {
        bits = 0
        for e in elements { bits |= 1 << UInt64(e.rawValue) }
    }
    /// Up to eight types (the helper table uses this rather than an array literal, so its sets are
    /// constants, not values built on first use).
    public init(_ a: ProgramType, _ b: ProgramType? = nil, _ c: ProgramType? = nil, _ d: ProgramType? = nil,
                _ e: ProgramType? = nil, _ f: ProgramType? = nil, _ g: ProgramType? = nil, _ h: ProgramType? = nil) {
        func bit(_ t: ProgramType?) -> UInt64 { t.map { 1 << UInt64($0.rawValue) } ?? 0 }
        bits = bit(a) | bit(b) | bit(c) | bit(d) | bit(e) | bit(f) | bit(g) | bit(h)
    }
    public init<S: Sequence>(_ elements: S) where S.Element == ProgramType {
        bits = 0
        for e in elements { bits |= 1 << UInt64(e.rawValue) }
    }
    public func contains(_ member: ProgramType) -> Bool { bits & (1 << UInt64(member.rawValue)) != 0 }
    public func union(_ other: Self) -> Self { Self(bits: bits | other.bits) }
    public func intersection(_ other: Self) -> Self { Self(bits: bits & other.bits) }
    public func symmetricDifference(_ other: Self) -> Self { Self(bits: bits ^ other.bits) }
    @discardableResult public mutating func insert(_ newMember: ProgramType) -> (inserted: Bool, memberAfterInsert: ProgramType) {
        let had = contains(newMember)
        bits |= 1 << UInt64(newMember.rawValue)
        return (!had, newMember)
    }
    @discardableResult public mutating func remove(_ member: ProgramType) -> ProgramType? {
        guard contains(member) else { return nil }
        bits &= ~(1 << UInt64(member.rawValue))
        return member
    }
    @discardableResult public mutating func update(with newMember: ProgramType) -> ProgramType? {
        let had = contains(newMember)
        insert(newMember)
        return had ? newMember : nil
    }
    public mutating func formUnion(_ other: Self) { bits |= other.bits }
    public mutating func formIntersection(_ other: Self) { bits &= other.bits }
    public mutating func formSymmetricDifference(_ other: Self) { bits ^= other.bits }
    /// The types, in kernel number order.
    public var members: [ProgramType] { ProgramType.allCases.filter(contains) }
    public static let all = ProgramTypeSet(ProgramType.allCases)
}

/// A set of map types, as a bit mask of their kernel numbers.
public struct MapTypeSet: Hashable, Sendable, ExpressibleByArrayLiteral {
    public var bits: UInt64
    public init(bits: UInt64) { self.bits = bits }
    public init(arrayLiteral elements: MapType...) {
        bits = 0
        for e in elements { bits |= 1 << UInt64(e.rawValue) }
    }
    /// Up to eight types (the tables use this rather than an array literal, which would make the
    /// first verification of a process build an `[MapType]` type at run time).
    public init(_ a: MapType, _ b: MapType? = nil, _ c: MapType? = nil, _ d: MapType? = nil,
                _ e: MapType? = nil, _ f: MapType? = nil, _ g: MapType? = nil, _ h: MapType? = nil) {
        func bit(_ t: MapType?) -> UInt64 { t.map { 1 << UInt64($0.rawValue) } ?? 0 }
        bits = bit(a) | bit(b) | bit(c) | bit(d) | bit(e) | bit(f) | bit(g) | bit(h)
    }
    public func contains(_ member: MapType) -> Bool { bits & (1 << UInt64(member.rawValue)) != 0 }
    public func union(_ other: Self) -> Self { Self(bits: bits | other.bits) }
    public func subtracting(_ other: Self) -> Self { Self(bits: bits & ~other.bits) }
    /// The types, in kernel number order.
    public var members: [MapType] { MapType.allCases.filter(contains) }
}

/// A helper's prototype, as the kernel's `struct bpf_func_proto` gives it: its id, name, arguments
/// and result, whether it is GPL-only, which program types may call it and what it invalidates.
/// ``HelperPrototype/table`` holds every helper of the Linux 6.18 UAPI; it is the one source the
/// verifier, the runtime, the disassembler, the kernel backend's probes and the docs read.
///
/// ```swift
/// let lookup = HelperPrototype[1]!          // bpf_map_lookup_elem(map, key) -> value or NULL
/// HelperPrototype.named("bpf_redirect")?.id // 23
/// ```
public struct HelperPrototype: Sendable, Hashable {
    public var id: Int32
    /// The name as `bpf_helper_defs.h` spells it, e.g. `bpf_map_lookup_elem`.
    public var name: String
    public var arguments: HelperArguments
    public var returns: HelperReturn
    /// The kernel refuses it to programs whose license is not GPL-compatible.
    public var gplOnly = false
    /// The helper moves or resizes the packet: every packet pointer is invalidated.
    public var changesPacket = false
    /// The returned pointer is an acquired reference the program must release (socket lookups).
    public var acquires = false
    /// Map types the helper accepts for its map argument (nil: the ordinary key/value maps).
    public var mapTypes: MapTypeSet?
    /// For ``HelperReturn/sizedMemoryOrNull``: the (1-based) argument holding the size.
    public var returnSizeArgument: Int?

    public init(_ id: Int32, _ name: String, _ arguments: HelperArguments, _ returns: HelperReturn = .unknown,
                gplOnly: Bool = false, changesPacket: Bool = false, acquires: Bool = false,
                mapTypes: MapTypeSet? = nil, returnSizeArgument: Int? = nil) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.returns = returns
        self.gplOnly = gplOnly
        self.changesPacket = changesPacket
        self.acquires = acquires
        self.mapTypes = mapTypes
        self.returnSizeArgument = returnSizeArgument
    }

    /// Program types that may call it on Linux 6.18 (see ``HelperPrototype/availability(_:)``).
    public var programTypes: ProgramTypeSet { Self.availability(id) }

    /// Whether programs of `type` may call it.
    public func isAvailable(to type: ProgramType) -> Bool { programTypes.contains(type) }

    /// Whether programs of `type` may call helper `id`, without building its prototype (for hot paths).
    public static func isAvailable(_ id: Int32, to type: ProgramType) -> Bool { availability(id).contains(type) }

    /// How many arguments helper `id` takes and whether it returns nothing, without handing out
    /// the prototype (nil: no such helper).
    public static func callShape(_ id: Int32) -> (arguments: Int, returnsVoid: Bool)? {
        guard let proto = prototype(id) else { return nil }
        return (proto.arguments.count, proto.returns == .void)
    }

    /// Whether the helper takes a callback function (`bpf_loop`, `bpf_for_each_map_elem`,
    /// `bpf_timer_set_callback`...): a call to it runs code elsewhere before the next instruction.
    public static func takesCallback(_ id: Int32) -> Bool {
        guard let proto = prototype(id) else { return false }
        return proto.arguments.contains(.function)
    }

    /// The helper with this id, or nil (an id past the table's end, or 0).
    public static subscript(id: Int32) -> HelperPrototype? { prototype(id) }

    /// The helper with this id as programs of `type` see it: where the kernel gives a program type its
    /// own prototype, that one (BTF-typed programs' `bpf_get_socket_cookie` takes a typed socket
    /// pointer, not the context).
    public static subscript(id: Int32, for type: ProgramType) -> HelperPrototype? {
        guard var proto = prototype(id) else { return nil }
        if id == 46 && (type == .tracing || type == .lsm) { proto.arguments = .init(.btfSocketCommon) }
        // sk_reuseport: bpf_get_socket_ptr_cookie_proto (a socket, e.g. ctx->sk).
        if id == 46 && type == .skReuseport { proto.arguments = .init(.btfSocketCommon) }
        // cgroup_sockopt and socket iterators: bpf_sk_setsockopt_proto / bpf_sk_getsockopt_proto
        // (the socket, not the context).
        if (id == 49 || id == 57) && (type == .cgroupSockopt || type == .tracing) { proto.arguments[0] = .btfSocketCommon }
        // cgroup_sock: bpf_sk_storage_get_cg_sock_proto (the context is the socket).
        if id == 107 && type == .cgroupSock { proto.arguments[1] = .context }
        // sk_lookup: bpf_sk_lookup_assign_proto (a full socket, or NULL to clear the selection).
        if id == 124 && type == .skLookup { proto.arguments[1] = .socketOrNull }
        return proto
    }

    /// The helper with this name (`bpf_` prefix optional).
    public static func named(_ name: String) -> HelperPrototype? {
        let full = name.hasPrefix("bpf_") ? name : "bpf_" + name
        return table.first { $0.name == full }
    }

    /// Every helper, by id (1 ... ``lastID``).
    public static var table: [HelperPrototype] { (1...lastID).compactMap(prototype) }

    /// Whether the kernel counts a license string as GPL-compatible (`license_is_gpl_compatible`).
    public static func isGPLCompatible(_ license: String) -> Bool {
        ["GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"].contains(license)
    }

    /// The ordinary key/value maps `bpf_map_lookup_elem` takes.
    public static let keyValueMaps: MapTypeSet = MapTypeSet(.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash, .lpmTrie, .arrayOfMaps)
        .union(MapTypeSet(.hashOfMaps, .cgroupStorage, .perCPUCgroupStorage, .skStorage, .inodeStorage, .taskStorage, .cgrpStorage, .devmap))
        .union(MapTypeSet(.devmapHash, .sockmap, .sockhash, .cpumap, .xskmap, .stackTrace, .cgroupArray, .reuseportSockarray))
    public static let updatableMaps = keyValueMaps.subtracting(MapTypeSet(.arrayOfMaps, .hashOfMaps, .stackTrace))
    public static let queueMaps: MapTypeSet = MapTypeSet(.queue, .stack)
    public static let forEachMaps: MapTypeSet = MapTypeSet(.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash)
    public static let perCPUMaps: MapTypeSet = MapTypeSet(.perCPUHash, .perCPUArray, .lruPerCPUHash)
}
