/// An AArch64 general-purpose register by its encoding number. Number 31 is the zero register or
/// the stack pointer, depending on the instruction (``ARM64Reg/zr``, ``ARM64Reg/sp``).
struct ARM64Reg: Equatable, Hashable, Sendable {
    let n: UInt32
    init(_ n: UInt32) { self.n = n }
    static func x(_ n: UInt32) -> ARM64Reg { ARM64Reg(n) }
    static let zr = ARM64Reg(31)
    static let sp = ARM64Reg(31)
    static let lr = ARM64Reg(30)
}

/// AArch64 condition codes.
enum ARM64Cond: UInt32, Sendable {
    case eq = 0, ne, hs, lo, mi, pl, vs, vc, hi, ls, ge, lt, gt, le

    /// The flags test after `cmp a, b` (or `tst a, b` for `set`) that is eBPF's condition.
    init(_ cond: OptCond) {
        switch cond {
        case .eq: self = .eq
        case .ne, .set: self = .ne
        case .gt: self = .hi
        case .ge: self = .hs
        case .lt: self = .lo
        case .le: self = .ls
        case .sgt: self = .gt
        case .sge: self = .ge
        case .slt: self = .lt
        case .sle: self = .le
        }
    }
}

/// A position in the code that branches name before it is bound.
struct ARM64Label: Hashable, Sendable {
    let id: Int
}

/// Encodes AArch64 instructions into a little-endian byte buffer, with labels resolved at the end
/// (``resolve()``). Every instruction is 4 bytes. `sf` (`w` in the methods) selects the 64-bit form.
/// It only produces bytes, so it runs on any host.
struct ARM64Assembler {
    private(set) var words: [UInt32] = []
    private var labelOffsets: [Int] = []
    /// (instruction index, label, kind): 26-bit (`b`, `bl`) or 19-bit (`b.cond`, `cbz`) fields.
    private var fixups: [(at: Int, label: ARM64Label, wide: Bool)] = []
    /// Conditional branches as the opposite condition over a `b` (±128 MiB instead of ±1 MiB),
    /// for code too large for the short forms.
    var farBranches = false

    /// Byte offset of the next instruction.
    var offset: Int { words.count * 4 }

    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(words.count * 4)
        for w in words { out += [UInt8(w & 0xff), UInt8(w >> 8 & 0xff), UInt8(w >> 16 & 0xff), UInt8(w >> 24)] }
        return out
    }

    mutating func emit(_ word: UInt32) { words.append(word) }

    mutating func newLabel() -> ARM64Label {
        labelOffsets.append(-1)
        return ARM64Label(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: ARM64Label) { labelOffsets[label.id] = words.count }

    /// Patches every branch with its label's distance. A label never bound traps (`brk`) instead.
    /// Returns false when a distance does not fit its field (the code is then unusable).
    @discardableResult
    mutating func resolve() -> Bool {
        var fits = true
        for fixup in fixups {
            let target = labelOffsets[fixup.label.id]
            guard target >= 0 else { words[fixup.at] = 0xD420_0000; continue }
            let distance = target - fixup.at
            if fixup.wide ? abs(distance) >= 1 << 25 : abs(distance) >= 1 << 18 { fits = false; continue }
            let delta = Int32(distance)
            if fixup.wide {
                words[fixup.at] |= UInt32(bitPattern: delta) & 0x03FF_FFFF
            } else {
                words[fixup.at] |= (UInt32(bitPattern: delta) & 0x7FFFF) << 5
            }
        }
        fixups = []
        return fits
    }

    private static func sf(_ w: Bool) -> UInt32 { w ? 1 << 31 : 0 }

    // MARK: - Data processing

    /// add/sub/adds/subs (shifted register, no shift): register 31 is the zero register.
    enum AddSub: UInt32 { case add = 0x0B00_0000, adds = 0x2B00_0000, sub = 0x4B00_0000, subs = 0x6B00_0000 }
    mutating func addSub(_ op: AddSub, _ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg) {
        emit(op.rawValue | Self.sf(w) | m.n << 16 | n.n << 5 | d.n)
    }

    /// add/sub/adds/subs with a 12-bit immediate: register 31 is `sp` (as `n`, and as `d` of add/sub).
    mutating func addSubImm(_ op: AddSub, _ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ imm12: UInt32) {
        let base: UInt32 = [AddSub.add: 0x1100_0000, .adds: 0x3100_0000, .sub: 0x5100_0000, .subs: 0x7100_0000][op]!
        emit(base | Self.sf(w) | (imm12 & 0xfff) << 10 | n.n << 5 | d.n)
    }

    enum Logical: UInt32 { case and = 0x0A00_0000, orr = 0x2A00_0000, eor = 0x4A00_0000, ands = 0x6A00_0000 }
    mutating func logical(_ op: Logical, _ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg) {
        emit(op.rawValue | Self.sf(w) | m.n << 16 | n.n << 5 | d.n)
    }

    mutating func mov(_ w: Bool, _ d: ARM64Reg, _ m: ARM64Reg) { logical(.orr, w, d, .zr, m) }
    /// `mov` to or from `sp` (an `add` of 0).
    mutating func movSP(_ d: ARM64Reg, _ n: ARM64Reg) { addSubImm(.add, true, d, n, 0) }
    mutating func cmp(_ w: Bool, _ n: ARM64Reg, _ m: ARM64Reg) { addSub(.subs, w, .zr, n, m) }
    mutating func tst(_ w: Bool, _ n: ARM64Reg, _ m: ARM64Reg) { logical(.ands, w, .zr, n, m) }

    /// `d = a + n * m` (`sub`: `d = a - n * m`).
    mutating func madd(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg, _ a: ARM64Reg, sub: Bool = false) {
        emit(0x1B00_0000 | Self.sf(w) | m.n << 16 | (sub ? 1 << 15 : 0) | a.n << 10 | n.n << 5 | d.n)
    }

    enum DataProc2: UInt32 { case udiv = 0x1AC0_0800, sdiv = 0x1AC0_0C00, lslv = 0x1AC0_2000, lsrv = 0x1AC0_2400, asrv = 0x1AC0_2800 }
    mutating func dataProc2(_ op: DataProc2, _ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg) {
        emit(op.rawValue | Self.sf(w) | m.n << 16 | n.n << 5 | d.n)
    }

    /// ubfm/sbfm: the bitfield moves behind shifts by immediates and the extensions.
    mutating func bitfield(signed: Bool, _ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, immr: UInt32, imms: UInt32) {
        emit((signed ? 0x1300_0000 : 0x5300_0000) | Self.sf(w) | (w ? 1 << 22 : 0) | immr << 16 | imms << 10 | n.n << 5 | d.n)
    }

    mutating func lsl(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ s: UInt32) {
        let size: UInt32 = w ? 64 : 32
        bitfield(signed: false, w, d, n, immr: (size - s) % size, imms: size - 1 - s)
    }
    mutating func lsr(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ s: UInt32) { bitfield(signed: false, w, d, n, immr: s, imms: w ? 63 : 31) }
    mutating func asr(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ s: UInt32) { bitfield(signed: true, w, d, n, immr: s, imms: w ? 63 : 31) }
    /// Sign-extends the low `bits` of `n` (8, 16 or, 64-bit only, 32).
    mutating func sxt(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, bits: UInt32) { bitfield(signed: true, w, d, n, immr: 0, imms: bits - 1) }
    /// Zero-extends the low 16 bits (32-bit form, so the upper half is cleared too).
    mutating func uxth(_ d: ARM64Reg, _ n: ARM64Reg) { bitfield(signed: false, false, d, n, immr: 0, imms: 15) }

    /// Byte reversal: `rev16` of a 32-bit register, `rev` of 32 or 64 bits.
    mutating func rev16(_ d: ARM64Reg, _ n: ARM64Reg) { emit(0x5AC0_0400 | n.n << 5 | d.n) }
    mutating func rev(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg) { emit((w ? 0xDAC0_0C00 : 0x5AC0_0800) | n.n << 5 | d.n) }

    /// movz/movn/movk of one 16-bit piece at `shift` (0, 16, 32, 48).
    enum MoveWide: UInt32 { case movn = 0x1280_0000, movz = 0x5280_0000, movk = 0x7280_0000 }
    mutating func moveWide(_ op: MoveWide, _ w: Bool, _ d: ARM64Reg, _ imm16: UInt32, shift: UInt32) {
        emit(op.rawValue | Self.sf(w) | (shift / 16) << 21 | (imm16 & 0xffff) << 5 | d.n)
    }

    /// `d = value` in the fewest movz/movn + movk instructions.
    mutating func movImm(_ d: ARM64Reg, _ value: UInt64) {
        let pieces = (0..<4).map { UInt32(truncatingIfNeeded: value >> (16 * $0)) & 0xffff }
        if value <= 0xffff_ffff {
            // 32-bit forms zero the upper half.
            if pieces[1] == 0 {
                moveWide(.movz, false, d, pieces[0], shift: 0)
            } else if pieces[1] == 0xffff {
                moveWide(.movn, false, d, ~pieces[0] & 0xffff, shift: 0)
            } else if pieces[0] == 0 {
                moveWide(.movz, false, d, pieces[1], shift: 16)
            } else {
                moveWide(.movz, false, d, pieces[0], shift: 0)
                moveWide(.movk, false, d, pieces[1], shift: 16)
            }
            return
        }
        let ones = pieces.filter { $0 == 0xffff }.count, zeros = pieces.filter { $0 == 0 }.count
        let inverted = ones > zeros
        let fill: UInt32 = inverted ? 0xffff : 0
        var first = true
        for i in 0..<4 where pieces[i] != fill {
            if first {
                moveWide(inverted ? .movn : .movz, true, d, inverted ? ~pieces[i] & 0xffff : pieces[i], shift: UInt32(16 * i))
                first = false
            } else {
                moveWide(.movk, true, d, pieces[i], shift: UInt32(16 * i))
            }
        }
        if first { moveWide(inverted ? .movn : .movz, true, d, 0, shift: 0) }
    }

    // MARK: - Memory

    /// Load/store of `size` bytes (1, 2, 4, 8): `opc` 0 store, 1 load (zero-extending), 2 load
    /// sign-extending to 64 bits.
    private static func sizeBits(_ size: Int) -> UInt32 { [1: 0, 2: 1, 4: 2, 8: 3][size]! }

    /// `[n + imm12 * size]` (unsigned, scaled offset); `n` 31 is `sp`.
    mutating func ldst(opc: UInt32, size: Int, _ t: ARM64Reg, _ n: ARM64Reg, scaled imm12: UInt32 = 0) {
        emit(Self.sizeBits(size) << 30 | 0x3900_0000 | opc << 22 | (imm12 & 0xfff) << 10 | n.n << 5 | t.n)
    }

    /// `[n + simm9]` (unscaled).
    mutating func ldstUnscaled(opc: UInt32, size: Int, _ t: ARM64Reg, _ n: ARM64Reg, _ simm9: Int32) {
        emit(Self.sizeBits(size) << 30 | 0x3800_0000 | opc << 22 | (UInt32(bitPattern: simm9) & 0x1ff) << 12 | n.n << 5 | t.n)
    }

    /// `[n + m]`, or `[n + m << log2(size)]` when `scaled`.
    mutating func ldstRegister(opc: UInt32, size: Int, _ t: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg, scaled: Bool = false) {
        emit(Self.sizeBits(size) << 30 | 0x3820_6800 | opc << 22 | m.n << 16 | (scaled ? 1 << 12 : 0) | n.n << 5 | t.n)
    }

    /// A 64-bit load or store at a byte offset of `n` that is a multiple of 8 (the frame's slots).
    mutating func ldr(_ t: ARM64Reg, _ n: ARM64Reg, _ byteOffset: Int32) { ldst(opc: 1, size: 8, t, n, scaled: UInt32(byteOffset / 8)) }
    mutating func str(_ t: ARM64Reg, _ n: ARM64Reg, _ byteOffset: Int32) { ldst(opc: 0, size: 8, t, n, scaled: UInt32(byteOffset / 8)) }

    /// stp/ldp of 64-bit registers: `mode` 1 post-index, 2 signed offset, 3 pre-index; `n` 31 is `sp`.
    mutating func pair(load: Bool, _ t1: ARM64Reg, _ t2: ARM64Reg, _ n: ARM64Reg, _ byteOffset: Int32, mode: UInt32) {
        emit(0xA800_0000 | mode << 23 | (load ? 1 << 22 : 0) | (UInt32(bitPattern: byteOffset / 8) & 0x7f) << 15 | t2.n << 10 | n.n << 5 | t1.n)
    }

    /// Exclusive load (acquire) and store (release) of 4 or 8 bytes at `[n]`; `status` is 0 on success.
    mutating func ldaxr(_ w: Bool, _ t: ARM64Reg, _ n: ARM64Reg) { emit((w ? 0xC85F_FC00 : 0x885F_FC00) | n.n << 5 | t.n) }
    mutating func stlxr(_ w: Bool, status: ARM64Reg, _ t: ARM64Reg, _ n: ARM64Reg) {
        emit((w ? 0xC800_FC00 : 0x8800_FC00) | status.n << 16 | n.n << 5 | t.n)
    }
    mutating func dmbISH() { emit(0xD503_3BBF) }

    // MARK: - Branches

    mutating func b(_ label: ARM64Label) { fixups.append((words.count, label, true)); emit(0x1400_0000) }
    mutating func bl(_ label: ARM64Label) { fixups.append((words.count, label, true)); emit(0x9400_0000) }
    mutating func bcond(_ cond: ARM64Cond, _ label: ARM64Label) {
        if farBranches {
            // b.!cond over the next instruction (conditions pair up by their lowest bit).
            emit(0x5400_0000 | 2 << 5 | (cond.rawValue ^ 1))
            return b(label)
        }
        fixups.append((words.count, label, false))
        emit(0x5400_0000 | cond.rawValue)
    }
    mutating func cbz(_ w: Bool, _ t: ARM64Reg, _ label: ARM64Label, nonZero: Bool = false) {
        if farBranches {
            emit((nonZero ? 0x3400_0000 : 0x3500_0000) | Self.sf(w) | 2 << 5 | t.n)
            return b(label)
        }
        fixups.append((words.count, label, false))
        emit((nonZero ? 0x3500_0000 : 0x3400_0000) | Self.sf(w) | t.n)
    }
    mutating func blr(_ n: ARM64Reg) { emit(0xD63F_0000 | n.n << 5) }
    /// Indirect branch to the address in `n`.
    mutating func br(_ n: ARM64Reg) { emit(0xD61F_0000 | n.n << 5) }
    /// `d` = the address `byteOffset` bytes from this instruction (±1 MiB).
    mutating func adr(_ d: ARM64Reg, _ byteOffset: Int32) {
        let imm = UInt32(bitPattern: byteOffset) & 0x1F_FFFF
        emit(0x1000_0000 | (imm & 3) << 29 | (imm >> 2) << 5 | d.n)
    }
    /// `d = cond ? n : m`.
    mutating func csel(_ w: Bool, _ d: ARM64Reg, _ n: ARM64Reg, _ m: ARM64Reg, _ cond: ARM64Cond) {
        emit(0x1A80_0000 | Self.sf(w) | m.n << 16 | cond.rawValue << 12 | n.n << 5 | d.n)
    }

    /// Byte offset a bound label stands for (-1 while unbound).
    func offset(of label: ARM64Label) -> Int { labelOffsets[label.id] < 0 ? -1 : labelOffsets[label.id] * 4 }
    /// Overwrites the 4 bytes at `byteOffset` (data words: jump tables).
    mutating func patch(at byteOffset: Int, _ word: UInt32) { words[byteOffset / 4] = word }
    mutating func ret() { emit(0xD65F_03C0) }
    mutating func brk() { emit(0xD420_0000) }
}

extension ARM64Assembler {
    /// The containment check both arm64 tiers emit before an unproven access: falls through when
    /// the `size` bytes at `address` lie in one of the frame's load (or, for `write`, store)
    /// regions, else jumps to `slow` (`frame`: the run's frame register; `scratch` is clobbered).
    mutating func regionCheck(address: ARM64Reg, scratch: ARM64Reg, frame: ARM64Reg, size: Int, write: Bool, slow: ARM64Label) {
        let table = write ? JITFrame.storeRegions : JITFrame.loadRegions
        let ok = newLabel()
        for i in 0..<JITFrame.regionCount {
            let entry = table + Int32(i) * JITFrame.regionEntryBytes
            let last = i == JITFrame.regionCount - 1
            let next = last ? slow : newLabel()
            ldr(scratch, frame, entry)
            cmp(true, address, scratch)
            bcond(.lo, next)
            ldr(scratch, frame, entry + JITFrame.limitOffset(size: size))
            cmp(true, address, scratch)
            if last { bcond(.hi, slow) } else { bcond(.ls, ok); bind(next) }
        }
        bind(ok)
    }
}
