import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The arm64 JIT's code, run under `qemu-aarch64` by ``ARM64Emulator``.
enum ARM64Emulation {
    static let available = ARM64Emulator.unavailableReason == nil
    static let skipReason = Comment(rawValue: "arm64 code cannot run here: \(ARM64Emulator.unavailableReason ?? "")")
    /// Page-aligned addresses both engines put the memory at in the differential runs (one per
    /// test, as tests run in parallel).
    static let memoryAddress: UInt64 = 0x3a_0000_0000
}

@Suite("bpf_conformance suite through the arm64 JIT under qemu-aarch64",
       .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason),
       .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64ConformanceTests {
    func check(blinding: Bool) throws {
        let files = ConformanceSuite.files("tests")
        #expect(files.count >= 313, "expected the 313 conformance programs, found \(files.count)")
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        var tests: [(name: String, test: ConformanceTest, reference: [UInt8])] = []
        for file in files {
            let test = try ConformanceSuite.load(file)
            let program = try Program(validating: try test.program())
            let interpreter = try Interpreter(program: program, helpers: .conformance, options: ExecutionOptions(constantBlinding: blinding))
            var reference = test.memory
            _ = try? interpreter.run(memory: &reference)
            jobs.append((try ARM64Program(interpreter: interpreter), test.memory))
            tests.append((file.lastPathComponent, test, reference))
        }
        let outcomes = try ARM64Emulator.run(jobs)
        var passed = 0
        for (outcome, entry) in zip(outcomes, tests) {
            switch outcome.result {
            case .success(let r0):
                #expect(r0 == entry.test.expectedResult, "\(entry.name): r0 = 0x\(String(r0, radix: 16)), expected \(entry.test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                #expect(outcome.memory == entry.reference, "\(entry.name): memory differs from the interpreter's")
                if r0 == entry.test.expectedResult && outcome.memory == entry.reference { passed += 1 }
            case .failure(let error):
                Issue.record("\(entry.name): \(error)")
            }
        }
        #expect(passed == files.count, "\(passed)/\(files.count) passed")
    }

    @Test("every positive test gives the expected r0 and leaves memory as the interpreter does")
    func allTestsPass() throws { try check(blinding: false) }

    @Test("with constant blinding every positive test still passes")
    func allTestsPassBlinded() throws { try check(blinding: true) }
}

/// The arm64 JIT under qemu against the interpreter: the same r0, memory and errors.
/// `SWIFTBPF_ARM64_ITERATIONS` raises the number of random programs (default 3000, one qemu launch).
@Suite("arm64 JIT under qemu-aarch64 against the interpreter", .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64DifferentialTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["SWIFTBPF_ARM64_ITERATIONS"] ?? "") ?? 3000

    /// Memory at ``ARM64Emulation/memoryAddress`` in this process, as the runner places it, so
    /// pointers into the input agree between the engines.
    static func withFixedMemory<T>(at address: UInt64, _ body: (UnsafeMutableRawBufferPointer) throws -> T) throws -> T {
        let size = 1 << 16
        let mapped = mmap(UnsafeMutableRawPointer(bitPattern: UInt(address)), size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | 0x100000 /* MAP_FIXED_NOREPLACE */, -1, 0)
        guard let mapped, mapped != MAP_FAILED, UInt64(UInt(bitPattern: mapped)) == address else {
            throw RuntimeError.unsupported(pc: 0, message: "cannot map the differential's memory at 0x\(String(address, radix: 16))")
        }
        defer { munmap(mapped, size) }
        return try body(UnsafeMutableRawBufferPointer(start: mapped, count: size))
    }

    /// Runs every program on the interpreter (memory at the fixed address), then all of them in one
    /// qemu launch, and compares. Returns how many finished on both engines.
    @discardableResult
    static func compare(_ cases: [(program: Program, input: [UInt8], context: String)], address: UInt64,
                        tier: JITTier = .default, proven: [[Bool]?]? = nil) throws -> Int {
        var expected: [(Result<UInt64, RuntimeError>, [UInt8])] = []
        var jobs: [(program: ARM64Program, memory: [UInt8])] = []
        try withFixedMemory(at: address) { buffer in
            for (index, c) in cases.enumerated() {
                let interpreter = try Interpreter(program: c.program, helpers: .conformance, options: ExecutionOptions(instructionLimit: 10_000))
                let region = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<c.input.count])
                c.input.withUnsafeBytes { if !c.input.isEmpty { region.copyMemory(from: $0) } }
                let base = c.input.isEmpty ? 0 : address
                let result = Result { () throws(RuntimeError) -> UInt64 in
                    try interpreter.run(r1: base, r2: UInt64(c.input.count), regions: [MemoryRegion(region)],
                                        packet: UnsafeRawBufferPointer(region)).returnValue
                }
                expected.append((result, Array(region)))
                jobs.append((try ARM64Program(interpreter: interpreter, provenAccesses: proven?[index] ?? nil, tier: tier), c.input))
            }
        }
        let outcomes = try ARM64Emulator.run(jobs, memoryAddress: address)
        var finished = 0
        for ((reference, referenceMemory), (outcome, c)) in zip(expected, zip(outcomes, cases)) {
            switch (reference, outcome.result) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "\(c.context): r0 0x\(String(b, radix: 16)), interpreter 0x\(String(a, radix: 16))")
                #expect(referenceMemory == outcome.memory, "\(c.context): memory differs")
                finished += 1
            case (.failure(let a), .failure(let b)):
                if case .instructionLimitExceeded = a { continue }
                #expect(JITDifferentialTests.kind(a) == JITDifferentialTests.kind(b) && a.pc == b.pc, "\(c.context): arm64 \(b), interpreter \(a)")
                #expect(referenceMemory == outcome.memory, "\(c.context): memory differs")
            case (.failure(let a), .success):
                // The JIT counts backward jumps, not instructions: it may finish what the interpreter stopped.
                if case .instructionLimitExceeded = a { continue }
                Issue.record("\(c.context): the interpreter failed with \(a), arm64 finished")
            case (.success, .failure(let b)):
                Issue.record("\(c.context): arm64 failed with \(b), the interpreter finished")
            }
        }
        return finished
    }

    @Test("random programs on random inputs: identical r0, memory and errors")
    func randomPrograms() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0xa64_7e57
        var rng = SplitMix(state: seed)
        var cases: [(program: Program, input: [UInt8], context: String)] = []
        for iteration in 0..<Self.iterations {
            let slots = JITDifferentialTests.randomProgram(&rng, count: Int(rng.next() % 40) + 1)
            guard let program = try? Program(validating: slots) else { continue }
            let input = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            cases.append((program, input, "seed \(seed) iteration \(iteration)"))
        }
        let finished = try Self.compare(cases, address: ARM64Emulation.memoryAddress)
        print("arm64 differential: \(cases.count) random programs compared, \(finished) finished on both engines")
        #expect(cases.count > Self.iterations / 4, "compared \(cases.count)")
        #expect(finished > Self.iterations / 20, "finished \(finished)")
    }

    @Test("random arithmetic over every ALU opcode, 32- and 64-bit, with edge-case operands")
    func randomArithmetic() throws {
        var rng = SplitMix(state: 0xa64)
        var cases: [(program: Program, input: [UInt8], context: String)] = []
        for iteration in 0..<(Self.iterations / 3) {
            let slots = JITDifferentialTests.randomArithmeticProgram(&rng)
            cases.append((try Program(validating: slots), [], "arithmetic iteration \(iteration)"))
        }
        #expect(try Self.compare(cases, address: ARM64Emulation.memoryAddress + 0x1_0000_0000) == cases.count)
    }

    @Test("stores anywhere never change memory outside the region; refused ones are out-of-bounds errors at their pc")
    func containment() throws {
        var rng = SplitMix(state: 4243)
        var cases: [(program: Program, input: [UInt8], context: String)] = []
        for _ in 0..<200 {
            let offset = Int(rng.next() % 1024) - 512
            let size = ["b", "h", "w", "dw"][Int(rng.next() % 4)]
            let program = try Assembler().assembleProgram("st\(size) [%r1\(offset < 0 ? "" : "+")\(offset)], 0\nexit")
            cases.append((program, [UInt8](repeating: 0xa5, count: 32), "offset \(offset) size \(size)"))
        }
        let jobs = try cases.map { (try ARM64Program(interpreter: Interpreter(program: $0.program)), $0.input) }
        let outcomes = try ARM64Emulator.run(jobs)
        for (outcome, c) in zip(outcomes, cases) {
            let parts = c.context.split(separator: " ")
            let offset = Int(parts[1])!, size = ["b": 1, "h": 2, "w": 4, "dw": 8][String(parts[3])]!
            let inside = offset >= 0 && offset + size <= 32
            switch outcome.result {
            case .success: #expect(inside, "\(c.context) should have been refused")
            case .failure(let error):
                #expect(!inside, "\(c.context): \(error)")
                guard case .outOfBounds(0, _, _, true) = error else { Issue.record("\(c.context): \(error)"); continue }
                #expect(outcome.memory == c.input, "\(c.context): a refused store changed memory")
            }
        }
    }
}

@Suite("arm64 JIT under qemu-aarch64: limits and errors", .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64LimitTests {
    func run(_ source: String, memory: [UInt8] = [], limit: UInt64 = 10_000) throws -> ARM64Emulator.Outcome {
        let interpreter = try Interpreter(program: Assembler().assembleProgram(source), helpers: .conformance,
                                          options: ExecutionOptions(instructionLimit: limit, mayGotoBudget: 1000))
        return try ARM64Emulator.run([(try ARM64Program(interpreter: interpreter), memory)])[0]
    }

    @Test("a runaway loop stops with the instruction limit at its backward jump")
    func runawayLoop() throws {
        let result = try run("mov %r0, 0\nadd %r0, 1\nja -2\nexit", limit: 500).result
        guard case .failure(.instructionLimitExceeded(let pc, 500)) = result else {
            Issue.record("expected the instruction limit, got \(result)")
            return
        }
        #expect(pc == 2)
    }

    @Test("unbounded recursion stops at the call-depth limit")
    func recursion() throws {
        let outcome = try run("call local f\nexit\nf:\ncall local f\nexit")
        guard case .failure(.callDepthExceeded(let pc, _)) = outcome.result else {
            Issue.record("expected the call-depth limit, got \(outcome.result)")
            return
        }
        #expect(pc == 2)
    }

    @Test("may_goto bounds a loop: the scan finds a zero byte, or gives up when the budget is spent")
    func mayGoto() throws {
        var input = [UInt8](repeating: 1, count: 16)
        input[5] = 0
        #expect(try run(MayGotoPrograms.scan, memory: input).result.get() == 5)
        #expect(try run(MayGotoPrograms.scan, memory: [UInt8](repeating: 1, count: 16)).result.get() == 0xffff)
    }

    @Test("an unknown helper and a misaligned atomic are errors at their pc")
    func errors() throws {
        let unknown = try run("mov %r2, 77\ncall %r2\nexit").result
        guard case .failure(.unknownHelper(1, 77)) = unknown else {
            Issue.record("expected an unknown helper, got \(unknown)")
            return
        }
        let misaligned = try run("mov %r2, 1\nlock add32 [%r1+1], %r2\nexit", memory: [UInt8](repeating: 0, count: 16)).result
        guard case .failure(.misalignedAtomic(1, _, 4)) = misaligned else {
            Issue.record("expected a misaligned atomic, got \(misaligned)")
            return
        }
    }
}

@Suite("arm64 JIT: code over the short branches' reach", .enabled(if: ARM64Emulation.available, ARM64Emulation.skipReason))
struct ARM64FarBranchTests {
    @Test("a conditional jump over more than 1 MiB of code still lands (far branches)")
    func farConditionalJump() throws {
        // 12,000 checked loads (about 100 bytes of code each), jumped over forwards and backwards.
        let loads = 12_000
        var source = "mov %r0, 1\njeq %r0, 1, +\(loads + 2)\n"
        source += String(repeating: "ldxb %r2, [%r1+0]\n", count: loads)
        source += "mov %r0, 9\nexit\nmov %r0, 2\n"
        source += "jeq %r0, 2, -\(loads + 4)\nexit\n"
        let interpreter = try Interpreter(program: Assembler().assembleProgram(source), helpers: .conformance)
        let program = try ARM64Program(interpreter: interpreter)
        #expect(program.machineCode.count > 1 << 20)
        var memory: [UInt8] = [1, 2]
        var reference = memory
        let expected = try interpreter.run(memory: &reference).returnValue
        #expect(try program.runEmulated(memory: &memory).returnValue == expected)
        #expect(expected == 9)
    }
}
