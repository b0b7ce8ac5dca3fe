/// A decoding failure: the instruction index, the field at fault and what is wrong with it.
///
/// ```swift
/// do { _ = try Program(bytes: [0x95, 0x01, 0, 0, 0, 0, 0, 0]) }
/// catch { print(error) }   // instruction 0: dst: exit must have dst 0, found r1
/// ```
public struct DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The part of an instruction a decoding error is about.
    public enum Field: String, Sendable, Hashable {
        case opcode, dst, src, offset, imm, length, target
        case secondSlot = "second slot"
    }

    /// Index of the offending instruction slot.
    public var index: Int
    /// The field at fault.
    public var field: Field
    /// What is wrong, in words.
    public var message: String

    public init(index: Int, field: Field, message: String) {
        self.index = index
        self.field = field
        self.message = message
    }

    public var description: String { "instruction \(index): \(field.rawValue): \(message)" }
}

/// A validated sequence of eBPF instruction slots: every opcode known, every reserved field zero,
/// every register in range, every jump inside the program and never into the middle of a `lddw`.
///
/// ```swift
/// let program = try Program(bytes: bytes)          // throws DecodeError
/// let text = Disassembler(syntax: .llvm).text(for: program)
/// ```
public struct Program: Hashable, Sendable {
    /// The instruction slots (a `lddw` occupies two).
    public let instructions: [Instruction]

    /// Validates slots as a program.
    public init(validating instructions: [Instruction]) throws(DecodeError) {
        try Program.validate(instructions)
        self.instructions = instructions
    }

    /// Decodes and validates little-endian program bytes.
    public init(bytes: some Collection<UInt8>) throws(DecodeError) {
        try self.init(validating: Instruction.slots(fromBytes: bytes))
    }

    /// Wraps slots without validating them; engines that run such a program must not trust it.
    public init(unchecked instructions: [Instruction]) {
        self.instructions = instructions
    }

    /// The program as little-endian bytes.
    public var bytes: [UInt8] { Instruction.bytes(of: instructions) }

    /// The 64-bit immediate of the `lddw` at `index` (its two halves joined).
    public func loadImmediateValue(at index: Int) -> UInt64 {
        let low = UInt64(UInt32(bitPattern: instructions[index].imm))
        let high = index + 1 < instructions.count ? UInt64(UInt32(bitPattern: instructions[index + 1].imm)) : 0
        return low | high << 32
    }

    /// Checks every rule of RFC 9669 §3–§5 that can be checked without running the program.
    /// `framePointerWrites`: leave writes to r10 to the caller (a verifier refuses them only where
    /// a path reaches them, as the kernel's does).
    public static func validate(_ slots: [Instruction], framePointerWrites: Bool = false) throws(DecodeError) {
        guard !slots.isEmpty else {
            throw DecodeError(index: 0, field: .length, message: "the program has no instructions")
        }
        var secondSlot = [Bool](repeating: false, count: slots.count)
        var index = 0
        while index < slots.count {
            if slots[index].opcode == Opcode.lddw {
                guard index + 1 < slots.count else {
                    throw DecodeError(index: index, field: .secondSlot,
                                      message: "lddw is the last slot; its second half is missing")
                }
                secondSlot[index + 1] = true
                index += 2
            } else {
                index += 1
            }
        }
        var checker = SlotChecker(slots: slots, secondSlot: secondSlot)
        checker.framePointerWrites = framePointerWrites
        index = 0
        while index < slots.count {
            try checker.check(index)
            index += slots[index].opcode == Opcode.lddw ? 2 : 1
        }
    }
}

/// Field-by-field validation of one slot.
private struct SlotChecker {
    let slots: [Instruction]
    let secondSlot: [Bool]
    var index = 0
    var ins = Instruction(opcode: 0)
    var framePointerWrites = false

    init(slots: [Instruction], secondSlot: [Bool]) {
        self.slots = slots
        self.secondSlot = secondSlot
    }

    private func fail(_ field: DecodeError.Field, _ message: String) -> DecodeError {
        DecodeError(index: index, field: field, message: message)
    }

    private var name: String { String(format2: ins.opcode) }

    private func zero(_ field: DecodeError.Field, what: @autoclosure () -> String) throws(DecodeError) {
        switch field {
        case .dst where ins.dst != 0:
            throw fail(field, "\(what()) must have dst 0, found r\(ins.dst)")
        case .src where ins.src != 0:
            throw fail(field, "\(what()) must have src 0, found \(ins.src)")
        case .offset where ins.offset != 0:
            throw fail(field, "\(what()) must have offset 0, found \(ins.offset)")
        case .imm where ins.imm != 0:
            throw fail(field, "\(what()) must have imm 0, found \(ins.imm)")
        default: break
        }
    }

    private func register(_ field: DecodeError.Field, writable: Bool) throws(DecodeError) {
        let r = field == .dst ? ins.dst : ins.src
        if r > 10 {
            throw fail(field, "register r\(r) does not exist (r0-r10)")
        }
        if writable && r == 10 && !framePointerWrites {
            throw fail(field, "r10 is the read-only frame pointer and cannot be written")
        }
    }

    private func target(_ relative: Int, what: @autoclosure () -> String) throws(DecodeError) {
        let t = index + 1 + relative
        guard t >= 0 && t < slots.count else {
            throw fail(.target, "\(what()) target \(t) (offset \(relative)) is outside the program (0..<\(slots.count))")
        }
        guard !secondSlot[t] else {
            throw fail(.target, "\(what()) target \(t) is the second half of a lddw")
        }
    }

    mutating func check(_ i: Int) throws(DecodeError) {
        index = i
        ins = slots[i]
        switch ins.instructionClass {
        case .alu, .alu64: try checkALU()
        case .jmp, .jmp32: try checkJump()
        case .ld: try checkLoad()
        case .ldx: try checkLoadRegister()
        case .st:
            guard ins.opcode & 0xe0 == MemoryMode.memory.rawValue else { throw unknownOpcode() }
            try zero(.src, what: "st")
            try register(.dst, writable: false)
        case .stx: try checkStoreRegister()
        }
    }

    private func unknownOpcode() -> DecodeError {
        fail(.opcode, "unknown opcode 0x\(name)")
    }

    private mutating func checkALU() throws(DecodeError) {
        let is64 = ins.instructionClass == .alu64
        guard let op = ALUOperation(rawValue: ins.opcode & 0xf0) else { throw unknownOpcode() }
        let fromRegister = ins.opcode & 0x08 != 0
        try register(.dst, writable: true)
        // Built only for a message (interpolating an enum is slow, and validation is on every load).
        var mnemonic: String { "\(op)\(is64 ? "64" : "32")" }
        switch op {
        case .neg:
            guard !fromRegister else { throw fail(.opcode, "neg has no register form (opcode 0x\(name))") }
            try zero(.src, what: mnemonic)
            try zero(.offset, what: mnemonic)
            try zero(.imm, what: mnemonic)
            return
        case .end:
            if is64 && fromRegister { throw fail(.opcode, "opcode 0x\(name) is not a byte-swap instruction") }
            try zero(.src, what: "byte swap")
            try zero(.offset, what: "byte swap")
            guard ins.imm == 16 || ins.imm == 32 || ins.imm == 64 else {
                throw fail(.imm, "byte swap width must be 16, 32 or 64, found \(ins.imm)")
            }
            return
        case .div, .mod:
            guard ins.offset == 0 || ins.offset == 1 else {
                throw fail(.offset, "\(mnemonic) offset must be 0 (unsigned) or 1 (signed), found \(ins.offset)")
            }
        case .mov where fromRegister && is64 && ins.offset == Instruction.addressSpaceCastOffset:
            // addr_space_cast (arena pointers): imm is (destination space << 16) | source space.
            try register(.src, writable: false)
            guard ins.imm == 1 || ins.imm == 1 << 16 else {
                throw fail(.imm, "addr_space_cast converts between address spaces 0 and 1 (imm 1 or 0x10000), found 0x\(String(UInt32(bitPattern: ins.imm), radix: 16))")
            }
            return
        case .mov where fromRegister:
            // 0, or the sign-extension width (32 only for the 64-bit move).
            guard ins.offset == 0 || ins.offset == 8 || ins.offset == 16 || (is64 && ins.offset == 32) else {
                throw fail(.offset, "\(mnemonic) offset must be one of \(is64 ? "[0, 8, 16, 32]" : "[0, 8, 16]") (sign-extension width), found \(ins.offset)")
            }
        default:
            try zero(.offset, what: mnemonic)
        }
        if fromRegister {
            try register(.src, writable: false)
            try zero(.imm, what: "\(mnemonic) with a register source")
        } else {
            try zero(.src, what: "\(mnemonic) with an immediate source")
        }
    }

    private mutating func checkJump() throws(DecodeError) {
        let is32 = ins.instructionClass == .jmp32
        if ins.opcode == Opcode.mayGoto {
            // BPF_JCOND: src selects the condition; BPF_MAY_GOTO (0) is the only one.
            guard ins.src == 0 else { throw fail(.src, "may_goto must have src 0 (BPF_MAY_GOTO), found \(ins.src)") }
            try zero(.dst, what: "may_goto")
            try zero(.imm, what: "may_goto")
            try target(Int(ins.offset), what: "may_goto")
            return
        }
        guard let op = JumpOperation(rawValue: ins.opcode & 0xf0) else { throw unknownOpcode() }
        let fromRegister = ins.opcode & 0x08 != 0
        switch op {
        case .ja:
            guard !fromRegister else { throw unknownOpcode() }
            try zero(.dst, what: "ja")
            try zero(.src, what: "ja")
            if is32 {
                try zero(.offset, what: "ja32")
                try target(Int(ins.imm), what: "ja32")
            } else {
                try zero(.imm, what: "ja")
                try target(Int(ins.offset), what: "ja")
            }
        case .call:
            guard !is32 else { throw unknownOpcode() }
            try zero(.offset, what: "call")
            if fromRegister {
                try zero(.src, what: "callx")
                try zero(.imm, what: "callx")
                try register(.dst, writable: false)
            } else {
                try zero(.dst, what: "call")
                guard let kind = CallKind(rawValue: ins.src) else {
                    throw fail(.src, "call src must be 0 (helper), 1 (local) or 2 (kfunc), found \(ins.src)")
                }
                if kind == .local { try target(Int(ins.imm), what: "call") }
            }
        case .exit:
            guard !is32 && !fromRegister else { throw unknownOpcode() }
            try zero(.dst, what: "exit")
            try zero(.src, what: "exit")
            try zero(.offset, what: "exit")
            try zero(.imm, what: "exit")
        default:
            try register(.dst, writable: false)
            if fromRegister {
                try register(.src, writable: false)
                try zero(.imm, what: "\(op) with a register source")
            } else {
                try zero(.src, what: "\(op) with an immediate source")
            }
            try target(Int(ins.offset), what: "\(op)\(is32 ? "32" : "")")
        }
    }

    private mutating func checkLoad() throws(DecodeError) {
        let mode = ins.opcode & 0xe0
        let size = ins.opcode & 0x18
        if ins.opcode == Opcode.lddw {
            try register(.dst, writable: true)
            try zero(.offset, what: "lddw")
            guard let source = LoadImmediateSource(rawValue: ins.src) else {
                throw fail(.src, "lddw src must be 0-6 (a BPF_PSEUDO_* kind), found \(ins.src)")
            }
            let next = slots[index + 1]
            guard next.opcode == 0, next.dst == 0, next.src == 0, next.offset == 0 else {
                throw DecodeError(index: index + 1, field: .secondSlot,
                                  message: "the second half of a lddw must have opcode, registers and offset 0")
            }
            if source == .function { try target(Int(ins.imm), what: "lddw func") }
            return
        }
        guard size != MemorySize.doubleWord.rawValue,
              mode == MemoryMode.absolute.rawValue || mode == MemoryMode.indirect.rawValue
        else { throw unknownOpcode() }
        try zero(.dst, what: "legacy packet load")
        try zero(.offset, what: "legacy packet load")
        if mode == MemoryMode.absolute.rawValue {
            try zero(.src, what: "ld_abs")
        } else {
            try register(.src, writable: false)
        }
    }

    private mutating func checkLoadRegister() throws(DecodeError) {
        let mode = ins.opcode & 0xe0
        let size = ins.opcode & 0x18
        guard mode == MemoryMode.memory.rawValue
            || (mode == MemoryMode.memorySignExtend.rawValue && size != MemorySize.doubleWord.rawValue)
        else { throw unknownOpcode() }
        try register(.dst, writable: true)
        try register(.src, writable: false)
        try zero(.imm, what: "ldx")
    }

    private mutating func checkStoreRegister() throws(DecodeError) {
        let mode = ins.opcode & 0xe0
        let size = ins.opcode & 0x18
        try register(.dst, writable: false)
        try register(.src, writable: false)
        if mode == MemoryMode.memory.rawValue {
            try zero(.imm, what: "stx")
            return
        }
        guard mode == MemoryMode.atomic.rawValue,
              size == MemorySize.word.rawValue || size == MemorySize.doubleWord.rawValue
        else { throw unknownOpcode() }
        guard AtomicOperation(rawValue: ins.imm) != nil else {
            throw fail(.imm, "unknown atomic operation 0x\(String(ins.imm, radix: 16))")
        }
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = Array("0123456789abcdef")
        self = String([digits[Int(byte >> 4)], digits[Int(byte & 0xf)]])
    }
}
