import BPFCore
import BPFObject

/// Loads, stores and atomics: every memory access checked against its region.
extension Analysis {
    /// The kind of access being checked.
    enum Access {
        case read, write, atomic
        var verb: String {
            switch self {
            case .read: "read"
            case .write: "write"
            case .atomic: "atomic update"
            }
        }
    }

    func mapReadOnly(_ map: Int) -> Bool {
        let spec = maps[map]
        return spec.readOnly || spec.flags & 0x80 != 0   // BPF_F_RDONLY_PROG
    }

    /// Checks that `[reg + off, reg + off + size)` is inside the region `reg` points to; returns
    /// whether the access is proven (so the engine may skip its check). Stack and context
    /// accesses are handled by their own paths.
    func checkRegion(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int, access: Access) throws(VerifierError) -> Bool {
        let r = st[regno]
        switch r.kind {
        case .mapValue, .memory:
            let limit = r.kind == .mapValue ? maps[r.map].valueSize : r.size
            if access != .read {
                if r.kind == .mapValue && mapReadOnly(r.map) {
                    throw fail(.invalidPointer, pc, "\(access.verb) into read-only map '\(maps[r.map].name)'",
                               "the program may only read .rodata and maps created with BPF_F_RDONLY_PROG", state: st, registers: [regno])
                }
                if r.readOnly {
                    throw fail(.invalidPointer, pc, "\(access.verb) into read-only memory R\(regno)", state: st, registers: [regno])
                }
            }
            if access != .write && r.kind == .mapValue && maps[r.map].flags & 0x100 != 0 {   // BPF_F_WRONLY_PROG
                throw fail(.invalidPointer, pc, "\(access == .read ? "read from" : "atomic update of") write-only map '\(maps[r.map].name)'",
                           "the map was created with BPF_F_WRONLY_PROG: the program may only write its values", state: st, registers: [regno])
            }
            if r.kind == .mapValue, let lock = maps[r.map].spinLockOffset {
                let lo = Int64(r.offset + off) + r.value.smin, hi = Int64(r.offset + off) + r.value.smax + Int64(size)
                try checkGraphFieldAccess(st, pc, regno: regno, lo: lo, hi: hi, verb: access.verb)
                if lo < Int64(lock + 4) && hi > Int64(lock) {
                    throw fail(.lock, pc, "\(access.verb) of the struct bpf_spin_lock in the value of '\(maps[r.map].name)' (offset \(lock))",
                               "a bpf_spin_lock is only touched through bpf_spin_lock and bpf_spin_unlock", state: st, registers: [regno])
                }
            }
            if access == .atomic && r.kind == .memory {
                throw fail(.invalidPointer, pc, "atomic update of R\(regno) (\(r.kind.name)) is not allowed", state: st, registers: [regno])
            }
            if r.kind == .memory && r.sliceOf == Register.tracepointBufferMemory {
                // A writable raw tracepoint's buffer (check_tp_buffer_access): fixed offsets from 0
                // on; the kernel checks the largest against the tracepoint when attaching, so no
                // access is proven (an engine of ours checks each).
                guard r.value.constantValue == 0 else {
                    throw fail(.outOfBounds, pc, "R\(regno) invalid variable buffer offset (\(r.value)): a tracepoint buffer is accessed at fixed offsets",
                               state: st, registers: [regno])
                }
                guard r.offset + off >= 0 else {
                    throw fail(.outOfBounds, pc, "R\(regno) invalid tracepoint buffer access at offset \(r.offset + off)", state: st, registers: [regno])
                }
                return false
            }
            let lo = Int64(r.offset + off) + r.value.smin
            let hi = Int64(r.offset + off) + r.value.smax + Int64(size)
            var what: String { r.kind == .mapValue ? "map '\(maps[r.map].name)' value (\(limit) bytes)" : "memory of \(limit) bytes" }
            if r.value.smin < 0 && !r.value.isConstant {
                throw fail(.outOfBounds, pc, "R\(regno) may point before the start of the \(what): its variable offset may be negative (\(r.value))",
                           "use an unsigned index or check that it is >= 0", state: st, registers: [regno])
            }
            guard lo >= 0 && hi <= Int64(limit) else {
                let variable = !r.value.isConstant
                throw fail(.outOfBounds, pc,
                           "\(access.verb) of \(size) bytes at offset \(variable ? "\(lo)...\(hi - Int64(size))" : "\(lo)") of R\(regno) is outside the \(what)",
                           variable ? "bound the index with a check (e.g. if (i >= N) return) before using it" : "the access is past the end of the value",
                           state: st, registers: [regno])
            }
            return true
        case .socket, .socketCommon, .tcpSocket:
            // The kernel lets programs read the fields of `struct bpf_sock` / `struct bpf_tcp_sock`.
            guard access == .read else {
                throw fail(.invalidPointer, pc, "\(access.verb) through R\(regno) (\(r.kind.name)): socket fields are read-only",
                           state: st, registers: [regno])
            }
            let start = r.offset + off
            guard r.value.isConstant, start >= 0, start + size <= r.size else {
                throw fail(.outOfBounds, pc, "read of \(size) bytes at offset \(start) of R\(regno) is outside the \(r.size)-byte \(r.kind == .tcpSocket ? "struct bpf_tcp_sock" : "struct bpf_sock")",
                           state: st, registers: [regno])
            }
            // Safe for the kernel, but never proven for an engine: the Swift runtime has no sockets,
            // so its checks stay on for whatever such a pointer holds.
            return false
        case .packet, .packetMeta:
            if access == .atomic {
                throw fail(.invalidPointer, pc, "atomic update of packet data is not allowed", state: st, registers: [regno])
            }
            if access == .write ? !rules.packetWritable : !rules.packetReadable {
                throw fail(.invalidPointer, pc, "\(program.type.kernelName) programs may not \(access == .write ? "write" : "read") the packet directly",
                           access == .write ? "use bpf_skb_store_bytes, or a program type with write access" : "use bpf_skb_load_bytes",
                           state: st, registers: [regno])
            }
            if r.value.smin < 0 {
                throw fail(.outOfBounds, pc, "R\(regno)'s variable packet offset may be negative", "check that the offset is >= 0",
                           state: st, registers: [regno])
            }
            let start = r.offset + off
            guard start >= 0 && start + size <= r.size else {
                let base = r.kind == .packet ? "data_end" : "data"
                throw fail(.outOfBounds, pc,
                           "packet \(access.verb) of \(size) bytes at offset \(start) of R\(regno), but only \(r.size) bytes are checked against \(base)",
                           "compare R\(regno) + \(start + size) with \(base) (e.g. if (p + \(start + size) > data_end) return) before this access",
                           state: st, registers: [regno])
            }
            return rules.packetProvided
        default:
            throw badPointer(st, pc, regno, access: access)
        }
    }

    func badPointer(_ st: VerifierState, _ pc: Int, _ regno: Int, access: Access) -> VerifierError {
        let r = st[regno]
        switch r.kind {
        case .uninitialized:
            return fail(.uninitializedRegister, pc, "R\(regno) is used as a pointer before it is set", state: st, registers: [regno])
        case .scalar:
            return fail(.invalidPointer, pc, "R\(regno) is a scalar, not a pointer (\(access.verb) through it)",
                        "only pointers to the context, stack, map values, packet or helper memory can be dereferenced",
                        state: st, registers: [regno])
        case _ where r.kind.isNullable:
            return fail(.nullPointer, pc, "R\(regno) may be NULL",
                        "check the result of \(originName(r)) before dereferencing", state: st, registers: [regno])
        default:
            return fail(.invalidPointer, pc, "\(access.verb) through R\(regno) (\(r.kind.name)) is not allowed", state: st, registers: [regno])
        }
    }

    // MARK: Stack

    /// The frame and frame offset of a stack access at a constant offset; checks bounds and alignment.
    func stackSlot(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int) throws(VerifierError) -> (frame: Int, offset: Int) {
        let r = st[regno]
        guard r.value.isConstant else {
            throw fail(.outOfBounds, pc, "variable offset stack access through R\(regno) (\(r.value)) in an atomic update",
                       "update stack variables at constant offsets", state: st, registers: [regno])
        }
        let range = try stackRange(st, pc, regno: regno, off: off, size: size)
        return (range.frame, range.lo)
    }

    /// The frame and the lowest and highest start offsets of a stack access; checks that every
    /// offset the pointer may hold keeps the access inside the frame and aligned. A variable
    /// offset is allowed, as the kernel allows it to privileged loaders (the Swift runtime's case).
    func stackRange(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int, aligned: Bool = true) throws(VerifierError) -> (frame: Int, lo: Int, hi: Int) {
        let r = st[regno]
        let lo = r.offset + off + Int(r.value.smin), hi = r.offset + off + Int(r.value.smax)
        let variable = !r.value.isConstant
        guard lo >= -512 && hi + size <= 0 else {
            throw fail(.outOfBounds, pc, variable
                       ? "stack access of \(size) bytes at fp\(lo)...fp\(hi) (variable offset \(r.value) of R\(regno)) may leave the 512-byte frame"
                       : "stack access of \(size) bytes at fp\(lo) is outside the 512-byte frame",
                       variable ? "bound the index so that every offset stays between fp-512 and fp-\(size)" : "the stack is fp-512 up to fp-1",
                       state: st, registers: [regno])
        }
        // Every possible address must be aligned to the size (the kernel is strict on the stack).
        let address = r.value.tnum + Tnum.constant(UInt64(bitPattern: Int64(r.offset + off)))
        let low = UInt64(max(size, 1) - 1)
        guard !aligned || (address.mask & low == 0 && address.value & low == 0) else {
            throw fail(.outOfBounds, pc, variable
                       ? "misaligned stack access of \(size) bytes: the variable offset of R\(regno) (\(r.value)) is not a multiple of \(size)"
                       : "misaligned stack access of \(size) bytes at fp\(lo)", state: st, registers: [regno])
        }
        let sub = st.frames[r.frame].subprogram
        stackDepth[sub] = max(stackDepth[sub], -lo)
        noteFastcallDepth(sub, -lo)
        return (r.frame, lo, hi)
    }

    /// A read through a variable offset: every byte it may touch (`lo..<end`) must be
    /// initialized. Parts of spilled pointers read as unknown bytes (the kernel lets root do so).
    func readStackRange(_ st: VerifierState, _ pc: Int, frame f: Int, lo: Int, hi: Int, size: Int, regno: Int) throws(VerifierError) -> Register {
        let frame = st.frames[f]
        if let error = stackObjectRead(st, pc, frame: f, lo: lo, end: hi + size, regno: regno, what: "read of \(size) bytes at fp\(lo)...fp\(hi)") {
            throw error
        }
        markStackRead(frame: f, offset: lo, size: hi + size - lo, pc: pc)
        var allZero = true
        for o in lo..<(hi + size) {
            switch frame.byte(o) {
            case .invalid:
                throw fail(.uninitializedStack, pc,
                           "read of \(size) bytes at fp\(lo)...fp\(hi) through R\(regno) may read uninitialized stack (fp\(o))",
                           "initialize every byte the offset can reach before reading through it", state: st, registers: [regno])
            case .spill:
                if let s = frame.spill(at: o), s.kind == .scalar, s.value.constantValue == 0 { break }
                allZero = false
            case .misc: allZero = false
            case .zero: break
            }
        }
        return .scalar(allZero ? .constant(0) : .loaded(bytes: size))
    }

    /// A store through a variable offset: spills it may touch are destroyed; bytes it certainly
    /// writes (those every offset covers) become initialized; bytes it may skip keep what they
    /// were unless the write could change them (then they hold unknown bytes).
    func writeStackRange(_ st: inout VerifierState, _ pc: Int, frame f: Int, lo: Int, hi: Int, size: Int, value: Register) throws(VerifierError) {
        let end = hi + size
        noteStackWrite(st, frame: f, lo: lo, end: end)
        if let lowest = st.lowestCallbackFrame, f < lowest {
            // Whether the write is allowed depends on what the caller keeps there: a read.
            markStackRead(frame: f, offset: lo, size: end - lo, pc: pc)
            if value.kind.isPointer {
                throw fail(.invalidPointer, pc, "a callback may not store pointers into its caller's stack", state: st)
            }
            for o in lo..<end where st.frames[f].byte(o) == .spill {
                if let s = st.frames[f].spill(at: o), s.kind != .scalar {
                    throw fail(.invalidPointer, pc, "a callback may not overwrite a pointer the caller spilled at fp\(o)", state: st)
                }
            }
        }
        try destroyStackObjects(&st, pc, frame: f, lo: lo, end: end)
        let writingZero = value.kind == .scalar && value.value.truncated(toBytes: size).constantValue == 0
        var slot = lo - ((lo % 8) + 8) % 8
        while slot < end {
            if let s = st.frames[f].spill(at: slot) {
                let zero = s.kind == .scalar && s.value.constantValue == 0
                st.frames[f].setSpill(at: slot, nil)
                for i in 0..<8 where st.frames[f].byte(slot + i) == .spill { st.frames[f].setByte(slot + i, zero ? .zero : .misc) }
            }
            slot += 8
        }
        for o in lo..<end {
            let certain = o >= hi && o < lo + size
            let old = st.frames[f].byte(o)
            if old == .invalid && !certain { continue }
            st.frames[f].setByte(o, writingZero && (certain || old == .zero) ? .zero : .misc)
        }
    }

    func readStack(_ st: VerifierState, _ pc: Int, frame f: Int, offset o: Int, size: Int, regno: Int) throws(VerifierError) -> Register {
        let frame = st.frames[f]
        if let error = stackObjectRead(st, pc, frame: f, lo: o, end: o + size, regno: regno, what: "read of \(size) bytes at fp\(o)") {
            throw error
        }
        markStackRead(frame: f, offset: o, size: size, pc: pc)
        if size == 8 && o % 8 == 0, let spilled = frame.spill(at: o), (0..<8).allSatisfy({ frame.byte(o + $0) == .spill }) {
            return spilled
        }
        if size < 8 && o % 8 == 0, var spilled = frame.spill(at: o), spilled.kind == .scalar,
           (0..<size).allSatisfy({ frame.byte(o + $0) == .spill }) {
            // A narrow fill from the start of a spilled scalar at least as wide: the register,
            // truncated; still linked only when the value fits (the kernel's
            // check_stack_read_fixed_off with bpf_stack_narrow_access_ok).
            if spilled.value.umax != 0 && 64 - spilled.value.umax.leadingZeroBitCount > size * 8 { spilled.id = 0 }
            spilled.value = spilled.value.truncated(toBytes: size)
            return spilled
        }
        if size == 4 && o % 4 == 0, let known = frame.narrowValue(at: o) {
            return .scalar(known)
        }
        var allZero = true
        for i in 0..<size {
            switch frame.byte(o + i) {
            case .invalid:
                throw fail(.uninitializedStack, pc, "read of \(size) bytes at fp\(o) reads uninitialized stack (fp\(o + i))",
                           "initialize the variable (or the whole struct, e.g. with __builtin_memset) before reading it",
                           state: st, registers: [regno])
            case .spill:
                if let s = frame.spill(at: o + i), s.kind != .scalar {
                    throw fail(.invalidPointer, pc, "read of \(size) bytes at fp\(o) reads part of a spilled pointer (\(s.kind.name))",
                               state: st, registers: [regno])
                }
                if let s = frame.spill(at: o + i), s.value.constantValue == 0 { break }
                allZero = false
            case .misc: allZero = false
            case .zero: break
            }
        }
        return .scalar(allZero ? .constant(0) : .loaded(bytes: size))
    }

    /// Stores `value` (nil: unknown bytes of `size`) at a stack offset.
    func writeStack(_ st: inout VerifierState, _ pc: Int, frame f: Int, offset o: Int, size: Int, value: Register?) throws(VerifierError) {
        noteStackWrite(st, frame: f, lo: o, end: o + size)
        if let lowest = st.lowestCallbackFrame, f < lowest {
            // A callback may run many times; it may change its caller's stack only with scalars,
            // and never where the caller keeps a pointer (so the write reads what is there).
            markStackRead(frame: f, offset: o, size: size, pc: pc)
            if let v = value, v.kind.isPointer {
                throw fail(.invalidPointer, pc, "a callback may not store pointers into its caller's stack",
                           state: st)
            }
            for i in 0..<size where st.frames[f].byte(o + i) == .spill {
                if let s = st.frames[f].spill(at: o + i), s.kind != .scalar {
                    throw fail(.invalidPointer, pc, "a callback may not overwrite a pointer the caller spilled at fp\(o)", state: st)
                }
            }
        }
        if let v = value, v.kind == .stack, v.frame > f {
            throw fail(.invalidPointer, pc, "storing a pointer to a callee's stack into its caller's stack",
                       "the callee's frame is gone after it returns", state: st)
        }
        // A dynptr the store touches is destroyed, and any spill (what is left becomes plain bytes).
        try destroyStackObjects(&st, pc, frame: f, lo: o, end: o + size)
        var slot = o - ((o % 8) + 8) % 8
        while slot < o + size {
            if st.frames[f].spill(at: slot) != nil {
                st.frames[f].setSpill(at: slot, nil)
                for i in 0..<8 where st.frames[f].byte(slot + i) == .spill { st.frames[f].setByte(slot + i, .misc) }
            }
            slot += 8
        }
        if size == 8 && o % 8 == 0, let v = value {
            for i in 0..<8 { st.frames[f].setByte(o + i, .spill) }
            st.frames[f].setSpill(at: o, v)
            return
        }
        if o % 8 == 0, let v = value, v.kind == .scalar {
            // A narrow spill: its bytes hold the register; the rest of the slot keeps what it was
            // (the kernel's save_register_state with size < 8).
            for i in 0..<size { st.frames[f].setByte(o + i, .spill) }
            st.frames[f].setSpill(at: o, v)
            return
        }
        if let v = value, v.kind.isPointer {
            throw fail(.invalidPointer, pc, "partial store of a pointer (\(size) bytes) to the stack",
                       "pointers are spilled to the stack whole, as 8 aligned bytes", state: st)
        }
        let zero = value.map { $0.value.truncated(toBytes: size).constantValue == 0 } ?? false
        for i in 0..<size { st.frames[f].setByte(o + i, zero ? .zero : .misc) }
        // A 4-byte store off the 8-byte grid keeps no value, as in the kernel (its
        // check_stack_write_fixed_off saves a register only at an aligned offset): a value kept
        // there made loops the kernel sees converge run on (bpf_loop runs in xdp_synproxy, the
        // `volatile int` counters of verifier_bits_iter) and one it sees repeat end (misc_for_each).
    }

    // MARK: Instructions

    func load(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let size = MemorySize(rawValue: ins.opcode & 0x18)!.bytes
        let signExtend = ins.opcode & 0xe0 == MemoryMode.memorySignExtend.rawValue
        let s = Int(ins.src), d = Int(ins.dst)
        let off = Int(ins.offset)
        try readable(st, s, pc)
        let r = st[s]
        var result = Register.scalar(.loaded(bytes: size, signExtend: signExtend))
        switch r.kind {
        case .stack:
            let (f, lo, hi) = try stackRange(st, pc, regno: s, off: off, size: size)
            recordStackAccess(pc, frame: f, offset: lo, size: hi + size - lo)
            result = lo == hi ? try readStack(st, pc, frame: f, offset: lo, size: size, regno: s)
                : try readStackRange(st, pc, frame: f, lo: lo, hi: hi, size: size, regno: s)
            if signExtend, result.kind == .scalar {
                result = .scalar(result.value.truncated(toBytes: size).signExtended(from: size * 8))
            }
            markAccess(pc, proven: true)
        case .context:
            let o = try contextOffset(st, pc, regno: s, off: off)
            if case .untyped = tracingContext {} else {
                result = try tracingContextLoad(st, pc, regno: s, offset: o, size: size)
                markAccess(pc, proven: rules.proven(offset: o, size: size))
                break
            }
            switch rules.load(offset: o, size: size) {
            case .denied(let why):
                throw fail(.contextAccess, pc, "invalid context load: \(why)", state: st, registers: [s])
            case .scalar:
                break
            case .packet, .packetEnd, .packetMeta:
                let kind: RegisterKind
                switch rules.load(offset: o, size: size) {
                case .packet: kind = .packet
                case .packetEnd: kind = .packetEnd
                default: kind = .packetMeta
                }
                guard !signExtend else {
                    throw fail(.contextAccess, pc, "sign-extending load of a packet pointer field", state: st, registers: [s])
                }
                result = Register()
                result.kind = kind
            case .socketCommonOrNull:
                result = Register()
                result.kind = .socketCommonOrNull
                result.size = 80   // struct bpf_sock
                result.id = freshID()
                result.origin = pc
            case .socket:
                result = Register()
                result.kind = .socket
                result.size = 80
            case .kernelStruct(let name):
                guard let btf = kernelBTF, let id = btf.typeID(named: name, kind: .structure) else {
                    throw fail(.undecided, pc, "cannot decide: the context field is a struct \(name) pointer, typed by the kernel's BTF, which the verifier was not given")
                }
                result = Register()
                result.kind = .kernelPointer
                result.btfType = id
                result.kernelFlags = .trusted
            case .socketOrNull:
                result = Register()
                result.kind = .socketOrNull
                result.size = 80   // struct bpf_sock
                result.id = freshID()
                result.origin = pc
            case .flowKeys:
                result = Register()
                result.kind = .memory
                result.size = 56   // struct bpf_flow_keys
                result.sliceOf = Register.flowKeysMemory
            case .tracepointBuffer:
                // Its size is the tracepoint's, checked when the program is attached: any fixed
                // offset from 0 on (checkRegion).
                result = Register()
                result.kind = .memory
                result.size = Int(Int32.max)
                result.sliceOf = Register.tracepointBufferMemory
            }
            markAccess(pc, proven: rules.proven(offset: o, size: size))
        case .mapPointer where r.map >= 0 && r.map < maps.count && Self.mapStructName(maps[r.map].type) != nil:
            // A map's own struct, read as the kernel's check_ptr_to_map_access reads it: through
            // BTF (struct bpf_array, bpf_htab, ...), by privileged programs, never written.
            guard let btf = kernelBTF, let id = btf.typeID(named: Self.mapStructName(maps[r.map].type)!, kind: .structure) else {
                throw fail(.undecided, pc, "cannot decide: a read of map '\(maps[r.map].name)''s kernel struct, typed by the kernel's BTF, which the verifier was not given")
            }
            var view = st
            view[s].kind = .kernelPointer
            view[s].btfType = id
            view[s].kernelFlags = []
            result = try kernelPointerLoad(view, pc, regno: s, off: off, size: size)
            markAccess(pc, proven: false)
            markProbeLoad(pc)
        case .arena:
            // Any offset: the kernel's JIT confines arena accesses to the arena's window.
            markAccess(pc, proven: false)
        case .kernelPointer where r.kernelFlags.contains(.allocated):
            try allocatedAccess(st, pc, regno: s, off: off, size: size, access: "read")
            markAccess(pc, proven: false)
        case .kernelPointer:
            // Read by the kernel with an exception handler; never run by an engine of ours unchecked.
            result = try kernelPointerLoad(st, pc, regno: s, off: off, size: size)
            markAccess(pc, proven: false)
            markProbeLoad(pc)
        default:
            let isProven = try checkRegion(st, pc, regno: s, off: off, size: size, access: .read)
            if r.kind.isSocket, let problem = socketFieldProblem(r.kind, offset: r.offset + off, size: size) {
                throw fail(.invalidPointer, pc, "read of \(size) bytes at offset \(r.offset + off) of R\(s) (\(r.kind.name)): \(problem)",
                           state: st, registers: [s])
            }
            markAccess(pc, proven: isProven)
            if let kptr = try mapKptrAccess(st, pc, regno: s, off: off, size: size, access: .read) {
                st[d] = kptr
                return
            }
            // Constant data (.rodata, frozen once loaded) at a known offset: the value is known, as
            // the kernel reads frozen read-only maps. (The offset is precise: it came through
            // pointer arithmetic.)
            if r.kind == .mapValue, maps[r.map].isConstantData, let variable = r.value.constantValue,
               let bytes = maps[r.map].initialValue {
                let start = r.offset + off + Int(truncatingIfNeeded: variable)
                if start >= 0 && start + size <= bytes.count {
                    var v: UInt64 = 0
                    for i in 0..<size { v |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
                    if signExtend && size < 8 {
                        let shift = UInt64(64 - size * 8)
                        v = UInt64(bitPattern: Int64(bitPattern: v << shift) >> Int64(shift))
                    }
                    result = .scalar(.constant(v))
                }
            }
        }
        st[d] = result
    }

    /// The kernel struct a map of this type is (its ops' map_btf_id), for reads through a map pointer.
    static func mapStructName(_ type: MapType) -> String? {
        switch type {
        case .hash, .perCPUHash, .lruHash, .lruPerCPUHash, .hashOfMaps: "bpf_htab"
        case .array, .perCPUArray, .programArray, .perfEventArray, .cgroupArray, .arrayOfMaps: "bpf_array"
        case .stackTrace: "bpf_stack_map"
        case .lpmTrie: "lpm_trie"
        case .devmap, .devmapHash: "bpf_dtab"
        case .cpumap: "bpf_cpu_map"
        case .xskmap: "xsk_map"
        case .sockmap: "bpf_stab"
        case .sockhash: "bpf_shtab"
        case .queue, .stack: "bpf_queue_stack"
        case .ringBuffer, .userRingBuffer: "bpf_ringbuf_map"
        case .bloomFilter: "bpf_bloom_filter"
        case .arena: "bpf_arena"
        case .skStorage, .inodeStorage, .taskStorage, .cgrpStorage: "bpf_local_storage_map"
        default: nil
        }
    }

    func contextOffset(_ st: VerifierState, _ pc: Int, regno: Int, off: Int) throws(VerifierError) -> Int {
        let r = st[regno]
        guard r.value.constantValue == 0 else {
            throw fail(.contextAccess, pc, "variable offset context access through R\(regno) (\(r.value))",
                       "context fields are read at constant offsets", state: st, registers: [regno])
        }
        if r.offset != 0 && program.type != .unspecified {
            // The kernel rewrites context accesses from the instruction's offset alone (check_ptr_off_reg).
            throw fail(.contextAccess, pc, "access through R\(regno), a context pointer moved by \(r.offset): only the unmoved context may be dereferenced",
                       "put the field's offset in the load or store itself (r0 = *(u32 *)(r1 + OFF))", state: st, registers: [regno])
        }
        return r.offset + off
    }

    func store(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let size = MemorySize(rawValue: ins.opcode & 0x18)!.bytes
        let d = Int(ins.dst), s = Int(ins.src)
        let off = Int(ins.offset)
        try readable(st, d, pc)
        var value: Register
        if ins.instructionClass == .stx {
            try readable(st, s, pc)
            value = st[s]
        } else {
            value = .scalar(.constant(UInt64(bitPattern: Int64(ins.imm))))
        }
        let r = st[d]
        switch r.kind {
        case .stack:
            let (f, lo, hi) = try stackRange(st, pc, regno: d, off: off, size: size)
            recordStackAccess(pc, frame: f, offset: lo, size: hi + size - lo)
            if value.kind == .scalar && lo == hi && lo % 8 == 0 && st[d].kind == .stack {
                // A scalar spilled at a slot's start keeps its register state (and links to the
                // register through a scalar id when the value fits the store), as the kernel's
                // check_stack_write_fixed_off/save_register_state do for privileged programs.
                let fits = value.value.umax == 0 || 64 - value.value.umax.leadingZeroBitCount <= size * 8
                if fits && ins.instructionClass == .stx && value.id == 0 && !value.value.isConstant {
                    value.id = freshID()
                    st[s].id = value.id
                }
                if !fits { value.id = 0 }
                if size < 8 { value.value = value.value.truncated(toBytes: size) }
            } else if value.kind == .scalar && size < 8 {
                value = .scalar(value.value.truncated(toBytes: size))
            }
            if lo == hi {
                try writeStack(&st, pc, frame: f, offset: lo, size: size, value: value)
            } else {
                try writeStackRange(&st, pc, frame: f, lo: lo, hi: hi, size: size, value: value)
            }
            markAccess(pc, proven: true)
        case .context:
            let o = try contextOffset(st, pc, regno: d, off: off)
            // A pointer stored into a writable field (cilium keeps addresses in skb->cb) is allowed
            // to privileged loaders, as the kernel allows it (allow_ptr_leaks): it reads back as a number.
            if value.kind.isPointer && (size != 8 && size != 4) {
                throw fail(.contextAccess, pc, "storing part of a pointer into the context is not allowed", state: st, registers: [d, s])
            }
            if let why = rules.store(offset: o, size: size) {
                throw fail(.contextAccess, pc, "invalid context store: \(why)", state: st, registers: [d])
            }
            markAccess(pc, proven: rules.proven(offset: o, size: size))
        case .arena:
            markAccess(pc, proven: false)
        case .kernelPointer where r.kernelFlags.contains(.allocated):
            try allocatedAccess(st, pc, regno: d, off: off, size: size, access: "write")
            markAccess(pc, proven: false)
        case .kernelPointer where isWritableKernelField(r, off: off, size: size):
            guard value.kind == .scalar else {
                throw fail(.invalidPointer, pc, "only numbers are stored into kernel objects", state: st, registers: [d])
            }
            markAccess(pc, proven: false)
        case .kernelPointer:
            throw fail(.invalidPointer, pc, "R\(d) (\(r.kernelFlags.prefix)ptr_ to \(kernelTypeName(r.btfType))) is a typed kernel pointer: programs only read through it",
                       "kernel objects are read-only but for the fields the kernel lets a program write (a conntrack entry's mark, a TCP congestion control's socket fields); keep what you compute in a map or on the stack",
                       state: st, registers: [d])
        default:
            let isProven = try checkRegion(st, pc, regno: d, off: off, size: size, access: .write)
            markAccess(pc, proven: isProven)
            _ = try mapKptrAccess(st, pc, regno: d, off: off, size: size, access: .write, stored: value)
        }
    }

    func atomic(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let size = MemorySize(rawValue: ins.opcode & 0x18)!.bytes
        let d = Int(ins.dst), s = Int(ins.src)
        let off = Int(ins.offset)
        try readable(st, d, pc)
        try readable(st, s, pc)
        let op = AtomicOperation(rawValue: ins.imm)!
        if op == .compareExchange { try readable(st, 0, pc, " (cmpxchg compares with R0)") }
        let r = st[d]
        switch r.kind {
        case .stack:
            let (f, o) = try stackSlot(st, pc, regno: d, off: off, size: size)
            recordStackAccess(pc, frame: f, offset: o, size: size)
            _ = try readStack(st, pc, frame: f, offset: o, size: size, regno: d)
            try writeStack(&st, pc, frame: f, offset: o, size: size, value: size == 8 ? .unknownScalar : nil)
            markAccess(pc, proven: true)
        case .context:
            throw fail(.invalidPointer, pc, "atomic update of the context is not allowed", state: st, registers: [d])
        case .arena:
            markAccess(pc, proven: false)
        case .kernelPointer where r.kernelFlags.contains(.allocated):
            try allocatedAccess(st, pc, regno: d, off: off, size: size, access: "atomic update")
            markAccess(pc, proven: false)
        default:
            try checkStrictAlignment(st, pc, regno: d, off: off, size: size, what: "an atomic operation")
            let isProven = try checkRegion(st, pc, regno: d, off: off, size: size, access: .atomic)
            markAccess(pc, proven: isProven)
            _ = try mapKptrAccess(st, pc, regno: d, off: off, size: size, access: .atomic)
        }
        let result = Register.scalar(.loaded(bytes: size))
        if op == .compareExchange {
            st[0] = result
        } else if op.fetches {
            st[s] = result
        }
    }

    func legacyPacketLoad(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        guard rules.legacyPacketLoads else {
            throw fail(.unsupported, pc, "legacy packet loads (ld_abs/ld_ind) are only allowed in socket-buffer programs",
                       "read the packet through data/data_end instead")
        }
        let ctx = st[6]
        guard ctx.kind == .context, ctx.offset == 0 else {
            throw fail(.invalidPointer, pc, "ld_abs/ld_ind need the context in R6", "keep ctx in r6 (mov r6, r1) before the load",
                       state: st, registers: [6])
        }
        if ins.opcode & 0xe0 == MemoryMode.indirect.rawValue {
            try readable(st, Int(ins.src), pc)
            guard st[Int(ins.src)].kind == .scalar else {
                throw fail(.invalidPointer, pc, "ld_ind offset R\(ins.src) must be a scalar", state: st, registers: [Int(ins.src)])
            }
        }
        guard st.references.isEmpty else {
            throw fail(.referenceLeak, pc, "ld_abs/ld_ind may end the program while a ringbuf record is held",
                       "submit or discard the record first", state: st)
        }
        for r in 1...5 { st[r] = .uninitialized }
        st[0] = .scalar(.loaded(bytes: MemorySize(rawValue: ins.opcode & 0x18)!.bytes))
    }
}
