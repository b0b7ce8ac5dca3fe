import BPFCore
@testable import BPFRuntime
import Synchronization
import Testing

/// The interpreter's pre-decoder and what its fast paths must keep: checks on every access an
/// unverified program makes, and the instruction budget's exact accounting.
@Suite("Interpreter: pre-decoding, checks and the budget")
struct InterpreterDecodeTests {
    /// Decodes slots, returning the error (nil if they decoded).
    func decodeError(_ slots: [Instruction]) -> DecodeError? {
        do {
            _ = try DecodedInstruction.decode(slots)
            return nil
        } catch {
            return error
        }
    }

    @Test("the pre-decoder refuses what it cannot decode, naming the instruction and the field")
    func refusesMalformed() {
        let exit = Instruction(opcode: 0x95)
        let cases: [(slots: [Instruction], index: Int, field: DecodeError.Field, words: String)] = [
            ([Instruction(opcode: 0xb7), Instruction(opcode: 0xff), exit], 1, .opcode, "0xff"),
            ([Instruction(opcode: 0x3f, dst: 0, src: 1, offset: 2), exit], 0, .offset, "division"),
            ([Instruction(opcode: 0xbf, dst: 0, src: 1, offset: 24), exit], 0, .offset, "movsx"),
            ([Instruction(opcode: 0xd7, imm: 48), exit], 0, .imm, "byte swap"),
            ([Instruction(opcode: 0xdb, dst: 10, src: 1, offset: -8, imm: 0x02), exit], 0, .imm, "atomic"),
            ([Instruction(opcode: 0x05, offset: 5), exit], 0, .target, "outside"),
            ([Instruction(opcode: 0x15, offset: -3), exit], 0, .target, "outside"),
            ([Instruction(opcode: 0x85, src: 1, imm: 7), exit], 0, .target, "outside"),
            ([Instruction(opcode: 0x85, src: 2, imm: 7), exit], 0, .src, "call kind"),
            ([exit, Instruction(opcode: 0x18, imm: 1)], 1, .secondSlot, "second slot"),
            // A jump onto the second half of a lddw.
            ([Instruction(opcode: 0x05, offset: 1), Instruction(opcode: 0x18, imm: 1), Instruction(opcode: 0), exit], 0, .target, "lddw"),
        ]
        for (slots, index, field, words) in cases {
            let error = decodeError(slots)
            #expect(error?.index == index, "\(slots)")
            #expect(error?.field == field, "\(slots)")
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
            #expect(error?.description.hasPrefix("instruction \(index):") == true)
        }
    }

    @Test("the interpreter refuses malformed bytecode with an error naming the instruction, never runs it")
    func interpreterRefuses() {
        let program = Program(unchecked: [Instruction(opcode: 0xb7), Instruction(opcode: 0x8f), Instruction(opcode: 0x95)])
        #expect {
            _ = try Interpreter(program: program)
        } throws: { error in
            guard case .invalidProgram(let decode) = error as? RuntimeError else { return false }
            return decode.index == 1 && decode.field == .opcode
        }
    }

    @Test("every slot decodes to one entry, a lddw's second slot and the end to the sentinel; jumps are absolute")
    func layout() throws {
        let program = try Assembler().assembleProgram("""
            lddw %r1, 0x123456789
            jeq %r1, 0, done
            ldxdw %r0, [%r10-8]
            ldxdw %r0, [%r10-4]
            ldxdw %r0, [%r1+8]
            stdw [%r10-512], 1
            stdw [%r10-513], 1
            done:
            exit
            """)
        let decoded = try DecodedInstruction.decode(program.instructions)
        #expect(decoded.count == program.instructions.count + 1)
        #expect(decoded[0].op == .lddw && decoded[0].imm == 0x1_2345_6789)
        #expect(decoded[1].op == .fellOff)
        #expect(decoded[2].op == .jeq64i && decoded[2].target == 8)
        #expect(decoded[3].op == .ldxFrame64)   // inside the frame: no check needed
        #expect(decoded[4].op == .ldx64)        // reaches above the frame: checked
        #expect(decoded[5].op == .ldx64)        // any other base register: checked
        #expect(decoded[6].op == .stFrame64)
        #expect(decoded[7].op == .st64)         // below the frame: checked
        #expect(decoded.last?.op == .fellOff)
    }

    @Test("unverified programs keep every check: out-of-bounds accesses are errors, never host memory")
    func checksKept() throws {
        let memory = [UInt8](repeating: 7, count: 16)
        func outOfBounds(_ source: String) throws -> (pc: Int, size: Int, write: Bool)? {
            guard case let .outOfBounds(pc, _, size, write)? = try runError(source, memory: memory) else { return nil }
            return (pc, size, write)
        }
        // Past the end of the input, by one byte, for every size and sign.
        for (op, size) in [("ldxb", 1), ("ldxh", 2), ("ldxw", 4), ("ldxdw", 8), ("ldxsb", 1), ("ldxsh", 2), ("ldxsw", 4)] {
            let result = try outOfBounds("mov %r0, 0\n\(op) %r0, [%r1+\(16 - size + 1)]\nexit")
            #expect(result?.pc == 1 && result?.size == size && result?.write == false, "\(op)")
            #expect(try run("\(op) %r0, [%r1+\(16 - size)]\nexit", memory: memory) != 0, "\(op) at the last bytes")
        }
        for (op, size) in [("stb", 1), ("sth", 2), ("stw", 4), ("stdw", 8)] {
            let result = try outOfBounds("\(op) [%r1+\(16 - size + 1)], 1\nexit")
            #expect(result?.pc == 0 && result?.size == size && result?.write == true, "\(op)")
        }
        for (op, size) in [("stxb", 1), ("stxh", 2), ("stxw", 4), ("stxdw", 8)] {
            let result = try outOfBounds("\(op) [%r1-1], %r1\nexit")
            #expect(result?.pc == 0 && result?.size == size && result?.write == true, "\(op)")
        }
        // The frame pointer plus a constant that leaves the stack, or a register copied from it.
        #expect(try outOfBounds("ldxdw %r0, [%r10-4]\nexit")?.pc == 0)
        #expect(try outOfBounds("ldxb %r0, [%r10]\nexit")?.pc == 0)
        #expect(try outOfBounds("stxdw [%r10+8], %r1\nexit")?.pc == 0)
        #expect(try outOfBounds("mov %r1, %r10\nadd %r1, 16\nldxb %r0, [%r1]\nexit")?.pc == 2)
        #expect(try outOfBounds("mov %r1, %r10\nsub %r1, 4097\nstb [%r1], 1\nexit")?.pc == 2)
        // Addresses that wrap around, and a callee's frame pointer past the deepest frame.
        #expect(try outOfBounds("lddw %r1, 0xfffffffffffffffe\nldxdw %r0, [%r1]\nexit")?.pc == 2)
        #expect(try outOfBounds("mov %r1, -1\nldxh %r0, [%r1+1]\nexit")?.pc == 1)
        #expect(try outOfBounds("lock add [%r1+16], %r1\nexit")?.pc == 0)
        // The input stays as it was when a store is refused.
        var bytes = memory
        let program = try Assembler().assembleProgram("stdw [%r1+9], 0\nexit")
        #expect(throws: RuntimeError.self) { _ = try Interpreter(program: program).run(memory: &bytes) }
        #expect(bytes == memory)
    }

    @Test("frame accesses stay in each call's own frame")
    func frames() throws {
        #expect(try run("""
            stdw [%r10-512], 11
            stdw [%r10-8], 22
            call local f
            ldxdw %r1, [%r10-512]
            ldxdw %r2, [%r10-8]
            add %r0, %r1
            add %r0, %r2
            exit
            f:
            stdw [%r10-512], 100
            stdw [%r10-8], 200
            ldxdw %r0, [%r10-8]
            ldxdw %r1, [%r10-512]
            add %r0, %r1
            exit
            """) == 333)
    }

    @Test("the budget counts instructions per run and names the one that goes past it, a lddw counting once")
    func budgetAccounting() throws {
        let source = """
            mov %r0, 0
            lddw %r1, 7
            add %r0, 1
            lddw %r2, 9
            ja -4
            """
        // The order instructions run in, counted one by one: pcs 0, 1, 3, 4, 6, 3, 4, 6, ...
        let order = [0, 1] + Array(repeating: [3, 4, 6], count: 13).flatMap { $0 }
        for limit in 1...20 {
            let error = try runError(source, limit: UInt64(limit))
            #expect(error == .instructionLimitExceeded(pc: order[limit], limit: UInt64(limit)), "limit \(limit)")
        }
        let program = try Assembler().assembleProgram("lddw %r0, 5\nja +1\nexit\nmov %r1, 1\nlddw %r2, 1\nexit")
        let result = try Interpreter(program: program).run()
        #expect(result.returnValue == 5 && result.instructionsExecuted == 5)
        // A budget that is exactly enough.
        let exact = try Interpreter(program: program, options: ExecutionOptions(instructionLimit: 5)).run()
        #expect(exact.instructionsExecuted == 5)
        #expect(throws: RuntimeError.instructionLimitExceeded(pc: 7, limit: 4)) {
            _ = try Interpreter(program: program, options: ExecutionOptions(instructionLimit: 4)).run()
        }
    }

    /// Holds the interpreter a helper runs again from inside a run.
    final class Holder: Sendable {
        let interpreter = Mutex<Interpreter?>(nil)
    }

    @Test("a run nested in a run of the same interpreter (from a helper) gets memory of its own")
    func nestedRun() throws {
        let holder = Holder()
        var helpers = HelperRegistry.conformance
        helpers.register(Helper(id: 1000, name: "nested") { call in
            guard call.argument(1) == 1, let interpreter = holder.interpreter.withLock({ $0 }) else { return 1000 }
            return try interpreter.run(r1: 0, regions: []).returnValue + 100
        })
        // r6 = r1; the stack slot and r6 hold values that differ between the outer and the nested run.
        let program = try Assembler().assembleProgram("""
            mov %r6, %r1
            mov %r2, %r6
            mul %r2, 10
            add %r2, 77
            stxdw [%r10-8], %r2
            mov %r1, %r6
            call 1000
            ldxdw %r1, [%r10-8]
            add %r0, %r1
            add %r0, %r6
            exit
            """)
        let interpreter = try Interpreter(program: program, helpers: helpers)
        holder.interpreter.withLock { $0 = interpreter }
        // Nested: 1000 + 77 + 0; outer: (1077 + 100) + 87 + 1.
        #expect(try interpreter.run(r1: 1, regions: []).returnValue == 1265)
        #expect(try interpreter.run(r1: 1, regions: []).returnValue == 1265)
        holder.interpreter.withLock { $0 = nil }
    }

    @Test("runs of one interpreter on several threads at once each get their own memory")
    func concurrentRuns() async throws {
        let program = try Assembler().assembleProgram("""
            mov %r0, 0
            mov %r3, %r1
            loop:
            stxdw [%r10-8], %r3
            ldxdw %r4, [%r10-8]
            add %r0, %r4
            sub %r3, 1
            jne %r3, 0, loop
            exit
            """)
        let interpreter = try Interpreter(program: program)
        let sums = try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 1...4 {
                group.addTask {
                    for run in 0..<200 {
                        let n = UInt64(task * 100 + run)
                        if try interpreter.run(r1: n, regions: []).returnValue != n * (n + 1) / 2 { return false }
                    }
                    return true
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(sums == [true, true, true, true])
    }
}
