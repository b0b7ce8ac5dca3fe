import BPFCore
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing

/// Random instruction streams through the decoder and the interpreter: errors, never a crash.
/// `SWIFTBPF_FUZZ_ITERATIONS` raises the bounded default.
@Suite("Randomized decoder and interpreter")
struct RandomizedTests {
    static let iterations = Int(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_ITERATIONS"] ?? "") ?? 3000

    /// Opcodes that decode, so that random programs get past the decoder often enough to execute.
    static let validOpcodes: [UInt8] = {
        var codes: [UInt8] = []
        for cls: UInt8 in [0x04, 0x07] { for op in stride(from: 0x00, through: 0xc0, by: 0x10) { codes += [UInt8(op) | cls, UInt8(op) | cls | 8] } }
        for cls: UInt8 in [0x05, 0x06] { for op in [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0] { codes += [UInt8(op) | cls, UInt8(op) | cls | 8] } }
        codes += [0x05, 0x06, 0x85, 0x8d, 0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a,
                  0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0xd4, 0xdc, 0xd7, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50]
        return codes
    }()

    /// A slot that mostly passes the decoder: fields shaped by the opcode, jumps inside the program.
    static func randomSlot(_ rng: inout SplitMix, index: Int, count: Int) -> Instruction {
        let opcode = validOpcodes[Int(rng.next() % UInt64(validOpcodes.count))]
        let cls = opcode & 0x07
        let fromRegister = opcode & 0x08 != 0
        var ins = Instruction(opcode: opcode, dst: UInt8(rng.next() % 10), src: UInt8(rng.next() % 11))
        ins.imm = rng.next() % 4 == 0 ? Int32(truncatingIfNeeded: rng.next()) : Int32(Int(rng.next() % 33) - 16)
        let forward = Int16(Int(rng.next() % UInt64(count - index)))          // 0 ... count-index-1
        switch cls {
        case 0x04, 0x07:
            if fromRegister { ins.imm = 0 } else { ins.src = 0 }
            switch opcode & 0xf0 {
            case 0x30, 0x90: ins.offset = Int16(rng.next() % 2)
            case 0xb0 where fromRegister: ins.offset = cls == 0x07 ? [0, 8, 16, 32][Int(rng.next() % 4)] : [0, 8, 16][Int(rng.next() % 3)]
            case 0x80: ins.src = 0; ins.imm = 0
            case 0xd0: ins.src = 0; ins.imm = [16, 32, 64][Int(rng.next() % 3)]
            default: break
            }
        case 0x05, 0x06:
            switch opcode {
            case 0x05: ins = Instruction(opcode: 0x05, offset: forward)
            case 0x06: ins = Instruction(opcode: 0x06, imm: Int32(forward))
            case 0x85: ins = rng.next() % 2 == 0 ? Instruction(opcode: 0x85, imm: 5) : Instruction(opcode: 0x85, src: 1, imm: Int32(forward))
            case 0x8d: ins = Instruction(opcode: 0x8d, dst: 1)
            case 0x95: ins = Instruction(opcode: 0x95)
            default:
                if fromRegister { ins.imm = 0 } else { ins.src = 0 }
                ins.offset = rng.next() % 8 == 0 ? -Int16(rng.next() % UInt64(index + 1)) : forward
            }
        case 0x00:
            if opcode == 0x18 { ins.src = 0 } else {
                ins.dst = 0
                if opcode < 0x40 { ins.src = 0 }
            }
        case 0x01:
            ins.imm = 0
            ins.offset = Int16(Int(rng.next() % 80) - 40)
            if rng.next() % 2 == 0 { ins.src = 10; ins.offset = -Int16(rng.next() % 520) }
        case 0x02, 0x03:
            if cls == 0x02 { ins.src = 0 } else if opcode & 0xe0 == 0x60 { ins.imm = 0 }
            ins.dst = UInt8(rng.next() % 11)
            ins.offset = Int16(Int(rng.next() % 80) - 40)
            if rng.next() % 2 == 0 { ins.dst = 10; ins.offset = -Int16(rng.next() % 520) }
            if opcode == 0xc3 || opcode == 0xdb {
                ins.imm = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1][Int(rng.next() % 10)]
                ins.offset &= ~7
            }
        default: break
        }
        return ins
    }

    static func randomProgram(_ rng: inout SplitMix, count: Int) -> [Instruction] {
        var slots: [Instruction] = []
        while slots.count < count {
            let ins = randomSlot(&rng, index: slots.count, count: count + 1)
            slots.append(ins)
            if ins.opcode == 0x18 { slots.append(Instruction(opcode: 0, imm: Int32(truncatingIfNeeded: rng.next()))) }
        }
        slots.append(Instruction(opcode: 0x95))
        return slots
    }

    @Test("random bytes, random valid-looking programs and truncations never crash")
    func randomStreams() throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_SEED"] ?? "") ?? 0x5eed_0bf0
        var rng = SplitMix(state: seed)
        var decoded = 0, ran = 0, finished = 0
        for iteration in 0..<Self.iterations {
            let count = Int(rng.next() % 24) + 1
            var bytes: [UInt8]
            if iteration % 4 == 0 {
                bytes = (0..<(count * 8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = Instruction.bytes(of: Self.randomProgram(&rng, count: count))
            }
            if iteration % 7 == 0 { bytes.removeLast(Int(rng.next() % 8) + 1) }   // truncated
            guard let program = try? Program(bytes: bytes) else { continue }
            decoded += 1
            guard let interpreter = try? Interpreter(program: program, helpers: .conformance,
                                                     options: ExecutionOptions(instructionLimit: 10_000)) else { continue }
            var memory = (0..<64).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            ran += 1
            let before = memory.count
            do {
                _ = try interpreter.run(memory: &memory)
                finished += 1
            } catch {
                #expect((error as? RuntimeError)?.pc != nil, "seed \(seed) iteration \(iteration): \(error)")
            }
            #expect(memory.count == before)
        }
        // The generator must actually exercise the interpreter, not just the decoder.
        #expect(decoded > Self.iterations / 4, "decoded \(decoded)")
        #expect(ran > Self.iterations / 5, "ran \(ran)")
        #expect(finished > 0)
    }

    @Test("programs that write everywhere they can never change memory outside their region")
    func containment() throws {
        var rng = SplitMix(state: 42)
        // The program gets bytes 256..<288 of a larger buffer; the rest is a guard zone.
        var buffer = [UInt8](repeating: 0xa5, count: 544)
        for _ in 0..<500 {
            let offset = Int(rng.next() % 1024) - 512
            let size = ["b", "h", "w", "dw"][Int(rng.next() % 4)]
            let program = try Assembler().assembleProgram("st\(size) [%r1\(offset < 0 ? "" : "+")\(offset)], 0\nexit")
            let interpreter = try Interpreter(program: program)
            try buffer.withUnsafeMutableBytes { all in
                let region = UnsafeMutableRawBufferPointer(rebasing: all[256..<288])
                let base = UInt64(UInt(bitPattern: region.baseAddress))
                _ = try? interpreter.run(r1: base, r2: 32, regions: [MemoryRegion(region)])
            }
            #expect(buffer[..<256].allSatisfy { $0 == 0xa5 }, "offset \(offset) size \(size)")
            #expect(buffer[288...].allSatisfy { $0 == 0xa5 }, "offset \(offset) size \(size)")
        }
        #expect(buffer[256..<288].contains(0), "some stores must land inside the region")
    }
}
