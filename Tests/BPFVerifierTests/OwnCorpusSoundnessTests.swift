import BPFCore
import BPFTestSupport
import BPFVerifier
import Foundation
import Testing

/// Seed programs of our own for the safety tests, so they run on a fresh clone without the
/// bpf_conformance vectors: each reads its 32-byte input memory (r1) at constant offsets, computes,
/// uses the stack, loops a bounded number of times, and writes back into the memory.
enum OwnSeeds {
    static let sources: [(name: String, source: String)] = [
        ("sum-fields", """
            ldxb %r0, [%r1+0]
            ldxh %r2, [%r1+2]
            ldxw %r3, [%r1+4]
            ldxdw %r4, [%r1+8]
            add %r0, %r2
            add %r0, %r3
            add %r0, %r4
            exit
            """),
        ("bounded-loop", """
            mov %r0, 0
            mov %r3, 0
            ldxb %r4, [%r1+0]
            loop:
            jge %r3, 16, done
            add %r0, %r4
            lsh %r0, 1
            add %r3, 1
            ja loop
            done:
            exit
            """),
        ("stack-spill", """
            ldxdw %r2, [%r1+0]
            stxdw [%r10-8], %r2
            stxdw [%r10-16], %r1
            ldxdw %r3, [%r10-16]
            ldxdw %r4, [%r10-8]
            ldxw %r0, [%r3+4]
            add %r0, %r4
            exit
            """),
        ("conditional-store", """
            ldxw %r2, [%r1+0]
            mov %r0, 0
            jgt %r2, 1000, big
            stw [%r1+16], 7
            mov %r0, 1
            exit
            big:
            stxw [%r1+20], %r2
            mov %r0, 2
            exit
            """),
        ("alu32-and-shifts", """
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            mov32 %r0, %r2
            xor32 %r0, %r3
            and32 %r3, 31
            lsh32 %r0, %r3
            arsh32 %r0, 3
            rsh %r0, 1
            exit
            """),
        ("division-guarded", """
            ldxdw %r2, [%r1+0]
            ldxdw %r3, [%r1+8]
            mov %r0, %r2
            jeq %r3, 0, skip
            div %r0, %r3
            mod %r2, %r3
            add %r0, %r2
            skip:
            exit
            """),
        ("signed-ops", """
            ldxsw %r2, [%r1+0]
            ldxsb %r3, [%r1+4]
            mov %r0, %r2
            sdiv %r0, 3
            smod %r3, 5
            add %r0, %r3
            movsx3264 %r4, %r2
            add %r0, %r4
            exit
            """),
        ("byte-swaps", """
            ldxdw %r0, [%r1+0]
            be16 %r0
            ldxw %r2, [%r1+8]
            le32 %r2
            bswap64 %r2
            add %r0, %r2
            exit
            """),
        ("atomics-on-stack", """
            mov %r2, 5
            stxdw [%r10-8], %r2
            ldxdw %r3, [%r1+0]
            lock add [%r10-8], %r3
            mov %r4, 1
            lock fetch add [%r10-8], %r4
            ldxdw %r0, [%r10-8]
            add %r0, %r4
            exit
            """),
        ("clamped-index", """
            ldxb %r2, [%r1+0]
            and %r2, 15
            mov %r3, %r10
            add %r3, -16
            stdw [%r10-16], 0
            stdw [%r10-8], 0
            add %r3, %r2
            stb [%r3+0], 9
            ldxdw %r0, [%r10-16]
            exit
            """),
        ("nested-branches", """
            ldxb %r2, [%r1+0]
            ldxb %r3, [%r1+1]
            mov %r0, 0
            jlt %r2, %r3, less
            jeq %r2, %r3, equal
            mov %r0, 3
            ja out
            less:
            mov %r0, 1
            ja out
            equal:
            mov %r0, 2
            out:
            stxb [%r1+31], %r0
            exit
            """),
        ("multiply-accumulate", """
            mov %r0, 1
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            ldxw %r4, [%r1+8]
            mul %r0, %r2
            mul32 %r3, %r4
            add %r0, %r3
            neg %r0
            stxdw [%r1+24], %r0
            exit
            """),
    ]

    static let memory: [UInt8] = (0..<32).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }

    static let all: [ConformancePrograms.Entry] = sources.compactMap { name, source in
        guard let instructions = try? Assembler().assemble(source) else { return nil }
        return ConformancePrograms.Entry(name: name, instructions: instructions, memory: memory)
    }
}

@Suite("Safety guards on our own seed programs (no bpf_conformance needed)")
struct OwnCorpusSoundnessTests {
    @Test("every seed assembles and verifies")
    func seedsVerify() {
        #expect(OwnSeeds.all.count == OwnSeeds.sources.count, "a seed does not assemble")
        for entry in OwnSeeds.all {
            let result = ConformancePrograms.verify(entry)
            #expect(result.accepted, "\(entry.name): \(result.error.map { "\($0)" } ?? "")")
        }
    }

    @Test("nothing the verifier accepted trips a runtime check, on the seed memory and random ones")
    func acceptedSeedsRunCleanly() {
        var rng = SplitMix(state: 0x5EED)
        var runs = 0
        for entry in OwnSeeds.all where ConformancePrograms.verify(entry).accepted {
            for _ in 0..<16 {
                let memory = (0..<entry.memory.count).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if let error = ConformancePrograms.run(entry.instructions, memory: memory) {
                    Issue.record("\(entry.name) was accepted but failed at run time: \(error)")
                }
                runs += 1
            }
        }
        #expect(runs >= 16 * OwnSeeds.sources.count)
    }

    /// `SWIFTBPF_VERIFIER_FUZZ=N` runs N mutants (default 400).
    @Test("mutants of our seeds that verify run without a check firing")
    func mutationFuzz() throws {
        let count = Int(ProcessInfo.processInfo.environment["SWIFTBPF_VERIFIER_FUZZ"] ?? "") ?? 400
        let seeds = OwnSeeds.all.filter { ConformancePrograms.verify($0, limit: 100_000).accepted }
        try #require(!seeds.isEmpty)
        let accepted = ConformancePrograms.mutationFuzz(seeds: seeds, mutants: count, seed: 0x0B5EED)
        #expect(accepted > count / 20, "only \(accepted) of \(count) mutants verified: the fuzz explores too little")
    }
}
