@testable import BPFRuntime
import Testing

/// The AArch64 encoder against the bytes clang's assembler gives for the same instructions (no
/// emulator needed: runs on every host).
@Suite("arm64 instruction encoder")
struct ARM64AssemblerTests {
    @Test("every instruction form the JIT uses encodes as clang encodes it")
    func encodings() {
        var a = ARM64Assembler()
        a.addSub(.add, true, .x(7), .x(7), .x(0))                      // add x7, x7, x0
        a.addSub(.sub, false, .x(0), .x(0), .x(1))                     // sub w0, w0, w1
        a.addSubImm(.add, true, .x(25), .x(25), 512)                   // add x25, x25, #512
        a.addSubImm(.sub, true, .x(9), .x(25), 8)                      // sub x9, x25, #8
        a.addSubImm(.subs, false, .zr, .x(9), 1)                       // cmp w9, #1
        a.logical(.and, true, .x(0), .x(0), .x(1))                     // and x0, x0, x1
        a.logical(.orr, false, .x(2), .x(2), .x(3))                    // orr w2, w2, w3
        a.logical(.eor, true, .x(19), .x(19), .x(10))                  // eor x19, x19, x10
        a.mov(true, .x(7), .x(0))                                      // mov x7, x0
        a.movSP(.x(29), .sp)                                           // mov x29, sp
        a.movSP(.sp, .x(10))                                           // mov sp, x10
        a.madd(true, .x(0), .x(0), .x(1), .zr)                         // mul x0, x0, x1
        a.madd(false, .x(7), .x(10), .x(1), .x(7), sub: true)          // msub w7, w10, w1, w7
        a.dataProc2(.udiv, true, .x(0), .x(0), .x(1))                  // udiv x0, x0, x1
        a.dataProc2(.sdiv, false, .x(0), .x(0), .x(1))                 // sdiv w0, w0, w1
        a.lsl(true, .x(0), .x(0), 3)                                   // lsl x0, x0, #3
        a.lsr(false, .x(1), .x(1), 31)                                 // lsr w1, w1, #31
        a.asr(true, .x(2), .x(2), 63)                                  // asr x2, x2, #63
        a.dataProc2(.lslv, true, .x(0), .x(0), .x(1))                  // lsl x0, x0, x1
        a.sxt(true, .x(0), .x(1), bits: 8)                             // sxtb x0, w1
        a.sxt(false, .x(0), .x(1), bits: 16)                           // sxth w0, w1
        a.sxt(true, .x(0), .x(1), bits: 32)                            // sxtw x0, w1
        a.uxth(.x(0), .x(0))                                           // uxth w0, w0
        a.rev16(.x(0), .x(0))                                          // rev16 w0, w0
        a.rev(false, .x(0), .x(0))                                     // rev w0, w0
        a.rev(true, .x(0), .x(0))                                      // rev x0, x0
        a.moveWide(.movz, false, .x(0), 0x1234, shift: 0)              // mov w0, #0x1234
        a.moveWide(.movn, true, .x(0), 0, shift: 0)                    // mov x0, #-1
        a.moveWide(.movk, true, .x(0), 0xbeef, shift: 48)              // movk x0, #0xbeef, lsl #48
        a.ldst(opc: 1, size: 1, .x(0), .x(9))                          // ldrb w0, [x9]
        a.ldst(opc: 2, size: 2, .x(0), .x(9))                          // ldrsh x0, [x9]
        a.ldst(opc: 2, size: 4, .x(0), .x(9))                          // ldrsw x0, [x9]
        a.ldr(.x(0), .x(26), 16)                                       // ldr x0, [x26, #16]
        a.str(.x(19), .x(26), 96)                                      // str x19, [x26, #96]
        a.ldstUnscaled(opc: 0, size: 8, .x(7), .x(25), -8)             // stur x7, [x25, #-8]
        a.ldstUnscaled(opc: 1, size: 1, .x(0), .x(1), -1)              // ldurb w0, [x1, #-1]
        a.pair(load: false, .x(29), .lr, .sp, -96, mode: 3)            // stp x29, x30, [sp, #-96]!
        a.pair(load: true, .x(19), .x(20), .sp, 48, mode: 1)           // ldp x19, x20, [sp], #48
        a.pair(load: false, .zr, .zr, .x(25), -512, mode: 2)           // stp xzr, xzr, [x25, #-512]
        a.ldaxr(true, .x(10), .x(9))                                   // ldaxr x10, [x9]
        a.stlxr(false, status: .x(12), .x(11), .x(9))                  // stlxr w12, w11, [x9]
        a.dmbISH()                                                     // dmb ish
        a.blr(.x(16))                                                  // blr x16
        a.ret()                                                        // ret
        let clang = """
            e700008b 0000014b 39030891 292300d1 3f050071 0000018a 4200032a 73020aca e70300aa fd030091 5f010091 007c019b \
            479d011b 0008c19a 000cc11a 00f07dd3 217c1f53 42fc7f93 0020c19a 201c4093 203c0013 207c4093 003c0053 0004c05a \
            0008c05a 000cc0da 80468252 00008092 e0ddf7f2 20014039 20018079 200180b9 400b40f9 533300f9 27831ff8 20f05f38 \
            fd7bbaa9 f353c3a8 3f7f20a9 2afd5fc8 2bfd0c88 bf3b03d5 00023fd6 c0035fd6
            """
        let expected = clang.split(separator: " ").map(String.init)
        let words = a.bytes.chunks4.map { $0.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(words.count == expected.count)
        for (i, (got, want)) in zip(words, expected).enumerated() { #expect(got == want, "instruction \(i)") }
    }

    @Test("the optimizing tier's forms: csel, adr, indexed loads, br, cmn")
    func optimizingTierEncodings() {
        var a = ARM64Assembler()
        a.csel(true, .x(9), .x(12), .x(16), .hi)                               // csel x9, x12, x16, hi
        a.csel(false, .x(0), .x(1), .x(2), .eq)                                // csel w0, w1, w2, eq
        a.adr(.x(10), 16)                                                      // adr x10, #16
        a.ldstRegister(opc: 2, size: 4, .x(11), .x(10), .x(9), scaled: true)   // ldrsw x11, [x10, x9, lsl #2]
        a.ldstRegister(opc: 1, size: 8, .x(3), .x(4), .x(5))                   // ldr x3, [x4, x5]
        a.br(.x(10))                                                           // br x10
        a.addSubImm(.adds, true, .zr, .x(10), 5)                               // cmn x10, #5
        // From clang --target=aarch64-linux-gnu and llvm-objdump.
        #expect(a.words == [0x9a90_8189, 0x1a82_0020, 0x1000_008a, 0xb8a9_794b, 0xf865_6883, 0xd61f_0140, 0xb100_155f])
        let branch = a.newLabel()
        a.bind(branch)
        #expect(a.offset(of: branch) == 28)
        a.emit(0)
        a.patch(at: 28, 0xdead_beef)
        #expect(a.words.last == 0xdead_beef)
    }

    @Test("movImm builds every kind of constant in at most four instructions, and branches resolve")
    func constantsAndBranches() {
        // Values are checked by the emulated runs; here: the instruction counts the shortest forms give.
        for (value, count) in [(UInt64(0), 1), (0xffff, 1), (0x1_0000, 1), (0xffff_fffe, 1), (0x1234_5678, 2),
                               (.max, 1), (0xffff_ffff_ffff_0000, 1), (0x1234_0000_0000_5678, 2), (0x1234_5678_9abc_def0, 4)] as [(UInt64, Int)] {
            var a = ARM64Assembler()
            a.movImm(.x(0), value)
            #expect(a.words.count == count, "0x\(String(value, radix: 16))")
        }
        var a = ARM64Assembler()
        let forward = a.newLabel(), back = a.newLabel()
        a.bind(back)
        a.bcond(.ne, forward)   // +2 instructions
        a.b(back)               // -1 instruction
        a.bind(forward)
        a.resolve()
        #expect(a.words == [0x5400_0041, 0x17ff_ffff])
        // Far: b.eq over a `b` to the label (b.ne +8 ... as `b.eq +8; b label`).
        var far = ARM64Assembler()
        far.farBranches = true
        let target = far.newLabel()
        far.bcond(.ne, target)
        far.cbz(true, .x(9), target)
        far.bind(target)
        let resolved = far.resolve()
        #expect(resolved)
        #expect(far.words == [0x5400_0040, 0x1400_0003, 0xB500_0049, 0x1400_0001])
    }
}

extension Array where Element == UInt8 {
    fileprivate var chunks4: [[UInt8]] { stride(from: 0, to: count, by: 4).map { Array(self[$0..<Swift.min($0 + 4, count)]) } }
}
