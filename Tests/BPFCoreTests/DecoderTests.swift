import BPFCore
import Testing

@Suite("Decoder: encodings and the reasons they are refused")
struct DecoderTests {
    func decodeError(_ bytes: [UInt8]) -> DecodeError? {
        do { _ = try Program(bytes: bytes); return nil } catch { return error }
    }

    let exit: [UInt8] = [0x95, 0, 0, 0, 0, 0, 0, 0]

    @Test("an instruction round-trips through its 64-bit encoding")
    func encoding() {
        let ins = Instruction(opcode: 0x79, dst: 1, src: 10, offset: -8, imm: 0)
        #expect(ins.bytes == [0x79, 0xa1, 0xf8, 0xff, 0, 0, 0, 0])
        #expect(Instruction(rawValue: ins.rawValue) == ins)
        let imm = Instruction(opcode: 0xb7, dst: 0, imm: -2)
        #expect(imm.bytes == [0xb7, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff])
    }

    @Test("unknown opcodes name the opcode and the index")
    func unknownOpcode() throws {
        let error = try #require(decodeError(exit + [0xff, 0, 0, 0, 0, 0, 0, 0]))
        #expect(error.index == 1 && error.field == .opcode)
        #expect(error.description.contains("0xff"))
        for opcode: UInt8 in [0x00, 0x8c, 0x8f, 0xdf, 0x86, 0x96, 0x8e, 0x38, 0x99, 0xe4, 0xf7, 0xcb, 0xd3, 0x0d] {
            #expect(decodeError([opcode, 0, 0, 0, 0, 0, 0, 0] + exit)?.field == .opcode, "opcode 0x\(String(opcode, radix: 16))")
        }
    }

    @Test("registers beyond r10 and writes to r10 are refused")
    func registers() throws {
        #expect(decodeError([0xb7, 0x0b, 0, 0, 0, 0, 0, 0] + exit)?.field == .dst)
        #expect(decodeError([0xb7, 0x0a, 0, 0, 0, 0, 0, 0] + exit)?.message.contains("read-only") == true)
        #expect(decodeError([0xbf, 0xb0, 0, 0, 0, 0, 0, 0] + exit)?.field == .src)
        #expect(decodeError([0x79, 0xa0, 0, 0, 0, 0, 0, 0] + exit) == nil)   // r10 as a base is fine
        #expect(decodeError([0x7b, 0x1a, 0xf8, 0xff, 0, 0, 0, 0] + exit) == nil)
    }

    @Test("reserved fields must be zero")
    func reservedFields() {
        #expect(decodeError([0x07, 0x10, 0, 0, 1, 0, 0, 0] + exit)?.field == .src)      // add imm with src
        #expect(decodeError([0x0f, 0x00, 0, 0, 1, 0, 0, 0] + exit)?.field == .imm)      // add reg with imm
        #expect(decodeError([0x07, 0x00, 1, 0, 1, 0, 0, 0] + exit)?.field == .offset)   // add imm with offset
        #expect(decodeError([0x37, 0x00, 2, 0, 1, 0, 0, 0] + exit)?.field == .offset)   // div offset 2
        #expect(decodeError([0x37, 0x00, 1, 0, 1, 0, 0, 0] + exit) == nil)              // sdiv
        #expect(decodeError([0xbf, 0x10, 8, 0, 0, 0, 0, 0] + exit) == nil)              // movsx8
        #expect(decodeError([0xbc, 0x10, 32, 0, 0, 0, 0, 0] + exit)?.field == .offset)  // movsx32 into 32-bit
        #expect(decodeError([0xd4, 0x00, 0, 0, 8, 0, 0, 0] + exit)?.field == .imm)      // le8
        #expect(decodeError([0x85, 0x00, 0, 0, 1, 0, 0, 0, 0x85, 0x30, 0, 0, 0, 0, 0, 0] + exit)?.field == .src)
        #expect(decodeError([0xc3, 0x1a, 0xf8, 0xff, 0x02, 0, 0, 0] + exit)?.field == .imm)  // unknown atomic op
        #expect(decodeError([0x8d, 0x02, 0, 0, 0, 0, 0, 0] + exit) == nil)              // callx r2
        #expect(decodeError([0x8d, 0x02, 0, 0, 1, 0, 0, 0] + exit)?.field == .imm)
    }

    @Test("addr_space_cast: a 64-bit register mov with offset 1, between address spaces 0 and 1, in both syntaxes")
    func addressSpaceCast() throws {
        #expect(decodeError([0xbf, 0x10, 1, 0, 1, 0, 0, 0] + exit) == nil)              // as(1) -> as(0)
        #expect(decodeError([0xbf, 0x10, 1, 0, 0, 0, 1, 0] + exit) == nil)              // as(0) -> as(1)
        #expect(decodeError([0xbf, 0x10, 1, 0, 2, 0, 0, 0] + exit)?.field == .imm)      // address space 2
        #expect(decodeError([0xbf, 0x10, 1, 0, 0, 0, 0, 0] + exit)?.field == .imm)      // no conversion
        #expect(decodeError([0xbc, 0x10, 1, 0, 1, 0, 0, 0] + exit)?.field == .offset)   // 32-bit mov: no cast
        let instructions = try Assembler().assemble("addr_space_cast %r1, %r2, 0, 1\naddr_space_cast %r3, %r1, 1, 0\nexit")
        #expect(instructions[0].isAddressSpaceCast && instructions[0].imm == 1)
        #expect(instructions[1].isAddressSpaceCast && instructions[1].imm == 1 << 16)
        let c = Disassembler(syntax: .llvm).lines(for: instructions)
        #expect(c[0].hasSuffix("r1 = addr_space_cast(r2, 0, 1)") && c[1].hasSuffix("r3 = addr_space_cast(r1, 1, 0)"), "\(c)")
        let text = Disassembler().lines(for: instructions)
        #expect(text[0].hasSuffix("addr_space_cast %r1, %r2, 0, 1"), "\(text)")
        #expect(throws: AssemblerError.self) { try Assembler().assemble("addr_space_cast %r1, %r2, 0, 2\nexit") }
    }

    @Test("jumps must land inside the program and not inside a lddw")
    func jumpTargets() {
        #expect(decodeError([0x05, 0, 5, 0, 0, 0, 0, 0] + exit)?.field == .target)
        #expect(decodeError([0x05, 0, 0xfd, 0xff, 0, 0, 0, 0] + exit)?.field == .target)
        #expect(decodeError([0x05, 0, 1, 0, 0, 0, 0, 0, 0x18, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + exit)?.message.contains("second half") == true)
        #expect(decodeError([0x06, 0, 0, 0, 9, 0, 0, 0] + exit)?.field == .target)     // ja32
        #expect(decodeError([0x85, 0x10, 0, 0, 9, 0, 0, 0] + exit)?.field == .target)  // call local
    }

    @Test("a lddw needs a well-formed second slot")
    func loadImmediate() {
        #expect(decodeError([0x18, 0, 0, 0, 1, 0, 0, 0])?.field == .secondSlot)
        #expect(decodeError([0x18, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] + exit)?.field == .secondSlot)
        #expect(decodeError([0x18, 0x70, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + exit)?.field == .src)
        #expect(decodeError([0x18, 0x10, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + exit) == nil)  // map fd
    }

    @Test("truncated and empty programs are refused")
    func truncated() {
        #expect(decodeError([])?.field == .length)
        #expect(decodeError(Array(exit.prefix(5)))?.field == .length)
    }
}

@Suite("Assembler and disassembler")
struct AssemblerTests {
    @Test("errors name the line and the problem")
    func errors() {
        let cases: [(String, Int, String)] = [
            ("mov %r0, 1\nldxq %r0, %r1\nexit", 2, "unknown mnemonic"),
            ("mov32 %r0, 2147483648", 1, "32"),
            ("mov32 %r0, 0x100000000", 1, "32"),
            ("exit\nja nowhere", 2, "unknown label"),
            ("\n\nlock or [%r10-8]", 3, "operands"),
            ("ldxb %r0, [%r1+0x10000]", 1, "16 bits"),
            ("or %r0, %r50", 1, "register"),
            ("ldxb %r0, %r1", 1, "memory operand"),
            ("a:\na:\nexit", 2, "twice"),
        ]
        for (source, line, fragment) in cases {
            do {
                _ = try Assembler().assemble(source)
                Issue.record("'\(source)' assembled")
            } catch {
                #expect(error.line == line, "\(source): \(error)")
                #expect(error.message.contains(fragment), "\(source): \(error)")
            }
        }
    }

    @Test("labels, comments and every operand form")
    func syntax() throws {
        let program = try Assembler().assembleProgram("""
            # a comment
            mov %r0, 0      // another
            start: add %r0, 1
            jlt %r0, 3, start
            lock fetch xor32 [%r10-4], %r1
            call local f
            exit
            f:
            ja32 +0
            exit
            """)
        #expect(program.instructions[2] == Instruction(opcode: 0xa5, dst: 0, offset: -2, imm: 3))
        #expect(program.instructions[3] == Instruction(opcode: 0xc3, dst: 10, src: 1, offset: -4, imm: 0xa1))
        #expect(program.instructions[4] == Instruction(opcode: 0x85, src: 1, imm: 1))
    }

    @Test("the llvm syntax reads like the kernel's verifier log")
    func llvmSyntax() throws {
        let program = try Assembler().assembleProgram("""
            ldxw %r0, [%r1+4]
            jgt %r3, %r2, +1
            add32 %r1, 3
            stxdw [%r10-8], %r1
            lock add [%r10-8], %r1
            lock fetch add32 [%r10-8], %r1
            lock cmpxchg [%r10-8], %r2
            lddw %r1, 0x1122334455667788
            lddw %r2, map_fd 4
            sdiv %r1, 2
            movsx1664 %r1, %r2
            be16 %r3
            ldxsb %r1, [%r2-1]
            call local +0
            exit
            """)
        let lines = Disassembler(syntax: .llvm).lines(for: program.instructions).map {
            String($0.split(separator: ":", maxSplits: 1)[1].dropFirst())
        }
        #expect(lines == [
            "r0 = *(u32 *)(r1 + 4)",
            "if r3 > r2 goto +1",
            "w1 += 3",
            "*(u64 *)(r10 - 8) = r1",
            "lock *(u64 *)(r10 - 8) += r1",
            "w1 = atomic_fetch_add((u32 *)(r10 - 8), w1)",
            "r0 = cmpxchg_64(r10 - 8, r0, r2)",
            "r1 = 0x1122334455667788 ll",
            "r2 = map[fd:4] ll",
            "r1 s/= 2",
            "r1 = (s16)r2",
            "r3 = be16 r3",
            "r1 = *(s8 *)(r2 - 1)",
            "call pc+0",
            "exit",
        ])
    }

    @Test("the conformance syntax round-trips extensions too (pseudo lddw, kfunc, legacy loads)")
    func extendedRoundTrip() throws {
        let source = """
            lddw %r1, map_value 3 16
            lddw %r2, btf_id 7
            lddw %r3, func +2
            ldabsh 12
            ldindw %r1, 4
            call kfunc 55
            exit
            """
        let slots = try Assembler().assemble(source)
        let text = Disassembler(syntax: .conformance).lines(for: slots).joined(separator: "\n")
        #expect(try Assembler().assemble(text) == slots)
    }
}
