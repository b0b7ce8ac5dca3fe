import BPFCore
import BPFObject
@testable import BPFVerifier
import Testing

/// Every rule: a program that must pass and one that must be rejected with its message.
struct VerifierRuleTests {
    @Test(arguments: ruleCases)
    func rule(_ c: RuleCase) throws {
        let result = Verifier(options: VerifierOptions(instructionLimit: c.limit)).verify(try c.input())
        if let expected = c.rejection {
            let error = try #require(result.error, "\(c.name) must be rejected (\(expected))")
            #expect(error.description.contains(expected), "\(c.name): \(error.description)")
            #expect(result.provenAccesses.allSatisfy { !$0 })
        } else {
            #expect(result.error == nil, "\(c.name): \(result.error?.detailed ?? "")")
            let count = try c.assemble().count
            #expect(result.provenAccesses.count == count)
        }
    }

    @Test func rejectionCarriesTheInstructionAndRegisters() throws {
        let c = try #require(ruleCases.first { $0.name == "lookup unchecked" })
        let error = try #require(Verifier().verify(try c.input()).error)
        #expect(error.kind == .nullPointer)
        #expect(error.instruction == 7)
        #expect(error.disassembly == "r1 = *(u64 *)(r0 + 0)")
        #expect(error.registers?.contains("R0=map_value_or_null(map=flows") == true)
        #expect(error.detailed.contains("7: r1 = *(u64 *)(r0 + 0)"))
    }

    @Test func sourceLinesComeFromLineInfo() throws {
        let c = try #require(ruleCases.first { $0.name == "lookup unchecked" })
        var input = try c.input()
        // A line record of a real object, rewritten to say what we want.
        let object = try FixtureObjects.object("Tests/BPFVerifierTests/Fixtures/verifier_rules.o")
        var line = try #require(object.programs.first?.sourceLines.values.first)
        line.line = 42
        line.text = "    v->count++;"
        input.sourceLines = [7: line]
        let error = try #require(Verifier().verify(input).error)
        #expect(error.description == "R0 may be NULL at insn 7 (line 42: v->count++;): check the result of bpf_map_lookup_elem (insn 6) before dereferencing")
    }

    @Test func provenAccessesMarkCheckedLoadsAndStores() throws {
        let c = try #require(ruleCases.first { $0.name == "lookup checked" })
        let result = Verifier().verify(try c.input())
        // 1: stxw to the stack; 8: ldxdw from the value; 10: stxdw to the value.
        #expect(result.provenAccesses.enumerated().filter(\.element).map(\.offset) == [1, 8, 10])
    }

    @Test func contextLoadsOfPacketPointersAreNotMarkedProven() throws {
        let c = try #require(ruleCases.first { $0.name == "packet read after a bounds check" })
        let result = Verifier().verify(try c.input())
        #expect(result.accepted)
        #expect(result.provenAccesses[0] == false)    // ctx->data: a converted field
        #expect(result.provenAccesses[5] == true)     // the packet byte
    }

    @Test func levelTwoLogShowsStates() throws {
        let c = try #require(ruleCases.first { $0.name == "stack write then read" })
        let result = Verifier(options: VerifierOptions(logLevel: 2)).verify(try c.input())
        // R1 is dead from insn 0 on (nothing reads it), so the states no longer show it.
        #expect(result.log.contains("1: r0 = *(u64 *)(r10 - 8) ; R10=fp(frame=0,off=0) fp-8=5"))
        #expect(result.log.contains("ACCEPTED"))
    }

    @Test func unresolvedExternsAreUndecided() throws {
        var input = VerifierProgram(instructions: try Assembler().assemble("lddw %r0, 0\nexit"), type: .xdp)
        input.unresolved[0] = "extern 'CONFIG_HZ' (a .ksyms or unresolved symbol)"
        let error = try #require(Verifier().verify(input).error)
        #expect(error.kind == .undecided)
        #expect(Verifier().verify(input).verdict == .undecided)
        #expect(error.description.hasPrefix("cannot decide: the program uses extern 'CONFIG_HZ'"))
    }

    @Test func pruningKeepsLargeBranchyProgramsCheap() throws {
        // 200 independent diamonds: 2^200 paths without pruning.
        var source = "mov %r0, 0\nldxw %r2, [%r1+12]\n"
        for i in 0..<200 {
            source += "jeq %r2, 5, l\(i)\nmov %r3, 1\nl\(i):\nmov %r3, 0\n"
        }
        source += "exit"
        let result = Verifier().verify(VerifierProgram(instructions: try Assembler().assemble(source), type: .xdp))
        #expect(result.accepted, "\(result.error?.description ?? "")")
        #expect(result.instructionsProcessed < 10_000)
    }
}

/// The abstract domain agrees with concrete arithmetic on random values.
struct ScalarDomainTests {
    static func sample(_ s: Scalar, _ rng: inout SplitMixRNG) -> UInt64? {
        if let c = s.constantValue { return c }
        for _ in 0..<64 {
            var v = s.tnum.value | (rng.next() & s.tnum.mask)
            if s.umax != .max && s.umax - s.umin < 1 << 20 { v = s.umin + rng.next() % (s.umax - s.umin + 1) }
            if s.tnum.contains(.constant(v)) && v >= s.umin && v <= s.umax && Int64(bitPattern: v) >= s.smin && Int64(bitPattern: v) <= s.smax
                && UInt32(truncatingIfNeeded: v) >= s.u32min && UInt32(truncatingIfNeeded: v) <= s.u32max { return v }
        }
        return nil
    }

    static func contains(_ s: Scalar, _ v: UInt64) -> Bool {
        let v32 = UInt32(truncatingIfNeeded: v)
        return s.tnum.contains(.constant(v)) && v >= s.umin && v <= s.umax && Int64(bitPattern: v) >= s.smin
            && Int64(bitPattern: v) <= s.smax && v32 >= s.u32min && v32 <= s.u32max
            && Int32(bitPattern: v32) >= s.s32min && Int32(bitPattern: v32) <= s.s32max
    }

    static func randomScalar(_ rng: inout SplitMixRNG) -> Scalar {
        switch rng.next() % 5 {
        case 0: return .constant(rng.next() % 4 == 0 ? rng.next() : rng.next() % 300)
        case 1: let a = rng.next() % 1000; return .unsigned(a, a + rng.next() % 1000)
        case 2: let a = Int64(rng.next() % 1000) - 500; return .signed(a, a + Int64(rng.next() % 1000))
        case 3: return Scalar.unknown
        default: return .unsigned(0, UInt64(UInt32.max))
        }
    }

    static func concrete(_ op: UInt8, _ a: UInt64, _ b: UInt64, width: Int) -> UInt64 {
        if width == 32 {
            let x = UInt32(truncatingIfNeeded: a), y = UInt32(truncatingIfNeeded: b)
            switch op {
            case 0: return UInt64(x &+ y)
            case 1: return UInt64(x &- y)
            case 2: return UInt64(x &* y)
            case 3: return UInt64(y == 0 ? 0 : x / y)
            case 4: return UInt64(x | y)
            case 5: return UInt64(x & y)
            case 6: return UInt64(x << (y & 31))
            case 7: return UInt64(x >> (y & 31))
            case 8: return UInt64(y == 0 ? x : x % y)
            case 9: return UInt64(x ^ y)
            default: return UInt64(UInt32(bitPattern: Int32(bitPattern: x) >> Int32(y & 31)))
            }
        }
        switch op {
        case 0: return a &+ b
        case 1: return a &- b
        case 2: return a &* b
        case 3: return b == 0 ? 0 : a / b
        case 4: return a | b
        case 5: return a & b
        case 6: return a << (b & 63)
        case 7: return a >> (b & 63)
        case 8: return b == 0 ? a : a % b
        case 9: return a ^ b
        default: return UInt64(bitPattern: Int64(bitPattern: a) >> Int64(b & 63))
        }
    }

    /// Runs `op` on random abstract values through the verifier and checks each concrete result
    /// is inside the abstract one.
    @Test(arguments: [64, 32])
    func aluIsSound(width: Int) throws {
        var rng = SplitMixRNG(state: 0x5eed + UInt64(width))
        let kinds: [ALUKind] = [.add, .sub, .mul, .udiv, .or, .and, .lsh, .rsh, .umod, .xor, .arsh]
        for _ in 0..<300 {
            let a = Self.randomScalar(&rng), b = Self.randomScalar(&rng)
            guard let x = Self.sample(a, &rng), let y = Self.sample(b, &rng) else { continue }
            for (op, kind) in kinds.enumerated() {
                let result = Scalar.alu(kind, a, b, width: width)
                let value = Self.concrete(UInt8(op), x, y, width: width)
                #expect(Self.contains(result, value), "\(kind)/\(width) \(a) \(b): \(x) op \(y) = \(value) not in \(result)")
            }
        }
    }

    @Test func tnumBasics() {
        #expect(Tnum.range(0, 15) == Tnum(value: 0, mask: 15))
        #expect((Tnum.constant(3) + Tnum.constant(4)) == .constant(7))
        #expect(Tnum.range(0, 15).contains(.constant(9)))
        #expect(!Tnum.range(0, 15).contains(.constant(16)))
        #expect((Tnum.range(0, 3) * Tnum.constant(4)).max == 12)
    }
}

/// A small deterministic generator (tests must not depend on the system's randomness).
struct SplitMixRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
