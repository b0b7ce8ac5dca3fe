/// The x86-64 general-purpose registers, numbered as the encoding numbers them.
enum X86Reg: UInt8, CaseIterable, Sendable {
    case rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15

    static let names64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
    static let names32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"]
    static let names16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"]
    static let names8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"]

    func name(_ bits: Int) -> String {
        switch bits {
        case 64: Self.names64[Int(rawValue)]
        case 32: Self.names32[Int(rawValue)]
        case 16: Self.names16[Int(rawValue)]
        default: Self.names8[Int(rawValue)]
        }
    }
}

/// A memory operand `[base + index*scale + disp]`.
struct X86Mem: Sendable {
    var base: X86Reg
    var index: X86Reg? = nil
    var scale: UInt8 = 1
    var disp: Int32 = 0

    func text(_ bits: Int?) -> String {
        var s = ""
        if let bits { s = ["byte", "word", "dword", "qword"][[8, 16, 32, 64].firstIndex(of: bits)!] + " " }
        s += "[" + base.name(64)
        if let index { s += "+" + index.name(64) + (scale > 1 ? "*\(scale)" : "") }
        if disp > 0 { s += "+0x" + String(disp, radix: 16) } else if disp < 0 { s += "-0x" + String(-Int64(disp), radix: 16) }
        return s + "]"
    }
}

/// x86 condition codes (the low nibble of `jcc`).
enum X86Cond: UInt8, Sendable {
    case o = 0, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g
    var name: String { ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"][Int(rawValue)] }
    /// The opposite condition (x86 pairs them by the lowest bit).
    var inverted: X86Cond { X86Cond(rawValue: rawValue ^ 1)! }

    /// The flags test after `cmp a, b` (or `test a, b` for `set`) that is eBPF's condition.
    init(_ cond: OptCond) {
        switch cond {
        case .eq: self = .e
        case .ne, .set: self = .ne
        case .gt: self = .a
        case .ge: self = .ae
        case .lt: self = .b
        case .le: self = .be
        case .sgt: self = .g
        case .sge: self = .ge
        case .slt: self = .l
        case .sle: self = .le
        }
    }
}

/// The two-operand ALU instructions: the `/digit` of their immediate forms; `op r/m, reg` is `digit*8+1`.
enum X86ALU: UInt8, Sendable {
    case add = 0, or = 1, and = 4, sub = 5, xor = 6, cmp = 7
    var name: String {
        switch self {
        case .add: "add"
        case .or: "or"
        case .and: "and"
        case .sub: "sub"
        case .xor: "xor"
        case .cmp: "cmp"
        }
    }
}

/// Shifts: the `/digit` of `C1`/`D3`.
enum X86Shift: UInt8, Sendable {
    case rol = 0, ror = 1, shl = 4, shr = 5, sar = 7
    var name: String { ["rol", "ror", "", "", "shl", "shr", "", "sar"][Int(rawValue)] }
}

/// A position in the code a jump or call can name before it is placed.
struct X86Label: Hashable, Sendable {
    let id: Int
}

/// A small x86-64 assembler for exactly the instructions the JIT emits. Optionally keeps a listing
/// (offset and Intel-syntax text of every instruction) for `swiftbpf disasm --jited`.
struct X86Assembler {
    private(set) var bytes: [UInt8] = []
    private var labelOffsets: [Int] = []
    private var fixups: [(at: Int, label: X86Label)] = []
    /// The listing, when asked for.
    var listing: [(offset: Int, text: String)]?

    init(listing: Bool = false) {
        bytes.reserveCapacity(4096)
        self.listing = listing ? [] : nil
    }

    var offset: Int { bytes.count }

    // MARK: Labels

    mutating func newLabel() -> X86Label {
        labelOffsets.append(-1)
        return X86Label(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: X86Label) { labelOffsets[label.id] = bytes.count }

    func isBound(_ label: X86Label) -> Bool { labelOffsets[label.id] >= 0 }

    func offset(of label: X86Label) -> Int { labelOffsets[label.id] }

    /// Patches every jump and call; call once at the end.
    mutating func resolve() {
        for (at, label) in fixups {
            let target = labelOffsets[label.id]
            precondition(target >= 0, "JIT label \(label.id) was never bound")
            let rel = Int32(target - (at + 4))
            withUnsafeBytes(of: rel.littleEndian) { for i in 0..<4 { bytes[at + i] = $0[i] } }
        }
        fixups.removeAll()
    }

    // MARK: Encoding

    /// A line of explanation in the listing (no code).
    mutating func comment(_ text: @autoclosure () -> String) {
        note(bytes.count, "; " + text())
    }

    private mutating func note(_ start: Int, _ text: @autoclosure () -> String) {
        if listing != nil { listing!.append((start, text())) }
    }

    private static func rex(w: Bool, r: UInt8, x: UInt8 = 0, b: UInt8) -> UInt8 {
        var v: UInt8 = 0x40
        if w { v |= 8 }
        if r & 8 != 0 { v |= 4 }
        if x & 8 != 0 { v |= 2 }
        if b & 8 != 0 { v |= 1 }
        return v
    }

    private mutating func imm32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    private mutating func imm16(_ v: Int16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }

    /// REX (when needed), opcode, ModRM (+SIB, displacement). `reg` is the ModRM reg field (a
    /// register or an opcode extension); `byteRegs` forces REX so registers 4–7 mean spl..dil.
    private mutating func encode(prefix: UInt8? = nil, w: Bool, opcode: [UInt8], reg: UInt8, rm: X86Reg) {
        if let prefix { bytes.append(prefix) }
        let rex = Self.rex(w: w, r: reg, b: rm.rawValue)
        if rex != 0x40 { bytes.append(rex) }
        bytes += opcode
        bytes.append(0xc0 | (reg & 7) << 3 | (rm.rawValue & 7))
    }

    private mutating func encodeByteRegs(w: Bool, opcode: [UInt8], reg: UInt8, rm: X86Reg, regIsRegister: Bool) {
        let rex = Self.rex(w: w, r: reg, b: rm.rawValue)
        let needs = rex != 0x40 || (rm.rawValue >= 4 && rm.rawValue <= 7) || (regIsRegister && reg >= 4 && reg <= 7)
        if needs { bytes.append(rex) }
        bytes += opcode
        bytes.append(0xc0 | (reg & 7) << 3 | (rm.rawValue & 7))
    }

    /// How many memory operands so far were addressed through r12 (the JIT's frame register).
    private(set) var r12Operands = 0

    private mutating func encode(prefix: [UInt8] = [], w: Bool, opcode: [UInt8], reg: UInt8, mem m: X86Mem, forceREX: Bool = false) {
        if m.base == .r12 || m.index == .r12 { r12Operands += 1 }
        bytes += prefix
        let rex = Self.rex(w: w, r: reg, x: m.index?.rawValue ?? 0, b: m.base.rawValue)
        if rex != 0x40 || forceREX { bytes.append(rex) }
        bytes += opcode
        let b = m.base.rawValue & 7
        let mod: UInt8 = (m.disp == 0 && b != 5) ? 0 : (Int8(exactly: m.disp) != nil ? 1 : 2)
        if m.index != nil || b == 4 {
            bytes.append(mod << 6 | (reg & 7) << 3 | 4)
            let scaleBits: UInt8 = [1: 0, 2: 1, 4: 2, 8: 3][m.scale] ?? 0
            let indexBits: UInt8 = (m.index?.rawValue ?? 4) & 7
            bytes.append(scaleBits << 6 | indexBits << 3 | b)
        } else {
            bytes.append(mod << 6 | (reg & 7) << 3 | b)
        }
        if mod == 1 { bytes.append(UInt8(bitPattern: Int8(m.disp))) } else if mod == 2 { imm32(m.disp) }
    }

    // MARK: Moves

    mutating func mov(_ w: Bool, _ dst: X86Reg, _ src: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0x89], reg: src.rawValue, rm: dst)
        note(s, "mov \(dst.name(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    /// Loads a 64-bit constant in the shortest form.
    mutating func movImm(_ dst: X86Reg, _ value: UInt64) {
        let s = offset
        if value == 0 {
            encode(w: false, opcode: [0x31], reg: dst.rawValue, rm: dst)
            note(s, "xor \(dst.name(32)), \(dst.name(32))")
        } else if value <= UInt64(UInt32.max) {
            if dst.rawValue >= 8 { bytes.append(0x41) }
            bytes.append(0xb8 + (dst.rawValue & 7))
            imm32(Int32(bitPattern: UInt32(value)))
            note(s, "mov \(dst.name(32)), 0x\(String(value, radix: 16))")
        } else if let v = Int32(exactly: Int64(bitPattern: value)) {
            encode(w: true, opcode: [0xc7], reg: 0, rm: dst)
            imm32(v)
            note(s, "mov \(dst.name(64)), \(v)")
        } else {
            bytes.append(0x48 | (dst.rawValue >> 3))
            bytes.append(0xb8 + (dst.rawValue & 7))
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
            note(s, "movabs \(dst.name(64)), 0x\(String(value, radix: 16))")
        }
    }

    /// 32-bit `mov r32, imm32` (zero-extends), even for 0 (keeps the flags).
    mutating func movImm32(_ dst: X86Reg, _ value: UInt32) {
        let s = offset
        if dst.rawValue >= 8 { bytes.append(0x41) }
        bytes.append(0xb8 + (dst.rawValue & 7))
        imm32(Int32(bitPattern: value))
        note(s, "mov \(dst.name(32)), 0x\(String(value, radix: 16))")
    }

    /// Loads `bits` (8, 16, 32, 64) from memory, zero- or sign-extending into the 64-bit register.
    mutating func load(_ dst: X86Reg, _ m: X86Mem, bits: Int, signed: Bool = false) {
        let s = offset
        switch (bits, signed) {
        case (8, false): encode(w: false, opcode: [0x0f, 0xb6], reg: dst.rawValue, mem: m); note(s, "movzx \(dst.name(32)), \(m.text(8))")
        case (16, false): encode(w: false, opcode: [0x0f, 0xb7], reg: dst.rawValue, mem: m); note(s, "movzx \(dst.name(32)), \(m.text(16))")
        case (32, false): encode(w: false, opcode: [0x8b], reg: dst.rawValue, mem: m); note(s, "mov \(dst.name(32)), \(m.text(32))")
        case (64, _): encode(w: true, opcode: [0x8b], reg: dst.rawValue, mem: m); note(s, "mov \(dst.name(64)), \(m.text(64))")
        case (8, true): encode(w: true, opcode: [0x0f, 0xbe], reg: dst.rawValue, mem: m); note(s, "movsx \(dst.name(64)), \(m.text(8))")
        case (16, true): encode(w: true, opcode: [0x0f, 0xbf], reg: dst.rawValue, mem: m); note(s, "movsx \(dst.name(64)), \(m.text(16))")
        default: encode(w: true, opcode: [0x63], reg: dst.rawValue, mem: m); note(s, "movsxd \(dst.name(64)), \(m.text(32))")
        }
    }

    /// Stores the low `bits` of a register.
    mutating func store(_ m: X86Mem, _ src: X86Reg, bits: Int) {
        let s = offset
        switch bits {
        case 8: encode(w: false, opcode: [0x88], reg: src.rawValue, mem: m, forceREX: src.rawValue >= 4 && src.rawValue <= 7)
        case 16: encode(prefix: [0x66], w: false, opcode: [0x89], reg: src.rawValue, mem: m)
        case 32: encode(w: false, opcode: [0x89], reg: src.rawValue, mem: m)
        default: encode(w: true, opcode: [0x89], reg: src.rawValue, mem: m)
        }
        note(s, "mov \(m.text(bits)), \(src.name(bits))")
    }

    /// Stores an immediate (sign-extended to 64 bits for a 64-bit store).
    mutating func storeImm(_ m: X86Mem, _ value: Int32, bits: Int) {
        let s = offset
        switch bits {
        case 8: encode(w: false, opcode: [0xc6], reg: 0, mem: m); bytes.append(UInt8(truncatingIfNeeded: value))
        case 16: encode(prefix: [0x66], w: false, opcode: [0xc7], reg: 0, mem: m); imm16(Int16(truncatingIfNeeded: value))
        case 32: encode(w: false, opcode: [0xc7], reg: 0, mem: m); imm32(value)
        default: encode(w: true, opcode: [0xc7], reg: 0, mem: m); imm32(value)
        }
        note(s, "mov \(m.text(bits)), \(bits == 64 ? "\(value)" : "0x" + String(UInt64(UInt32(bitPattern: value)) & (bits == 32 ? 0xffff_ffff : (1 << UInt64(bits)) - 1), radix: 16))")
    }

    mutating func lea(_ dst: X86Reg, _ m: X86Mem) {
        let s = offset
        encode(w: true, opcode: [0x8d], reg: dst.rawValue, mem: m)
        note(s, "lea \(dst.name(64)), \(m.text(nil))")
    }

    /// `movsx`/`movzx` between registers: `bits` of `src` into the 32- or 64-bit `dst`.
    mutating func extend(_ dst: X86Reg, _ src: X86Reg, bits: Int, signed: Bool, w: Bool) {
        let s = offset
        let name = signed ? "movsx" : "movzx"
        switch bits {
        case 8: encodeByteRegs(w: w, opcode: [0x0f, signed ? 0xbe : 0xb6], reg: dst.rawValue, rm: src, regIsRegister: false)
        case 16: encode(w: w, opcode: [0x0f, signed ? 0xbf : 0xb7], reg: dst.rawValue, rm: src)
        default: encode(w: true, opcode: [0x63], reg: dst.rawValue, rm: src)
        }
        note(s, "\(bits == 32 ? "movsxd" : name) \(dst.name(w ? 64 : 32)), \(src.name(bits))")
    }

    // MARK: Arithmetic

    mutating func alu(_ op: X86ALU, _ w: Bool, _ dst: X86Reg, _ src: X86Reg) {
        let s = offset
        encode(w: w, opcode: [op.rawValue * 8 + 1], reg: src.rawValue, rm: dst)
        note(s, "\(op.name) \(dst.name(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func alu(_ op: X86ALU, _ w: Bool, _ dst: X86Reg, imm: Int32) {
        let s = offset
        if let small = Int8(exactly: imm) {
            encode(w: w, opcode: [0x83], reg: op.rawValue, rm: dst)
            bytes.append(UInt8(bitPattern: small))
        } else {
            encode(w: w, opcode: [0x81], reg: op.rawValue, rm: dst)
            imm32(imm)
        }
        note(s, "\(op.name) \(dst.name(w ? 64 : 32)), \(imm)")
    }

    /// `op reg, [mem]` (64-bit), e.g. `cmp r11, [r12+8]`.
    mutating func alu(_ op: X86ALU, _ dst: X86Reg, _ m: X86Mem) {
        let s = offset
        encode(w: true, opcode: [op.rawValue * 8 + 3], reg: dst.rawValue, mem: m)
        note(s, "\(op.name) \(dst.name(64)), \(m.text(64))")
    }

    /// `op qword [mem], imm` (64-bit).
    mutating func alu(_ op: X86ALU, _ m: X86Mem, imm: Int8) {
        let s = offset
        encode(w: true, opcode: [0x83], reg: op.rawValue, mem: m)
        bytes.append(UInt8(bitPattern: imm))
        note(s, "\(op.name) \(m.text(64)), \(imm)")
    }

    /// `lock op [mem], reg` for add/or/and/xor.
    mutating func lockALU(_ op: X86ALU, _ w: Bool, _ m: X86Mem, _ src: X86Reg) {
        let s = offset
        encode(prefix: [0xf0], w: w, opcode: [op.rawValue * 8 + 1], reg: src.rawValue, mem: m)
        note(s, "lock \(op.name) \(m.text(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func lockXadd(_ w: Bool, _ m: X86Mem, _ src: X86Reg) {
        let s = offset
        encode(prefix: [0xf0], w: w, opcode: [0x0f, 0xc1], reg: src.rawValue, mem: m)
        note(s, "lock xadd \(m.text(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func lockCmpxchg(_ w: Bool, _ m: X86Mem, _ src: X86Reg) {
        let s = offset
        encode(prefix: [0xf0], w: w, opcode: [0x0f, 0xb1], reg: src.rawValue, mem: m)
        note(s, "lock cmpxchg \(m.text(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func xchg(_ w: Bool, _ m: X86Mem, _ src: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0x87], reg: src.rawValue, mem: m)
        note(s, "xchg \(m.text(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func test(_ w: Bool, _ a: X86Reg, _ b: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0x85], reg: b.rawValue, rm: a)
        note(s, "test \(a.name(w ? 64 : 32)), \(b.name(w ? 64 : 32))")
    }

    mutating func test(_ w: Bool, _ a: X86Reg, imm: Int32) {
        let s = offset
        encode(w: w, opcode: [0xf7], reg: 0, rm: a)
        imm32(imm)
        note(s, "test \(a.name(w ? 64 : 32)), \(imm)")
    }

    mutating func imul(_ w: Bool, _ dst: X86Reg, _ src: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0x0f, 0xaf], reg: dst.rawValue, rm: src)
        note(s, "imul \(dst.name(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    mutating func imul(_ w: Bool, _ dst: X86Reg, _ src: X86Reg, imm: Int32) {
        let s = offset
        if let small = Int8(exactly: imm) {
            encode(w: w, opcode: [0x6b], reg: dst.rawValue, rm: src)
            bytes.append(UInt8(bitPattern: small))
        } else {
            encode(w: w, opcode: [0x69], reg: dst.rawValue, rm: src)
            imm32(imm)
        }
        note(s, "imul \(dst.name(w ? 64 : 32)), \(src.name(w ? 64 : 32)), \(imm)")
    }

    /// `F7 /digit`: neg (3), div (6), idiv (7).
    mutating func unary(_ digit: UInt8, _ w: Bool, _ r: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0xf7], reg: digit, rm: r)
        note(s, "\(["test", "", "not", "neg", "mul", "imul", "div", "idiv"][Int(digit)]) \(r.name(w ? 64 : 32))")
    }

    /// `cqo` (64) or `cdq` (32).
    mutating func signExtendAccumulator(_ w: Bool) {
        let s = offset
        if w { bytes.append(0x48) }
        bytes.append(0x99)
        note(s, w ? "cqo" : "cdq")
    }

    mutating func shift(_ kind: X86Shift, _ w: Bool, _ r: X86Reg, imm: UInt8) {
        let s = offset
        encode(w: w, opcode: [0xc1], reg: kind.rawValue, rm: r)
        bytes.append(imm)
        note(s, "\(kind.name) \(r.name(w ? 64 : 32)), \(imm)")
    }

    mutating func shiftCL(_ kind: X86Shift, _ w: Bool, _ r: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0xd3], reg: kind.rawValue, rm: r)
        note(s, "\(kind.name) \(r.name(w ? 64 : 32)), cl")
    }

    /// `ror r16, 8`: swaps the two low bytes.
    mutating func swap16(_ r: X86Reg) {
        let s = offset
        encode(prefix: 0x66, w: false, opcode: [0xc1], reg: X86Shift.ror.rawValue, rm: r)
        bytes.append(8)
        note(s, "ror \(r.name(16)), 8")
    }

    mutating func bswap(_ w: Bool, _ r: X86Reg) {
        let s = offset
        let rex = Self.rex(w: w, r: 0, b: r.rawValue)
        if rex != 0x40 { bytes.append(rex) }
        bytes += [0x0f, 0xc8 + (r.rawValue & 7)]
        note(s, "bswap \(r.name(w ? 64 : 32))")
    }

    // MARK: Control flow

    mutating func jmp(_ label: X86Label) {
        if short(0xeb, label, "jmp L\(label.id)") { return }
        relative([0xe9], label, "jmp L\(label.id)")
    }

    mutating func jcc(_ cond: X86Cond, _ label: X86Label) {
        if short(0x70 + cond.rawValue, label, "j\(cond.name) L\(label.id)") { return }
        relative([0x0f, 0x80 + cond.rawValue], label, "j\(cond.name) L\(label.id)")
    }

    /// The two-byte form of a jump to a label already bound (a backward jump, such as a loop's)
    /// within reach of an 8-bit displacement; false when it does not apply.
    private mutating func short(_ opcode: UInt8, _ label: X86Label, _ text: @autoclosure () -> String) -> Bool {
        let target = labelOffsets[label.id]
        guard target >= 0, let displacement = Int8(exactly: target - (bytes.count + 2)) else { return false }
        let s = offset
        bytes += [opcode, UInt8(bitPattern: displacement)]
        note(s, text())
        return true
    }

    mutating func call(_ label: X86Label) {
        relative([0xe8], label, "call L\(label.id)")
    }

    /// An instruction ending in a 32-bit displacement to `label`, fixed up by ``resolve()``.
    private mutating func relative(_ opcode: [UInt8], _ label: X86Label, _ text: @autoclosure () -> String) {
        let s = offset
        bytes += opcode
        fixups.append((bytes.count, label))
        imm32(0)
        note(s, text())
    }

    /// `call [mem]`.
    mutating func call(_ m: X86Mem) {
        memoryForm([0xff], reg: 2, m, "call \(m.text(64))")
    }

    /// `call reg`.
    mutating func callRegister(_ r: X86Reg) {
        let s = offset
        encode(w: false, opcode: [0xff], reg: 2, rm: r)
        note(s, "call \(r.name(64))")
    }

    mutating func ret() {
        let s = offset
        bytes.append(0xc3)
        note(s, "ret")
    }

    mutating func push(_ r: X86Reg) {
        shortForm(0x50, r, "push")
    }

    mutating func pop(_ r: X86Reg) {
        shortForm(0x58, r, "pop")
    }

    /// `push`/`pop` of a register: the register in the opcode's low bits (REX.B for r8–r15).
    private mutating func shortForm(_ opcode: UInt8, _ r: X86Reg, _ mnemonic: String) {
        let s = offset
        if r.rawValue >= 8 { bytes.append(0x41) }
        bytes.append(opcode + (r.rawValue & 7))
        note(s, "\(mnemonic) \(r.name(64))")
    }

    mutating func push(_ m: X86Mem) {
        memoryForm([0xff], reg: 6, m, "push \(m.text(64))")
    }

    mutating func pop(_ m: X86Mem) {
        memoryForm([0x8f], reg: 0, m, "pop \(m.text(64))")
    }

    /// An instruction whose only operand is memory (`reg` is the opcode extension).
    private mutating func memoryForm(_ opcode: [UInt8], reg: UInt8, _ m: X86Mem, _ text: @autoclosure () -> String) {
        let s = offset
        encode(w: false, opcode: opcode, reg: reg, mem: m)
        note(s, text())
    }

    /// `xorps xmm0, xmm0`.
    mutating func zeroXMM0() {
        let s = offset
        bytes += [0x0f, 0x57, 0xc0]
        note(s, "xorps xmm0, xmm0")
    }

    /// `movups [mem], xmm0`.
    mutating func storeXMM0(_ m: X86Mem) {
        memoryForm([0x0f, 0x11], reg: 0, m, "movups \(m.text(nil)), xmm0")
    }
}

// MARK: - For the optimizing tier (jump tables, selects)

extension X86Assembler {
    /// `cmovcc dst, src`.
    mutating func cmov(_ cond: X86Cond, _ w: Bool, _ dst: X86Reg, _ src: X86Reg) {
        let s = offset
        encode(w: w, opcode: [0x0f, 0x40 + cond.rawValue], reg: dst.rawValue, rm: src)
        note(s, "cmov\(cond.name) \(dst.name(w ? 64 : 32)), \(src.name(w ? 64 : 32))")
    }

    /// `jmp reg`.
    mutating func jmpRegister(_ r: X86Reg) {
        let s = offset
        encode(w: false, opcode: [0xff], reg: 4, rm: r)
        note(s, "jmp \(r.name(64))")
    }

    /// `lea dst, [rip + label]`.
    mutating func leaLabel(_ dst: X86Reg, _ label: X86Label) {
        let s = offset
        bytes.append(Self.rex(w: true, r: dst.rawValue, b: 0))
        bytes += [0x8d, 0x05 | (dst.rawValue & 7) << 3]
        fixups.append((bytes.count, label))
        imm32(0)
        note(s, "lea \(dst.name(64)), [rip+L\(label.id)]")
    }

    /// `movsxd dst, dword [mem]`.
    mutating func loadSigned32(_ dst: X86Reg, _ m: X86Mem) {
        let s = offset
        encode(w: true, opcode: [0x63], reg: dst.rawValue, mem: m)
        note(s, "movsxd \(dst.name(64)), \(m.text(32))")
    }

    /// A 32-bit data word (a jump table's entry), patched later with ``patch32(at:_:)``.
    mutating func data32(_ value: Int32) {
        let s = offset
        imm32(value)
        note(s, ".long (a jump-table entry)")
    }

    mutating func patch32(at position: Int, _ value: Int32) {
        withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { bytes[position + i] = $0[i] } }
    }

    /// `setcc dst8` then `movzx dst32, dst8`.
    mutating func setFlag(_ cond: X86Cond, _ dst: X86Reg) {
        let s = offset
        encodeByteRegs(w: false, opcode: [0x0f, 0x90 + cond.rawValue], reg: 0, rm: dst, regIsRegister: false)
        note(s, "set\(cond.name) \(dst.name(8))")
        extend(dst, dst, bits: 8, signed: false, w: false)
    }
}
