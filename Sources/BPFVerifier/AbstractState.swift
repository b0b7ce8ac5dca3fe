import BPFObject

/// The type of a register in the verifier's abstract state.
public enum RegisterKind: UInt8, Hashable, Sendable {
    case uninitialized
    case scalar
    /// The program's context (r1 at entry).
    case context
    /// A pointer into a stack frame (`frame` says which).
    case stack
    /// A pointer into a value of map `map`.
    case mapValue
    /// A map lookup's result before its NULL check.
    case mapValueOrNull
    /// A map (`lddw` of a map, or an inner map after its NULL check).
    case mapPointer
    /// An inner map from a map-of-maps lookup, before its NULL check.
    case mapPointerOrNull
    /// Packet data (`data`), packet metadata (`data_meta`), the packet's end (`data_end`).
    case packet, packetMeta, packetEnd
    /// Memory of a known size (`size`): ringbuf records, helper results, map keys.
    case memory
    /// Memory of a known size or NULL (`bpf_ringbuf_reserve`'s result before its check).
    case memoryOrNull
    /// A subprogram (`lddw` of a function), for callbacks; `frame` holds the target instruction.
    case function
    /// A full socket (`struct bpf_sock *`, `size` readable bytes), and before its NULL check.
    case socket, socketOrNull
    /// A socket in any state (`struct bpf_sock *` of a request or time-wait socket too), and before its NULL check.
    case socketCommon, socketCommonOrNull
    /// A `struct bpf_tcp_sock *`, and before its NULL check.
    case tcpSocket, tcpSocketOrNull
    /// A typed kernel pointer (`PTR_TO_BTF_ID`): passed to helpers, not dereferenced here; and before its NULL check.
    case kernelPointer, kernelPointerOrNull
    /// An open-coded iterator's state, in the stack slots it occupies (`STACK_ITER`): `btfType` is
    /// its struct (`bpf_iter_num`...), `referenceID` the reference `bpf_iter_*_destroy` releases.
    case iterator
    /// A dynptr's state, in the two stack slots it occupies (`STACK_DYNPTR`): see `Dynptrs.swift`.
    case dynptr
    /// A pointer to a dynptr the program may read but not change or release (`CONST_PTR_TO_DYNPTR`:
    /// a `bpf_user_ringbuf_drain` callback's sample).
    case constDynptr
    /// A pointer into the program's arena (`PTR_TO_ARENA`, from `addr_space_cast(r, 0, 1)`): any
    /// arithmetic keeps it one, and it reads and writes anywhere (the kernel's JIT confines it to
    /// the arena's 4 GiB window, where unallocated pages read 0).
    case arena

    var isPointer: Bool { self != .uninitialized && self != .scalar }
    var isNullable: Bool {
        switch self {
        case .mapValueOrNull, .mapPointerOrNull, .memoryOrNull, .socketOrNull, .socketCommonOrNull, .tcpSocketOrNull,
             .kernelPointerOrNull: true
        default: false
        }
    }

    /// The socket kinds (`struct bpf_sock *` and `struct bpf_tcp_sock *`), NULL-checked.
    var isSocket: Bool { self == .socket || self == .socketCommon || self == .tcpSocket }

    var nonNull: RegisterKind {
        switch self {
        case .mapValueOrNull: .mapValue
        case .mapPointerOrNull: .mapPointer
        case .memoryOrNull: .memory
        case .socketOrNull: .socket
        case .socketCommonOrNull: .socketCommon
        case .tcpSocketOrNull: .tcpSocket
        case .kernelPointerOrNull: .kernelPointer
        default: self
        }
    }

    var name: String {
        switch self {
        case .uninitialized: "uninitialized"
        case .scalar: "scalar"
        case .context: "ctx"
        case .stack: "fp"
        case .mapValue: "map_value"
        case .mapValueOrNull: "map_value_or_null"
        case .mapPointer: "map_ptr"
        case .mapPointerOrNull: "map_ptr_or_null"
        case .packet: "pkt"
        case .packetMeta: "pkt_meta"
        case .packetEnd: "pkt_end"
        case .memory: "mem"
        case .memoryOrNull: "mem_or_null"
        case .function: "func"
        case .socket: "sock"
        case .socketOrNull: "sock_or_null"
        case .socketCommon: "sock_common"
        case .socketCommonOrNull: "sock_common_or_null"
        case .tcpSocket: "tcp_sock"
        case .tcpSocketOrNull: "tcp_sock_or_null"
        case .kernelPointer: "ptr_"
        case .kernelPointerOrNull: "ptr_or_null_"
        case .iterator: "iter"
        case .dynptr: "dynptr"
        case .constDynptr: "const_dynptr"
        case .arena: "arena"
        }
    }
}

/// One register's abstract value.
public struct Register: Hashable, Sendable {
    public var kind: RegisterKind = .uninitialized
    /// A scalar's value, or a pointer's variable offset.
    public var value: Scalar = .constant(0)
    /// A pointer's fixed offset.
    public var offset: Int = 0
    /// Links copies: a nullable pointer's copies (NULL checks), packet pointers with the same
    /// variable offset (bounds checks), and scalars copied from one another (range checks).
    public var id: UInt32 = 0
    /// The acquired reference (ringbuf record) this pointer is.
    public var referenceID: UInt32 = 0
    /// The map (index into the verifier's map table) for map pointers and values.
    public var map: Int = -1
    /// Memory size (`memory`), or proven packet range (`packet`, `packetMeta`).
    public var size: Int = 0
    /// Stack pointers: the frame index; functions: the target instruction.
    public var frame: Int = 0
    /// The instruction that produced a nullable pointer (for messages).
    public var origin: Int = -1
    /// Read-only memory (`memory`).
    public var readOnly = false

    static let uninitialized = Register()
    static func scalar(_ value: Scalar) -> Register {
        var r = Register()
        r.kind = .scalar
        r.value = value
        return r
    }
    static var unknownScalar: Register { .scalar(.unknown) }

    func describe(maps: [MapSpec]) -> String {
        switch kind {
        case .uninitialized: return "uninitialized"
        case .scalar: return value.description
        default:
            var parts: [String] = []
            if map >= 0 && map < maps.count { parts.append("map=\(maps[map].name)") }
            if kind == .stack { parts.append("frame=\(frame)") }
            if kind == .function { parts.append("insn=\(frame)") }
            if offset != 0 || kind == .stack { parts.append("off=\(offset)") }
            if !value.isConstant || value.constantValue != 0 { parts.append("var=\(value)") }
            if kind == .packet || kind == .packetMeta { parts.append("range=\(size)") }
            if kind == .memory || kind == .memoryOrNull { parts.append("size=\(size)") }
            if kind == .kernelPointer || kind == .kernelPointerOrNull {
                if btfType != 0 { parts.append("btf_id=\(btfType)") }
                if !kernelFlags.prefix.isEmpty { parts.append(String(kernelFlags.prefix.dropLast())) }
            }
            if id != 0 { parts.append("id=\(id)") }
            if referenceID != 0 { parts.append("ref=\(referenceID)") }
            return "\(kind.name)(" + parts.joined(separator: ",") + ")"
        }
    }
}

/// What one stack byte holds.
enum StackByte: UInt8, Hashable, Sendable {
    case invalid = 0, misc, zero, spill
}

/// One function's frame: its registers and its 512-byte stack (bytes indexed from the frame pointer
/// down: index 0 is fp-1).
struct Frame: Hashable, Sendable {
    var registers: [Register]
    var bytes = StackBytes()
    /// Spilled registers by 8-byte slot (slot 0 is fp-8..fp-1).
    var spills = SpillSlots()
    /// Scalars stored as 4 aligned bytes, by 4-byte unit (unit 0 is fp-4..fp-1); any write to a
    /// byte of the unit forgets it.
    var narrow = NarrowUnits()
    /// The call instruction that created this frame (-1 for the main frame).
    var callSite: Int
    /// The first instruction of the frame's function.
    var subprogram: Int
    /// A callback frame (bpf_loop, for_each_map_elem): its exit ends the path.
    var isCallback = false
    /// References held when a callback frame started (it must release what it acquires).
    var referencesAtEntry = 0
    /// `may_goto` fall-throughs taken in this frame (the kernel's `may_goto_depth`): states that
    /// differ only here are not the same loop state, and a loop converges only across them.
    var mayGotoDepth: Int32 = 0
    /// `bpf_loop` callback runs this frame has started since its last `bpf_loop` call went on
    /// (the kernel's `callback_depth`; see CallbackLoops.swift).
    var callbackDepth: Int32 = 0

    init(callSite: Int, subprogram: Int) {
        registers = [Register](filled: .uninitialized, count: 11)
        self.callSite = callSite
        self.subprogram = subprogram
    }

    /// The byte at frame offset `off` (-512...-1).
    func byte(_ off: Int) -> StackByte {
        let i = -off - 1
        return i < bytes.count ? bytes[i] : .invalid
    }

    mutating func setByte(_ off: Int, _ value: StackByte) {
        let i = -off - 1
        if i >= bytes.count {
            let n = ((i / 8) + 1) * 8
            bytes.grow(to: n)
            spills.grow(to: n / 8)
            narrow.grow(to: n / 4)
        }
        bytes[i] = value
        narrow.forget(i / 4)
    }

    /// The scalar stored in the 4 aligned bytes at `off`, if known.
    func narrowValue(at off: Int) -> Scalar? {
        let u = (-off - 1) / 4
        return u < narrow.count ? narrow[u] : nil
    }

    /// The slot index of an 8-byte-aligned offset.
    static func slot(_ off: Int) -> Int { (-off - 1) / 8 }

    func spill(at off: Int) -> Register? {
        let s = Frame.slot(off)
        return s < spills.count ? spills[s] : nil
    }

    mutating func setSpill(at off: Int, _ reg: Register?) {
        setByte(off, byte(off))
        spills[Frame.slot(off)] = reg
    }
}

// The frame's stack is kept in arrays of types a verification needs anyway (`UInt8`, `Register`):
// each distinct array element type costs a process about 5 us the first time it is used (Swift
// builds its metadata at run time), and the first program a process verifies pays for all of them.

/// What each stack byte holds (``StackByte``), one byte each.
struct StackBytes: Hashable, Sendable {
    /// The raw values (``StackByte`` raw values, which are also its cases' order).
    var storage: [UInt8] = []
    @inline(__always) var count: Int { storage.count }
    @inline(__always) var isEmpty: Bool { storage.isEmpty }
    @inline(__always) subscript(i: Int) -> StackByte {
        // Only raw values of cases are stored, and a case's raw value is its index.
        get { unsafeBitCast(storage[i], to: StackByte.self) }
        set { storage[i] = newValue.rawValue }
    }
    /// Bytes `i..<i+8` as one word (byte `i` lowest); the caller keeps `i + 8 <= count`.
    @inline(__always) func word(at i: Int) -> UInt64 {
        storage.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
    }
    mutating func grow(to n: Int) {
        storage.reserveCapacity(n)
        while storage.count < n { storage.append(StackByte.invalid.rawValue) }
    }
}

/// Spilled registers by 8-byte slot; an empty slot holds an uninitialized register (a spill of an
/// uninitialized register is refused before it is stored).
struct SpillSlots: Hashable, Sendable {
    /// The slots; loops over every slot of a state's frames read and update it directly, which
    /// keeps the frame in place (the optional view copies it).
    var storage: [Register] = []
    @inline(__always) var count: Int { storage.count }
    @inline(__always) var indices: Range<Int> { 0..<storage.count }
    @inline(__always) subscript(i: Int) -> Register? {
        get {
            let r = storage[i]
            return r.kind == .uninitialized ? nil : r
        }
        set {
            assert(newValue?.kind != .uninitialized, "a spilled register is initialized")
            if let newValue { storage[i] = newValue } else if storage[i].kind != .uninitialized { storage[i] = .uninitialized }
        }
    }
    mutating func grow(to n: Int) {
        storage.reserveCapacity(n)
        while storage.count < n { storage.append(.uninitialized) }
    }
}

/// Scalars stored as 4 aligned bytes, by 4-byte unit, each kept as a scalar register (an empty
/// unit holds an uninitialized one).
struct NarrowUnits: Hashable, Sendable {
    private var storage: [Register] = []
    @inline(__always) var count: Int { storage.count }
    @inline(__always) var indices: Range<Int> { 0..<storage.count }
    @inline(__always) subscript(u: Int) -> Scalar? {
        get {
            let r = storage[u]
            return r.kind == .scalar ? r.value : nil
        }
        set {
            if let newValue { storage[u] = .scalar(newValue) } else { forget(u) }
        }
    }
    /// Empties unit `u` (writes only when it held a value).
    @inline(__always) mutating func forget(_ u: Int) {
        if storage[u].kind != .uninitialized { storage[u] = .uninitialized }
    }
    mutating func grow(to n: Int) {
        storage.reserveCapacity(n)
        while storage.count < n { storage.append(.uninitialized) }
    }
}

/// An acquired reference: a ringbuf record that must be submitted or discarded.
struct Reference: Hashable, Sendable {
    var id: UInt32
    var instruction: Int
    /// The helper that acquired it (`bpf_ringbuf_reserve`, `bpf_sk_lookup_tcp`, ...); 0: a kfunc.
    var helper: Int32 = 131
}

/// The whole abstract machine state on one path.
struct VerifierState: Hashable, Sendable {
    var frames: [Frame]
    var references: [Reference] = []
    /// The held spin lock: (map, offset), and where it was taken.
    var lock: (map: Int, offset: Int, instruction: Int)?
    /// The id of the map value (its lookup) or allocated object whose lock is held (0: global data).
    var lockID: UInt32 = 0
    /// Open `bpf_rcu_read_lock` sections, and `bpf_preempt_disable` ones.
    var rcuDepth: UInt8 = 0
    var preemptDepth: UInt8 = 0

    var current: Frame {
        get { frames[frames.count - 1] }
        set { frames[frames.count - 1] = newValue }
    }

    subscript(reg: Int) -> Register {
        get { frames[frames.count - 1].registers[reg] }
        set { frames[frames.count - 1].registers[reg] = newValue }
    }

    static func == (a: VerifierState, b: VerifierState) -> Bool {
        a.frames == b.frames && a.references == b.references && a.lock?.map == b.lock?.map && a.lock?.offset == b.lock?.offset
            && a.lockID == b.lockID
            && a.rcuDepth == b.rcuDepth && a.preemptDepth == b.preemptDepth
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(frames)
        hasher.combine(references)
    }

    /// Applies `body` to every register and spilled register in every frame.
    mutating func forEachRegister(_ body: (inout Register) -> Void) {
        for f in frames.indices {
            for r in 0..<11 { body(&frames[f].registers[r]) }
            for s in frames[f].spills.storage.indices where frames[f].spills.storage[s].kind != .uninitialized {
                body(&frames[f].spills.storage[s])
            }
        }
    }

    /// How many scalars (registers and spills, all frames) hold scalar id `id`, counting to 2.
    func holders(of id: UInt32) -> Int {
        var n = 0
        for f in frames.indices {
            for r in 0..<11 where frames[f].registers[r].id == id && frames[f].registers[r].kind == .scalar {
                n += 1
                if n > 1 { return n }
            }
            for s in frames[f].spills.storage.indices {
                let spill = frames[f].spills.storage[s]
                if spill.kind == .scalar, spill.id == id {
                    n += 1
                    if n > 1 { return n }
                }
            }
        }
        return n
    }

    /// A hash of the innermost frame's registers: equal states have equal fingerprints.
    var fingerprint: UInt64 {
        let frame = frames[frames.count - 1]
        var h = UInt64(frames.count) &* 0x9e37_79b9_7f4a_7c15 ^ UInt64(frame.bytes.count)
        for r in frame.registers {
            h ^= UInt64(r.kind.rawValue) ^ r.value.tnum.value ^ (r.value.tnum.mask << 1) ^ r.value.umin ^ (r.value.umax << 3)
                ^ UInt64(bitPattern: Int64(r.offset)) ^ UInt64(r.id) << 32
            h = (h ^ (h >> 29)) &* 0x0100_0000_01b3
        }
        return h
    }

    /// The lowest callback frame's index (frames below it belong to the helper's caller).
    var lowestCallbackFrame: Int? { frames.firstIndex { $0.isCallback } }
}

// MARK: - Subsumption (state pruning)

/// Maps ids of an old state to ids of the current one, which must correspond one to one.
struct IDMap {
    // A one-to-one map of ids, as pairs: comparisons see few ids, so a scan of an inline buffer
    // beats hashing (and a Dictionary's first use costs a runtime conformance lookup).
    var olds = SIMD16<UInt32>(), curs = SIMD16<UInt32>()
    var count = 0
    var overflow: [(old: UInt32, cur: UInt32)] = []

    mutating func check(_ old: UInt32, _ cur: UInt32) -> Bool {
        if old == 0 && cur == 0 { return true }
        if old == 0 || cur == 0 { return false }
        for i in 0..<min(count, 16) {
            if olds[i] == old { return curs[i] == cur }
            if curs[i] == cur { return false }
        }
        for pair in overflow {
            if pair.old == old { return pair.cur == cur }
            if pair.cur == cur { return false }
        }
        if count < 16 {
            olds[count] = old
            curs[count] = cur
        } else {
            overflow.append((old, cur))
        }
        count += 1
        return true
    }
}

extension VerifierState {
    /// Whether every concrete state `cur` describes is one `self` (already proven safe) describes,
    /// looking only at the registers `live` says may still be read (bit i: register i, main frame
    /// of the innermost function). Scalars not marked precise (per frame: `preciseRegisters`,
    /// `preciseSlots` by 8-byte slot) never decided anything below `self`: any scalar will do.
    /// `lockMaps`: the maps (bit i: map i; maps past 63 count as such) whose values hold a
    /// `bpf_spin_lock`: pointers to their values must come from the same lookups in both states
    /// (the lock is released through the pointer it was taken with).
    /// `liveSlots` (per frame, by 8-byte slot): the stack slots the old state's future reads
    /// (StackLiveness.swift); nil: every slot.
    func subsumes(_ cur: VerifierState, live: UInt16, preciseRegisters: SIMD8<UInt16>, preciseSlots: SIMD8<UInt64>,
                  lockMaps: UInt64 = 0, liveSlots: SIMD8<UInt64>? = nil) -> Bool {
        guard frames.count == cur.frames.count, references.count == cur.references.count,
              lock?.map == cur.lock?.map, lock?.offset == cur.lock?.offset,
              rcuDepth == cur.rcuDepth, preemptDepth == cur.preemptDepth else { return false }
        var ids = IDMap()
        // The frames are read in place (copying one out of its array retains each of its arrays).
        return frames.withUnsafeBufferPointer { old in
            cur.frames.withUnsafeBufferPointer { new in
                // The innermost frame's registers differ most often: compare them first.
                let top = old.count - 1
                for r in 0..<11 where live & (1 << r) != 0 {
                    if !Self.registerSubsumes(old[top].registers[r], new[top].registers[r],
                                              precise: preciseRegisters[top] & (1 << r) != 0, lockMaps: lockMaps, &ids) { return false }
                }
                for (a, b) in zip(references, cur.references) where !ids.check(a.id, b.id) { return false }
                if !ids.check(lockID, cur.lockID) { return false }
                for f in 0..<old.count {
                    guard old[f].callSite == new[f].callSite, old[f].isCallback == new[f].isCallback else { return false }
                    let preciseRegs = preciseRegisters[f]
                    if f != top {
                        for r in 0..<11 {
                            if !Self.registerSubsumes(old[f].registers[r], new[f].registers[r], precise: preciseRegs & (1 << r) != 0,
                                                      lockMaps: lockMaps, &ids) { return false }
                        }
                    }
                    if old[f].bytes.isEmpty { continue }
                    if !Self.stackSubsumes(old.baseAddress! + f, new.baseAddress! + f, precise: preciseSlots[f], lockMaps: lockMaps,
                                           live: liveSlots.map { $0[f] } ?? ~0, &ids) {
                        return false
                    }
                }
                return true
            }
        }
    }

    /// The stack part of ``subsumes``: byte by byte, an 8-byte slot at a time (a slot whose bytes the
    /// old state never wrote is skipped whole, and its spilled registers are read once).
    static func stackSubsumes(_ oldFrame: UnsafePointer<Frame>, _ newFrame: UnsafePointer<Frame>, precise preciseStack: UInt64,
                              lockMaps: UInt64, live liveStack: UInt64 = ~0, _ ids: inout IDMap) -> Bool {
        let oldCount = oldFrame.pointee.bytes.count, newCount = newFrame.pointee.bytes.count
        var base = 0
        while base < oldCount {
            let slot = base / 8
            if base + 8 <= oldCount && base + 8 <= newCount {
                // A whole slot at once: unwritten, or the same kind of byte everywhere in both
                // states (the common case), where only a spill and 4-byte scalars compare more.
                let ow = oldFrame.pointee.bytes.word(at: base)
                if ow == 0 {
                    base += 8
                    continue
                }
                if ow == newFrame.pointee.bytes.word(at: base) {
                    let precise = preciseStack & (1 << UInt64(slot)) != 0
                    if ow >> 56 == UInt64(StackByte.spill.rawValue) {
                        let os = slot < oldFrame.pointee.spills.count ? oldFrame.pointee.spills.storage[slot] : Register.uninitialized
                        let ns = slot < newFrame.pointee.spills.count ? newFrame.pointee.spills.storage[slot] : Register.uninitialized
                        if liveStack & (1 << UInt64(slot)) == 0 && os.kind != .iterator && os.kind != .dynptr
                            && ns.kind != .iterator && ns.kind != .dynptr {
                            base += 8   // never read again before being written (as below)
                            continue
                        }
                        if os.kind != .uninitialized && ns.kind != .uninitialized {
                            if !registerSubsumes(os, ns, precise: precise, lockMaps: lockMaps, &ids) { return false }
                        } else if (os.kind == .uninitialized) != (ns.kind == .uninitialized) {
                            return false
                        }
                    }
                    if precise && liveStack & (1 << UInt64(slot)) != 0 {
                        for unit in base / 4 ... base / 4 + 1 where ow >> UInt64((unit * 4 - base) * 8) & 0xff != 0 {
                            if unit < oldFrame.pointee.narrow.count, let o = oldFrame.pointee.narrow[unit] {
                                guard unit < newFrame.pointee.narrow.count, let n = newFrame.pointee.narrow[unit], o.contains(n) else { return false }
                            }
                        }
                    }
                    base += 8
                    continue
                }
            }
            let end = Swift.min(base + 8, oldCount)
            var written = false
            for i in base..<end where oldFrame.pointee.bytes[i] != .invalid { written = true; break }
            if !written {
                base += 8
                continue
            }
            let precise = preciseStack & (1 << UInt64(slot)) != 0
            let os: Register? = slot < oldFrame.pointee.spills.count ? oldFrame.pointee.spills[slot] : nil
            let ns: Register? = slot < newFrame.pointee.spills.count ? newFrame.pointee.spills[slot] : nil
            if liveStack & (1 << UInt64(slot)) == 0 && os?.kind != .iterator && os?.kind != .dynptr
                && ns?.kind != .iterator && ns?.kind != .dynptr {
                // Never read again before being written: what it holds does not matter.
                base += 8
                continue
            }
            let nsScalar = ns?.kind == .scalar
            for i in base..<end {
                let ob = oldFrame.pointee.bytes[i]
                if ob == .invalid { continue }
                let nb: StackByte = i < newCount ? newFrame.pointee.bytes[i] : .invalid
                let newScalarSpill = nb == .spill && nsScalar
                switch ob {
                case .invalid: break
                case .misc:
                    if nb == .misc || nb == .zero || newScalarSpill { break }
                    return false
                case .zero:
                    if nb == .zero { break }
                    if newScalarSpill && (!precise || ns!.value.constantValue == 0) { break }
                    if !precise && nb == .misc { break }
                    return false
                case .spill:
                    if !precise, let os, os.kind == .scalar, nb == .misc || nb == .zero || newScalarSpill { break }
                    guard nb == .spill else { return false }
                    if i % 8 == 7 {
                        // The slot's lowest byte: a spill of any width holds it.
                        if let os, let ns {
                            if !registerSubsumes(os, ns, precise: precise, lockMaps: lockMaps, &ids) { return false }
                        } else if (os == nil) != (ns == nil) {
                            return false
                        }
                    }
                }
                if precise, i % 4 == 0, i / 4 < oldFrame.pointee.narrow.count, let o = oldFrame.pointee.narrow[i / 4] {
                    guard i / 4 < newFrame.pointee.narrow.count, let n = newFrame.pointee.narrow[i / 4], o.contains(n) else { return false }
                }
            }
            base += 8
        }
        return true
    }

    static func registerSubsumes(_ old: Register, _ cur: Register, precise: Bool, lockMaps: UInt64 = 0, _ ids: inout IDMap) -> Bool {
        if old.kind == .uninitialized { return true }
        if old.kind == .scalar {
            guard cur.kind == .scalar else { return false }
            if !precise { return true }
            guard old.value.contains(cur.value) else { return false }
            // Scalars linked in the old state must be linked the same way now (a range check on
            // one refined the others there).
            return old.id == 0 || (cur.id != 0 && old.offset == cur.offset && ids.check(old.id, cur.id))
        }
        guard old.kind == cur.kind, old.map == cur.map, old.offset == cur.offset, old.frame == cur.frame,
              old.readOnly == cur.readOnly else { return false }
        guard old.value.contains(cur.value) else { return false }
        switch old.kind {
        case .packet, .packetMeta:
            // The old state's proven range must not exceed what the current one knows.
            guard old.size <= cur.size else { return false }
            return ids.check(old.id, cur.id)
        case .memory, .memoryOrNull, .socket, .socketOrNull, .socketCommon, .socketCommonOrNull, .tcpSocket, .tcpSocketOrNull,
             .kernelPointer, .kernelPointerOrNull, .iterator, .dynptr, .constDynptr:
            guard old.size == cur.size else { return false }
            return ids.check(old.id, cur.id) && ids.check(old.referenceID, cur.referenceID)
        case .mapValueOrNull, .mapPointerOrNull:
            return ids.check(old.id, cur.id)
        case .mapValue where old.map >= 64 || (old.map >= 0 && lockMaps & (1 << UInt64(old.map)) != 0):
            return ids.check(old.id, cur.id)
        default:
            return true
        }
    }
}
