import BPFCore
import BPFObject
import BPFTestSupport
import BPFVerifier
import Testing

/// State pruning with precision tracking: scalars whose values never matter let paths merge;
/// scalars whose values do matter keep them apart.
struct PruningTests {
    /// The loops of the runtime benchmark: 256 iterations, each with a map lookup and a NULL
    /// check. The kernel accepts them; so must we, without coming near the complexity limit.
    @Test func runtimeBenchLoopsAreAccepted() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Benchmarks/bpf/runtime_bench.o"))
        for name in ["loop_baseline", "hash_lookup", "hash_update", "array_lookup", "array_update"] {
            let spec = try #require(object.program(named: name))
            let result = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
            #expect(result.accepted, "\(name): \(result.error?.detailed ?? "")")
            #expect(result.instructionsProcessed < 20_000, "\(name): \(result.instructionsProcessed) instructions processed")
        }
    }

    /// `diamonds` random branches; r6 starts at the sum of 1...diamonds and the fall-through
    /// side of branch i subtracts `i + 1`. The first path explored (all fall-through) ends with
    /// 0, the last one (all taken) with the whole sum.
    static func sumOfDiamonds(_ diamonds: Int) -> String {
        Self.diamonds(diamonds, prologue: "mov %r6, \(diamonds * (diamonds + 1) / 2)\n") { i in "add %r6, -\(i + 1)\n" }
    }

    /// `count` random branches (bpf_get_prandom_u32 compared with 5) after `prologue`: branch i
    /// runs `fallThrough(i)` when the number is not 5, and `taken(i)` (if any) when it is.
    static func diamonds(_ count: Int, prologue: String = "", fallThrough: (Int) -> String,
                         taken: ((Int) -> String)? = nil) -> String {
        var source = prologue
        for i in 0..<count {
            if let taken {
                source += "call 7\njeq %r0, 5, a\(i)\n" + fallThrough(i) + "ja l\(i)\na\(i):\n" + taken(i) + "l\(i):\n"
            } else {
                source += "call 7\njeq %r0, 5, l\(i)\n" + fallThrough(i) + "l\(i):\n"
            }
        }
        return source
    }

    /// Verifies `source` as an XDP program.
    static func verifyXDP(_ source: String) throws -> VerificationResult {
        Verifier().verify(VerifierProgram(instructions: try Assembler().assemble(source), type: .xdp))
    }

    /// 300 independent branches feeding a sum that is only returned (XDP's return value is not
    /// range-checked): the sum is imprecise, so both sides of each branch meet in one state.
    /// Compared exactly, the sums would keep 2^300 paths apart.
    @Test func imprecisePathsMerge() throws {
        let source = Self.sumOfDiamonds(300) + "mov %r0, %r6\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 2_000, "\(result.instructionsProcessed) instructions processed")
    }

    /// The same sum, used as an offset into a map value: now every path's sum matters. Of the
    /// 256 paths only the last one explored (sum 36) reads past a 36-byte value; pruning must
    /// not hide it behind the 255 safe ones, and must not reject the 37-byte case.
    @Test(arguments: [(36, false), (37, true)])
    func precisePathsStayApart(valueSize: Int, accepted: Bool) throws {
        let source = Self.sumOfDiamonds(8) + lookup + """

            add %r0, %r6
            ldxb %r1, [%r0+0]
            mov %r0, 0
            exit
            """
        let map = MapSpec(name: "sized", type: .array, keySize: 4, valueSize: valueSize, maxEntries: 1)
        let result = Verifier().verify(VerifierProgram(instructions: try Assembler().assemble(source), type: .xdp, mapsByHandle: [1: map]))
        #expect(result.accepted == accepted, "\(result.error?.description ?? "accepted")")
        if !accepted {
            #expect(result.error?.description.contains("at offset 36 of R0 is outside the map 'sized' value") == true,
                    "\(result.error?.description ?? "")")
        }
    }

    /// `diamonds` random branches whose fall-through side writes one byte of the stack
    /// (fp-1, fp-2, ...): the first path explored writes them all, the others skip some.
    static func stackDiamonds(_ diamonds: Int) -> String {
        Self.diamonds(diamonds) { i in "stb [%r10-\(i + 1)], 1\n" }
    }

    /// Stack bytes no later instruction reads differ between the paths, but only slots the
    /// future reads are compared (the kernel's stack liveness): 40 diamonds merge. Compared
    /// whole, a byte one state wrote and the other did not would keep 2^40 paths apart.
    @Test func unreadStackSlotsAreNotCompared() throws {
        let source = Self.stackDiamonds(40) + "mov %r0, 0\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 2_000, "\(result.instructionsProcessed) instructions processed")
    }

    /// The same diamonds, then a read of the byte the 21st one writes: its slot is read later, so
    /// every state from that write on compares it, and the path that skipped the write is found.
    @Test func readStackSlotsAreCompared() throws {
        let source = Self.stackDiamonds(40) + "ldxb %r0, [%r10-21]\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.error?.description.contains("uninitialized stack (fp-21)") == true, "\(result.error?.description ?? "accepted")")
    }

    /// An array key the verifier does not know (stored 4 bytes off the 8-byte grid, which keeps
    /// no value) cannot make the lookup non-NULL, so its value decides nothing: the sum stored
    /// as the key stays imprecise and 300 diamonds merge (the kernel's get_constant_map_key marks
    /// a key precise only when it is a constant).
    @Test func unknownArrayKeysStayImprecise() throws {
        let source = Self.sumOfDiamonds(300) + """
            stxw [%r10-4], %r6
            mov %r2, %r10
            add %r2, -4
            lddw %r1, map_fd 1
            call 1
            mov %r0, 0
            exit
            """
        let map = MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 4)
        let result = Verifier().verify(VerifierProgram(instructions: try Assembler().assemble(source), type: .xdp, mapsByHandle: [1: map]))
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 3_000, "\(result.instructionsProcessed) instructions processed")
    }

    /// `diamonds` random branches, each ending in a different register state for a register the
    /// next instruction, a helper call taking no argument (bpf_get_prandom_u32), overwrites:
    /// R3 is the context on one side, a number on the other.
    static func argumentDiamonds(_ diamonds: Int) -> String {
        Self.diamonds(diamonds, prologue: "mov %r9, %r1\n", fallThrough: { _ in "mov %r3, %r9\n" }, taken: { _ in "mov %r3, 0\n" })
    }

    /// A helper call reads only its prototype's arguments (the kernel's compute_insn_live_regs
    /// with get_call_summary): R3 is dead before bpf_get_prandom_u32, so the 40 diamonds merge.
    @Test func helperCallsReadOnlyTheirArguments() throws {
        let source = Self.argumentDiamonds(40) + "mov %r0, 0\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 3_000, "\(result.instructionsProcessed) instructions processed")
    }

    /// `diamonds` random branches; branch i spills the context to its own slot fp-8(i+1) on its
    /// fall-through side and stores 0 there on the other.
    static func spillDiamonds(_ diamonds: Int) -> String {
        Self.diamonds(diamonds, prologue: "mov %r9, %r1\n", fallThrough: { i in "stxdw [%r10-\(8 * (i + 1))], %r9\n" },
                      taken: { i in "stdw [%r10-\(8 * (i + 1))], 0\n" })
    }

    /// Spilled pointers nothing reads again are not compared either: 40 diamonds merge.
    @Test func unreadPointerSpillsAreNotCompared() throws {
        let source = Self.spillDiamonds(40) + "mov %r0, 0\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 3_000, "\(result.instructionsProcessed) instructions processed")
    }

    /// The slot of the 21st diamond filled at the end and read through: the path that stored 0
    /// there instead of the context reads through a number, which must still be found behind
    /// the 19 diamonds after it.
    @Test func readPointerSpillsAreCompared() throws {
        let source = Self.spillDiamonds(40) + "ldxdw %r1, [%r10-168]\nldxw %r0, [%r1+0]\nmov %r0, 0\nexit"
        let result = try Self.verifyXDP(source)
        #expect(result.error?.description.contains("R1") == true, "\(result.error?.description ?? "accepted")")
    }

    /// A bounded loop whose body calls a helper (the selftests' `jumps_out_rather_than_in`, 1,000
    /// rounds). The loop's head is a jump target, so each round stores a state there; inside the
    /// body, once several states at an instruction are still being explored and none has pruned
    /// anything, the kernel's rule applies (a new one only after 8 instructions and 2 jumps), after
    /// a helper call as after a branch. Storing one at the branch's fall-through and after the
    /// call as well made three states a round. With a callback the call's next instruction still
    /// always gets one (`bpf_loop`: see CallbackLoops.swift).
    @Test func loopBodiesStoreAStateARound() throws {
        let source = """
            mov %r6, 0
            loop:
            add %r6, 1
            jgt %r6, 1000, out
            call 7
            ja loop
            out:
            mov %r0, 0
            exit
            """
        let result = try Self.verifyXDP(source)
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed == 4_005)
        #expect(result.peakStates > 1_000 && result.peakStates < 1_100, "\(result.peakStates) states stored for 1,000 rounds")
    }
}
