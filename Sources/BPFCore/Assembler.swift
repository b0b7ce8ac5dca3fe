/// An assembly failure: the 1-based source line and what is wrong on it.
public struct AssemblerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line number in the source text.
    public var line: Int
    /// What is wrong, in words.
    public var message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Assembles the bpf_conformance text syntax into instruction slots.
///
/// The syntax is the one of the bpf_conformance suite (and uBPF): `%r0`–`%r10`, `add32 %r0, 1`,
/// `ldxdw %r1, [%r10-8]`, `stw [%r1+4], 7`, `lock fetch add [%r10-8], %r1`, `jne %r1, 0, label`,
/// `call local func`, labels as `name:`, comments after `#` or `//`. A jump to the label `exit` that
/// is not defined goes to the first `exit` instruction.
///
/// ```swift
/// let program = try Assembler().assembleProgram("""
///     mov %r0, 1
///     add %r0, 2
///     exit
///     """)
/// ```
public struct Assembler: Sendable {
    public init() {}

    /// Assembles and validates a program.
    public func assembleProgram(_ source: String) throws -> Program {
        let slots = try assemble(source)
        do {
            return try Program(validating: slots)
        } catch {
            throw error
        }
    }

    /// Assembles source text into slots, without the whole-program checks of ``Program``.
    public func assemble(_ source: String) throws(AssemblerError) -> [Instruction] {
        var state = AssemblerState()
        var lineNumber = 0
        for rawLine in source.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            try state.assembleLine(Substring(rawLine), line: lineNumber)
        }
        return try state.finish()
    }
}

private struct Fixup {
    var slot: Int
    var label: String
    var line: Int
    var inImmediate: Bool
}

private struct AssemblerState {
    var slots: [Instruction] = []
    var labels: [String: Int] = [:]
    var firstExit: Int?
    var fixups: [Fixup] = []
    var line = 0

    func fail(_ message: String) -> AssemblerError { AssemblerError(line: line, message: message) }

    mutating func assembleLine(_ raw: Substring, line: Int) throws(AssemblerError) {
        self.line = line
        var text = raw
        if let hash = text.firstIndex(of: "#") { text = text[..<hash] }
        if let slash = text.indices.first(where: { text[$0] == "/" && text[text.index(after: $0)...].first == "/" }) {
            text = text[..<slash]
        }
        text = text.trimmed
        // Leading labels: `name:`.
        while let colon = text.firstIndex(of: ":"), isIdentifier(text[..<colon].trimmed) {
            let name = String(text[..<colon].trimmed)
            if labels[name] != nil { throw fail("label '\(name)' is defined twice") }
            labels[name] = slots.count
            text = text[text.index(after: colon)...].trimmed
        }
        if text.isEmpty { return }
        let tokens = tokenize(text)
        let mnemonic = tokens[0].lowercased()
        let operands = Array(tokens.dropFirst())
        try encode(mnemonic: mnemonic, operands: operands)
    }

    mutating func finish() throws(AssemblerError) -> [Instruction] {
        for fixup in fixups {
            line = fixup.line
            var target = labels[fixup.label]
            if target == nil && fixup.label == "exit" { target = firstExit }
            guard let target else { throw fail("unknown label '\(fixup.label)'") }
            let relative = target - fixup.slot - 1
            if fixup.inImmediate {
                slots[fixup.slot].imm = Int32(relative)
            } else {
                guard let offset = Int16(exactly: relative) else {
                    throw fail("jump to '\(fixup.label)' is \(relative) slots away, beyond a 16-bit offset (use ja32)")
                }
                slots[fixup.slot].offset = offset
            }
        }
        return slots
    }

    // MARK: Tokens

    func tokenize(_ text: Substring) -> [String] {
        var tokens: [String] = []
        var current = ""
        var inBracket = false
        for ch in text {
            if inBracket {
                if ch == "]" { inBracket = false; current.append(ch) }
                else if !ch.isWhitespace { current.append(ch) }
                continue
            }
            if ch == "[" { inBracket = true; current.append(ch); continue }
            if ch.isWhitespace || ch == "," {
                if !current.isEmpty { tokens.append(current); current = "" }
            } else {
                current.append(ch)
            }
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    func isIdentifier(_ s: Substring) -> Bool {
        guard let first = s.first, first.isLetter || first == "_" || first == "." else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
    }

    func register(_ token: String) throws(AssemblerError) -> UInt8 {
        var name = Substring(token.lowercased())
        if name.hasPrefix("%") { name = name.dropFirst() }
        guard name.hasPrefix("r"), let n = UInt8(name.dropFirst()), String(n) == name.dropFirst() else {
            throw fail("invalid register '\(token)' (expected %r0-%r10)")
        }
        guard n <= 10 else { throw fail("invalid register '\(token)': eBPF has r0-r10") }
        return n
    }

    func isRegister(_ token: String) -> Bool {
        token.hasPrefix("%") || (token.lowercased().hasPrefix("r") && token.dropFirst().allSatisfy(\.isNumber) && token.count > 1)
    }

    /// Parses a signed or hex integer; returns nil when it is not a number at all.
    func integer(_ token: String) -> (negative: Bool, magnitude: UInt64, hex: Bool)?? {
        var s = Substring(token.lowercased())
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        var hex = false
        if s.hasPrefix("0x") { hex = true; s = s.dropFirst(2) }
        guard !s.isEmpty, s.allSatisfy({ hex ? $0.isHexDigit : $0.isNumber }) else { return .some(nil) }
        guard let magnitude = UInt64(s, radix: hex ? 16 : 10) else { return nil }  // overflow
        return (negative, magnitude, hex)
    }

    func immediate32(_ token: String) throws(AssemblerError) -> Int32 {
        guard let parsed = integer(token) else { throw fail("immediate '\(token)' does not fit in 32 bits") }
        guard let (negative, magnitude, hex) = parsed else { throw fail("invalid immediate '\(token)'") }
        if negative {
            guard magnitude <= 0x8000_0000 else { throw fail("immediate '\(token)' does not fit in 32 bits") }
            return Int32(truncatingIfNeeded: 0 &- Int64(magnitude))
        }
        if hex {
            guard magnitude <= 0xffff_ffff else { throw fail("immediate '\(token)' does not fit in 32 bits") }
            return Int32(bitPattern: UInt32(magnitude))
        }
        guard magnitude <= UInt64(Int32.max) else {
            throw fail("immediate '\(token)' does not fit in a signed 32-bit field (use hex for bit patterns)")
        }
        return Int32(magnitude)
    }

    func immediate64(_ token: String) throws(AssemblerError) -> UInt64 {
        guard let parsed = integer(token) else { throw fail("immediate '\(token)' does not fit in 64 bits") }
        guard let (negative, magnitude, _) = parsed else { throw fail("invalid immediate '\(token)'") }
        if negative {
            guard magnitude <= 0x8000_0000_0000_0000 else { throw fail("immediate '\(token)' does not fit in 64 bits") }
            return 0 &- magnitude
        }
        return magnitude
    }

    func offset16(_ token: Substring) throws(AssemblerError) -> Int16 {
        guard let parsed = integer(String(token)), let (negative, magnitude, _) = parsed else {
            throw fail("invalid offset '\(token)'")
        }
        let value = negative ? -Int64(clamping: magnitude) : Int64(clamping: magnitude)
        guard let offset = Int16(exactly: value) else {
            throw fail("offset '\(token)' does not fit in 16 bits (-32768...32767)")
        }
        return offset
    }

    func memory(_ token: String) throws(AssemblerError) -> (UInt8, Int16) {
        guard token.hasPrefix("["), token.hasSuffix("]") else {
            throw fail("expected a memory operand like [%r1+4], found '\(token)'")
        }
        let inner = token.dropFirst().dropLast()
        if let sign = inner.firstIndex(where: { $0 == "+" || $0 == "-" }) {
            let reg = try register(String(inner[..<sign]))
            return (reg, try offset16(inner[sign...]))
        }
        return (try register(String(inner)), 0)
    }

    // MARK: Encoding

    func expect(_ operands: [String], _ count: Int, _ mnemonic: String, _ form: String) throws(AssemblerError) {
        guard operands.count == count else {
            throw fail("invalid number of operands for \(mnemonic): expected \(count) (\(form)), found \(operands.count)")
        }
    }

    mutating func emit(_ ins: Instruction) { slots.append(ins) }

    mutating func jumpTarget(_ token: String, inImmediate: Bool) throws(AssemblerError) -> Int32 {
        if token.hasPrefix("+") || token.hasPrefix("-") {
            guard let parsed = integer(token), let (negative, magnitude, _) = parsed,
                  magnitude <= (inImmediate ? UInt64(Int32.max) : UInt64(Int16.max) + (negative ? 1 : 0))
            else { throw fail("invalid jump offset '\(token)'") }
            let value = negative ? -Int64(magnitude) : Int64(magnitude)
            return Int32(value)
        }
        guard isIdentifier(Substring(token)) else { throw fail("invalid jump target '\(token)'") }
        fixups.append(Fixup(slot: slots.count, label: token, line: line, inImmediate: inImmediate))
        return 0
    }

    static let aluOps: [String: (ALUOperation, Int16)] = [
        "add": (.add, 0), "sub": (.sub, 0), "mul": (.mul, 0), "div": (.div, 0), "sdiv": (.div, 1),
        "or": (.or, 0), "and": (.and, 0), "lsh": (.lsh, 0), "rsh": (.rsh, 0), "mod": (.mod, 0),
        "smod": (.mod, 1), "xor": (.xor, 0), "mov": (.mov, 0), "arsh": (.arsh, 0),
    ]
    static let jumpOps: [String: JumpOperation] = [
        "jeq": .jeq, "jgt": .jgt, "jge": .jge, "jset": .jset, "jne": .jne, "jsgt": .jsgt,
        "jsge": .jsge, "jlt": .jlt, "jle": .jle, "jslt": .jslt, "jsle": .jsle,
    ]
    static let sizes: [String: MemorySize] = ["b": .byte, "h": .half, "w": .word, "dw": .doubleWord]
    static let atomicOps: [String: AtomicOperation] = [
        "add": .add, "or": .or, "and": .and, "xor": .xor, "xchg": .exchange, "cmpxchg": .compareExchange,
    ]

    /// Splits `add32` into (`add`, 32-bit) and `add`/`add64` into (`add`, 64-bit).
    func widthSuffix(_ mnemonic: String) -> (String, Bool) {
        if mnemonic.hasSuffix("32") { return (String(mnemonic.dropLast(2)), false) }
        if mnemonic.hasSuffix("64") { return (String(mnemonic.dropLast(2)), true) }
        return (mnemonic, true)
    }

    mutating func encode(mnemonic: String, operands: [String]) throws(AssemblerError) {
        let (base, is64) = widthSuffix(mnemonic)

        // ALU binary operations.
        if let (op, signed) = Self.aluOps[base] {
            try expect(operands, 2, mnemonic, "dst, src")
            let cls: InstructionClass = is64 ? .alu64 : .alu
            let dst = try register(operands[0])
            if isRegister(operands[1]) {
                emit(Instruction(opcode: Opcode.make(cls, op.rawValue, .register), dst: dst,
                                 src: try register(operands[1]), offset: signed))
            } else {
                emit(Instruction(opcode: Opcode.make(cls, op.rawValue, .immediate), dst: dst,
                                 offset: signed, imm: try immediate32(operands[1])))
            }
            return
        }
        if base == "neg" {
            try expect(operands, 1, mnemonic, "dst")
            emit(Instruction(opcode: Opcode.make(is64 ? .alu64 : .alu, ALUOperation.neg.rawValue, .immediate),
                             dst: try register(operands[0])))
            return
        }
        // addr_space_cast dst, src, dst_as, src_as (arena pointers: 0, 1 or 1, 0).
        if mnemonic == "addr_space_cast" {
            try expect(operands, 4, mnemonic, "dst, src, dst_as, src_as")
            guard let to = Int32(operands[2]), let from = Int32(operands[3]), (to == 0 && from == 1) || (to == 1 && from == 0) else {
                throw fail("addr_space_cast converts between address spaces 0 and 1: 'addr_space_cast dst, src, 0, 1' or '..., 1, 0'")
            }
            emit(Instruction(opcode: Opcode.make(.alu64, ALUOperation.mov.rawValue, .register),
                             dst: try register(operands[0]), src: try register(operands[1]),
                             offset: Instruction.addressSpaceCastOffset, imm: to << 16 | from))
            return
        }
        // movsx<from><to>: movsx832, movsx1664, movsx3264 ...
        if mnemonic.hasPrefix("movsx") {
            let widths: [String: (Int16, Bool)] = [
                "832": (8, false), "1632": (16, false), "864": (8, true), "1664": (16, true), "3264": (32, true),
            ]
            guard let (from, to64) = widths[String(mnemonic.dropFirst(5))] else {
                throw fail("unknown mnemonic '\(mnemonic)' (movsx832, movsx1632, movsx864, movsx1664, movsx3264)")
            }
            try expect(operands, 2, mnemonic, "dst, src")
            emit(Instruction(opcode: Opcode.make(to64 ? .alu64 : .alu, ALUOperation.mov.rawValue, .register),
                             dst: try register(operands[0]), src: try register(operands[1]), offset: from))
            return
        }
        // Byte swaps.
        for (prefix, opcode) in [("le", UInt8(0xd4)), ("be", UInt8(0xdc)), ("bswap", UInt8(0xd7)), ("swap", UInt8(0xd7))]
        where mnemonic.hasPrefix(prefix) {
            guard let width = Int32(mnemonic.dropFirst(prefix.count)), [16, 32, 64].contains(width) else { continue }
            try expect(operands, 1, mnemonic, "dst")
            emit(Instruction(opcode: opcode, dst: try register(operands[0]), imm: width))
            return
        }
        // Conditional jumps.
        if let op = Self.jumpOps[base] {
            try expect(operands, 3, mnemonic, "dst, src, target")
            let cls: InstructionClass = is64 ? .jmp : .jmp32
            let dst = try register(operands[0])
            var ins: Instruction
            if isRegister(operands[1]) {
                ins = Instruction(opcode: Opcode.make(cls, op.rawValue, .register), dst: dst, src: try register(operands[1]))
            } else {
                ins = Instruction(opcode: Opcode.make(cls, op.rawValue, .immediate), dst: dst, imm: try immediate32(operands[1]))
            }
            ins.offset = Int16(try jumpTarget(operands[2], inImmediate: false))
            emit(ins)
            return
        }
        switch mnemonic {
        case "ja":
            try expect(operands, 1, mnemonic, "target")
            let offset = try jumpTarget(operands[0], inImmediate: false)
            emit(Instruction(opcode: Opcode.ja, offset: Int16(offset)))
        case "may_goto":
            try expect(operands, 1, mnemonic, "target")
            let offset = try jumpTarget(operands[0], inImmediate: false)
            emit(Instruction(opcode: Opcode.mayGoto, offset: Int16(offset)))
        case "ja32", "gotol":
            try expect(operands, 1, mnemonic, "target")
            emit(Instruction(opcode: Opcode.ja32, imm: try jumpTarget(operands[0], inImmediate: true)))
        case "exit":
            try expect(operands, 0, mnemonic, "no operands")
            if firstExit == nil { firstExit = slots.count }
            emit(Instruction(opcode: Opcode.exit))
        case "callx":
            try expect(operands, 1, mnemonic, "register")
            emit(Instruction(opcode: Opcode.callx, dst: try register(operands[0])))
        case "call":
            try encodeCall(operands)
        case "lddw":
            try encodeLoadImmediate(operands)
        case "lock":
            try encodeAtomic(operands)
        default:
            try encodeMemory(mnemonic: mnemonic, operands: operands)
        }
    }

    mutating func encodeCall(_ operands: [String]) throws(AssemblerError) {
        if operands.count == 1 {
            if isRegister(operands[0]) {
                emit(Instruction(opcode: Opcode.callx, dst: try register(operands[0])))
            } else {
                emit(Instruction(opcode: Opcode.call, imm: try immediate32(operands[0])))
            }
            return
        }
        guard operands.count == 2 else {
            throw fail("invalid number of operands for call: expected 'call ID', 'call %rN', 'call local TARGET', 'call helper ID' or 'call kfunc ID'")
        }
        switch operands[0].lowercased() {
        case "helper":
            emit(Instruction(opcode: Opcode.call, src: CallKind.helper.rawValue, imm: try immediate32(operands[1])))
        case "local":
            let imm = try jumpTarget(operands[1], inImmediate: true)
            emit(Instruction(opcode: Opcode.call, src: CallKind.local.rawValue, imm: imm))
        case "runtime", "kfunc":
            emit(Instruction(opcode: Opcode.call, src: CallKind.kfunc.rawValue, imm: try immediate32(operands[1])))
        default:
            throw fail("invalid call mode '\(operands[0])' (helper, local or kfunc)")
        }
    }

    static let pseudoSources: [String: LoadImmediateSource] = [
        "map_fd": .mapFD, "map_value": .mapValue, "btf_id": .btfID, "func": .function,
        "map_idx": .mapIndex, "map_idx_value": .mapIndexValue,
    ]

    mutating func encodeLoadImmediate(_ operands: [String]) throws(AssemblerError) {
        guard operands.count >= 2 else {
            throw fail("invalid number of operands for lddw: expected 2 (dst, imm64), found \(operands.count)")
        }
        let dst = try register(operands[0])
        if let source = Self.pseudoSources[operands[1].lowercased()] {
            // lddw %r1, map_fd 3 | map_value 3 16 | func label | ...
            let needsSecond = source == .mapValue || source == .mapIndexValue
            try expect(operands, needsSecond ? 4 : 3, "lddw \(operands[1])", needsSecond ? "dst, kind, id, offset" : "dst, kind, id")
            let low: Int32 = source == .function
                ? try jumpTarget(operands[2], inImmediate: true)
                : try immediate32(operands[2])
            let high: Int32 = needsSecond ? try immediate32(operands[3]) : 0
            emit(Instruction(opcode: Opcode.lddw, dst: dst, src: source.rawValue, imm: low))
            emit(Instruction(opcode: 0, imm: high))
            return
        }
        try expect(operands, 2, "lddw", "dst, imm64")
        let value = try immediate64(operands[1])
        emit(Instruction(opcode: Opcode.lddw, dst: dst, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: value))))
        emit(Instruction(opcode: 0, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))))
    }

    mutating func encodeAtomic(_ operands: [String]) throws(AssemblerError) {
        var words = operands
        var fetch = false
        if words.first?.lowercased() == "fetch" { fetch = true; words.removeFirst() }
        guard words.count == 3 else {
            throw fail("invalid number of operands for lock: expected 'lock [fetch] OP [%rD+off], %rS'")
        }
        let (base, is64) = widthSuffix(words[0].lowercased())
        guard var op = Self.atomicOps[base] else {
            throw fail("unknown atomic operation '\(words[0])' (add, or, and, xor, xchg, cmpxchg)")
        }
        if fetch, let fetching = AtomicOperation(rawValue: op.rawValue | AtomicOperation.fetchFlag) { op = fetching }
        let (dst, offset) = try memory(words[1])
        let src = try register(words[2])
        let size: MemorySize = is64 ? .doubleWord : .word
        emit(Instruction(opcode: Opcode.make(.stx, .atomic, size), dst: dst, src: src, offset: offset, imm: op.rawValue))
    }

    mutating func encodeMemory(mnemonic: String, operands: [String]) throws(AssemblerError) {
        func sized(_ prefix: String) -> MemorySize? {
            guard mnemonic.hasPrefix(prefix) else { return nil }
            return Self.sizes[String(mnemonic.dropFirst(prefix.count))]
        }
        if let size = sized("ldxs"), size != .doubleWord {
            try expect(operands, 2, mnemonic, "dst, [src+off]")
            let (src, offset) = try memory(operands[1])
            emit(Instruction(opcode: Opcode.make(.ldx, .memorySignExtend, size), dst: try register(operands[0]),
                             src: src, offset: offset))
        } else if let size = sized("ldx") {
            try expect(operands, 2, mnemonic, "dst, [src+off]")
            let (src, offset) = try memory(operands[1])
            emit(Instruction(opcode: Opcode.make(.ldx, .memory, size), dst: try register(operands[0]),
                             src: src, offset: offset))
        } else if let size = sized("stx") {
            try expect(operands, 2, mnemonic, "[dst+off], src")
            let (dst, offset) = try memory(operands[0])
            emit(Instruction(opcode: Opcode.make(.stx, .memory, size), dst: dst, src: try register(operands[1]),
                             offset: offset))
        } else if let size = sized("st") {
            try expect(operands, 2, mnemonic, "[dst+off], imm")
            let (dst, offset) = try memory(operands[0])
            emit(Instruction(opcode: Opcode.make(.st, .memory, size), dst: dst, offset: offset,
                             imm: try immediate32(operands[1])))
        } else if let size = sized("ldabs"), size != .doubleWord {
            try expect(operands, 1, mnemonic, "imm")
            emit(Instruction(opcode: Opcode.make(.ld, .absolute, size), imm: try immediate32(operands[0])))
        } else if let size = sized("ldind"), size != .doubleWord {
            try expect(operands, 2, mnemonic, "src, imm")
            emit(Instruction(opcode: Opcode.make(.ld, .indirect, size), src: try register(operands[0]),
                             imm: try immediate32(operands[1])))
        } else {
            throw fail("unknown mnemonic '\(mnemonic)'")
        }
    }
}

extension Substring {
    var trimmed: Substring {
        var s = self
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return s
    }
}
