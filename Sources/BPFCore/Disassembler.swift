/// Turns instruction slots back into text, in the bpf_conformance syntax (which ``Assembler``
/// reads back to the same bytes) or in the kernel/llvm-objdump syntax.
///
/// ```swift
/// let text = Disassembler(syntax: .llvm).text(for: program)
/// // 0: r0 = *(u32 *)(r1 + 4)
/// // 1: if r0 > 17 goto +2
/// ```
public struct Disassembler: Sendable {
    /// The text syntax to produce.
    public enum Syntax: String, Sendable, CaseIterable {
        /// `ldxw %r0, [%r1+4]`, as bpf_conformance and uBPF write it.
        case conformance
        /// `r0 = *(u32 *)(r1 + 4)`, as the kernel verifier log, bpftool and llvm-objdump write it.
        case llvm
    }

    /// The syntax this disassembler produces.
    public var syntax: Syntax

    public init(syntax: Syntax = .conformance) {
        self.syntax = syntax
    }

    /// One line per instruction. The conformance syntax is plain assembler input; the llvm syntax
    /// is prefixed with the slot index as in `llvm-objdump -d`.
    public func text(for program: Program) -> String {
        lines(for: program.instructions).map { $0 + "\n" }.joined()
    }

    /// The lines for the slots, skipping the second halves of `lddw`.
    public func lines(for slots: [Instruction]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < slots.count {
            let text = instruction(at: index, in: slots)
            switch syntax {
            case .conformance: result.append(text)
            case .llvm: result.append(pad(String(index), 5) + ": " + text)
            }
            index += slots[index].opcode == Opcode.lddw ? 2 : 1
        }
        return result
    }

    /// The text of the instruction at `index` (a `lddw` reads its second slot too).
    public func instruction(at index: Int, in slots: [Instruction]) -> String {
        let ins = slots[index]
        let next: Instruction? = index + 1 < slots.count ? slots[index + 1] : nil
        switch syntax {
        case .conformance: return ConformanceText(ins: ins, next: next).text
        case .llvm: return LLVMText(ins: ins, next: next).text
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - s.count)) + s
    }
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
private func signedOffset(_ v: Int) -> String { v < 0 ? "\(v)" : "+\(v)" }
private func lddwValue(_ ins: Instruction, _ next: Instruction?) -> UInt64 {
    UInt64(UInt32(bitPattern: ins.imm)) | UInt64(UInt32(bitPattern: next?.imm ?? 0)) << 32
}

private let aluNames: [ALUOperation: String] = [
    .add: "add", .sub: "sub", .mul: "mul", .div: "div", .or: "or", .and: "and", .lsh: "lsh",
    .rsh: "rsh", .neg: "neg", .mod: "mod", .xor: "xor", .mov: "mov", .arsh: "arsh",
]
private let jumpNames: [JumpOperation: String] = [
    .jeq: "jeq", .jgt: "jgt", .jge: "jge", .jset: "jset", .jne: "jne", .jsgt: "jsgt",
    .jsge: "jsge", .jlt: "jlt", .jle: "jle", .jslt: "jslt", .jsle: "jsle",
]
private let sizeSuffix: [MemorySize: String] = [.byte: "b", .half: "h", .word: "w", .doubleWord: "dw"]
private let atomicNames: [Int32: String] = [0x00: "add", 0x40: "or", 0x50: "and", 0xa0: "xor", 0xe1: "xchg", 0xf1: "cmpxchg"]

/// A slot in a form both syntaxes share: what kind of instruction it is.
private enum Shape {
    case alu(op: ALUOperation, is64: Bool, register: Bool)
    case end(kind: String, width: Int32)
    case jump(op: JumpOperation, is32: Bool, register: Bool)
    case ja, ja32, mayGoto, call(CallKind?), callx, exit
    case lddw(LoadImmediateSource?)
    case legacyLoad(absolute: Bool, size: MemorySize)
    case load(size: MemorySize, signExtend: Bool)
    case store(size: MemorySize, register: Bool)
    case atomic(size: MemorySize)
    case invalid

    init(_ ins: Instruction) {
        let fromRegister = ins.opcode & 0x08 != 0
        let size = MemorySize(rawValue: ins.opcode & 0x18)!
        switch ins.instructionClass {
        case .alu, .alu64:
            let is64 = ins.instructionClass == .alu64
            guard let op = ALUOperation(rawValue: ins.opcode & 0xf0) else { self = .invalid; return }
            if op == .end {
                self = .end(kind: is64 ? "bswap" : (fromRegister ? "be" : "le"), width: ins.imm)
            } else {
                self = .alu(op: op, is64: is64, register: fromRegister)
            }
        case .jmp, .jmp32:
            let is32 = ins.instructionClass == .jmp32
            if ins.opcode == Opcode.mayGoto {
                self = ins.src == 0 ? .mayGoto : .invalid
                return
            }
            guard let op = JumpOperation(rawValue: ins.opcode & 0xf0) else { self = .invalid; return }
            switch op {
            case .ja: self = is32 ? .ja32 : .ja
            case .call: self = fromRegister ? .callx : .call(CallKind(rawValue: ins.src))
            case .exit: self = .exit
            default: self = .jump(op: op, is32: is32, register: fromRegister)
            }
        case .ld:
            switch ins.opcode & 0xe0 {
            case MemoryMode.immediate.rawValue where size == .doubleWord:
                self = .lddw(LoadImmediateSource(rawValue: ins.src))
            case MemoryMode.absolute.rawValue: self = .legacyLoad(absolute: true, size: size)
            case MemoryMode.indirect.rawValue: self = .legacyLoad(absolute: false, size: size)
            default: self = .invalid
            }
        case .ldx:
            switch ins.opcode & 0xe0 {
            case MemoryMode.memory.rawValue: self = .load(size: size, signExtend: false)
            case MemoryMode.memorySignExtend.rawValue: self = .load(size: size, signExtend: true)
            default: self = .invalid
            }
        case .st:
            self = ins.opcode & 0xe0 == MemoryMode.memory.rawValue ? .store(size: size, register: false) : .invalid
        case .stx:
            switch ins.opcode & 0xe0 {
            case MemoryMode.memory.rawValue: self = .store(size: size, register: true)
            case MemoryMode.atomic.rawValue: self = .atomic(size: size)
            default: self = .invalid
            }
        }
    }
}

private struct ConformanceText {
    let ins: Instruction
    let next: Instruction?

    func r(_ n: UInt8) -> String { "%r\(n)" }
    func mem(_ reg: UInt8) -> String {
        ins.offset == 0 ? "[\(r(reg))]" : "[\(r(reg))\(signedOffset(Int(ins.offset)))]"
    }

    var text: String {
        let suffix32: (Bool) -> String = { $0 ? "" : "32" }
        switch Shape(ins) {
        case let .alu(op, is64, register):
            if op == .neg { return "neg\(suffix32(is64)) \(r(ins.dst))" }
            if op == .mov && register && is64 && ins.offset == Instruction.addressSpaceCastOffset {
                return "addr_space_cast \(r(ins.dst)), \(r(ins.src)), \(UInt32(bitPattern: ins.imm) >> 16), \(ins.imm & 0xffff)"
            }
            if op == .mov && register && ins.offset != 0 {
                return "movsx\(ins.offset)\(is64 ? 64 : 32) \(r(ins.dst)), \(r(ins.src))"
            }
            var name = aluNames[op]!
            if (op == .div || op == .mod) && ins.offset == 1 { name = "s" + name }
            let source = register ? r(ins.src) : String(ins.imm)
            return "\(name)\(suffix32(is64)) \(r(ins.dst)), \(source)"
        case let .end(kind, width):
            return "\(kind)\(width) \(r(ins.dst))"
        case let .jump(op, is32, register):
            let source = register ? r(ins.src) : String(ins.imm)
            return "\(jumpNames[op]!)\(is32 ? "32" : "") \(r(ins.dst)), \(source), \(signedOffset(Int(ins.offset)))"
        case .ja: return "ja \(signedOffset(Int(ins.offset)))"
        case .ja32: return "ja32 \(signedOffset(Int(ins.imm)))"
        case .mayGoto: return "may_goto \(signedOffset(Int(ins.offset)))"
        case let .call(kind):
            switch kind {
            case .helper?: return "call \(ins.imm)"
            case .local?: return "call local \(signedOffset(Int(ins.imm)))"
            case .kfunc?: return "call kfunc \(ins.imm)"
            case nil: return ".invalid call src=\(ins.src) imm=\(ins.imm)"
            }
        case .callx: return "callx \(r(ins.dst))"
        case .exit: return "exit"
        case let .lddw(source):
            switch source {
            case .constant?: return "lddw \(r(ins.dst)), \(hex(lddwValue(ins, next)))"
            case .function?: return "lddw \(r(ins.dst)), func \(signedOffset(Int(ins.imm)))"
            case .mapValue?: return "lddw \(r(ins.dst)), map_value \(ins.imm) \(next?.imm ?? 0)"
            case .mapIndexValue?: return "lddw \(r(ins.dst)), map_idx_value \(ins.imm) \(next?.imm ?? 0)"
            case .mapFD?: return "lddw \(r(ins.dst)), map_fd \(ins.imm)"
            case .btfID?: return "lddw \(r(ins.dst)), btf_id \(ins.imm)"
            case .mapIndex?: return "lddw \(r(ins.dst)), map_idx \(ins.imm)"
            case nil: return ".invalid lddw src=\(ins.src)"
            }
        case let .legacyLoad(absolute, size):
            return absolute
                ? "ldabs\(sizeSuffix[size]!) \(ins.imm)"
                : "ldind\(sizeSuffix[size]!) \(r(ins.src)), \(ins.imm)"
        case let .load(size, signExtend):
            return "ldx\(signExtend ? "s" : "")\(sizeSuffix[size]!) \(r(ins.dst)), \(mem(ins.src))"
        case let .store(size, register):
            return register
                ? "stx\(sizeSuffix[size]!) \(mem(ins.dst)), \(r(ins.src))"
                : "st\(sizeSuffix[size]!) \(mem(ins.dst)), \(ins.imm)"
        case let .atomic(size):
            let fetch = ins.imm & AtomicOperation.fetchFlag != 0 && ins.imm != 0xe1 && ins.imm != 0xf1
            guard let name = atomicNames[ins.imm & ~AtomicOperation.fetchFlag] ?? atomicNames[ins.imm] else {
                return ".invalid atomic imm=\(ins.imm)"
            }
            return "lock \(fetch ? "fetch " : "")\(name)\(size == .doubleWord ? "" : "32") \(mem(ins.dst)), \(r(ins.src))"
        case .invalid:
            return ".invalid opcode=0x\(String(format2: ins.opcode))"
        }
    }
}

private struct LLVMText {
    let ins: Instruction
    let next: Instruction?

    func reg(_ n: UInt8, _ is64: Bool) -> String { (is64 ? "r" : "w") + String(n) }
    func address(_ base: UInt8) -> String {
        ins.offset < 0 ? "(r\(base) - \(-Int(ins.offset)))" : "(r\(base) + \(ins.offset))"
    }
    func cType(_ size: MemorySize, signed: Bool = false) -> String {
        (signed ? "s" : "u") + String(size.bytes * 8)
    }

    var text: String {
        switch Shape(ins) {
        case let .alu(op, is64, register):
            let d = reg(ins.dst, is64)
            let s = register ? reg(ins.src, is64) : String(ins.imm)
            let signed = ins.offset == 1
            switch op {
            case .neg: return "\(d) = -\(d)"
            case .mov:
                if register && is64 && ins.offset == Instruction.addressSpaceCastOffset {
                    return "\(d) = addr_space_cast(r\(ins.src), \(UInt32(bitPattern: ins.imm) >> 16), \(ins.imm & 0xffff))"
                }
                if register && ins.offset != 0 { return "\(d) = (s\(ins.offset))\(reg(ins.src, is64))" }
                return "\(d) = \(s)"
            case .add: return "\(d) += \(s)"
            case .sub: return "\(d) -= \(s)"
            case .mul: return "\(d) *= \(s)"
            case .div: return "\(d) \(signed ? "s/=" : "/=") \(s)"
            case .mod: return "\(d) \(signed ? "s%=" : "%=") \(s)"
            case .or: return "\(d) |= \(s)"
            case .and: return "\(d) &= \(s)"
            case .xor: return "\(d) ^= \(s)"
            case .lsh: return "\(d) <<= \(s)"
            case .rsh: return "\(d) >>= \(s)"
            case .arsh: return "\(d) s>>= \(s)"
            case .end: return ""
            }
        case let .end(kind, width):
            return "r\(ins.dst) = \(kind)\(width) r\(ins.dst)"
        case let .jump(op, is32, register):
            let d = reg(ins.dst, !is32)
            let s = register ? reg(ins.src, !is32) : String(ins.imm)
            let symbol: String = switch op {
            case .jeq: "=="
            case .jne: "!="
            case .jgt: ">"
            case .jge: ">="
            case .jlt: "<"
            case .jle: "<="
            case .jsgt: "s>"
            case .jsge: "s>="
            case .jslt: "s<"
            case .jsle: "s<="
            case .jset: "&"
            default: "?"
            }
            return "if \(d) \(symbol) \(s) goto \(signedOffset(Int(ins.offset)))"
        case .ja: return "goto \(signedOffset(Int(ins.offset)))"
        case .ja32: return "gotol \(signedOffset(Int(ins.imm)))"
        case .mayGoto: return "may_goto \(signedOffset(Int(ins.offset)))"
        case let .call(kind):
            switch kind {
            case .helper?: return "call \(ins.imm)"
            case .local?: return "call pc\(signedOffset(Int(ins.imm)))"
            case .kfunc?: return "call kfunc#\(ins.imm)"
            case nil: return "(invalid call src=\(ins.src))"
            }
        case .callx: return "callx r\(ins.dst)"
        case .exit: return "exit"
        case let .lddw(source):
            let d = "r\(ins.dst)"
            switch source {
            case .constant?: return "\(d) = \(hex(lddwValue(ins, next))) ll"
            case .mapFD?: return "\(d) = map[fd:\(ins.imm)] ll"
            case .mapValue?: return "\(d) = map[fd:\(ins.imm)][0]+\(next?.imm ?? 0) ll"
            case .mapIndex?: return "\(d) = map[idx:\(ins.imm)] ll"
            case .mapIndexValue?: return "\(d) = map[idx:\(ins.imm)][0]+\(next?.imm ?? 0) ll"
            case .btfID?: return "\(d) = btf[id:\(ins.imm)] ll"
            case .function?: return "\(d) = func pc\(signedOffset(Int(ins.imm))) ll"
            case nil: return "(invalid lddw src=\(ins.src))"
            }
        case let .legacyLoad(absolute, size):
            return absolute
                ? "r0 = *(\(cType(size)) *)skb[\(ins.imm)]"
                : "r0 = *(\(cType(size)) *)skb[r\(ins.src) + \(ins.imm)]"
        case let .load(size, signExtend):
            return "r\(ins.dst) = *(\(cType(size, signed: signExtend)) *)\(address(ins.src))"
        case let .store(size, register):
            return "*(\(cType(size)) *)\(address(ins.dst)) = \(register ? "r\(ins.src)" : String(ins.imm))"
        case let .atomic(size):
            let is64 = size == .doubleWord
            let t = cType(size)
            let s = reg(ins.src, is64)
            switch ins.imm {
            case 0xe1: return "\(s) = xchg\(is64 ? "_64" : "32_32")(r\(ins.dst) \(ins.offset < 0 ? "-" : "+") \(abs(Int(ins.offset))), \(s))"
            case 0xf1: return "\(reg(0, is64)) = cmpxchg\(is64 ? "_64" : "32_32")(r\(ins.dst) \(ins.offset < 0 ? "-" : "+") \(abs(Int(ins.offset))), \(reg(0, is64)), \(s))"
            default:
                guard let name = atomicNames[ins.imm & ~AtomicOperation.fetchFlag] else { return "(invalid atomic imm=\(ins.imm))" }
                if ins.imm & AtomicOperation.fetchFlag != 0 {
                    return "\(s) = atomic_fetch_\(name)((\(t) *)\(address(ins.dst)), \(s))"
                }
                let symbol = ["add": "+=", "or": "|=", "and": "&=", "xor": "^="][name]!
                return "lock *(\(t) *)\(address(ins.dst)) \(symbol) \(s)"
            }
        case .invalid:
            return "(invalid opcode 0x\(String(format2: ins.opcode)))"
        }
    }
}
