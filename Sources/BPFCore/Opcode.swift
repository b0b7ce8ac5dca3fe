// The opcode byte of an eBPF instruction, taken apart (RFC 9669 §3 and §4).
//
//   ALU/JMP:   op(4 bits) | source(1 bit) | class(3 bits)
//   LD/ST:     mode(3 bits) | size(2 bits) | class(3 bits)

/// The instruction class: the low three bits of the opcode.
public enum InstructionClass: UInt8, Sendable, CaseIterable {
    case ld = 0x00, ldx = 0x01, st = 0x02, stx = 0x03
    case alu = 0x04, jmp = 0x05, jmp32 = 0x06, alu64 = 0x07
}

/// The source bit of ALU and jump instructions: an immediate (`K`) or a register (`X`).
public enum OperandSource: UInt8, Sendable {
    case immediate = 0x00
    case register = 0x08
}

/// The operation of an ALU or ALU64 instruction (the high four bits).
public enum ALUOperation: UInt8, Sendable, CaseIterable {
    case add = 0x00, sub = 0x10, mul = 0x20, div = 0x30, or = 0x40, and = 0x50
    case lsh = 0x60, rsh = 0x70, neg = 0x80, mod = 0x90, xor = 0xa0, mov = 0xb0
    case arsh = 0xc0, end = 0xd0
}

/// The operation of a JMP or JMP32 instruction (the high four bits).
public enum JumpOperation: UInt8, Sendable, CaseIterable {
    case ja = 0x00, jeq = 0x10, jgt = 0x20, jge = 0x30, jset = 0x40, jne = 0x50
    case jsgt = 0x60, jsge = 0x70, call = 0x80, exit = 0x90
    case jlt = 0xa0, jle = 0xb0, jslt = 0xc0, jsle = 0xd0

    /// Whether the operation compares two operands and branches on the result.
    public var isConditional: Bool {
        switch self {
        case .ja, .call, .exit: false
        default: true
        }
    }
}

/// The access width of a load or store.
public enum MemorySize: UInt8, Sendable, CaseIterable {
    case word = 0x00, half = 0x08, byte = 0x10, doubleWord = 0x18

    /// The width in bytes.
    public var bytes: Int {
        switch self {
        case .byte: 1
        case .half: 2
        case .word: 4
        case .doubleWord: 8
        }
    }
}

/// The mode of a load or store: how the address is formed.
public enum MemoryMode: UInt8, Sendable, CaseIterable {
    /// 64-bit immediate (`lddw`), the only LD mode besides the legacy packet loads.
    case immediate = 0x00
    /// Legacy packet load at a constant offset (`LD_ABS`).
    case absolute = 0x20
    /// Legacy packet load at a register plus constant offset (`LD_IND`).
    case indirect = 0x40
    /// Regular load or store.
    case memory = 0x60
    /// Sign-extending load (v4).
    case memorySignExtend = 0x80
    /// Atomic read-modify-write.
    case atomic = 0xc0
}

/// The `imm` field of an atomic instruction.
public enum AtomicOperation: Int32, Sendable, CaseIterable {
    case add = 0x00, or = 0x40, and = 0x50, xor = 0xa0
    case fetchAdd = 0x01, fetchOr = 0x41, fetchAnd = 0x51, fetchXor = 0xa1
    case exchange = 0xe1, compareExchange = 0xf1

    /// The fetch flag: the old value is returned in the source register (or r0 for cmpxchg).
    public static let fetchFlag: Int32 = 0x01

    /// Whether the old value is returned.
    public var fetches: Bool { rawValue & Self.fetchFlag != 0 }
}

/// What the source register of a `lddw` means (the kernel's `BPF_PSEUDO_*` values).
public enum LoadImmediateSource: UInt8, Sendable, CaseIterable {
    /// A plain 64-bit constant.
    case constant = 0
    /// `BPF_PSEUDO_MAP_FD`: imm is a map file descriptor; loads the map's address.
    case mapFD = 1
    /// `BPF_PSEUDO_MAP_VALUE`: imm is a map fd, next imm an offset into its first value.
    case mapValue = 2
    /// `BPF_PSEUDO_BTF_ID`: imm is a BTF id of a kernel variable.
    case btfID = 3
    /// `BPF_PSEUDO_FUNC`: imm is a relative instruction offset of a function.
    case function = 4
    /// `BPF_PSEUDO_MAP_IDX`: imm is an index into the program's map array.
    case mapIndex = 5
    /// `BPF_PSEUDO_MAP_IDX_VALUE`: like `mapValue`, by map index.
    case mapIndexValue = 6
}

/// What the source register of a `call` means.
public enum CallKind: UInt8, Sendable, CaseIterable {
    /// A helper function by its id.
    case helper = 0
    /// `BPF_PSEUDO_CALL`: a bpf-to-bpf call; imm is the relative target.
    case local = 1
    /// `BPF_PSEUDO_KFUNC_CALL`: a kernel function by BTF id.
    case kfunc = 2
}

/// Well-known opcode bytes, named as in the kernel and RFC 9669.
public enum Opcode {
    public static let lddw: UInt8 = 0x18
    public static let call: UInt8 = 0x85
    public static let callx: UInt8 = 0x8d
    public static let exit: UInt8 = 0x95
    public static let ja: UInt8 = 0x05
    public static let ja32: UInt8 = 0x06
    /// `BPF_JMP | BPF_JCOND` (0xe5), whose only form is `may_goto` (src `BPF_MAY_GOTO` = 0, dst 0,
    /// imm 0): a jump taken once the call frame's loop budget is spent (see ``Instruction/isMayGoto``).
    public static let mayGoto: UInt8 = 0xe5
    /// The budget each call frame starts with for its `may_goto`s (the kernel's `BPF_MAX_LOOPS`).
    public static let mayGotoBudget: UInt64 = 8 * 1024 * 1024

    /// The class of an opcode byte.
    @inlinable public static func instructionClass(_ opcode: UInt8) -> InstructionClass {
        InstructionClass(rawValue: opcode & 0x07)!
    }

    /// Builds an ALU/JMP opcode byte.
    @inlinable public static func make(_ cls: InstructionClass, _ op: UInt8, _ source: OperandSource) -> UInt8 {
        cls.rawValue | op | source.rawValue
    }

    /// Builds a load/store opcode byte.
    @inlinable public static func make(_ cls: InstructionClass, _ mode: MemoryMode, _ size: MemorySize) -> UInt8 {
        cls.rawValue | mode.rawValue | size.rawValue
    }
}
