import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// Assembles `source`, runs it with the kernel helpers over `memory` (r1 = its address), and
/// returns r0 and the memory afterwards.
func runWithKernelHelpers(_ source: String, memory: [UInt8]) throws -> (r0: UInt64, memory: [UInt8]) {
    var memory = memory
    let program = try Assembler().assembleProgram(source)
    let r0 = try Interpreter(program: program, helpers: .kernel).run(memory: &memory).returnValue
    return (r0, memory)
}

@Suite("Misc helpers: helpers_misc.o")
struct MiscHelperFixtureTests {
    static func load(_ names: Set<String>) throws -> LoadedObject {
        try LoadedObject(try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/helpers_misc.o"), programs: names)
    }

    @Test("misc_printk writes its four trace lines in order (the last through bpf_trace_vprintk)")
    func printk() throws {
        let loaded = try Self.load(["misc_printk"])
        let result = try #require(loaded.program(named: "misc_printk")).testRun(packet: [UInt8](repeating: 0, count: 64))
        #expect(result.returnValue == 2)
        #expect(result.trace == ["d=-5 u=7 x=beef", "s=swift llu=1234567890123", "raw printk 3", "vprintk 1 2 3 4 five"])
    }

    @Test("misc_snprintf formats \"%s-%d-%x\" into .bss and returns the length with the NUL")
    func snprintf() throws {
        let loaded = try Self.load(["misc_snprintf"])
        let result = try #require(loaded.program(named: "misc_snprintf")).testRun(context: nil)
        #expect(result.returnValue == 12)
        let bss = try Bytes.value(loaded, ".bss")
        #expect(Array(bss[0..<32]) == Array("swift-42-ff".utf8) + [UInt8](repeating: 0, count: 21))
    }

    @Test("misc_strings: strtol, strtoul and strncmp as the kernel does them")
    func strings() throws {
        let loaded = try Self.load(["misc_strings"])
        #expect(try #require(loaded.program(named: "misc_strings")).testRun(context: nil).returnValue == 0)
        let bss = try Bytes.value(loaded, ".bss")
        #expect(Bytes.s64(bss, 0x20) == -1234)
        #expect(Bytes.u64(bss, 0x28) == 31)
    }

    @Test("misc_csum: the folded csum_diff of 01..08 is 0x1014 in network order")
    func csum() throws {
        let loaded = try Self.load(["misc_csum"])
        #expect(try #require(loaded.program(named: "misc_csum")).testRun(packet: [UInt8](repeating: 0, count: 64)).returnValue == 2)
        #expect(Bytes.u32(try Bytes.value(loaded, ".bss"), 0x40) == 0x1014)
    }
}

@Suite("Misc helpers: edge cases")
struct MiscHelperEdgeTests {
    @Test("probe_read of memory outside every region returns -EFAULT and zeroes the destination", arguments: [4, 112, 113])
    func probeReadOutside(id: Int) throws {
        let (r0, memory) = try runWithKernelHelpers("""
            mov %r6, %r1
            mov %r2, 8
            lddw %r3, 0xdead0000
            call \(id)
            stxdw [%r6+8], %r0
            exit
            """, memory: [UInt8](repeating: 0xaa, count: 16))
        #expect(Int64(bitPattern: r0) == -14)
        #expect(Array(memory[0..<8]) == [UInt8](repeating: 0, count: 8))
        #expect(Bytes.s64(memory, 8) == -14)
    }

    @Test("probe_read copies readable memory; a range running past a region's end is -EFAULT")
    func probeReadInside() throws {
        let source = { (offset: Int) in """
            mov %r3, %r1
            add %r3, \(offset)
            mov %r2, 8
            call 113
            exit
            """ }
        let memory = [UInt8](repeating: 0xaa, count: 16) + [1, 2, 3, 4, 5, 6, 7, 8]
        let inside = try runWithKernelHelpers(source(16), memory: memory)
        #expect(inside.r0 == 0)
        #expect(Array(inside.memory[0..<8]) == [1, 2, 3, 4, 5, 6, 7, 8])
        let straddling = try runWithKernelHelpers(source(20), memory: memory)
        #expect(Int64(bitPattern: straddling.r0) == -14)
        #expect(Array(straddling.memory[0..<8]) == [UInt8](repeating: 0, count: 8))
    }

    @Test("probe_read_str returns the length with the NUL, truncates to size - 1, and zeroes on a fault", arguments: [45, 114, 115])
    func probeReadString(id: Int) throws {
        let source = { (offset: Int, size: Int) in """
            mov %r3, %r1
            add %r3, \(offset)
            mov %r2, \(size)
            call \(id)
            exit
            """ }
        let memory = [UInt8](repeating: 0xaa, count: 16) + Array("hello".utf8) + [0, 0, 0] + Array("abcd".utf8)
        let truncated = try runWithKernelHelpers(source(16, 4), memory: memory)
        #expect(truncated.r0 == 4)
        #expect(Array(truncated.memory[0..<8]) == Array("hel".utf8) + [0, 0xaa, 0xaa, 0xaa, 0xaa])
        let whole = try runWithKernelHelpers(source(16, 8), memory: memory)
        #expect(whole.r0 == 6)
        #expect(Array(whole.memory[0..<8]) == Array("hello".utf8) + [0, 0xaa, 0xaa])
        let empty = try runWithKernelHelpers(source(22, 8), memory: memory)
        #expect(empty.r0 == 1)
        let unterminated = try runWithKernelHelpers(source(24, 8), memory: memory)
        #expect(Int64(bitPattern: unterminated.r0) == -14)
        #expect(Array(unterminated.memory[0..<8]) == [UInt8](repeating: 0, count: 8))
    }

    /// Runs bpf_strtol (105) or bpf_strtoul (106) on `text`; returns r0 and the 8-byte result.
    func strtox(_ text: String, flags: UInt32 = 0, id: Int = 105) throws -> (Int64, Int64) {
        let bytes = Array(text.utf8)
        let (r0, memory) = try runWithKernelHelpers("""
            mov %r4, %r1
            add %r1, 8
            mov %r2, \(bytes.count)
            mov32 %r3, 0x\(String(flags, radix: 16))
            call \(id)
            exit
            """, memory: [UInt8](repeating: 0x55, count: 8) + bytes)
        return (Int64(bitPattern: r0), Bytes.s64(memory, 0))
    }

    @Test("strtol: whitespace, sign, bases, the bytes consumed")
    func strtol() throws {
        #expect(try strtox("-1234", flags: 10) == (5, -1234))
        #expect(try strtox("  -42xyz", flags: 10) == (5, -42))
        #expect(try strtox("0x1f") == (4, 31))
        #expect(try strtox("1f", flags: 16) == (2, 31))
        #expect(try strtox("0x1f", flags: 16) == (4, 31))
        #expect(try strtox("0x1f", flags: 8) == (1, 0))
        #expect(try strtox("017") == (3, 15))
        #expect(try strtox("9223372036854775807") == (19, Int64.max))
        #expect(try strtox("-9223372036854775808") == (20, Int64.min))
    }

    @Test("strtol: -ERANGE on overflow, -EINVAL without digits or with a bad base; the result is untouched")
    func strtolErrors() throws {
        let untouched = Int64(bitPattern: 0x5555_5555_5555_5555)
        #expect(try strtox("9223372036854775808") == (-34, untouched))
        #expect(try strtox("-9223372036854775809") == (-34, untouched))
        #expect(try strtox("99999999999999999999") == (-34, untouched))
        #expect(try strtox("+5") == (-22, untouched))
        #expect(try strtox("   ") == (-22, untouched))
        #expect(try strtox("-") == (-22, untouched))
        #expect(try strtox("12", flags: 2) == (-22, untouched))
        #expect(try strtox("12", flags: 0x100) == (-22, untouched))
    }

    @Test("strtoul: no sign, the full unsigned range")
    func strtoul() throws {
        #expect(try strtox("18446744073709551615", id: 106) == (20, -1))
        #expect(try strtox("18446744073709551616", id: 106).0 == -34)
        #expect(try strtox("-1", id: 106).0 == -22)
        #expect(try strtox(" 0x1F", id: 106) == (5, 31))
    }

    /// Runs bpf_snprintf with "%s-%d-%x" and ("ab", 42, 255): returns r0 and the 16-byte buffer.
    func snprintf(size: Int, dataLength: Int) throws -> (Int64, [UInt8]) {
        let memory = [UInt8](repeating: 0xaa, count: 16) + Array("%s-%d-%x".utf8) + [0] + [UInt8](repeating: 0, count: 7)
            + [0, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0] + Array("ab".utf8) + [0]
        let (r0, out) = try runWithKernelHelpers("""
            mov %r6, %r1
            mov %r7, %r1
            add %r7, 56
            stxdw [%r6+32], %r7
            mov %r3, %r1
            add %r3, 16
            mov %r4, %r1
            add %r4, 32
            mov %r2, \(size)
            mov %r5, \(dataLength)
            call 165
            exit
            """, memory: memory)
        return (Int64(bitPattern: r0), Array(out[0..<16]))
    }

    @Test("snprintf returns the length needed with the NUL and writes a truncated, terminated string")
    func snprintfTruncation() throws {
        let full = try snprintf(size: 16, dataLength: 24)
        #expect(full.0 == 9)
        #expect(full.1 == Array("ab-42-ff".utf8) + [0] + [UInt8](repeating: 0xaa, count: 7))
        let truncated = try snprintf(size: 5, dataLength: 24)
        #expect(truncated.0 == 9)
        #expect(truncated.1 == Array("ab-4".utf8) + [0] + [UInt8](repeating: 0xaa, count: 11))
        let sizing = try snprintf(size: 0, dataLength: 24)
        #expect(sizing.0 == 9 && sizing.1 == [UInt8](repeating: 0xaa, count: 16))
        #expect(try snprintf(size: 16, dataLength: 16).0 == -22, "three specifiers, two arguments")
        #expect(try snprintf(size: 16, dataLength: 12).0 == -22, "data_len must be a multiple of 8")
    }

    @Test("snprintf takes the kernel's flags and widths")
    func snprintfFlags() throws {
        let format = Array("%+d % d %+d|%-4x|%4u|%c%%".utf8) + [0]
        let arguments: [UInt64] = [42, 7, UInt64(bitPattern: -3), 0xab, 9, 0x41]
        var memory = [UInt8](repeating: 0xaa, count: 32) + format + [UInt8](repeating: 0, count: 64 - format.count)
        for value in arguments { memory += (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
        let (r0, out) = try runWithKernelHelpers("""
            mov %r3, %r1
            add %r3, 32
            mov %r4, %r1
            add %r4, 96
            mov %r2, 32
            mov %r5, 48
            call 165
            exit
            """, memory: memory)
        let text = "+42  7 -3|ab  |   9|A%"
        #expect(r0 == UInt64(text.utf8.count + 1))
        #expect(Array(out[0..<(text.utf8.count + 1)]) == Array(text.utf8) + [0])
    }

    @Test("strncmp compares at most s1_sz bytes and returns -1, 0 or 1")
    func strncmp() throws {
        let memory = Array("abc".utf8) + [0, 0, 0, 0, 0] + Array("abd".utf8) + [0]
        let source = { (first: Int, second: Int, count: Int) in """
            mov %r3, %r1
            add %r3, \(second)
            add %r1, \(first)
            mov %r2, \(count)
            call 182
            exit
            """ }
        #expect(try runWithKernelHelpers(source(0, 8, 2), memory: memory).r0 == 0)
        #expect(Int64(bitPattern: try runWithKernelHelpers(source(0, 8, 3), memory: memory).r0) == -1)
        #expect(try runWithKernelHelpers(source(8, 0, 3), memory: memory).r0 == 1)
        #expect(try runWithKernelHelpers(source(0, 0, 8), memory: memory).r0 == 0)
    }

    @Test("csum_diff: pushing, pulling and diffing data, folded to 16 bits")
    func csumDiff() throws {
        let memory: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        let source = { (from: String, fromSize: Int, to: String, toSize: Int) in """
            mov %r6, %r1
            mov %r1, \(from)
            mov %r3, \(to)
            mov %r2, \(fromSize)
            mov %r4, \(toSize)
            mov %r5, 0
            call 28
            exit
            """ }
        #expect(try runWithKernelHelpers(source("0", 0, "%r6", 8), memory: memory).r0 == 0x1410)
        #expect(try runWithKernelHelpers(source("%r6", 8, "0", 0), memory: memory).r0 == 0xebef)
        #expect(try runWithKernelHelpers(source("%r6", 4, "%r6", 4), memory: memory).r0 == 0xffff)
    }
}
