import BPFCore
import BPFObject

/// A jump target inside the program being generated.
struct Label: Hashable { let id: Int }

/// The eBPF registers by name.
enum Reg: UInt8 {
    case r0 = 0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
}

/// Appends instructions, resolves labels, records map references and the script location of
/// every instruction (for the verifier's errors).
struct Emitter {
    var instructions: [Instruction] = []
    var references: [Int: ProgramReference] = [:]
    var locations: [Int: SourceLocation] = [:]
    var currentLocation = SourceLocation(line: 1, column: 1)
    private var labelTargets: [Int: Int] = [:]
    private var fixups: [(instruction: Int, label: Int)] = []
    private var nextLabel = 0

    mutating func newLabel() -> Label {
        nextLabel += 1
        return Label(id: nextLabel)
    }

    mutating func bind(_ label: Label) { labelTargets[label.id] = instructions.count }

    mutating func emit(_ instruction: Instruction) {
        if locations[instructions.count] == nil { locations[instructions.count] = currentLocation }
        instructions.append(instruction)
    }

    // MARK: ALU

    mutating func mov(_ dst: Reg, _ imm: Int32) {
        emit(Instruction(opcode: Opcode.make(.alu64, ALUOperation.mov.rawValue, .immediate), dst: dst.rawValue, imm: imm))
    }

    mutating func mov(_ dst: Reg, _ src: Reg) {
        emit(Instruction(opcode: Opcode.make(.alu64, ALUOperation.mov.rawValue, .register), dst: dst.rawValue, src: src.rawValue))
    }

    /// `dst = (u32)dst`
    mutating func zeroExtend32(_ dst: Reg) {
        emit(Instruction(opcode: Opcode.make(.alu, ALUOperation.mov.rawValue, .register), dst: dst.rawValue, src: dst.rawValue))
    }

    mutating func alu(_ op: ALUOperation, _ dst: Reg, _ imm: Int32) {
        emit(Instruction(opcode: Opcode.make(.alu64, op.rawValue, .immediate), dst: dst.rawValue, imm: imm))
    }

    mutating func alu(_ op: ALUOperation, _ dst: Reg, _ src: Reg, signed: Bool = false) {
        // Signed division and modulo (v4): offset 1.
        let offset: Int16 = signed && (op == .div || op == .mod) ? 1 : 0
        emit(Instruction(opcode: Opcode.make(.alu64, op.rawValue, .register), dst: dst.rawValue, src: src.rawValue, offset: offset))
    }

    mutating func neg(_ dst: Reg) {
        emit(Instruction(opcode: Opcode.make(.alu64, ALUOperation.neg.rawValue, .immediate), dst: dst.rawValue))
    }

    /// `dst = imm64` (`lddw`)
    mutating func load64(_ dst: Reg, _ value: UInt64) {
        if let small = Int32(exactly: Int64(bitPattern: value)) { return mov(dst, small) }
        emit(Instruction(opcode: Opcode.lddw, dst: dst.rawValue, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: value))))
        emit(Instruction(opcode: 0, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))))
    }

    /// `dst = &map` (`lddw` with src 1), resolved by the loader.
    mutating func loadMap(_ dst: Reg, _ name: String) {
        references[instructions.count] = .map(name)
        emit(Instruction(opcode: Opcode.lddw, dst: dst.rawValue, src: LoadImmediateSource.mapFD.rawValue))
        emit(Instruction(opcode: 0))
    }

    // MARK: Memory

    mutating func load(_ size: MemorySize, _ dst: Reg, _ src: Reg, _ offset: Int) {
        emit(Instruction(opcode: Opcode.make(.ldx, .memory, size), dst: dst.rawValue, src: src.rawValue, offset: Int16(offset)))
    }

    mutating func store(_ size: MemorySize, _ dst: Reg, _ offset: Int, _ src: Reg) {
        emit(Instruction(opcode: Opcode.make(.stx, .memory, size), dst: dst.rawValue, src: src.rawValue, offset: Int16(offset)))
    }

    mutating func store(_ size: MemorySize, _ dst: Reg, _ offset: Int, imm: Int32) {
        emit(Instruction(opcode: Opcode.make(.st, .memory, size), dst: dst.rawValue, offset: Int16(offset), imm: imm))
    }

    /// `lock *(u64 *)(dst + offset) += src`
    mutating func atomicAdd(_ dst: Reg, _ offset: Int, _ src: Reg) {
        emit(Instruction(opcode: Opcode.make(.stx, .atomic, .doubleWord), dst: dst.rawValue, src: src.rawValue, offset: Int16(offset),
                         imm: AtomicOperation.add.rawValue))
    }

    /// `dst = r10 + offset`
    mutating func stackAddress(_ dst: Reg, _ offset: Int) {
        mov(dst, .r10)
        alu(.add, dst, Int32(offset))
    }

    // MARK: Control

    mutating func call(_ helper: Int32) {
        emit(Instruction(opcode: Opcode.call, imm: helper))
    }

    mutating func exit() { emit(Instruction(opcode: Opcode.exit)) }

    mutating func jump(_ label: Label) {
        fixups.append((instructions.count, label.id))
        emit(Instruction(opcode: Opcode.ja))
    }

    mutating func jump(_ op: JumpOperation, _ dst: Reg, _ imm: Int32, _ label: Label) {
        fixups.append((instructions.count, label.id))
        emit(Instruction(opcode: Opcode.make(.jmp, op.rawValue, .immediate), dst: dst.rawValue, imm: imm))
    }

    mutating func jump(_ op: JumpOperation, _ dst: Reg, _ src: Reg, _ label: Label) {
        fixups.append((instructions.count, label.id))
        emit(Instruction(opcode: Opcode.make(.jmp, op.rawValue, .register), dst: dst.rawValue, src: src.rawValue))
    }

    /// Resolves every jump; returns the instructions.
    mutating func finish() -> [Instruction] {
        for (index, label) in fixups {
            let target = labelTargets[label]!
            instructions[index].offset = Int16(target - index - 1)
        }
        fixups.removeAll()
        return instructions
    }
}
