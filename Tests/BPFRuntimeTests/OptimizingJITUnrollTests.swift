import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// Loop unrolling in the optimizing tier (`Unroll.swift`): verified loops with a constant trip
/// count, fully or partially unrolled. Every program runs in the interpreter, the first tier and
/// the optimizing tier, which must agree on r0 and on the packet; trip counts 0, 1, odd and even,
/// 32-bit wrap-around, signed and overflowing counters, stores read back by later iterations.
@Suite("optimizing JIT tier: loop unrolling", .enabled(if: JITProgram.isSupported, "the JIT needs an x86-64 machine"))
struct OptimizingJITUnrollTests {
    static func object(_ source: String) throws -> ObjectFile {
        let spec = ProgramSpec(name: "unroll", section: "xdp", type: .xdp, attachType: .xdp, instructions: try Assembler().assemble(source))
        return ObjectFile(programs: [spec], maps: [])
    }

    static let packet = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    /// Runs `source` verified in the three engines on `packets`; returns the optimizing tier's listing.
    @discardableResult
    static func agree(_ source: String, packets: [[UInt8]] = [packet], _ context: String) throws -> String {
        let object = try Self.object(source)
        let optimized = try #require(try LoadedObject(object, engine: .jit, jitTier: .optimizing).program(named: "unroll"))
        let baseline = try #require(try LoadedObject(object, engine: .jit, jitTier: .baseline).program(named: "unroll"))
        let reference = try #require(try LoadedObject(object, engine: .interpreter).program(named: "unroll"))
        #expect(optimized.verification?.accepted == true, "\(context): not verified")
        #expect(optimized.jit?.tier == .optimizing, "\(context): declined: \(optimized.jit?.declineReason ?? "")")
        for packet in packets {
            let a = try optimized.testRun(packet: packet), b = try baseline.testRun(packet: packet), c = try reference.testRun(packet: packet)
            #expect(a.returnValue == c.returnValue, "\(context), \(packet.count) bytes: optimizing r0 \(a.returnValue), interpreter r0 \(c.returnValue)")
            #expect(b.returnValue == c.returnValue, "\(context), \(packet.count) bytes: first tier r0 \(b.returnValue), interpreter r0 \(c.returnValue)")
            #expect(a.packetOut == c.packetOut, "\(context), \(packet.count) bytes: the packet differs from the interpreter's")
        }
        return try optimized.jit?.annotatedDisassembly() ?? ""
    }

    /// `for (i = start; i < bound; i += step) sum += (*(u32 *)(data + i) >> 1) ^ i;` behind a bounds
    /// check of 256 bytes (a while loop: a guard, then the rotated loop).
    static func strided(start: Int, bound: Int, step: Int) -> String {
        """
        ldxw %r2, [%r1+0]
        ldxw %r3, [%r1+4]
        mov %r4, %r2
        add %r4, 256
        jgt %r4, %r3, short
        mov %r0, 0
        mov %r5, \(start)
        jge %r5, \(bound), done
        loop:
        mov %r6, %r2
        add %r6, %r5
        ldxw %r7, [%r6+0]
        rsh %r7, 1
        xor %r7, %r5
        add %r0, %r7
        add %r5, \(step)
        jlt %r5, \(bound), loop
        done:
        exit
        short:
        mov %r0, 1
        exit
        """
    }

    @Test("strided loads: trip counts 0, 1, odd, even, fully and partly unrolled, not unrolled")
    func stridedTrips() throws {
        // (start, bound, step): 0 trips, 1, 3, 8, 63 (fully unrolled), 252 (by 4), 125 (odd: kept).
        for (start, bound, step) in [(0, 0, 4), (8, 4, 4), (0, 4, 4), (0, 12, 4), (0, 32, 4), (0, 252, 4), (0, 252, 1), (0, 250, 2), (3, 250, 7)] {
            let listing = try Self.agree(Self.strided(start: start, bound: bound, step: step),
                                         packets: [Self.packet, Array(Self.packet.prefix(256)), Array(Self.packet.prefix(255))],
                                         "start \(start) bound \(bound) step \(step)")
            if (start, bound, step) == (0, 252, 4) {
                // Fully unrolled: the last iteration's load at a constant offset from data.
                #expect(listing.contains("+0xf8]"), "the 63-trip loop was not unrolled into constant offsets: \(listing)")
            }
        }
    }

    @Test("a loop with a second way out (a bounds check per word, as jit_checksum): packets shorter and longer than the loop")
    func breakOut() throws {
        // for (i = 0; i < 128; i++) { if (data + 2 * i + 2 > end) break; sum += *(u16 *)(data + 2 * i); }
        let source = """
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            mov %r0, 0
            mov %r5, 0
            loop:
            mov %r6, %r5
            lsh %r6, 1
            add %r6, %r2
            mov %r4, %r6
            add %r4, 2
            jgt %r4, %r3, done
            ldxh %r7, [%r6+0]
            add32 %r0, %r7
            add %r5, 1
            jne %r5, 128, loop
            done:
            exit
            """
        try Self.agree(source, packets: [Self.packet, Array(Self.packet.prefix(256)), Array(Self.packet.prefix(255)), Array(Self.packet.prefix(14)),
                                         Array(Self.packet.prefix(15)), Array(Self.packet.prefix(131))], "break out")
    }

    @Test("32-bit counters that wrap, signed counters going down, a 64-bit counter overflowing")
    func counters() throws {
        // A 32-bit counter from 0xfffffff0 to 0x10 by 4: it wraps (8 trips).
        try Self.agree("""
            mov %r0, 0
            mov32 %r5, 0xfffffff0
            loop:
            mov %r6, %r5
            mul %r6, 3
            add %r0, %r6
            add32 %r5, 4
            jne32 %r5, 0x10, loop
            exit
            """, "wrapping 32-bit counter")
        // Down from 5 while r5 > -3 (signed): 8 trips.
        try Self.agree("""
            mov %r0, 1
            mov %r5, 5
            loop:
            mul %r0, 7
            add %r0, %r5
            sub %r5, 1
            jsgt %r5, -3, loop
            exit
            """, "signed counter going down")
        // A 64-bit counter overflowing into the sign bit: 2 trips.
        try Self.agree("""
            mov %r0, 0
            lddw %r5, 0x7ffffffffffffffe
            loop:
            add %r0, %r5
            xor %r0, 0x55
            add %r5, 1
            jsgt %r5, 0, loop
            exit
            """, "overflowing 64-bit counter")
        // The counter compared before its increment (clang's `i = j; j += 12; if (i < K)`): 43 trips.
        try Self.agree("""
            mov %r0, 0
            mov %r3, 0
            loop:
            mov %r5, %r3
            mov %r6, %r5
            xor %r6, 0x3c
            add %r0, %r6
            add %r3, 12
            jlt %r5, 0x1f1, loop
            exit
            """, "counter copied before its increment")
    }

    @Test("stores read back by later iterations, overlapping widths, on the stack")
    func aliasingStores() throws {
        // a[0] = 1; for i in 0..<7: a[i+1] = a[i] * 3 + i, with a 4-byte store over the upper half
        // of each new word, read back in the next iteration.
        try Self.agree("""
            mov %r1, 1
            stxdw [%r10-64], %r1
            mov %r5, 0
            loop:
            mov %r2, %r10
            add %r2, -64
            mov %r3, %r5
            lsh %r3, 3
            add %r2, %r3
            ldxdw %r4, [%r2+0]
            mul %r4, 3
            add %r4, %r5
            stxdw [%r2+8], %r4
            stw [%r2+12], 7
            add %r5, 1
            jlt %r5, 7, loop
            ldxdw %r0, [%r10-8]
            ldxw %r1, [%r10-36]
            xor %r0, %r1
            ldxdw %r1, [%r10-40]
            add %r0, %r1
            exit
            """, "stack recurrence")
        // Every iteration overwrites the same byte and word: the last store wins.
        try Self.agree("""
            mov %r0, 0
            stdw [%r10-8], 0
            mov %r5, 0
            loop:
            stxb [%r10-8], %r5
            ldxdw %r1, [%r10-8]
            add %r0, %r1
            stxw [%r10-4], %r0
            add %r5, 3
            jlt %r5, 30, loop
            ldxdw %r1, [%r10-8]
            add %r0, %r1
            exit
            """, "repeated stores to one place")
    }

    @Test("a loop with a branch in its body (memcmp's shape), 256 trips, partly unrolled; nested loops")
    func bodiesWithBranches() throws {
        let memcmp = """
            ldxw %r2, [%r1+0]
            ldxw %r3, [%r1+4]
            mov %r4, %r2
            add %r4, 512
            jgt %r4, %r3, short
            mov %r0, 0
            mov %r5, 0
            loop:
            mov %r6, %r2
            add %r6, %r5
            ldxb %r7, [%r6+256]
            ldxb %r8, [%r6+0]
            jeq %r7, %r8, next
            sub %r8, %r7
            add32 %r0, %r8
            next:
            add %r5, 1
            jne %r5, 256, loop
            exit
            short:
            mov %r0, 1
            exit
            """
        var equal = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let different = (0..<512).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ ($0 >> 3)) }
        try Self.agree(memcmp, packets: [equal, different, Array(equal.prefix(511))], "memcmp")
        equal[300] ^= 0xff
        try Self.agree(memcmp, packets: [equal], "memcmp, one byte differs")
        // Two nested loops, 5 × 3 trips, each reading the stack the other wrote.
        try Self.agree("""
            mov %r0, 0
            stdw [%r10-8], 0
            mov %r6, 0
            outer:
            mov %r7, 0
            inner:
            ldxdw %r1, [%r10-8]
            mov %r2, %r6
            mul %r2, 10
            add %r2, %r7
            add %r1, %r2
            stxdw [%r10-8], %r1
            add %r0, %r1
            add %r7, 1
            jlt %r7, 3, inner
            lsh %r0, 1
            add %r6, 1
            jlt %r6, 5, outer
            exit
            """, "nested loops")
    }
    @Test("random verified loops (counters up and down, 32- and 64-bit, bodies of arithmetic and stack traffic): three engines agree")
    func randomLoops() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0x5eed_1007
        var rng = SplitMix(state: seed)
        var compared = 0
        for iteration in 0..<60 {
            // The counter: (start, step, condition, bound, 32-bit) with a trip count of 1–300.
            let wide = rng.next() % 2 == 0
            let sfx = wide ? "" : "32"
            let step = Int64(rng.next() % 13) + 1
            let trips = Int64(rng.next() % 300) + 1
            let start = Int64(rng.next() % 200) - 100
            let up = rng.next() % 2 == 0
            var counter: [String]
            if up {
                // i = start; do { ...; i += step } while (i != start + trips*step) or (i s< bound)
                let end = start + trips * step
                counter = rng.next() % 2 == 0
                    ? ["add\(sfx) %r5, \(step)", "jne\(sfx) %r5, \(end), loop"]
                    : ["add\(sfx) %r5, \(step)", "jslt\(sfx) %r5, \(end - step + 1), loop"]
            } else {
                let end = start - trips * step
                counter = ["sub\(sfx) %r5, \(step)", "jsgt\(sfx) %r5, \(end), loop"]
            }
            var body: [String] = []
            let regs = ["%r0", "%r2", "%r3"]
            for _ in 0..<(Int(rng.next() % 6) + 1) {
                let d = regs[Int(rng.next() % 3)]
                let w = rng.next() % 2 == 0 ? "" : "32"
                switch rng.next() % 8 {
                case 0: body.append("stxdw [%r10-8], \(d)")
                case 1: body.append("ldxdw \(d), [%r10-8]")
                case 2: body.append("stxw [%r10-\(12 + 4 * Int(rng.next() % 2))], \(d)")
                case 3: body.append("ldxw \(d), [%r10-16]")
                default:
                    let op = ["add", "sub", "mul", "xor", "or", "and", "lsh", "rsh", "arsh"][Int(rng.next() % 9)]
                    let shift = op == "lsh" || op == "rsh" || op == "arsh"
                    let operand = shift ? "\(rng.next() % 31)" : (rng.next() % 2 == 0 ? "%r5" : regs[Int(rng.next() % 3)])
                    body.append("\(op)\(w) \(d), \(operand)")
                }
            }
            let source = (["mov %r0, \(rng.next() % 1000)", "mov %r2, \(rng.next() % 1000)", "lddw %r3, 0x\(String(rng.next(), radix: 16))",
                           "stdw [%r10-8], 0", "stdw [%r10-16], 0", "mov\(sfx) %r5, \(start)", "loop:"]
                          + body + ["add %r0, %r5", "xor %r0, %r3"] + counter + ["exit"]).joined(separator: "\n")
            let object = try Self.object(source)
            guard let optimized = try? LoadedObject(object, engine: .jit, jitTier: .optimizing).program(named: "unroll") else { continue }
            let baseline = try #require(try LoadedObject(object, engine: .jit, jitTier: .baseline).program(named: "unroll"))
            let reference = try #require(try LoadedObject(object, engine: .interpreter).program(named: "unroll"))
            let a = try optimized.testRun(packet: Self.packet), b = try baseline.testRun(packet: Self.packet), c = try reference.testRun(packet: Self.packet)
            #expect(a.returnValue == c.returnValue && b.returnValue == c.returnValue,
                    "seed \(seed) iteration \(iteration): optimizing \(a.returnValue), first tier \(b.returnValue), interpreter \(c.returnValue)\n\(source)")
            compared += 1
        }
        #expect(compared >= 45, "only \(compared) of 60 random loops verified")
    }
}
