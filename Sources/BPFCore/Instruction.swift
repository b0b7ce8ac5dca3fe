/// One 8-byte eBPF instruction slot, as laid out in RFC 9669 §3.
///
/// A `lddw` takes two slots; its second slot is an `Instruction` with opcode 0 whose `imm`
/// holds the upper 32 bits.
///
/// ```swift
/// let add = Instruction(opcode: 0x07, dst: 0, imm: 1)   // add %r0, 1
/// let bytes = add.bytes                                  // [07 00 00 00 01 00 00 00]
/// ```
public struct Instruction: Hashable, Sendable {
    /// The opcode byte.
    public var opcode: UInt8
    /// The destination register field, 0–15 as encoded (only 0–10 are valid).
    public var dst: UInt8
    /// The source register field, 0–15 as encoded.
    public var src: UInt8
    /// The signed 16-bit offset.
    public var offset: Int16
    /// The signed 32-bit immediate.
    public var imm: Int32

    @inlinable
    public init(opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.opcode = opcode
        self.dst = dst & 0x0f
        self.src = src & 0x0f
        self.offset = offset
        self.imm = imm
    }

    /// The offset that makes a 64-bit register `mov` an `addr_space_cast` (`BPF_ADDR_SPACE_CAST`):
    /// an arena pointer converted between the program's address space (0) and user space's (1).
    public static let addressSpaceCastOffset: Int16 = 1

    /// Whether this is an `addr_space_cast` (a 64-bit register `mov` with offset 1).
    @inlinable
    public var isAddressSpaceCast: Bool { opcode == 0xbf && offset == Instruction.addressSpaceCastOffset }

    /// Decodes one little-endian slot from the 64-bit value read from memory.
    @inlinable
    public init(rawValue: UInt64) {
        opcode = UInt8(truncatingIfNeeded: rawValue)
        let regs = UInt8(truncatingIfNeeded: rawValue >> 8)
        dst = regs & 0x0f
        src = regs >> 4
        offset = Int16(bitPattern: UInt16(truncatingIfNeeded: rawValue >> 16))
        imm = Int32(bitPattern: UInt32(truncatingIfNeeded: rawValue >> 32))
    }

    /// The slot as the 64-bit little-endian value it is stored as.
    @inlinable
    public var rawValue: UInt64 {
        UInt64(opcode)
            | UInt64(dst | (src << 4)) << 8
            | UInt64(UInt16(bitPattern: offset)) << 16
            | UInt64(UInt32(bitPattern: imm)) << 32
    }

    /// The 8 bytes of the slot, little-endian.
    public var bytes: [UInt8] {
        let value = rawValue
        return (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    /// The instruction class.
    @inlinable public var instructionClass: InstructionClass { Opcode.instructionClass(opcode) }

    /// Whether this is the first slot of a two-slot `lddw`.
    @inlinable public var isLoadImmediate64: Bool { opcode == Opcode.lddw }

    /// Whether this is `may_goto` (`BPF_JMP | BPF_JCOND`, src `BPF_MAY_GOTO`): a conditional
    /// jump to `offset` taken when the frame's loop budget (``Opcode/mayGotoBudget`` per call
    /// frame) is spent; otherwise it spends one unit and falls through.
    @inlinable public var isMayGoto: Bool { opcode == Opcode.mayGoto }
}

extension Instruction {
    /// Reads slots from little-endian bytes. The byte count must be a multiple of 8.
    public static func slots(fromBytes bytes: some Collection<UInt8>) throws(DecodeError) -> [Instruction] {
        guard bytes.count % 8 == 0 else {
            throw DecodeError(index: bytes.count / 8, field: .length,
                              message: "program is \(bytes.count) bytes, not a multiple of 8 (the last instruction is truncated)")
        }
        var result: [Instruction] = []
        result.reserveCapacity(bytes.count / 8)
        var value: UInt64 = 0
        var shift: UInt64 = 0
        for byte in bytes {
            value |= UInt64(byte) << shift
            shift += 8
            if shift == 64 {
                result.append(Instruction(rawValue: value))
                value = 0
                shift = 0
            }
        }
        return result
    }

    /// Encodes slots as little-endian bytes.
    public static func bytes(of slots: [Instruction]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(slots.count * 8)
        for slot in slots { out.append(contentsOf: slot.bytes) }
        return out
    }
}
