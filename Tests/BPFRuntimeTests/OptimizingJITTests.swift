import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// The optimizing JIT tier (`JITTier.optimizing`) against the interpreter: the conformance suite
/// (unverified, so every check stays), random programs, and the benchmark's verified programs.
@Suite("optimizing JIT tier", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct OptimizingJITTests {
    @Test("every conformance program gives the expected r0 through the optimizing tier, none declined",
          .enabled(if: ConformanceSuite.available, ConformanceSuite.skipReason))
    func conformance() throws {
        let files = ConformanceSuite.files("tests")
        var passed = 0
        var declined: [String] = []
        for file in files {
            let name = file.lastPathComponent
            let test = try ConformanceSuite.load(file)
            do {
                let program = try Program(validating: try test.program())
                let interpreter = try Interpreter(program: program, helpers: .conformance)
                let jit = try JITProgram(interpreter: interpreter, tier: .optimizing)
                if let reason = jit.declineReason { declined.append("\(name): \(reason)") }
                var memory = test.memory
                let result = try jit.run(memory: &memory)
                var reference = test.memory
                _ = try? interpreter.run(memory: &reference)
                #expect(result.returnValue == test.expectedResult, "\(name): r0 = 0x\(String(result.returnValue, radix: 16)), expected \(test.expectedResult.map { "0x" + String($0, radix: 16) } ?? "none")")
                #expect(memory == reference, "\(name): memory differs from the interpreter's")
                if result.returnValue == test.expectedResult && jit.tier == .optimizing { passed += 1 }
            } catch {
                Issue.record("\(name): \(error)")
            }
        }
        #expect(declined.isEmpty, "declined: \(declined.joined(separator: "; "))")
        #expect(passed == files.count, "\(passed) of \(files.count) passed in the optimizing tier")
    }

    @Test("random programs on random inputs: identical r0, memory and errors")
    func randomPrograms() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0x0a71_7e57
        var rng = SplitMix(state: seed)
        var compared = 0
        for iteration in 0..<JITDifferentialTests.iterations {
            let slots = JITDifferentialTests.randomProgram(&rng, count: Int(rng.next() % 40) + 1)
            guard let program = try? Program(validating: slots) else { continue }
            let input = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            compared += 1
            try JITDifferentialTests.compare(program, input: input, context: "optimizing, seed \(seed) iteration \(iteration)", tier: .optimizing)
        }
        #expect(compared > JITDifferentialTests.iterations / 4, "compared \(compared)")
    }

    @Test("every benchmark program, verified, compiles in the optimizing tier and returns the interpreter's r0")
    func benchmarkPrograms() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Benchmarks/bpf/jit_bench.o").path
        let object = try ObjectFile(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        var packet = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let header: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0, 0x01, 0xf2, 0, 0, 0x40, 0, 0x40, 0x06, 0, 0, 10, 0, 0, 1,
                               10, 0, 0, 2, 0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 5, 0xb4, 1, 1, 0]
        for (i, b) in header.enumerated() { packet[i] = b }
        for spec in object.programs {
            let optimized = try LoadedObject(object, programs: [spec.name], engine: .jit, jitTier: .optimizing).program(named: spec.name)!
            let reference = try LoadedObject(object, programs: [spec.name], engine: .interpreter).program(named: spec.name)!
            #expect(optimized.jit?.tier == .optimizing, "\(spec.name) declined: \(optimized.jit?.declineReason ?? "")")
            for round in 0..<3 {
                let a = try optimized.testRun(packet: packet).returnValue, b = try reference.testRun(packet: packet).returnValue
                #expect(a == b, "\(spec.name) run \(round): optimizing r0 \(a), interpreter r0 \(b)")
            }
            // A program that calls nothing and has no out-of-line path gets the lean entry;
            // one that calls helpers keeps the full one (it may unwind from a call).
            let lean = try optimized.jit?.annotatedDisassembly().contains("entry (lean") ?? false
            if spec.name == "jit_empty" { #expect(lean, "jit_empty: no lean entry") }
            if spec.name == "jit_maps" { #expect(!lean, "jit_maps calls helpers but got the lean entry") }
        }
    }

    @Test("constant folding, selects and inlined calls keep eBPF's semantics")
    func folding() throws {
        let source = """
            mov %r6, 7
            mov %r7, 0
            div %r6, %r7
            mov32 %r8, -1
            add32 %r8, 2
            mov %r0, %r1
            jgt %r0, 5, +1
            mov %r0, 5
            add %r0, %r6
            add %r0, %r8
            mov %r1, %r0
            call local twice
            exit
            twice:
            mov %r0, %r1
            lsh %r0, 1
            exit
            """
        let program = try Assembler().assembleProgram(source)
        for input: UInt64 in [0, 3, 9, 0xffff_ffff_ffff] {
            let interpreter = try Interpreter(program: program)
            let jit = try JITProgram(interpreter: interpreter, tier: .optimizing)
            #expect(jit.tier == .optimizing, "declined: \(jit.declineReason ?? "")")
            let expected = try interpreter.run(r1: input, regions: []).returnValue
            #expect(try jit.run(r1: input, regions: []).returnValue == expected, "r1 = \(input)")
        }
    }
    @Test("division and modulo by constants (powers of two as shifts and masks; no guard a constant cannot need) keep eBPF's rules")
    func divisionByConstants() throws {
        // Divisors as immediates and as registers holding constants (propagated), 32- and 64-bit,
        // unsigned and signed: 0, 1, 2, 8, 3, 2^31, 2^32 (64-bit only), -1, -8.
        var lines: [String] = []
        let divisors: [Int64] = [0, 1, 2, 8, 3, 1 << 31, 1 << 32, -1, -8]
        for (n, divisor) in divisors.enumerated() {
            for (suffix, _) in [("", true), ("32", false)] {
                for op in ["div", "mod", "sdiv", "smod"] {
                    lines.append("mov %r2, %r1")
                    lines.append("lddw %r3, \(divisor)")
                    lines.append("\(op)\(suffix) %r2, %r3")
                    lines.append("xor %r0, %r2")
                    lines.append("rsh %r0, 1")
                    lines.append("add %r0, \(n + 1)")
                    if let imm = Int32(exactly: divisor), imm != 0 {
                        lines.append("mov %r2, %r1")
                        lines.append("\(op)\(suffix) %r2, \(imm)")
                        lines.append("xor %r0, %r2")
                        lines.append("lsh %r0, 1")
                    }
                }
            }
        }
        lines.append("exit")
        let program = try Assembler().assembleProgram("mov %r0, 0\n" + lines.joined(separator: "\n"))
        let interpreter = try Interpreter(program: program)
        let jit = try JITProgram(interpreter: interpreter, tier: .optimizing)
        #expect(jit.tier == .optimizing, "declined: \(jit.declineReason ?? "")")
        for input: UInt64 in [0, 1, 7, 8, 0xffff_ffff, 0x8000_0000, 0x1_0000_0001, 0x8000_0000_0000_0000, .max, 0xdead_beef_1234_5677] {
            let expected = try interpreter.run(r1: input, regions: []).returnValue
            #expect(try jit.run(r1: input, regions: []).returnValue == expected, "r1 = 0x\(String(input, radix: 16))")
        }
    }
}
