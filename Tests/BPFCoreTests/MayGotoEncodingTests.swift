import BPFCore
import Testing

/// `may_goto` (BPF_JMP | BPF_JCOND, src BPF_MAY_GOTO): its encoding, the decoder's rules, the
/// assembler and both disassembly syntaxes.
@Suite("may_goto: encoding, decoding, assembly")
struct MayGotoEncodingTests {
    let exit: [UInt8] = [0x95, 0, 0, 0, 0, 0, 0, 0]

    func decodeError(_ bytes: [UInt8]) -> DecodeError? {
        do { _ = try Program(bytes: bytes); return nil } catch { return error }
    }

    @Test("decodes with the jump offset in off and every other field 0")
    func decodes() throws {
        // may_goto +1; exit; exit — as clang emits it (e5 00 01 00 00 00 00 00).
        let program = try Program(bytes: [0xe5, 0, 1, 0, 0, 0, 0, 0] + exit + exit)
        #expect(program.instructions[0].isMayGoto)
        #expect(program.instructions[0].offset == 1)
        #expect(!program.instructions[1].isMayGoto)
        // A backward one: exit; may_goto -2 (to insn 0); exit.
        #expect(decodeError(exit + [0xe5, 0, 0xfe, 0xff, 0, 0, 0, 0] + exit) == nil)
        // Offset 0: both outcomes continue at the next instruction.
        #expect(decodeError([0xe5, 0, 0, 0, 0, 0, 0, 0] + exit) == nil)
    }

    @Test("the decoder refuses other conditions, registers, immediates, 32-bit and register forms")
    func refusals() throws {
        #expect(decodeError([0xe5, 0x10, 1, 0, 0, 0, 0, 0] + exit + exit)?.field == .src)    // src 1: not BPF_MAY_GOTO
        #expect(decodeError([0xe5, 0x01, 1, 0, 0, 0, 0, 0] + exit + exit)?.field == .dst)
        #expect(decodeError([0xe5, 0, 1, 0, 1, 0, 0, 0] + exit + exit)?.field == .imm)
        #expect(decodeError([0xe6, 0, 1, 0, 0, 0, 0, 0] + exit + exit)?.field == .opcode)    // JMP32 | JCOND
        #expect(decodeError([0xed, 0, 1, 0, 0, 0, 0, 0] + exit + exit)?.field == .opcode)    // JMP | JCOND | X
        let outside = try #require(decodeError([0xe5, 0, 5, 0, 0, 0, 0, 0] + exit))
        #expect(outside.field == .target && outside.description.contains("may_goto"))
        // Into the second half of a lddw.
        let lddw: [UInt8] = [0x18, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        #expect(decodeError([0xe5, 0, 1, 0, 0, 0, 0, 0] + lddw + exit)?.field == .target)
    }

    @Test("assembles from an offset or a label, and disassembles in both syntaxes")
    func assembly() throws {
        let source = """
            mov %r0, 0
            loop:
            may_goto done
            add %r0, 1
            ja loop
            done:
            may_goto +0
            exit
            """
        let slots = try Assembler().assemble(source)
        #expect(slots[1] == Instruction(opcode: 0xe5, offset: 2))
        #expect(slots[1].bytes == [0xe5, 0, 2, 0, 0, 0, 0, 0])
        #expect(slots[4] == Instruction(opcode: 0xe5, offset: 0))
        let program = try Program(validating: slots)
        let conformance = Disassembler(syntax: .conformance).lines(for: program.instructions)
        #expect(conformance[1] == "may_goto +2")
        #expect(conformance[4] == "may_goto +0")
        // The conformance syntax reads back to the same bytes.
        #expect(try Assembler().assemble(conformance.joined(separator: "\n")) == slots)
        let llvm = Disassembler(syntax: .llvm).lines(for: program.instructions)
        #expect(llvm[1].hasSuffix("1: may_goto +2"))
        let backward = try Assembler().assemble("exit\nmay_goto -2\nexit")
        #expect(backward[1].offset == -2)
        #expect(Disassembler(syntax: .llvm).instruction(at: 1, in: backward) == "may_goto -2")
    }
}
