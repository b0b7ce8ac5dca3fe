import BPFCore
import BPFObject
import BPFRuntime
import Testing

/// ``JITProgram/withPreparedRun(memory:_:)``: one prepared context, many runs.
@Suite("JIT prepared runs", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITPreparedRunTests {
    /// Increments the first byte of its memory and returns the new value; when that value is 3 it
    /// first loads past the end of its 8 bytes, which must stop that run only.
    static let source = """
        ldxb %r2, [%r1+0]
        add %r2, 1
        stxb [%r1+0], %r2
        jne %r2, 3, +1
        ldxb %r0, [%r1+100]
        mov %r0, %r2
        exit
        """

    @Test("memory written by a run is what the next run finds; a failed run reports its error and the next runs normally")
    func runsShareMemoryAndRecoverFromErrors() throws {
        let jit = try JITProgram(program: Assembler().assembleProgram(Self.source))
        var memory = [UInt8](repeating: 0, count: 8)
        var outcomes: [String] = []
        memory.withUnsafeMutableBytes { buffer in
            do {
                try jit.withPreparedRun(memory: buffer) { prepared in
                    for _ in 0..<5 {
                        do throws(RuntimeError) {
                            outcomes.append("r0 \(try prepared.run().returnValue)")
                        } catch {
                            if case let .outOfBounds(pc, _, size, write) = error {
                                outcomes.append("out of bounds at \(pc): \(size) \(write ? "write" : "read")")
                            } else {
                                outcomes.append("\(error)")
                            }
                        }
                    }
                }
            } catch {
                outcomes.append("prepare failed: \(error)")
            }
        }
        #expect(outcomes == ["r0 1", "r0 2", "out of bounds at 4: 1 read", "r0 4", "r0 5"])
        #expect(memory[0] == 5)
    }

    @Test("with the verifier's proofs, loops carry no budget and frames are not zeroed; results are the same")
    func proofsDropBudgetAndZeroing() throws {
        let program = try Assembler().assembleProgram("stxdw [%r10-8], %r1\nmov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nexit")
        let plain = try JITProgram(interpreter: Interpreter(program: program))
        let proven = try JITProgram(interpreter: Interpreter(program: program),
                                    provenAccesses: [Bool](repeating: true, count: program.instructions.count))
        let plainListing = try plain.annotatedDisassembly(), provenListing = try proven.annotatedDisassembly()
        #expect(plainListing.contains("sub r9, 1"))
        #expect(plainListing.contains("movups [rbp-0x10], xmm0"))
        #expect(!provenListing.contains("sub r9, 1"))
        #expect(!provenListing.contains("movups"))
        #expect(try plain.run().returnValue == 50)
        #expect(try proven.run().returnValue == 50)
    }

    @Test("with proofs, a conditional jump over a goto becomes one inverted jump")
    func loopLatchIsFolded() throws {
        let program = try Assembler().assembleProgram("mov %r0, 0\nadd %r0, 1\njeq %r0, 50, +1\nja -3\nexit")
        let plain = try JITProgram(interpreter: Interpreter(program: program))
        let proven = try JITProgram(interpreter: Interpreter(program: program),
                                    provenAccesses: [Bool](repeating: false, count: program.instructions.count))
        let plainListing = try plain.annotatedDisassembly(), provenListing = try proven.annotatedDisassembly()
        // The goto (instruction 3) has no code of its own; instruction 2 jumps back with jne.
        #expect(provenListing.contains("    3: goto -3\n    4: exit"))
        #expect(!plainListing.contains("    3: goto -3\n    4: exit"))
        #expect(provenListing.contains("jne L"))
        // The backward jump is the two-byte form (75 rel8).
        #expect(provenListing.split(separator: "\n").contains { $0.contains("jne L") && $0.contains(":  75 ") })
        #expect(try plain.run().returnValue == 50)
        #expect(try proven.run().returnValue == 50)
    }

    @Test("prepared runs count the instruction budget per run, not over all runs")
    func budgetIsPerRun() throws {
        // A loop of 50 iterations (about 150 instructions) per run: 10 runs spend about 1,500, more than the limit of 1,000.
        let program = try Assembler().assembleProgram("mov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nexit")
        let jit = try JITProgram(program: program, options: ExecutionOptions(instructionLimit: 1_000))
        var memory = [UInt8](repeating: 0, count: 8)
        let total = try memory.withUnsafeMutableBytes { buffer in
            try jit.withPreparedRun(memory: buffer) { prepared in
                var sum: UInt64 = 0
                for _ in 0..<10 { sum += try prepared.run().returnValue }
                return sum
            }
        }
        #expect(total == 500)
    }
}

/// Map helpers the JIT handles without the service: inline array lookups, direct hash calls.
@Suite("JIT direct map access", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITDirectMapTests {
    @Test("verified hash lookups and updates are direct calls; unverified ones go through the checked helper path")
    func hashCallsAreDirectOnlyWhenVerified() throws {
        let object = try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/maps_hash_array.o")
        let verified = try LoadedObject(object, engine: .jit)
        let unverified = try LoadedObject(object, verification: .off, engine: .jit)
        let listing = try #require(verified.program(named: "count_by_proto")?.jit).annotatedDisassembly()
        #expect(listing.contains("; direct call: map 'proto_packets' lookup"))
        #expect(listing.contains("; direct call: map 'proto_packets' update"))
        #expect(listing.contains("; inline array map lookup"))
        let plain = try #require(unverified.program(named: "count_by_proto")?.jit).annotatedDisassembly()
        #expect(!plain.contains("direct call"))
        // Both count the same packets the same way (the direct calls share the map's own code).
        let tcp = [UInt8](repeating: 0, count: 12) + [0x08, 0x00, 0x45] + [UInt8](repeating: 0, count: 8) + [6] + [UInt8](repeating: 0, count: 40)
        for loaded in [verified, unverified] {
            let program = try #require(loaded.program(named: "count_by_proto"))
            _ = try program.testRun(packet: tcp, repeat: 3)
            let counts = try #require(loaded.map(named: "proto_packets")).entries()
            #expect(counts.count == 1)
            #expect(counts.first?.key == [6, 0, 0, 0])
            #expect(counts.first?.value == [3, 0, 0, 0, 0, 0, 0, 0])
        }
    }
}

/// Callback functions (`bpf_loop`, `bpf_for_each_map_elem`) run compiled under the JIT.
@Suite("JIT callbacks", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct JITCallbackTests {
    @Test("bpf_loop and bpf_for_each_map_elem callbacks run as JIT code, with the interpreter's results", arguments: [
        ("misc_loop", UInt64(45)), ("misc_for_each", UInt64(10)),
    ])
    func callbacksRunCompiled(_ name: String, _ expected: UInt64) throws {
        let object = try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/helpers_misc.o")
        for verification in [VerificationPolicy.strict, .off] {
            let jit = try #require(LoadedObject(object, programs: [name], verification: verification, engine: .jit).program(named: name))
            let interpreted = try #require(LoadedObject(object, programs: [name], engine: .interpreter).program(named: name))
            let compiled = try jit.testRun(context: nil, repeat: 2)
            let reference = try interpreted.testRun(context: nil, repeat: 2)
            #expect(compiled.returnValue == expected)
            #expect(reference.returnValue == expected)
            // The interpreter counts the instructions it runs; a run that interpreted its
            // callbacks would count theirs.
            #expect(compiled.instructionsExecuted == 0, "\(name) (\(verification)): callbacks were interpreted")
            #expect((reference.instructionsExecuted ?? 0) > 0)
        }
    }

    /// `bpf_loop(3, callback, 0, 0)`; the callback (instruction 7) reads `[r2+0]`, its NULL context,
    /// unless `safe`, when it returns 0.
    static func loopProgram(safe: Bool) -> [Instruction] {
        [Instruction(opcode: 0xb7, dst: 1, imm: 3),
         Instruction(opcode: 0x18, dst: 2, src: LoadImmediateSource.function.rawValue, imm: 5), Instruction(opcode: 0),
         Instruction(opcode: 0xb7, dst: 3, imm: 0),
         Instruction(opcode: 0xb7, dst: 4, imm: 0),
         Instruction(opcode: 0x85, imm: 181),
         Instruction(opcode: 0x95),
         safe ? Instruction(opcode: 0xb7, dst: 0, imm: 0) : Instruction(opcode: 0x71, dst: 0, src: 2),
         Instruction(opcode: 0x95)]
    }

    @Test("a callback's result and its errors are the interpreter's")
    func callbackErrorsMatchTheInterpreter() throws {
        for safe in [true, false] {
            let interpreter = try Interpreter(program: Program(unchecked: Self.loopProgram(safe: safe)), helpers: .kernel)
            let jit = try JITProgram(interpreter: interpreter)
            let a = Result { () throws(RuntimeError) in try interpreter.run().returnValue }
            let b = Result { () throws(RuntimeError) in try jit.run().returnValue }
            if safe {
                #expect(try a.get() == 3)
                #expect(try b.get() == 3)
            } else {
                guard case .failure(.outOfBounds(7, _, 1, false)) = a, case .failure(.outOfBounds(7, _, 1, false)) = b else {
                    Issue.record("expected an out-of-bounds read at instruction 7 from both engines: \(a), \(b)")
                    continue
                }
            }
        }
    }
}
