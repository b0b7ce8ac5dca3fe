import BPFCore
import BPFObject

// Dynptrs: a `struct bpf_dynptr` (16 bytes) on the stack that describes memory — a local buffer
// (`bpf_dynptr_from_mem`), a ringbuf record (`bpf_ringbuf_reserve_dynptr`), the packet
// (`bpf_dynptr_from_skb`, `bpf_dynptr_from_xdp`) — checked as the kernel's `process_dynptr_func`
// and the stack rules around `STACK_DYNPTR` check them:
//
// - Creating one takes 16 bytes of stack at a constant, 8-byte-aligned offset. The two slots then
//   hold the dynptr: the program cannot read them (the kernel's pointers are inside), and a helper
//   may not write them. A store there destroys the dynptr, unless it is a ringbuf one, which holds
//   a reference: that store is refused.
// - A ringbuf dynptr is a reference: submitted or discarded on every path, and only a ringbuf
//   dynptr is. Clones (`bpf_dynptr_clone`) share it; releasing one destroys them all.
// - Slices (`bpf_dynptr_data`, `bpf_dynptr_slice`, `bpf_dynptr_slice_rdwr`) are memory of the size
//   asked for, or NULL. They die with their dynptr; slices of the packet also die when a helper may
//   move the packet. `bpf_dynptr_slice` gives read-only memory, and `_rdwr` needs a program that may
//   write the packet.
// - A `bpf_user_ringbuf_drain` callback gets a constant dynptr (`CONST_PTR_TO_DYNPTR`): read only.

/// What memory a dynptr describes (the kernel's `enum bpf_dynptr_type`).
enum DynptrKind: Int, Hashable {
    case local = 1, ringbuf, skb, xdp, skbMeta

    var name: String {
        switch self {
        case .local: "local"
        case .ringbuf: "ringbuf"
        case .skb: "skb"
        case .xdp: "xdp"
        case .skbMeta: "skb_meta"
        }
    }

    /// Whether its data is the packet (slices die when the packet may move).
    var isPacket: Bool { self == .skb || self == .xdp || self == .skbMeta }
}

extension Register {
    /// A dynptr slot's kind. Kept in `size`, which dynptr slots do not otherwise use.
    var dynptrKind: DynptrKind? {
        get { kind == .dynptr || kind == .constDynptr ? DynptrKind(rawValue: size) : nil }
        set { size = newValue?.rawValue ?? 0 }
    }

    /// For a slice (memory from a dynptr): the dynptr's id, with bit 40 set for packet slices. Kept
    /// in `frame`, which memory does not otherwise use.
    var sliceOf: Int {
        get { frame }
        set { frame = newValue }
    }

    static let packetSlice = 1 << 40
    /// In `sliceOf`: the flow dissector's `flow_keys`, which moves only by constants.
    static let flowKeysMemory = 1 << 41
    /// In `sliceOf`: a writable raw tracepoint's buffer (args[0]).
    static let tracepointBufferMemory = 1 << 42
}

/// A dynptr found where a call's argument points.
struct DynptrLocation {
    /// The frame and stack offset of its first slot (nil for a constant dynptr held in a register).
    var frame: Int
    var offset: Int?
    var state: Register
}

extension Analysis {
    /// The stack slot offset a dynptr argument points at: constant, 8-byte aligned, 16 bytes inside
    /// the frame.
    func dynptrSlot(_ st: VerifierState, _ pc: Int, regno: Int, label: String) throws(VerifierError) -> (frame: Int, offset: Int) {
        let r = st[regno]
        guard r.kind == .stack else {
            throw argumentError(st, pc, regno: regno, label: label, what: "a struct bpf_dynptr on the stack", hint: nil)
        }
        guard let v = r.value.constantValue else {
            throw fail(.helperArgument, pc, "\(label): the struct bpf_dynptr must be at a constant stack offset, but R\(regno) is \(r.describe(maps: maps))",
                       state: st, registers: [regno])
        }
        let offset = r.offset + Int(Int64(bitPattern: v))
        guard offset % 8 == 0 else {
            throw fail(.helperArgument, pc, "\(label): the struct bpf_dynptr at fp\(offset) is not 8-byte aligned",
                       state: st, registers: [regno])
        }
        guard offset >= -512, offset + 16 <= 0 else {
            throw fail(.outOfBounds, pc, "\(label): the struct bpf_dynptr at fp\(offset) (16 bytes) is outside the 512-byte stack frame",
                       state: st, registers: [regno])
        }
        return (r.frame, offset)
    }

    /// The initialized dynptr argument `regno` points at, or the error the kernel gives ("Expected an
    /// initialized dynptr"). `mutable`: the callee changes or releases it (a constant dynptr will not do).
    func initializedDynptr(_ st: VerifierState, _ pc: Int, regno: Int, label: String, mutable: Bool,
                           kind expected: DynptrKind? = nil) throws(VerifierError) -> DynptrLocation {
        let r = st[regno]
        let found: DynptrLocation
        if r.kind == .constDynptr {
            guard !mutable else {
                throw fail(.helperArgument, pc, "\(label) changes the dynptr, but R\(regno) is a constant dynptr (a callback's argument)",
                           state: st, registers: [regno])
            }
            found = DynptrLocation(frame: st.frames.count - 1, offset: nil, state: r)
        } else {
            let (f, offset) = try dynptrSlot(st, pc, regno: regno, label: label)
            guard let first = st.frames[f].spill(at: offset), first.kind == .dynptr, first.offset == 0,
                  let second = st.frames[f].spill(at: offset + 8), second.kind == .dynptr, second.offset == 8, second.id == first.id else {
                throw fail(.helperArgument, pc, "\(label) must be an initialized dynptr, but fp\(offset) holds none",
                           "create it first (bpf_dynptr_from_mem, bpf_ringbuf_reserve_dynptr, bpf_dynptr_from_skb...), and use it before it is released or overwritten",
                           state: st, registers: [regno])
            }
            found = DynptrLocation(frame: f, offset: offset, state: first)
        }
        if let expected, found.state.dynptrKind != expected {
            throw fail(.helperArgument, pc, "\(label) must be a \(expected.name) dynptr, but R\(regno) is a \(found.state.dynptrKind?.name ?? "unknown") one",
                       state: st, registers: [regno])
        }
        return found
    }

    /// Creates a dynptr in the 16 bytes argument `regno` points at (the kernel's `MEM_UNINIT`
    /// dynptr arguments); returns its id. A ringbuf dynptr acquires a reference (`reference`: a
    /// clone's, shared).
    @discardableResult
    func createDynptr(_ st: inout VerifierState, _ pc: Int, regno: Int, label: String, kind: DynptrKind, readOnly: Bool,
                      reference: UInt32 = 0, acquiredBy helper: Int32? = nil) throws(VerifierError) -> UInt32 {
        let (f, offset) = try dynptrSlot(st, pc, regno: regno, label: label)
        noteStackWrite(st, frame: f, lo: offset, end: offset + 16)
        // What was there is destroyed (a referenced dynptr may not be).
        try destroyStackObjects(&st, pc, frame: f, lo: offset, end: offset + 16)
        var d = Register()
        d.kind = .dynptr
        d.dynptrKind = kind
        d.readOnly = readOnly
        d.id = freshID()
        d.origin = pc
        if reference != 0 {
            d.referenceID = reference
        } else if let helper {
            d.referenceID = d.id
            st.references.append(Reference(id: d.id, instruction: pc, helper: helper))
        }
        for s in 0..<2 {
            d.offset = s * 8
            for i in 0..<8 { st.frames[f].setByte(offset + s * 8 + i, .spill) }
            st.frames[f].setSpill(at: offset + s * 8, d)
        }
        let sub = st.frames[f].subprogram
        stackDepth[sub] = max(stackDepth[sub], -offset)
        noteFastcallDepth(sub, -offset)
        return d.id
    }

    /// Before a store to `lo..<end` of frame `f`: a dynptr the store touches is destroyed (with its
    /// slices), unless it holds a reference, which refuses the store.
    func destroyStackObjects(_ st: inout VerifierState, _ pc: Int, frame f: Int, lo: Int, end: Int) throws(VerifierError) {
        var slot = lo - ((lo % 8) + 8) % 8
        while slot < end {
            if let s = st.frames[f].spill(at: slot), s.kind == .dynptr {
                if s.referenceID != 0 {
                    throw fail(.referenceLeak, pc, "a store to fp\(slot) would overwrite a \(s.dynptrKind?.name ?? "") dynptr that holds a reference",
                               "submit or discard it (bpf_ringbuf_submit_dynptr, bpf_ringbuf_discard_dynptr) first", state: st)
                }
                destroyDynptr(&st, frame: f, first: slot - s.offset, id: s.id)
            }
            slot += 8
        }
    }

    /// Removes the dynptr whose first slot is at `first` and invalidates its slices.
    func destroyDynptr(_ st: inout VerifierState, frame f: Int, first: Int, id: UInt32) {
        noteStackWrite(st, frame: f, lo: first, end: first + 16)
        for s in 0..<2 where st.frames[f].spill(at: first + s * 8)?.kind == .dynptr {
            st.frames[f].setSpill(at: first + s * 8, nil)
            for i in 0..<8 { st.frames[f].setByte(first + s * 8 + i, .invalid) }
        }
        st.forEachRegister { r in
            if (r.kind == .memory || r.kind == .memoryOrNull) && r.sliceOf & 0xffff_ffff == Int(id) && r.sliceOf != 0 {
                r = .unknownScalar
            }
        }
    }

    /// A ringbuf dynptr's reference released (submitted or discarded): every dynptr holding it (the
    /// dynptr and its clones) is destroyed with its slices.
    func releaseDynptrs(_ st: inout VerifierState, reference: UInt32) {
        for f in st.frames.indices {
            for slot in st.frames[f].spills.indices {
                guard let s = st.frames[f].spills[slot], s.kind == .dynptr, s.referenceID == reference, s.offset == 0 else { continue }
                destroyDynptr(&st, frame: f, first: -(slot + 1) * 8, id: s.id)
            }
        }
    }

    /// The error for a read of stack bytes `lo..<end` that are a dynptr's or an iterator's, if any.
    func stackObjectRead(_ st: VerifierState, _ pc: Int, frame f: Int, lo: Int, end: Int, regno: Int, what: @autoclosure () -> String) -> VerifierError? {
        var slot = lo - ((lo % 8) + 8) % 8
        while slot < end {
            if let s = st.frames[f].spill(at: slot), s.kind == .iterator || s.kind == .dynptr {
                let object = s.kind == .iterator ? "an iterator" : "a dynptr"
                return fail(.invalidPointer, pc, "\(what()) reads the state of \(object) (at fp\(slot))",
                            "\(object)'s stack slots are used only through its kfuncs and helpers", state: st, registers: [regno])
            }
            slot += 8
        }
        return nil
    }

    /// The error for a helper's write of stack bytes `lo..<end` that hold a dynptr, if any (the
    /// kernel's "potential write to dynptr").
    func stackObjectWrite(_ st: VerifierState, _ pc: Int, frame f: Int, lo: Int, end: Int, regno: Int, helper: String) -> VerifierError? {
        var slot = lo - ((lo % 8) + 8) % 8
        while slot < end {
            if let s = st.frames[f].spill(at: slot), s.kind == .iterator || s.kind == .dynptr {
                return fail(.invalidPointer, pc, "\(helper) may write fp\(lo) (R\(regno)), where \(s.kind == .iterator ? "an iterator" : "a dynptr") is (at fp\(slot))",
                            "pass a buffer that does not overlap it", state: st, registers: [regno])
            }
            slot += 8
        }
        return nil
    }

    /// A slice of dynptr `d`: `size` bytes or NULL, gone with the dynptr.
    func dynptrSlice(of d: Register, size: Int, readOnly: Bool, pc: Int) -> Register {
        var r0 = Register()
        r0.kind = .memoryOrNull
        r0.size = size
        r0.readOnly = readOnly || d.readOnly
        r0.id = freshID()
        r0.origin = pc
        r0.referenceID = d.referenceID
        r0.sliceOf = Int(d.id) | (d.dynptrKind?.isPacket == true ? Register.packetSlice : 0)
        return r0
    }

    /// The dynptr kfuncs' own rules (`bpf_dynptr_*`, and the other kfuncs' dynptr arguments), for
    /// kfunc `name` whose parameter `parameter` is a `struct bpf_dynptr *`, argument `regno`.
    /// `dynptrs` collects the initialized dynptrs seen (a clone copies the first).
    func kfuncDynptrArgument(_ st: inout VerifierState, _ pc: Int, name: String, parameter: BTFParameter, const: Bool, regno: Int,
                             label: String, seen dynptrs: inout [DynptrLocation]) throws(VerifierError) {
        if parameter.name.hasSuffix("__uninit") {
            let kind: DynptrKind
            var readOnly = false
            var reference: UInt32 = 0
            switch name {
            case "bpf_dynptr_from_skb":
                kind = .skb
                readOnly = !rules.packetWritable
            case "bpf_dynptr_from_skb_meta":
                kind = .skbMeta
                readOnly = !rules.packetWritable
            case "bpf_dynptr_from_xdp":
                kind = .xdp
            case "bpf_dynptr_clone":
                guard let original = dynptrs.first else {
                    throw fail(.helperArgument, pc, "\(label): bpf_dynptr_clone needs the dynptr to clone first", state: st, registers: [regno])
                }
                kind = original.state.dynptrKind ?? .local
                readOnly = original.state.readOnly
                reference = original.state.referenceID
            default:
                kind = .local
            }
            try createDynptr(&st, pc, regno: regno, label: label, kind: kind, readOnly: readOnly, reference: reference)
            return
        }
        dynptrs.append(try initializedDynptr(st, pc, regno: regno, label: label, mutable: !const))
    }

    /// Which program types may create skb and xdp dynptrs (the kernel registers these kfuncs for them).
    func checkDynptrKfuncAvailable(_ st: VerifierState, _ pc: Int, name: String) throws(VerifierError) {
        let allowed: Bool
        switch name {
        case "bpf_dynptr_from_skb":
            allowed = [.schedCls, .schedAct, .skSkb, .socketFilter, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local,
                       .netfilter, .tracing].contains(program.type)
        case "bpf_dynptr_from_skb_meta":
            allowed = [.schedCls, .schedAct].contains(program.type)
        case "bpf_dynptr_from_xdp":
            allowed = program.type == .xdp
        default:
            return
        }
        guard allowed else {
            throw fail(.helperUnavailable, pc, "kfunc \(name) may not be called from \(program.type.kernelName) programs", state: st)
        }
    }
}
