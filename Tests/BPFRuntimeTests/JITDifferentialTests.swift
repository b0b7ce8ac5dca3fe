import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The JIT against the interpreter: the same r0, memory, errors and map contents.
/// `SWIFTBPF_JIT_ITERATIONS` raises the number of random programs.
@Suite("JIT against the interpreter", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITDifferentialTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["SWIFTBPF_JIT_ITERATIONS"] ?? "") ?? 3000

    /// A short name for an error's kind, so errors compare without their (engine-specific) stack addresses.
    static func kind(_ error: RuntimeError) -> String {
        switch error {
        case .invalidProgram: "invalid"
        case .outOfBounds(_, _, let size, let write): "oob \(size) \(write)"
        case .misalignedAtomic: "misaligned"
        case .instructionLimitExceeded: "limit"
        case .callDepthExceeded: "depth"
        case .unknownHelper(_, let id): "helper \(id)"
        case .helperFailed(_, let name, _): "helper failed \(name)"
        case .fellOffEnd: "fell off"
        case .unsupported(_, let message): "unsupported \(message)"
        }
    }

    /// Runs `program` on both engines over the same buffer (so r1 is the same address) and compares.
    /// Returns whether both finished.
    @discardableResult
    static func compare(_ program: Program, input: [UInt8], helpers: HelperRegistry = .conformance, limit: UInt64 = 10_000,
                        context: String, tier: JITTier = .baseline) throws -> Bool {
        let interpreter = try Interpreter(program: program, helpers: helpers, options: ExecutionOptions(instructionLimit: limit))
        let jit = try JITProgram(interpreter: interpreter, tier: tier)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(input.count, 1), alignment: 16)
        defer { buffer.deallocate() }
        let region = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<input.count])
        func once(_ run: () throws(RuntimeError) -> ExecutionResult) -> (Result<UInt64, RuntimeError>, [UInt8]) {
            input.withUnsafeBytes { if !input.isEmpty { region.copyMemory(from: $0) } }
            let result = Result { () throws(RuntimeError) -> UInt64 in try run().returnValue }
            return (result, Array(region))
        }
        let base = UInt64(UInt(bitPattern: region.baseAddress))
        let (expected, expectedMemory) = once { () throws(RuntimeError) in
            try interpreter.run(r1: base, r2: UInt64(input.count), regions: [MemoryRegion(region)], packet: UnsafeRawBufferPointer(region))
        }
        let (actual, actualMemory) = once { () throws(RuntimeError) in
            try jit.run(r1: base, r2: UInt64(input.count), regions: [MemoryRegion(region)], packet: UnsafeRawBufferPointer(region))
        }
        switch (expected, actual) {
        case (.success(let a), .success(let b)):
            #expect(a == b, "\(context): r0 0x\(String(b, radix: 16)), interpreter 0x\(String(a, radix: 16))")
            #expect(expectedMemory == actualMemory, "\(context): memory differs")
            return true
        case (.failure(let a), .failure(let b)):
            if case .instructionLimitExceeded = a { return false }
            #expect(kind(a) == kind(b) && a.pc == b.pc, "\(context): JIT \(b), interpreter \(a)")
            #expect(expectedMemory == actualMemory, "\(context): memory differs")
        case (.failure(let a), .success):
            // The JIT counts backward jumps, not instructions: it may finish what the interpreter stopped.
            if case .instructionLimitExceeded = a { return false }
            Issue.record("\(context): the interpreter failed with \(a), the JIT finished")
        case (.success, .failure(let b)):
            Issue.record("\(context): the JIT failed with \(b), the interpreter finished")
        }
        return false
    }

    /// Random programs whose registers never hold r10 (a stack address differs between engines) nor
    /// the input's address in a way that is printed, and whose stack accesses stay in frame 0; r1 is
    /// the same address for both engines.
    static func randomProgram(_ rng: inout SplitMix, count: Int) -> [Instruction] {
        var slots = RandomizedTests.randomProgram(&rng, count: count)
        var i = 0
        while i < slots.count {
            let cls = slots[i].opcode & 7
            if slots[i].opcode == 0x18 { i += 2; continue }
            if (cls >= 4 && slots[i].opcode & 8 != 0) || cls == 3 || (cls == 0 && slots[i].opcode >= 0x40) {
                if slots[i].src == 10 { slots[i].src = 9 }
            }
            // Stack accesses stay inside frame 0: below it lie the other frames' bytes, which
            // neither engine initializes, so what a read there finds (a stale pointer, say) is
            // left over from earlier runs and differs between the engines.
            let base = cls == 1 ? slots[i].src : slots[i].dst
            if (1...3).contains(cls), base == 10, slots[i].offset < -512 { slots[i].offset = -512 + (slots[i].offset & 0xff) }
            i += 1
        }
        return slots
    }

    @Test("random programs on random inputs: identical r0, memory and errors")
    func randomPrograms() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0x0071_7e57
        var rng = SplitMix(state: seed)
        var finished = 0, compared = 0
        for iteration in 0..<Self.iterations {
            let slots = Self.randomProgram(&rng, count: Int(rng.next() % 40) + 1)
            guard let program = try? Program(validating: slots) else { continue }
            let input = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            compared += 1
            if try Self.compare(program, input: input, context: "seed \(seed) iteration \(iteration)") { finished += 1 }
        }
        #expect(compared > Self.iterations / 4, "compared \(compared)")
        #expect(finished > Self.iterations / 20, "finished \(finished)")
    }

    /// A straight-line program of random ALU operations (every opcode, 32- and 64-bit, edge-case
    /// operands) that folds every register into r0, so each result is observed.
    static func randomArithmeticProgram(_ rng: inout SplitMix) -> [Instruction] {
        let specials: [UInt64] = [0, 1, 2, 31, 32, 63, 64, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000,
                                  0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, .max, .max - 1]
        let ops: [UInt8] = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0]
        var slots: [Instruction] = []
        for r: UInt8 in 0...9 {
            let v = rng.next() % 3 == 0 ? rng.next() : specials[Int(rng.next() % UInt64(specials.count))]
            slots.append(Instruction(opcode: 0x18, dst: r, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: v))))
            slots.append(Instruction(opcode: 0, imm: Int32(bitPattern: UInt32(truncatingIfNeeded: v >> 32))))
        }
        for _ in 0..<20 {
            let op = ops[Int(rng.next() % UInt64(ops.count))]
            let cls: UInt8 = rng.next() % 2 == 0 ? 0x07 : 0x04
            let useReg = rng.next() % 2 == 0
            var ins = Instruction(opcode: op | cls | (useReg ? 8 : 0), dst: UInt8(rng.next() % 10), src: useReg ? UInt8(rng.next() % 10) : 0)
            if !useReg { ins.imm = rng.next() % 2 == 0 ? Int32(truncatingIfNeeded: specials[Int(rng.next() % UInt64(specials.count))]) : Int32(truncatingIfNeeded: rng.next()) }
            if op == 0x30 || op == 0x90 { ins.offset = Int16(rng.next() % 2) }
            if op == 0x80 { ins.src = 0; ins.imm = 0; ins.opcode = op | cls }
            if op == 0xb0 && useReg { ins.offset = cls == 0x07 ? [0, 8, 16, 32][Int(rng.next() % 4)] : [0, 8, 16][Int(rng.next() % 3)] }
            slots.append(ins)
            if rng.next() % 6 == 0 {
                slots.append(Instruction(opcode: [0xd4, 0xdc, 0xd7][Int(rng.next() % 3)], dst: UInt8(rng.next() % 10), imm: [16, 32, 64][Int(rng.next() % 3)]))
            }
        }
        // Fold every register into r0 so each result is observed.
        for r: UInt8 in 1...9 { slots.append(Instruction(opcode: 0xaf, dst: 0, src: r)); slots.append(Instruction(opcode: 0x27, dst: 0, imm: 31)) }
        slots.append(Instruction(opcode: 0x95))
        return slots
    }

    /// Straight-line programs of every ALU operation with random operands, read back through r0.
    @Test("random arithmetic over every ALU opcode, 32- and 64-bit, with edge-case operands")
    func randomArithmetic() throws {
        var rng = SplitMix(state: 77)
        for iteration in 0..<(Self.iterations / 3) {
            let slots = Self.randomArithmeticProgram(&rng)
            try Self.compare(try Program(validating: slots), input: [], context: "arithmetic iteration \(iteration)")
        }
    }

    @Test("32-bit shifts by a register holding 0 still clear the upper half")
    func shiftByZero() throws {
        for op in ["lsh32", "rsh32", "arsh32"] {
            let source = "lddw %r0, 0xffffffff12345678\nmov %r4, 0\n\(op) %r0, %r4\nexit"
            let program = try Assembler().assembleProgram(source)
            #expect(try JITProgram(program: program).run().returnValue == 0x1234_5678, "\(op)")
            let viaCX = try Assembler().assembleProgram("lddw %r4, 0xffffffff12345678\nmov %r2, 0\n\(op) %r4, %r2\nmov %r0, %r4\nexit")
            #expect(try JITProgram(program: viaCX).run().returnValue == 0x1234_5678, "\(op) of r4")
        }
    }

    @Test("stores anywhere never change memory outside the region (no verifier)")
    func containment() throws {
        var rng = SplitMix(state: 4242)
        var buffer = [UInt8](repeating: 0xa5, count: 544)
        for _ in 0..<300 {
            let offset = Int(rng.next() % 1024) - 512
            let size = ["b", "h", "w", "dw"][Int(rng.next() % 4)]
            let program = try Assembler().assembleProgram("st\(size) [%r1\(offset < 0 ? "" : "+")\(offset)], 0\nexit")
            let jit = try JITProgram(program: program)
            try buffer.withUnsafeMutableBytes { all in
                let region = UnsafeMutableRawBufferPointer(rebasing: all[256..<288])
                let base = UInt64(UInt(bitPattern: region.baseAddress))
                let inside = offset >= 0 && offset + ["b": 1, "h": 2, "w": 4, "dw": 8][size]! <= 32
                do {
                    _ = try jit.run(r1: base, r2: 32, regions: [MemoryRegion(region)])
                    #expect(inside, "offset \(offset) size \(size) should have been refused")
                } catch {
                    #expect(!inside, "offset \(offset) size \(size): \(error)")
                    guard let failure = error as? RuntimeError, case .outOfBounds(let pc, _, _, let write) = failure else {
                        Issue.record("\(error)")
                        return
                    }
                    #expect(pc == 0 && write)
                }
            }
            #expect(buffer[..<256].allSatisfy { $0 == 0xa5 } && buffer[288...].allSatisfy { $0 == 0xa5 }, "offset \(offset) size \(size)")
        }
        #expect(buffer[256..<288].contains(0))
    }

    @Test("provenAccesses skips the check only where the verifier proved the access")
    func provenAccesses() throws {
        let program = try Assembler().assembleProgram("ldxb %r0, [%r1+0]\nldxb %r2, [%r1+1]\nexit")
        let interpreter = try Interpreter(program: program)
        var memory: [UInt8] = [7]
        // Instruction 1 is out of bounds and not proven: refused.
        let checked = try JITProgram(interpreter: interpreter, provenAccesses: [true, false, false])
        do {
            _ = try checked.run(memory: &memory)
            Issue.record("the unproven access was not checked")
        } catch {
            #expect(error.pc == 1)
        }
        #expect(throws: RuntimeError.self) { _ = try JITProgram(interpreter: interpreter, provenAccesses: [true]) }
        let memoryOK: [UInt8] = [7, 9]
        var copy = memoryOK
        #expect(try checked.run(memory: &copy).returnValue == 7)
    }

    @Test("helpers from the registry, bpf-to-bpf calls eight deep, and the ninth refused")
    func callsAndHelpers() throws {
        var helpers = HelperRegistry.conformance
        helpers.register(Helper(id: 1000, name: "mix") { call in call.argument(1) &* 3 &+ call.argument(5) })
        let helperProgram = try Assembler().assembleProgram("mov %r6, 11\nmov %r1, 5\nmov %r5, 2\ncall 1000\nadd %r0, %r6\nexit")
        #expect(try JITProgram(program: helperProgram, helpers: helpers).run().returnValue == 28)
        // f(n) calls itself while n > 0; each frame keeps r6 and writes its stack.
        func chain(_ depth: Int) throws -> Program {
            try Assembler().assembleProgram("""
                mov %r1, \(depth)
                call local f
                exit
                f:
                stxdw [%r10-8], %r1
                mov %r6, %r1
                jeq %r1, 0, base
                sub %r1, 1
                call local f
                ldxdw %r2, [%r10-8]
                add %r0, %r2
                ja done
                base:
                mov %r0, 0
                done:
                add %r0, %r6
                exit
                """)
        }
        let reference = try Interpreter(program: try chain(6)).run().returnValue
        #expect(try JITProgram(program: try chain(6)).run().returnValue == reference)
        #expect(try JITProgram(program: try chain(6)).run().returnValue == 42)
        #expect(throws: RuntimeError.callDepthExceeded(pc: 7, limit: 8)) { _ = try JITProgram(program: try chain(7)).run() }
        #expect(throws: RuntimeError.callDepthExceeded(pc: 7, limit: 8)) { _ = try Interpreter(program: try chain(7)).run() }
    }

    @Test("errors name the instruction: out of bounds, runaway loop, unknown callx target, falling off the end")
    func errors() throws {
        let oob = try Assembler().assembleProgram("mov %r0, 0\nldxw %r0, [%r1+100]\nexit")
        var memory = [UInt8](repeating: 0, count: 8)
        #expect(throws: RuntimeError.self) { _ = try JITProgram(program: oob).run(memory: &memory) }
        do { _ = try JITProgram(program: oob).run(memory: &memory) } catch { #expect(error.pc == 1) }
        let loop = try Assembler().assembleProgram("mov %r0, 0\nadd %r0, 1\nja -2\nexit")
        do {
            _ = try JITProgram(program: loop, options: ExecutionOptions(instructionLimit: 1000)).run()
            Issue.record("the loop was not stopped")
        } catch {
            guard case .instructionLimitExceeded(let pc, _) = error else { Issue.record("\(error)"); return }
            #expect(pc == 2)
        }
        let callx = try Assembler().assembleProgram("mov %r1, 77\ncallx %r1\nexit")
        #expect(throws: RuntimeError.unknownHelper(pc: 1, id: 77)) { _ = try JITProgram(program: callx, helpers: .conformance).run() }
        let noExit = try Program(validating: [Instruction(opcode: 0xb7, dst: 0, imm: 1)])
        #expect(throws: RuntimeError.fellOffEnd(pc: 1)) { _ = try JITProgram(program: noExit).run() }
    }

    @Test("a program of more than 100,000 instructions")
    func hugeProgram() throws {
        var rng = SplitMix(state: 100_000)
        var slots: [Instruction] = [Instruction(opcode: 0xb7, dst: 0, imm: 1)]
        let count = Int(ProcessInfo.processInfo.environment["SWIFTBPF_JIT_HUGE"] ?? "") ?? 120_000
        while slots.count < count {
            let op: UInt8 = [0x07, 0x0f, 0x27, 0x2f, 0xaf, 0xa7, 0x04, 0x0c, 0x77, 0x67, 0xbf][Int(rng.next() % 11)]
            var ins = Instruction(opcode: op, dst: UInt8(rng.next() % 10), src: op & 8 != 0 ? UInt8(rng.next() % 10) : 0)
            if op & 8 == 0 { ins.imm = op == 0x77 || op == 0x67 ? Int32(rng.next() % 64) : Int32(truncatingIfNeeded: rng.next()) }
            slots.append(ins)
            // Forward branches over a few instructions keep the code from being straight-line only.
            if rng.next() % 50 == 0 { slots.append(Instruction(opcode: 0x2d, dst: UInt8(rng.next() % 10), src: UInt8(rng.next() % 10), offset: 2)) }
        }
        for r: UInt8 in 1...9 { slots.append(Instruction(opcode: 0xaf, dst: 0, src: r)) }
        slots.append(Instruction(opcode: 0x95))
        #expect(slots.count > 100_000)
        #expect(try Self.compare(try Program(validating: slots), input: [], limit: 1_000_000, context: "huge program"))
    }
}
