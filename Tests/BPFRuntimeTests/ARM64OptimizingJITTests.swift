import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The optimizing tier's arm64 back end (`ARM64Program(..., tier: .optimizing)`), run under
/// `qemu-aarch64`: the conformance suite, random programs against the interpreter, and fixtures
/// that make the passes fire (jump tables, recombined byte loads, folded addresses, spills).
@Suite("optimizing tier, arm64 back end, under qemu-aarch64", .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64OptimizingJITTests {
    /// Whether `code` holds an instruction `word & mask == pattern`.
    static func contains(_ code: [UInt8], mask: UInt32, pattern: UInt32) -> Bool {
        stride(from: 0, to: code.count - 3, by: 4).contains { i in
            let word = UInt32(code[i]) | UInt32(code[i + 1]) << 8 | UInt32(code[i + 2]) << 16 | UInt32(code[i + 3]) << 24
            return word & mask == pattern
        }
    }

    /// Runs `program` through the arm64 optimizing tier on each input and compares r0 and memory
    /// with the interpreter's; the program must not be declined.
    static func check(_ source: String, inputs: [[UInt8]], provenAll: Bool = false) throws -> ARM64Program {
        let program = try Assembler().assembleProgram(source)
        let interpreter = try Interpreter(program: program, helpers: .conformance)
        let proven = provenAll ? [Bool](repeating: true, count: program.instructions.count) : nil
        let arm64 = try ARM64Program(interpreter: interpreter, provenAccesses: proven, tier: .optimizing)
        #expect(arm64.tier == .optimizing, "declined: \(arm64.declineReason ?? "")")
        let outcomes = try ARM64Emulator.run(inputs.map { (arm64, $0) })
        for (input, outcome) in zip(inputs, outcomes) {
            var reference = input
            let expected = try interpreter.run(memory: &reference).returnValue
            #expect(try outcome.result.get() == expected, "input \(input.prefix(8))")
            #expect(outcome.memory == reference, "input \(input.prefix(8)): memory differs")
        }
        return arm64
    }

    @Test("every conformance program gives the expected r0 and the interpreter's memory, none declined",
          .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason))
    func conformance() throws {
        let files = ConformanceSuite.files("tests")
        #expect(files.count >= 313, "expected the 313 conformance programs, found \(files.count)")
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        var tests: [(name: String, test: ConformanceTest, reference: [UInt8])] = []
        var declined: [String] = []
        var optimizedBytes = 0, baselineBytes = 0
        for file in files {
            let test = try ConformanceSuite.load(file)
            let interpreter = try Interpreter(program: try Program(validating: try test.program()), helpers: .conformance)
            var reference = test.memory
            _ = try? interpreter.run(memory: &reference)
            let program = try ARM64Program(interpreter: interpreter, tier: .optimizing)
            if let reason = program.declineReason { declined.append("\(file.lastPathComponent): \(reason)") }
            optimizedBytes += program.machineCode.count
            baselineBytes += try ARM64Program(interpreter: interpreter, tier: .baseline).machineCode.count
            jobs.append((program, test.memory))
            tests.append((file.lastPathComponent, test, reference))
        }
        let outcomes = try ARM64Emulator.run(jobs)
        var passed = 0, passedOptimized = 0
        for ((outcome, entry), job) in zip(zip(outcomes, tests), jobs) {
            switch outcome.result {
            case .success(let r0):
                #expect(r0 == entry.test.expectedResult, "\(entry.name): r0 = 0x\(String(r0, radix: 16)), expected \(entry.test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                #expect(outcome.memory == entry.reference, "\(entry.name): memory differs from the interpreter's")
                if r0 == entry.test.expectedResult && outcome.memory == entry.reference {
                    passed += 1
                    if job.program.tier == .optimizing { passedOptimized += 1 }
                }
            case .failure(let error):
                Issue.record("\(entry.name): \(error)")
            }
        }
        print("arm64 optimizing tier: \(passed)/\(files.count) conformance programs pass, \(passedOptimized) of them compiled by the optimizing tier, \(declined.count) declined; code \(optimizedBytes) bytes, first tier \(baselineBytes)")
        #expect(declined.isEmpty, "declined: \(declined.joined(separator: "; "))")
        #expect(passedOptimized == files.count, "\(passedOptimized)/\(files.count) passed in the optimizing tier")
    }

    @Test("random programs on random inputs: identical r0, memory and errors")
    func randomPrograms() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0x0a64_0971
        var rng = SplitMix(state: seed)
        var cases: [(program: Program, input: [UInt8], context: String)] = []
        for iteration in 0..<ARM64DifferentialTests.iterations {
            let slots = JITDifferentialTests.randomProgram(&rng, count: Int(rng.next() % 40) + 1)
            guard let program = try? Program(validating: slots) else { continue }
            let input = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            cases.append((program, input, "optimizing arm64, seed \(seed) iteration \(iteration)"))
        }
        let finished = try ARM64DifferentialTests.compare(cases, address: ARM64Emulation.memoryAddress + 0x2_0000_0000, tier: .optimizing)
        print("arm64 optimizing differential: \(cases.count) random programs compared, \(finished) finished on both engines")
        #expect(cases.count > ARM64DifferentialTests.iterations / 4, "compared \(cases.count)")
        #expect(finished > ARM64DifferentialTests.iterations / 20, "finished \(finished)")
    }

    @Test("random arithmetic over every ALU opcode, 32- and 64-bit, with edge-case operands")
    func randomArithmetic() throws {
        var rng = SplitMix(state: 0xa64_0a1)
        var cases: [(program: Program, input: [UInt8], context: String)] = []
        for iteration in 0..<(ARM64DifferentialTests.iterations / 3) {
            let slots = JITDifferentialTests.randomArithmeticProgram(&rng)
            cases.append((try Program(validating: slots), [], "optimizing arithmetic iteration \(iteration)"))
        }
        #expect(try ARM64DifferentialTests.compare(cases, address: ARM64Emulation.memoryAddress + 0x3_0000_0000, tier: .optimizing) == cases.count)
    }

    @Test("stores anywhere never change memory outside the region; refused ones are out-of-bounds errors at their pc")
    func containment() throws {
        var rng = SplitMix(state: 0xa64_c0)
        var cases: [(program: ARM64Program, input: [UInt8], offset: Int, size: Int)] = []
        for _ in 0..<200 {
            let offset = Int(rng.next() % 1024) - 512
            let size = Int(rng.next() % 4)
            let program = try Assembler().assembleProgram("mov %r2, %r1\nadd %r2, \(offset)\nst\(["b", "h", "w", "dw"][size]) [%r2], 7\nldxb %r0, [%r1]\nexit")
            let arm64 = try ARM64Program(interpreter: Interpreter(program: program), tier: .optimizing)
            #expect(arm64.tier == .optimizing)
            cases.append((arm64, [UInt8](repeating: 0xa5, count: 32), offset, [1, 2, 4, 8][size]))
        }
        let outcomes = try ARM64Emulator.run(cases.map { ($0.program, $0.input) })
        for (outcome, c) in zip(outcomes, cases) {
            let inside = c.offset >= 0 && c.offset + c.size <= 32
            switch outcome.result {
            case .success: #expect(inside, "offset \(c.offset) size \(c.size) should have been refused")
            case .failure(let error):
                #expect(!inside, "offset \(c.offset) size \(c.size): \(error)")
                guard case .outOfBounds(2, _, _, true) = error else { Issue.record("offset \(c.offset): \(error)"); continue }
                #expect(outcome.memory == c.input, "offset \(c.offset): a refused store changed memory")
            }
        }
    }

    @Test("a tree of compares on one register becomes a jump table (an indirect br) with the same targets")
    func jumpTable() throws {
        let source = """
            ldxb %r2, [%r1+0]
            and %r2, 7
            jeq %r2, 0, +9
            jeq %r2, 1, +10
            jeq %r2, 2, +11
            jeq %r2, 3, +12
            jeq %r2, 5, +13
            mov %r0, 100
            exit
            mov %r0, 1
            exit
            mov %r0, 10
            exit
            mov %r0, 11
            exit
            mov %r0, 12
            exit
            mov %r0, 13
            exit
            mov %r0, 15
            exit
            """
        let arm64 = try Self.check(source, inputs: (0..<10).map { [UInt8($0), 1, 2, 3] })
        #expect(Self.contains(arm64.machineCode, mask: 0xFFFF_FC1F, pattern: 0xD61F_0000), "no br: the table was not formed")
    }

    @Test("byte loads OR-ed into a word become one load and a byte swap (with proofs)")
    func byteLoads() throws {
        let source = """
            ldxb %r0, [%r1+0]
            lsh %r0, 24
            ldxb %r2, [%r1+1]
            lsh %r2, 16
            or %r0, %r2
            ldxb %r2, [%r1+2]
            lsh %r2, 8
            or %r0, %r2
            ldxb %r2, [%r1+3]
            or %r0, %r2
            ldxb %r3, [%r1+4]
            ldxb %r4, [%r1+5]
            lsh %r4, 8
            or %r3, %r4
            lsh %r3, 32
            or %r0, %r3
            exit
            """
        let inputs: [[UInt8]] = [[1, 2, 3, 4, 5, 6, 7, 8], [0xff, 0x80, 0x7f, 0, 0xfe, 0xef, 0, 0], [0, 0, 0, 1, 0, 1, 0, 0]]
        let arm64 = try Self.check(source, inputs: inputs, provenAll: true)
        // rev w (the big-endian word) and no ldrb/ldurb left for the first four bytes' loads.
        #expect(Self.contains(arm64.machineCode, mask: 0xFFFF_FC00, pattern: 0x5AC0_0800), "no rev: the bytes were not recombined")
        let byteLoads = stride(from: 0, to: arm64.machineCode.count, by: 4).filter { i in
            let c = arm64.machineCode
            let word = UInt32(c[i]) | UInt32(c[i + 1]) << 8 | UInt32(c[i + 2]) << 16 | UInt32(c[i + 3]) << 24
            return word & 0xFFC0_0000 == 0x3940_0000 || word & 0xFFE0_0C00 == 0x3840_0000
        }.count
        #expect(byteLoads == 0, "\(byteLoads) single-byte loads left")
        // Without proofs every load stays checked and separate; the answers are the same.
        _ = try Self.check(source, inputs: inputs)
    }

    @Test("an address add read only by unchecked loads and stores is folded into [base, index] (with proofs)")
    func foldedAddresses() throws {
        let source = """
            ldxb %r2, [%r1+0]
            and %r2, 7
            mov %r3, %r1
            add %r3, %r2
            ldxb %r0, [%r3+0]
            stxb [%r3+0], %r2
            ldxb %r4, [%r3+8]
            add %r0, %r4
            exit
            """
        let inputs = (0..<8).map { i in (0..<16).map { UInt8(truncatingIfNeeded: $0 * 17 + i) } }
        let arm64 = try Self.check(source, inputs: inputs, provenAll: true)
        // ldrb wT, [xN, xM] (register offset).
        #expect(Self.contains(arm64.machineCode, mask: 0xFFE0_FC00, pattern: 0x3860_6800), "no register-offset load: the add was not folded")
        #expect(Self.contains(arm64.machineCode, mask: 0xFFE0_FC00, pattern: 0x3820_6800), "no register-offset store: the add was not folded")
    }

    @Test("inlined calls six deep keep 28 values live across a helper call: spills and saved registers give the interpreter's answer")
    func pressureAcrossCalls() throws {
        var source = ""
        for depth in 0..<7 {
            if depth > 0 { source += "f\(depth):\n" }
            for (i, r) in (6...9).enumerated() { source += "ldxb %r\(r), [%r1+\(depth * 4 + i)]\nmul %r\(r), \(depth * 4 + i + 3)\n" }
            if depth < 6 {
                source += "call local f\(depth + 1)\n"
            } else {
                // The unwind helper (5) continues when r1 is not 0; r0 is then set again.
                source += "call 5\nmov %r0, 1\n"
            }
            for r in 6...9 { source += "lsh %r0, 1\nadd %r0, %r\(r)\n" }
            source += "exit\n"
        }
        let inputs = (0..<4).map { seed in (0..<32).map { UInt8(truncatingIfNeeded: $0 * 29 + seed * 71 + 5) } }
        _ = try Self.check(source, inputs: inputs)
    }

    @Test("selects, atomics, divisions and byte swaps on values in registers and in spill slots")
    func mixedOperations() throws {
        let source = """
            ldxdw %r6, [%r1+0]
            ldxw %r7, [%r1+8]
            ldxdw %r8, [%r1+16]
            mov %r0, %r6
            jgt %r7, 100, +1
            mov %r0, %r8
            mov %r2, 3
            lock add [%r1+24], %r2
            lock fetch add32 [%r1+32], %r2
            add %r0, %r2
            mov %r3, %r7
            lock fetch xor [%r1+24], %r3
            add %r0, %r3
            mov %r2, %r6
            div %r2, %r7
            add %r0, %r2
            mov32 %r2, %r8
            smod32 %r2, %r7
            add %r0, %r2
            be16 %r6
            be32 %r7
            be64 %r8
            add %r0, %r6
            xor %r0, %r7
            sub %r0, %r8
            mov %r0, %r0
            exit
            """
        let inputs: [[UInt8]] = (0..<4).map { seed in (0..<48).map { UInt8(truncatingIfNeeded: $0 * 13 + seed * 97) } }
            + [[UInt8](repeating: 0, count: 48), [UInt8](repeating: 0xff, count: 48)]
        _ = try Self.check(source, inputs: inputs)
    }

    @Test("a 32-bit copy does not share its source's register while the source lives on (both back ends)")
    func truncatingCopy() throws {
        let source = """
            ldxdw %r4, [%r1+0]
            mov32 %r3, %r4
            mov %r0, %r4
            sub %r0, %r3
            exit
            """
        let inputs: [[UInt8]] = [[1, 2, 3, 4, 5, 6, 7, 8], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]
        _ = try Self.check(source, inputs: inputs)
        if JITProgram.isSupported {
            let interpreter = try Interpreter(program: Assembler().assembleProgram(source))
            let x86 = try JITProgram(interpreter: interpreter, tier: .optimizing)
            for input in inputs {
                var a = input, b = input
                #expect(try x86.run(memory: &a).returnValue == interpreter.run(memory: &b).returnValue)
            }
        }
    }

    @Test("a loop closed by falling through into a load still stops at the instruction limit (unverified, both back ends)")
    func fallThroughLoopStops() throws {
        // 1 jumps to 3; 5 jumps back to 2, which falls through into 3: the back edge is 2 -> 3,
        // whose instruction is a load (the service would do the load, not stop the run).
        let source = """
            mov %r0, 0
            ja +1
            mov %r4, 1
            ldxb %r3, [%r1+0]
            add %r0, 1
            jlt %r0, 100000000, -4
            exit
            """
        let interpreter = try Interpreter(program: Assembler().assembleProgram(source), helpers: .conformance,
                                          options: ExecutionOptions(instructionLimit: 1000))
        let arm64 = try ARM64Program(interpreter: interpreter, tier: .optimizing)
        #expect(arm64.tier == .optimizing)
        let outcome = try ARM64Emulator.run([(arm64, [7])])[0]
        if case .failure(.instructionLimitExceeded) = outcome.result {} else {
            Issue.record("arm64: expected the instruction limit, got \(outcome.result)")
        }
        if JITProgram.isSupported {
            let x86 = try JITProgram(interpreter: interpreter, tier: .optimizing)
            #expect(x86.tier == .optimizing)
            var memory: [UInt8] = [7]
            #expect(throws: RuntimeError.self) { try x86.run(memory: &memory) }
            do { _ = try x86.run(memory: &memory) } catch {
                if case .instructionLimitExceeded = error {} else { Issue.record("x86-64: expected the instruction limit, got \(error)") }
            }
        }
    }

    @Test("the listing names the tier and its blocks; constant blinding is declined to the first tier")
    func listingAndDecline() throws {
        let program = try Assembler().assembleProgram("mov %r0, 1\njeq %r1, 0, +1\nmov %r0, 2\nexit")
        let optimized = try ARM64Program(interpreter: Interpreter(program: program), tier: .optimizing)
        #expect(optimized.tier == .optimizing)
        let listing = optimized.annotatedDisassembly()
        #expect(listing.contains("; optimizing tier:"))
        #expect(listing.contains("; block"))
        let blinded = try ARM64Program(interpreter: Interpreter(program: program, options: ExecutionOptions(constantBlinding: true)), tier: .optimizing)
        #expect(blinded.tier == .baseline)
        #expect(blinded.declineReason?.contains("blinding") == true)
        let baseline = try ARM64Program(interpreter: Interpreter(program: program), tier: .baseline)
        #expect(baseline.tier == .baseline && baseline.declineReason == nil)
        var memory: [UInt8] = [1]
        #expect(try blinded.runEmulated(memory: &memory).returnValue == 2)
    }
}
