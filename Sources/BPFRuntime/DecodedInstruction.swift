import BPFCore

/// What one pre-decoded instruction does: a dense code the interpreter's loop switches over, one
/// case per operation and variant, so no case decodes a field again (the signed division, the
/// sign-extending move's width, the byte swap's width are all part of the code).
enum DecodedOp: UInt8 {
    // ALU64: `i` takes the sign-extended immediate, `r` the source register.
    case add64i, add64r, sub64i, sub64r, mul64i, mul64r, div64i, div64r, sdiv64i, sdiv64r
    case mod64i, mod64r, smod64i, smod64r, or64i, or64r, and64i, and64r, xor64i, xor64r
    case lsh64i, lsh64r, rsh64i, rsh64r, arsh64i, arsh64r, neg64, mov64i, mov64r
    case movsx8to64, movsx16to64, movsx32to64, bswap16, bswap32, bswap64
    // ALU32: results zero-extend; the immediate's low 32 bits.
    case add32i, add32r, sub32i, sub32r, mul32i, mul32r, div32i, div32r, sdiv32i, sdiv32r
    case mod32i, mod32r, smod32i, smod32r, or32i, or32r, and32i, and32r, xor32i, xor32r
    case lsh32i, lsh32r, rsh32i, rsh32r, arsh32i, arsh32r, neg32, mov32i, mov32r
    case movsx8to32, movsx16to32, le16, le32, nop
    // Jumps: `target` is the absolute index of the instruction jumped to.
    case ja, jeq64i, jeq64r, jgt64i, jgt64r, jge64i, jge64r, jset64i, jset64r, jne64i, jne64r
    case jsgt64i, jsgt64r, jsge64i, jsge64r, jlt64i, jlt64r, jle64i, jle64r, jslt64i, jslt64r, jsle64i, jsle64r
    case jeq32i, jeq32r, jgt32i, jgt32r, jge32i, jge32r, jset32i, jset32r, jne32i, jne32r
    case jsgt32i, jsgt32r, jsge32i, jsge32r, jlt32i, jlt32r, jle32i, jle32r, jslt32i, jslt32r, jsle32i, jsle32r
    case mayGoto
    // Calls: `target` is a local call's first instruction; `imm` a helper's id.
    case callLocal, callHelper, callx, exit
    /// `lddw`: `imm` is the whole 64-bit value; the loop skips the second slot.
    case lddw
    /// Legacy packet loads (`aux` is the size); `ldInd` adds the source register to `imm`.
    case ldAbs, ldInd
    // Loads and stores: `target` is the sign-extended offset. Every access is checked against the
    // run's regions, except the `Frame` forms: r10 plus a constant inside the current 512-byte
    // frame, always inside the run's stack (r10 is read-only, and every frame lies in the stack).
    case ldx8, ldx16, ldx32, ldx64, ldxs8, ldxs16, ldxs32
    case ldxFrame8, ldxFrame16, ldxFrame32, ldxFrame64, ldxsFrame8, ldxsFrame16, ldxsFrame32
    case st8, st16, st32, st64, stFrame8, stFrame16, stFrame32, stFrame64
    case stx8, stx16, stx32, stx64, stxFrame8, stxFrame16, stxFrame32, stxFrame64
    /// Atomic read-modify-write (`aux` is the size, `imm` the operation).
    case atomic
    /// The sentinel after the last instruction and the second slot of a `lddw`: never reached by
    /// a valid jump; running into it is falling off the end.
    case fellOff
}

extension DecodedOp {
    /// Whether `target` is an instruction index (jumps, `may_goto`, local calls).
    var hasTarget: Bool {
        (self.rawValue >= DecodedOp.ja.rawValue && self.rawValue <= DecodedOp.mayGoto.rawValue) || self == .callLocal
    }
}

/// One pre-decoded instruction: 16 bytes, every field ready to use.
struct DecodedInstruction {
    var op: DecodedOp
    var dst: UInt8
    var src: UInt8
    /// A size in bytes (legacy loads, atomics).
    var aux: UInt8 = 0
    /// The absolute jump or call target, or the sign-extended memory offset.
    var target: Int32 = 0
    /// The immediate, sign-extended to 64 bits (a 32-bit operation uses the low half); a shift's
    /// amount already masked; a `lddw`'s whole value.
    var imm: UInt64 = 0

    init(_ op: DecodedOp, dst: UInt8 = 0, src: UInt8 = 0, aux: UInt8 = 0, target: Int32 = 0, imm: UInt64 = 0) {
        self.op = op
        self.dst = dst
        self.src = src
        self.aux = aux
        self.target = target
        self.imm = imm
    }
}

extension DecodedInstruction {
    /// Pre-decodes validated slots (their `lddw`s resolved to constants or callback handles) into
    /// the interpreter's form, one entry per slot (a `lddw`'s second slot becomes `fellOff`, which
    /// no jump reaches), plus the `fellOff` sentinel at the end.
    ///
    /// - Throws: a ``DecodeError`` naming the instruction and the field for anything it cannot
    ///   decode: an unknown opcode, a variant field (`offset` of a division or `movsx`, `imm` of a
    ///   byte swap or an atomic) it does not know, a jump or call outside the program, a truncated `lddw`.
    static func decode(_ slots: [Instruction]) throws(DecodeError) -> [DecodedInstruction] {
        var out: [DecodedInstruction] = []
        out.reserveCapacity(slots.count + 1)
        var index = 0
        while index < slots.count {
            let ins = slots[index]
            if ins.opcode == Opcode.lddw {
                guard index + 1 < slots.count else {
                    throw DecodeError(index: index, field: .secondSlot, message: "lddw has no second slot")
                }
                let value = UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: slots[index + 1].imm)) << 32
                out.append(DecodedInstruction(.lddw, dst: ins.dst, imm: value))
                out.append(DecodedInstruction(.fellOff))
                index += 2
                continue
            }
            out.append(try decode(ins, at: index, count: slots.count))
            index += 1
        }
        out.append(DecodedInstruction(.fellOff))
        // No jump or call may land on a lddw's second slot.
        for (at, ins) in out.enumerated() where ins.op.hasTarget && out[Int(ins.target)].op == .fellOff {
            throw DecodeError(index: at, field: .target, message: "target \(ins.target) is the second half of a lddw")
        }
        return out
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    private static func decode(_ ins: Instruction, at index: Int, count: Int) throws(DecodeError) -> DecodedInstruction {
        let d = ins.dst, s = ins.src
        let imm = UInt64(bitPattern: Int64(ins.imm))
        func fail(_ field: DecodeError.Field, _ message: String) -> DecodeError {
            DecodeError(index: index, field: field, message: message)
        }
        func op(_ op: DecodedOp, imm: UInt64 = imm, target: Int32 = 0, aux: UInt8 = 0) -> DecodedInstruction {
            DecodedInstruction(op, dst: d, src: s, aux: aux, target: target, imm: imm)
        }
        /// A jump's absolute target, which must lie inside the program.
        func jump(_ relative: Int) throws(DecodeError) -> Int32 {
            let target = index + 1 + relative
            guard target >= 0 && target < count else {
                throw fail(.target, "jump to instruction \(target), outside the program (0..<\(count))")
            }
            return Int32(target)
        }
        func signed(_ unsigned: DecodedOp, _ signedOp: DecodedOp) throws(DecodeError) -> DecodedOp {
            switch ins.offset {
            case 0: return unsigned
            case 1: return signedOp
            default: throw fail(.offset, "division offset must be 0 or 1, found \(ins.offset)")
            }
        }
        let opcode = ins.opcode
        switch opcode {
        // ALU64
        case 0x07: return op(.add64i)
        case 0x0f: return op(.add64r)
        case 0x17: return op(.sub64i)
        case 0x1f: return op(.sub64r)
        case 0x27: return op(.mul64i)
        case 0x2f: return op(.mul64r)
        case 0x37: return op(try signed(.div64i, .sdiv64i))
        case 0x3f: return op(try signed(.div64r, .sdiv64r))
        case 0x47: return op(.or64i)
        case 0x4f: return op(.or64r)
        case 0x57: return op(.and64i)
        case 0x5f: return op(.and64r)
        case 0x67: return op(.lsh64i, imm: imm & 63)
        case 0x6f: return op(.lsh64r)
        case 0x77: return op(.rsh64i, imm: imm & 63)
        case 0x7f: return op(.rsh64r)
        case 0x87: return op(.neg64)
        case 0x97: return op(try signed(.mod64i, .smod64i))
        case 0x9f: return op(try signed(.mod64r, .smod64r))
        case 0xa7: return op(.xor64i)
        case 0xaf: return op(.xor64r)
        case 0xb7: return op(.mov64i)
        case 0xbf:
            switch ins.offset {
            case 0: return op(.mov64r)
            case 8: return op(.movsx8to64)
            case 16: return op(.movsx16to64)
            case 32: return op(.movsx32to64)
            case Instruction.addressSpaceCastOffset:
                // addr_space_cast: in the Swift runtime both address spaces are the host's (ArenaMap).
                return op(.mov64r)
            default: throw fail(.offset, "movsx width must be 8, 16 or 32, found \(ins.offset)")
            }
        case 0xc7: return op(.arsh64i, imm: imm & 63)
        case 0xcf: return op(.arsh64r)
        case 0xd7, 0xdc:
            switch ins.imm {
            case 16: return op(.bswap16)
            case 32: return op(.bswap32)
            case 64: return op(.bswap64)
            default: throw fail(.imm, "byte swap width must be 16, 32 or 64, found \(ins.imm)")
            }
        // ALU32
        case 0x04: return op(.add32i)
        case 0x0c: return op(.add32r)
        case 0x14: return op(.sub32i)
        case 0x1c: return op(.sub32r)
        case 0x24: return op(.mul32i)
        case 0x2c: return op(.mul32r)
        case 0x34: return op(try signed(.div32i, .sdiv32i))
        case 0x3c: return op(try signed(.div32r, .sdiv32r))
        case 0x44: return op(.or32i)
        case 0x4c: return op(.or32r)
        case 0x54: return op(.and32i)
        case 0x5c: return op(.and32r)
        case 0x64: return op(.lsh32i, imm: imm & 31)
        case 0x6c: return op(.lsh32r)
        case 0x74: return op(.rsh32i, imm: imm & 31)
        case 0x7c: return op(.rsh32r)
        case 0x84: return op(.neg32)
        case 0x94: return op(try signed(.mod32i, .smod32i))
        case 0x9c: return op(try signed(.mod32r, .smod32r))
        case 0xa4: return op(.xor32i)
        case 0xac: return op(.xor32r)
        case 0xb4: return op(.mov32i)
        case 0xbc:
            switch ins.offset {
            case 0: return op(.mov32r)
            case 8: return op(.movsx8to32)
            case 16: return op(.movsx16to32)
            default: throw fail(.offset, "movsx width must be 8 or 16, found \(ins.offset)")
            }
        case 0xc4: return op(.arsh32i, imm: imm & 31)
        case 0xcc: return op(.arsh32r)
        case 0xd4:
            switch ins.imm {
            case 16: return op(.le16)
            case 32: return op(.le32)
            case 64: return op(.nop)
            default: throw fail(.imm, "byte swap width must be 16, 32 or 64, found \(ins.imm)")
            }
        // JMP and JMP32
        case 0x05: return op(.ja, target: try jump(Int(ins.offset)))
        case 0x06: return op(.ja, target: try jump(Int(ins.imm)))
        case 0xe5: return op(.mayGoto, target: try jump(Int(ins.offset)))
        case 0x85:
            switch CallKind(rawValue: s) {
            case .local?: return op(.callLocal, target: try jump(Int(ins.imm)))
            case .helper?: return op(.callHelper)
            default: throw fail(.src, "call kind \(s) cannot run in the interpreter")
            }
        case 0x8d: return op(.callx)
        case 0x95: return op(.exit)
        case 0x20, 0x28, 0x30: return op(.ldAbs, aux: UInt8(MemorySize(rawValue: opcode & 0x18)!.bytes))
        case 0x40, 0x48, 0x50: return op(.ldInd, aux: UInt8(MemorySize(rawValue: opcode & 0x18)!.bytes))
        // LDX, ST, STX: r10 plus a constant inside the frame needs no check.
        case 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91:
            let size = MemorySize(rawValue: opcode & 0x18)!.bytes
            let frame = s == 10 && inFrame(ins.offset, size)
            let ops: [DecodedOp] = switch (opcode & 0xe0 == 0x80, frame) {
            case (false, false): [.ldx32, .ldx16, .ldx8, .ldx64]
            case (false, true): [.ldxFrame32, .ldxFrame16, .ldxFrame8, .ldxFrame64]
            case (true, false): [.ldxs32, .ldxs16, .ldxs8, .fellOff]
            case (true, true): [.ldxsFrame32, .ldxsFrame16, .ldxsFrame8, .fellOff]
            }
            return op(ops[Int(opcode & 0x18) >> 3], target: Int32(ins.offset))
        case 0x62, 0x6a, 0x72, 0x7a:
            let frame = d == 10 && inFrame(ins.offset, MemorySize(rawValue: opcode & 0x18)!.bytes)
            let ops: [DecodedOp] = frame ? [.stFrame32, .stFrame16, .stFrame8, .stFrame64] : [.st32, .st16, .st8, .st64]
            return op(ops[Int(opcode & 0x18) >> 3], target: Int32(ins.offset))
        case 0x63, 0x6b, 0x73, 0x7b:
            let frame = d == 10 && inFrame(ins.offset, MemorySize(rawValue: opcode & 0x18)!.bytes)
            let ops: [DecodedOp] = frame ? [.stxFrame32, .stxFrame16, .stxFrame8, .stxFrame64] : [.stx32, .stx16, .stx8, .stx64]
            return op(ops[Int(opcode & 0x18) >> 3], target: Int32(ins.offset))
        case 0xc3, 0xdb:
            switch ins.imm {
            case 0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1:
                return op(.atomic, target: Int32(ins.offset), aux: opcode == 0xdb ? 8 : 4)
            default: throw fail(.imm, "atomic operation 0x\(String(ins.imm, radix: 16)) is unknown")
            }
        default:
            if let kind = jumpKinds[opcode] { return op(kind, target: try jump(Int(ins.offset))) }
            throw fail(.opcode, "opcode 0x\(String(opcode, radix: 16)) is unknown")
        }
    }

    /// Whether `size` bytes at r10 + `offset` lie inside the current frame.
    private static func inFrame(_ offset: Int16, _ size: Int) -> Bool {
        offset < 0 && Int(offset) >= -ExecutionOptions.stackSizePerFrame && Int(offset) + size <= 0
    }

    /// The conditional jumps by opcode.
    private static let jumpKinds: [UInt8: DecodedOp] = [
        0x15: .jeq64i, 0x1d: .jeq64r, 0x25: .jgt64i, 0x2d: .jgt64r, 0x35: .jge64i, 0x3d: .jge64r,
        0x45: .jset64i, 0x4d: .jset64r, 0x55: .jne64i, 0x5d: .jne64r, 0x65: .jsgt64i, 0x6d: .jsgt64r,
        0x75: .jsge64i, 0x7d: .jsge64r, 0xa5: .jlt64i, 0xad: .jlt64r, 0xb5: .jle64i, 0xbd: .jle64r,
        0xc5: .jslt64i, 0xcd: .jslt64r, 0xd5: .jsle64i, 0xdd: .jsle64r,
        0x16: .jeq32i, 0x1e: .jeq32r, 0x26: .jgt32i, 0x2e: .jgt32r, 0x36: .jge32i, 0x3e: .jge32r,
        0x46: .jset32i, 0x4e: .jset32r, 0x56: .jne32i, 0x5e: .jne32r, 0x66: .jsgt32i, 0x6e: .jsgt32r,
        0x76: .jsge32i, 0x7e: .jsge32r, 0xa6: .jlt32i, 0xae: .jlt32r, 0xb6: .jle32i, 0xbe: .jle32r,
        0xc6: .jslt32i, 0xce: .jslt32r, 0xd6: .jsle32i, 0xde: .jsle32r,
    ]
}
