import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// Programs of the bpf_conformance suite, as unspecified-type programs over their input memory.
enum ConformancePrograms {
    struct Entry: Sendable {
        var name: String
        var instructions: [Instruction]
        var memory: [UInt8]
    }

    static let all: [Entry] = TestPaths.conformanceFiles("tests").compactMap { url in
        guard let text = try? String(contentsOf: url, encoding: .utf8), let test = try? ConformanceTest(parsing: text),
              let slots = try? test.program() else { return nil }
        return Entry(name: url.deletingPathExtension().lastPathComponent, instructions: slots, memory: test.memory)
    }

    static func verify(_ e: Entry, limit: Int = 1_000_000) -> VerificationResult {
        Verifier(options: VerifierOptions(instructionLimit: limit))
            .verify(VerifierProgram(name: e.name, instructions: e.instructions, contextSize: e.memory.count))
    }

    /// Runs in the interpreter with every runtime check on; returns the error, if any.
    static func run(_ instructions: [Instruction], memory: [UInt8]) -> RuntimeError? {
        do {
            let interpreter = try Interpreter(program: Program(unchecked: instructions), helpers: .conformance)
            var mem = memory
            _ = try interpreter.run(memory: &mem)
            return nil
        } catch let error as RuntimeError {
            return error
        } catch {
            return nil
        }
    }

    /// Mutates `mutants` programs from `seeds` (a few fields each: immediates, offsets, registers,
    /// opcodes); every mutant the verifier accepts runs on random memories with all runtime checks
    /// on, and a check that fires is recorded as an issue. Returns how many mutants were accepted.
    static func mutationFuzz(seeds: [Entry], mutants count: Int, seed: UInt64) -> Int {
        var rng = SplitMix(state: seed)
        var accepted = 0
        for _ in 0..<count {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            var slots = seed.instructions
            for _ in 0...(rng.next() % 3) {
                let i = Int(rng.next() % UInt64(slots.count))
                switch rng.next() % 6 {
                case 0: slots[i].imm = Int32(truncatingIfNeeded: Int64(rng.next() % 64) - 16)
                case 1: slots[i].offset = Int16(truncatingIfNeeded: Int64(slots[i].offset) + Int64(rng.next() % 17) - 8)
                case 2: slots[i].dst = UInt8(rng.next() % 11)
                case 3: slots[i].src = UInt8(rng.next() % 11)
                case 4: slots[i].imm = Int32(truncatingIfNeeded: rng.next())
                default:
                    let other = slots[Int(rng.next() % UInt64(slots.count))]
                    slots[i].opcode = other.opcode
                }
            }
            let mutant = Entry(name: seed.name + "-mutant", instructions: slots, memory: seed.memory)
            guard verify(mutant, limit: 100_000).accepted else { continue }
            accepted += 1
            for _ in 0..<3 {
                let memory = (0..<seed.memory.count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if let error = run(slots, memory: memory), !ConformanceVerificationTests.benign(error) {
                    Issue.record("mutant of \(seed.name) was accepted but failed: \(error)\n\(Disassembler(syntax: .llvm).lines(for: slots).joined(separator: "\n"))")
                    return accepted
                }
            }
        }
        return accepted
    }

    /// Rejections we expect, by reason: what the kernel refuses too.
    static func expectedRejection(_ error: VerifierError) -> Bool {
        [.unsupported, .uninitializedRegister, .uninitializedStack, .helperUnavailable, .helperArgument, .outOfBounds,
         .invalidPointer, .invalidProgram].contains(error.kind)
    }
}

@Suite(.enabled(if: TestPaths.conformance != nil, "\(TestPaths.conformanceSkipReason)"))
struct ConformanceVerificationTests {
    /// Most of the suite is accepted; each rejection is one the kernel makes too (callx, reads of
    /// registers the suite assumes are zero, unbounded accesses to the input memory, division by
    /// the constant 0).
    @Test func suiteIsMostlyAccepted() {
        var accepted = 0
        var rejected: [String] = []
        for entry in ConformancePrograms.all {
            let result = ConformancePrograms.verify(entry)
            if let error = result.error {
                rejected.append("\(entry.name): \(error)")
                #expect(ConformancePrograms.expectedRejection(error), "\(entry.name): \(error.detailed)")
            } else {
                accepted += 1
            }
        }
        print("conformance: \(accepted) of \(ConformancePrograms.all.count) accepted; rejected:\n  " + rejected.joined(separator: "\n  "))
        #expect(accepted * 10 >= ConformancePrograms.all.count * 7, "only \(accepted) accepted")
    }

    /// The negative vectors with raw encodings (reserved fields set) never verify: they do not
    /// even decode. (The others fail to assemble, or test a runner's failure detection.)
    @Test func negativeEncodingsAreRejected() throws {
        var checked = 0
        for url in TestPaths.conformanceFiles("negative") {
            let text = try String(contentsOf: url, encoding: .utf8)
            guard let test = try? ConformanceTest(parsing: text), let raw = test.raw else { continue }
            let result = Verifier().verify(VerifierProgram(instructions: raw, contextSize: test.memory.count))
            let error = try #require(result.error, "\(url.lastPathComponent) must be rejected")
            #expect(error.kind == .invalidProgram, "\(url.lastPathComponent): \(error)")
            checked += 1
        }
        #expect(checked > 0)
    }

    /// Soundness guard: every accepted program runs with checks on, over its memory and random
    /// memories of the same size, and no check ever fires.
    @Test func acceptedProgramsNeverTripARuntimeCheck() {
        var rng = SplitMix(state: 0xC0FFEE)
        for entry in ConformancePrograms.all where ConformancePrograms.verify(entry).accepted {
            var inputs = [entry.memory]
            for _ in 0..<8 { inputs.append((0..<entry.memory.count).map { _ in UInt8.random(in: 0...255, using: &rng) }) }
            for memory in inputs {
                if let error = ConformancePrograms.run(entry.instructions, memory: memory) {
                    Issue.record("\(entry.name) was accepted but failed at run time: \(error)")
                    break
                }
            }
        }
    }

    /// Mutation fuzz: accepted programs with a few fields changed; whatever the verifier accepts
    /// must run without a check firing. `SWIFTBPF_VERIFIER_FUZZ=N` runs N mutants (default 400).
    @Test func mutatedProgramsThatVerifyRunCleanly() throws {
        let count = Int(ProcessInfo.processInfo.environment["SWIFTBPF_VERIFIER_FUZZ"] ?? "") ?? 400
        let seeds = ConformancePrograms.all.filter { ConformancePrograms.verify($0, limit: 100_000).accepted }
        try #require(!seeds.isEmpty, "no conformance program verifies: nothing to mutate")
        let accepted = ConformancePrograms.mutationFuzz(seeds: seeds, mutants: count, seed: 0xF022)
        print("verifier fuzz: \(accepted) of \(count) mutants accepted and ran cleanly")
        #expect(accepted > 0)
    }

    /// Errors that are not a broken check: a mutant calling a helper the conformance registry lacks.
    static func benign(_ error: RuntimeError) -> Bool {
        if case .unknownHelper = error { return true }
        return false
    }
}
