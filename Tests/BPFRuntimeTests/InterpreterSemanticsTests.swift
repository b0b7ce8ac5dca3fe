import BPFCore
import BPFRuntime
import Testing

/// Edge cases of each operation, checked against Linux semantics independently of the conformance suite.
@Suite("Interpreter: ALU semantics")
struct ALUSemanticsTests {
    @Test("32-bit results zero-extend into the 64-bit register")
    func zeroExtension() throws {
        #expect(try run("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit") == 0)
        #expect(try run("lddw %r0, 0xffffffff00000001\nmov32 %r0, %r0\nexit") == 1)
        #expect(try run("lddw %r0, 0x1ffffffff\nsub32 %r0, 0\nexit") == 0xffff_ffff)
        #expect(try run("mov %r0, -1\nneg32 %r0\nexit") == 1)
        #expect(try run("mov %r0, -1\nexit") == UInt64.max)
        #expect(try run("mov32 %r0, -1\nexit") == 0xffff_ffff)
    }

    @Test("shift amounts are masked to the operand width")
    func shiftMasking() throws {
        #expect(try run("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit") == 2)
        #expect(try run("mov32 %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit") == 2)
        #expect(try run("mov32 %r0, 0x80000000\nrsh32 %r0, 63\nexit") == 0x8000_0000 >> 31)
        #expect(try run("mov %r0, -8\narsh %r0, 1\nexit") == UInt64(bitPattern: -4))
        #expect(try run("mov32 %r0, -8\narsh32 %r0, 1\nexit") == 0xffff_fffc)
    }

    @Test("division by zero gives 0; modulo by zero leaves dst (32-bit forms truncate)")
    func divisionByZero() throws {
        #expect(try run("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit") == 0)
        #expect(try run("mov %r0, 7\nmov %r1, 0\nsdiv %r0, %r1\nexit") == 0)
        #expect(try run("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit") == 7)
        #expect(try run("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1\nexit") == UInt64(bitPattern: -7))
        #expect(try run("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit") == 7)
        #expect(try run("lddw %r0, 0x1fffffff9\nmov %r1, 0\nsmod32 %r0, %r1\nexit") == 0xffff_fff9)
        #expect(try run("mov %r0, 7\ndiv32 %r0, 0\nexit") == 0)
    }

    @Test("INT_MIN / -1 wraps and INT_MIN % -1 is 0")
    func signedOverflow() throws {
        #expect(try run("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit") == 0x8000_0000_0000_0000)
        #expect(try run("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit") == 0)
        #expect(try run("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit") == 0x8000_0000)
        #expect(try run("mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit") == 0)
    }

    @Test("signed remainder takes the sign of the dividend")
    func signedRemainder() throws {
        #expect(try run("mov %r0, -7\nsmod %r0, 2\nexit") == UInt64(bitPattern: -1))
        #expect(try run("mov %r0, 7\nsmod %r0, -2\nexit") == 1)
        #expect(try run("mov32 %r0, -7\nsmod32 %r0, 2\nexit") == 0xffff_ffff)
    }

    @Test("unsigned division by a negative immediate divides by its 64-bit sign extension")
    func divideByNegativeImmediate() throws {
        #expect(try run("mov %r0, -1\ndiv %r0, -1\nexit") == 1)
        #expect(try run("mov %r0, 10\ndiv %r0, -1\nexit") == 0)
    }

    @Test("byte swaps: le truncates, be and bswap swap the low bits")
    func byteSwaps() throws {
        #expect(try run("lddw %r0, 0x1122334455667788\nle16 %r0\nexit") == 0x7788)
        #expect(try run("lddw %r0, 0x1122334455667788\nle32 %r0\nexit") == 0x5566_7788)
        #expect(try run("lddw %r0, 0x1122334455667788\nle64 %r0\nexit") == 0x1122_3344_5566_7788)
        #expect(try run("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit") == 0x8877)
        #expect(try run("lddw %r0, 0x1122334455667788\nbe32 %r0\nexit") == 0x8877_6655)
        #expect(try run("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit") == 0x8877_6655_4433_2211)
    }

    @Test("movsx sign-extends 8, 16 and 32 bits")
    func moveSignExtend() throws {
        #expect(try run("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit") == UInt64(bitPattern: -128))
        #expect(try run("mov %r1, 0x80\nmovsx832 %r0, %r1\nexit") == 0xffff_ff80)
        #expect(try run("mov %r1, 0x7fff\nmovsx1664 %r0, %r1\nexit") == 0x7fff)
        #expect(try run("mov32 %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit") == 0xffff_ffff_8000_0000)
    }

    @Test("multiplication wraps")
    func multiplyWraps() throws {
        #expect(try run("lddw %r0, 0x8000000000000000\nmul %r0, 2\nexit") == 0)
        #expect(try run("mov32 %r0, 0x10000\nmul32 %r0, 0x10000\nexit") == 0)
    }
}

@Suite("Interpreter: jumps, calls, memory")
struct ControlAndMemoryTests {
    @Test("signed and unsigned comparisons differ on negative values, 64 and 32 bit")
    func comparisons() throws {
        #expect(try run("mov %r0, 0\nmov %r1, -1\njgt %r1, 1, +1\nexit\nmov %r0, 1\nexit") == 1)
        #expect(try run("mov %r0, 0\nmov %r1, -1\njsgt %r1, 1, +1\nexit\nmov %r0, 1\nexit") == 0)
        #expect(try run("mov %r0, 0\nlddw %r1, 0x100000000\njeq32 %r1, 0, +1\nexit\nmov %r0, 1\nexit") == 1)
        #expect(try run("mov %r0, 0\nlddw %r1, 0x1ffffffff\njslt32 %r1, 0, +1\nexit\nmov %r0, 1\nexit") == 1)
        #expect(try run("mov %r0, 0\nmov %r1, 6\njset %r1, 2, +1\nexit\nmov %r0, 1\nexit") == 1)
    }

    @Test("bpf-to-bpf calls preserve r6-r9 and give each frame its own stack")
    func localCalls() throws {
        let source = """
            mov %r6, 6
            stdw [%r10-8], 42
            call local f
            ldxdw %r1, [%r10-8]
            jne %r1, 42, bad
            jne %r6, 6, bad
            exit
            bad:
            mov %r0, -1
            exit
            f:
            stdw [%r10-8], 7
            mov %r6, 0
            ldxdw %r0, [%r10-8]
            exit
            """
        #expect(try run(source) == 7)
    }

    @Test("a ninth frame is refused")
    func callDepth() throws {
        let error = try runError("call local f\nexit\nf:\ncall local f\nexit")
        guard case .callDepthExceeded(let pc, let limit)? = error else {
            Issue.record("expected callDepthExceeded, got \(String(describing: error))"); return
        }
        #expect(limit == 8)
        #expect(pc == 2)
        let sevenDeep = (1...7).map { "call local f\($0)\nexit\nf\($0):" }.joined(separator: "\n") + "\nmov %r0, 9\nexit"
        #expect(try run(sevenDeep) == 9)
    }

    @Test("the instruction budget stops an endless loop with a clear error")
    func budget() throws {
        let error = try runError("l:\nja l", limit: 1000)
        #expect(error == .instructionLimitExceeded(pc: 0, limit: 1000))
        #expect(error?.description.contains("1000") == true)
    }

    @Test("out-of-bounds loads and stores stop the program, naming pc, address and size")
    func outOfBounds() throws {
        let reads = try runError("ldxdw %r0, [%r1+4]\nexit", memory: [1, 2, 3, 4, 5, 6, 7, 8])
        guard case let .outOfBounds(pc, _, size, write)? = reads else {
            Issue.record("expected outOfBounds, got \(String(describing: reads))"); return
        }
        #expect(pc == 0 && size == 8 && !write)
        #expect(try runError("stb [%r10], 1\nexit") != nil)          // just above the stack
        #expect(try runError("ldxb %r0, [%r10-4097]\nexit") != nil)  // below the deepest frame
        #expect(try runError("lddw %r1, 0x400000\nldxb %r0, [%r1]\nexit") != nil)  // arbitrary host address
        #expect(try runError("mov %r1, 0\nldxb %r0, [%r1]\nexit") != nil)           // null
        #expect(try runError("lddw %r1, 0xffffffffffffffff\nldxdw %r0, [%r1]\nexit") != nil)  // wraps around
        #expect(try runError("stxb [%r1+8], %r0\nexit", memory: [UInt8](repeating: 0, count: 8)) != nil)
        #expect(try run("ldxb %r0, [%r1+7]\nexit", memory: [0, 0, 0, 0, 0, 0, 0, 9]) == 9)
    }

    @Test("stores reach the input memory and the stack")
    func stores() throws {
        var memory: [UInt8] = [0, 0, 0, 0]
        let program = try Assembler().assembleProgram("stw [%r1], 0x01020304\nmov %r0, 0\nexit")
        _ = try Interpreter(program: program).run(memory: &memory)
        #expect(memory == [4, 3, 2, 1])
        #expect(try run("stxdw [%r10-8], %r10\nldxdw %r0, [%r10-8]\nsub %r0, %r10\nexit") == 0)
    }

    @Test("atomics return the old value where FETCH says so; cmpxchg compares r0")
    func atomics() throws {
        #expect(try run("stdw [%r10-8], 5\nmov %r1, 3\nlock fetch add [%r10-8], %r1\nmov %r0, %r1\nexit") == 5)
        #expect(try run("stdw [%r10-8], 5\nmov %r1, 3\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit") == 8)
        #expect(try run("stw [%r10-8], -1\nmov %r1, 1\nlock fetch add32 [%r10-8], %r1\nmov %r0, %r1\nexit") == 0xffff_ffff)
        #expect(try run("stdw [%r10-8], 9\nmov %r1, 4\nlock xchg [%r10-8], %r1\nldxdw %r0, [%r10-8]\nadd %r0, %r1\nexit") == 13)
        #expect(try run("stdw [%r10-8], 9\nmov %r0, 9\nmov %r1, 2\nlock cmpxchg [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit") == 0x902)
        #expect(try run("stdw [%r10-8], 9\nmov %r0, 1\nmov %r1, 2\nlock cmpxchg [%r10-8], %r1\nldxdw %r1, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit") == 0x909)
        let misaligned = try runError("mov %r1, 1\nlock add [%r10-15], %r1\nexit")
        guard case .misalignedAtomic? = misaligned else {
            Issue.record("expected misalignedAtomic, got \(String(describing: misaligned))"); return
        }
    }

    @Test("sign-extending loads")
    func signExtendingLoads() throws {
        #expect(try run("ldxsb %r0, [%r1]\nexit", memory: [0xff]) == UInt64.max)
        #expect(try run("ldxsh %r0, [%r1]\nexit", memory: [0x00, 0x80]) == 0xffff_ffff_ffff_8000)
        #expect(try run("ldxsw %r0, [%r1]\nexit", memory: [0, 0, 0, 0x80]) == 0xffff_ffff_8000_0000)
    }

    @Test("legacy packet loads read big-endian and end the program with 0 when out of bounds")
    func legacyPacketLoads() throws {
        let packet: [UInt8] = [0x12, 0x34, 0x56, 0x78, 0x9a]
        #expect(try run("ldabsh 1\nexit", memory: packet) == 0x3456)
        #expect(try run("ldabsw 1\nexit", memory: packet) == 0x3456_789a)
        #expect(try run("mov %r2, 2\nldindb %r2, 2\nexit", memory: packet) == 0x9a)
        #expect(try run("mov %r0, 7\nldabsw 2\nmov %r0, 1\nexit", memory: packet) == 0)
    }

    @Test("running past the last instruction is an error")
    func fallOffEnd() throws {
        #expect(try runError("mov %r0, 1") == .fellOffEnd(pc: 1))
        #expect(try runError("mov %r0, 1\njeq %r0, 2, -2") == .fellOffEnd(pc: 2))
    }
}

@Suite("Interpreter: helpers")
struct HelperTests {
    @Test("Swift code registers its own helpers; they read and write program memory through checked access")
    func customHelpers() throws {
        var helpers = HelperRegistry()
        helpers.register(Helper(id: 100, name: "sum_bytes") { call in
            let bytes = try call.read(at: call.argument(1), size: Int(call.argument(2)))
            return bytes.reduce(0) { $0 + UInt64($1) }
        })
        helpers.register(Helper(id: 101, name: "fill") { call in
            try call.write([UInt8](repeating: UInt8(truncatingIfNeeded: call.argument(3)), count: Int(call.argument(2))), at: call.argument(1))
            return 0
        })
        #expect(try run("call 100\nexit", memory: [1, 2, 3, 4], helpers: helpers) == 10)
        #expect(try run("mov %r1, %r10\nsub %r1, 8\nmov %r2, 8\nmov %r3, 2\ncall 101\nldxdw %r0, [%r10-8]\nexit", helpers: helpers) == 0x0202_0202_0202_0202)
        // A helper asked to read outside the program's memory fails cleanly.
        let error = try runError("mov %r2, 100\ncall 100\nexit", memory: [1, 2], helpers: helpers)
        guard case .helperFailed(let pc, let name, _)? = error else {
            Issue.record("expected helperFailed, got \(String(describing: error))"); return
        }
        #expect(pc == 1 && name == "sum_bytes")
    }

    @Test("an unknown helper is refused when the program is prepared, naming the instruction")
    func unknownHelper() throws {
        let program = try Assembler().assembleProgram("mov %r0, 0\ncall 77\nexit")
        #expect(throws: RuntimeError.unknownHelper(pc: 1, id: 77)) { try Interpreter(program: program) }
        #expect(try runError("mov %r1, 99\ncallx %r1\nexit") == .unknownHelper(pc: 1, id: 99))
    }

    @Test("unwind (helper 5) ends the program when its argument is 0")
    func unwind() throws {
        #expect(try run("mov %r1, 0\ncall 5\nmov %r0, 2\nexit") == 0)
        #expect(try run("mov %r1, 3\ncall 5\nmov %r0, 2\nexit") == 2)
    }

    @Test("unresolved map references cannot run")
    func unresolvedMap() throws {
        let program = try Assembler().assembleProgram("lddw %r1, map_fd 3\nmov %r0, 0\nexit")
        #expect(throws: RuntimeError.self) { try Interpreter(program: program) }
    }
}
