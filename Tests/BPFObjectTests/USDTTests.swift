import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// USDT notes and argument specs, without the kernel: a hand-made ELF (to place every field), the
/// fixture program usdt_probes.c built with the host's clang, the x86-64 argument parser and the
/// bytes of `struct __bpf_usdt_spec` (checked against clang's layout of usdt.bpf.h's field list).
struct USDTTests {
    // MARK: A hand-made ELF

    /// A little ELF64 file: a PT_LOAD executable segment at 0x400000 (file offset 0x1000, 0x1000
    /// bytes), a PT_LOAD data segment at 0x600000 (file offset 0x2000), `.note.stapsdt` holding
    /// `notes` and, when `base` is given, `.stapsdt.base` at that address.
    static func elf(notes: [UInt8], base: UInt64? = nil, type: UInt16 = 2, notesType: UInt32 = 7) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 0x3000)
        func put(_ value: UInt64, _ offset: Int, _ size: Int) {
            for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        bytes[0...3] = [0x7f, 0x45, 0x4c, 0x46]
        bytes[4] = 2; bytes[5] = 1; bytes[6] = 1
        put(UInt64(type), 0x10, 2)
        put(62, 0x12, 2)                // x86-64
        put(0x40, 0x20, 8)              // e_phoff
        put(0x200, 0x28, 8)             // e_shoff
        put(56, 0x36, 2); put(2, 0x38, 2)
        put(64, 0x3a, 2); put(4, 0x3c, 2); put(1, 0x3e, 2)
        // Program headers.
        for (i, (vaddr, offset, flags)) in [(UInt64(0x400000), UInt64(0x1000), UInt64(5)), (0x600000, 0x2000, 6)].enumerated() {
            let p = 0x40 + i * 56
            put(1, p, 4); put(flags, p + 4, 4); put(offset, p + 8, 8); put(vaddr, p + 16, 8)
            put(0x1000, p + 32, 8); put(0x1000, p + 40, 8)
        }
        // Section names at 0x100.
        let names = "\0.shstrtab\0.note.stapsdt\0.stapsdt.base\0"
        bytes.replaceSubrange(0x100..<0x100 + names.utf8.count, with: Array(names.utf8))
        // Notes at 0x800.
        bytes.replaceSubrange(0x800..<0x800 + notes.count, with: notes)
        // Section headers at 0x200: null, .shstrtab, .note.stapsdt, .stapsdt.base.
        func section(_ index: Int, name: Int, type: UInt32, address: UInt64, offset: Int, size: Int) {
            let s = 0x200 + index * 64
            put(UInt64(name), s, 4); put(UInt64(type), s + 4, 4); put(address, s + 16, 8)
            put(UInt64(offset), s + 24, 8); put(UInt64(size), s + 32, 8)
        }
        section(1, name: 1, type: 3, address: 0, offset: 0x100, size: names.utf8.count)
        section(2, name: 11, type: notesType, address: 0, offset: 0x800, size: notes.count)
        section(3, name: base == nil ? 0 : 25, type: 1, address: base ?? 0, offset: 0x1800, size: 1)
        return bytes
    }

    /// One note: owner `owner`, type `type`, and a stapsdt description.
    static func note(owner: String = "stapsdt", type: UInt32 = 3, pc: UInt64, base: UInt64, semaphore: UInt64 = 0,
                     provider: String, name: String, arguments: String) -> [UInt8] {
        var desc: [UInt8] = []
        for word in [pc, base, semaphore] { desc += withUnsafeBytes(of: word.littleEndian) { Array($0) } }
        desc += Array(provider.utf8) + [0] + Array(name.utf8) + [0] + Array(arguments.utf8) + [0]
        return rawNote(owner: owner, type: type, desc: desc)
    }

    static func rawNote(owner: String = "stapsdt", type: UInt32 = 3, desc: [UInt8]) -> [UInt8] {
        func pad(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: (4 - b.count % 4) % 4) }
        let name = Array(owner.utf8) + [0]
        var bytes: [UInt8] = []
        for word in [UInt32(name.count), UInt32(desc.count), type] { bytes += withUnsafeBytes(of: word.littleEndian) { Array($0) } }
        return bytes + pad(name) + pad(desc)
    }

    @Test func notesGiveAddressesFileOffsetsAndSemaphores() throws {
        let notes = Self.note(pc: 0x400120, base: 0x400800, semaphore: 0x600010, provider: "app", name: "start", arguments: "-4@%edi 8@$3")
            + Self.note(owner: "GNU", pc: 1, base: 2, provider: "x", name: "y", arguments: "")
            + Self.note(pc: 0x400200, base: 0x400800, provider: "app", name: "stop", arguments: ":")
        let binary = try USDTBinary(bytes: Self.elf(notes: notes, base: 0x400800), path: "app")
        #expect(!binary.isPositionIndependent)
        #expect(binary.probes.map(\.qualifiedName) == ["app:start", "app:stop"], "the GNU note is not a probe")
        let start = try #require(binary.probes(provider: "app", name: "start").first)
        #expect(start.address == 0x400120)
        #expect(start.fileOffset == 0x1120)
        #expect(start.semaphoreAddress == 0x600010)
        #expect(start.semaphoreOffset == 0x2010)
        #expect(start.arguments == "-4@%edi 8@$3")
        let stop = try #require(binary.probes(provider: "app", name: "stop").first)
        #expect(stop.arguments == "", "a lone ':' means no arguments")
        #expect(stop.semaphoreOffset == 0)
        #expect(binary.probes(provider: "app", name: "nope").isEmpty)
    }

    @Test func prelinkMovesProbesByAsMuchAsTheBaseMoved() throws {
        // Linked with .stapsdt.base at 0x400800; now it is at 0x400900 (prelink moved the file 0x100).
        let notes = Self.note(pc: 0x400120, base: 0x400800, semaphore: 0x600010, provider: "app", name: "moved", arguments: "")
        let binary = try USDTBinary(bytes: Self.elf(notes: notes, base: 0x400900), path: "app")
        let probe = try #require(binary.probes.first)
        #expect(probe.noteAddress == 0x400120)
        #expect(probe.address == 0x400220)
        #expect(probe.fileOffset == 0x1220)
        #expect(probe.semaphoreAddress == 0x600110)
        // Without .stapsdt.base nothing moves.
        let unmoved = try #require(try USDTBinary(bytes: Self.elf(notes: notes), path: "app").probes.first)
        #expect(unmoved.address == 0x400120)
    }

    @Test func badNotesAreErrorsNamingTheProbe() throws {
        func error(_ notes: [UInt8], base: UInt64? = nil, notesType: UInt32 = 7) -> String? {
            do {
                _ = try USDTBinary(bytes: Self.elf(notes: notes, base: base, notesType: notesType), path: "app")
                return nil
            } catch {
                return error.description
            }
        }
        let outside = error(Self.note(pc: 0x500000, base: 0, provider: "app", name: "lost", arguments: ""))
        #expect(outside?.contains("probe 'app:lost' at 0x500000 is in no loadable segment") == true, "\(outside ?? "no error")")
        let inData = error(Self.note(pc: 0x600000, base: 0, provider: "app", name: "data", arguments: ""))
        #expect(inData?.contains("not executable") == true, "\(inData ?? "no error")")
        let execSemaphore = error(Self.note(pc: 0x400000, base: 0, semaphore: 0x400010, provider: "app", name: "s", arguments: ""))
        #expect(execSemaphore?.contains("the semaphore of probe 'app:s'") == true, "\(execSemaphore ?? "no error")")
        let short = error(Self.rawNote(desc: [1, 2, 3]))
        #expect(short?.contains("too short") == true, "\(short ?? "no error")")
        var unterminated = Self.note(pc: 0x400000, base: 0, provider: "app", name: "x", arguments: "")
        unterminated.removeLast(4)   // drops the padding and the final NULs
        let cut = error(Self.rawNote(desc: Array(unterminated.dropFirst(20))))
        #expect(cut?.contains("does not end in NUL") == true, "\(cut ?? "no error")")
        let wrongType = error([], notesType: 1)
        #expect(wrongType?.contains("not a note section") == true, "\(wrongType ?? "no error")")
        #expect(throws: ObjectError.self) { try USDTBinary(bytes: [0x7f, 0x45, 0x4c], path: "x") }
    }

    @Test func aFileWithoutNotesHasNoProbes() throws {
        var bytes = Self.elf(notes: [])
        // Rename .note.stapsdt to something else.
        bytes[0x100 + 11] = UInt8(ascii: "X")
        #expect(try USDTBinary(bytes: bytes, path: "x").probes.isEmpty)
    }

    // MARK: The fixture program

    @Test(.requires(USDTProbes.built))
    func fixtureProgramsHandWrittenNotesParse() throws {
        let path = try USDTProbes.binary.get()
        let binary = try USDTBinary(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), path: path)
        let args = try #require(binary.probes(provider: "swiftbpf", name: "args").first)
        let gated = try #require(binary.probes(provider: "swiftbpf", name: "gated").first)
        #expect(args.semaphoreAddress == 0)
        #expect(gated.semaphoreAddress != 0 && gated.semaphoreOffset != 0)
        #expect(args.noteBase != 0, "the notes record .stapsdt.base")
        let spec = try args.specification()
        #expect(spec.arguments.count == 4)
        #expect(spec.arguments[0] == USDTArgument(size: 4, isSigned: true, location: .constant(-7)))
        #expect(spec.arguments[1].size == 4 && spec.arguments[1].isSigned)
        #expect(spec.arguments[2].size == 2 && spec.arguments[2].isSigned)
        if case .memory = spec.arguments[3].location {} else { Issue.record("argument 3 should be in memory: \(spec.arguments[3])") }
        // The probe's nop is at its file offset.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(binary.isPositionIndependent == (bytes[16] == 3))
        #expect(bytes[Int(args.fileOffset)] == 0x90)
        #expect(bytes[Int(gated.fileOffset)] == 0x90)
    }

    // MARK: Arguments

    @Test func x86ArgumentsParse() throws {
        let cases: [(String, USDTArgument)] = [
            ("-4@$-9", USDTArgument(size: 4, isSigned: true, location: .constant(-9))),
            ("8@$0x10", USDTArgument(size: 8, isSigned: false, location: .constant(16))),
            ("8@%rdx", USDTArgument(size: 8, isSigned: false, location: .register(.rdx))),
            ("-4@%edi", USDTArgument(size: 4, isSigned: true, location: .register(.rdi))),
            ("-2@%cx", USDTArgument(size: 2, isSigned: true, location: .register(.rcx))),
            ("-1@%sil", USDTArgument(size: 1, isSigned: true, location: .register(.rsi))),
            ("4@%r11d", USDTArgument(size: 4, isSigned: false, location: .register(.r11))),
            ("8@%r8", USDTArgument(size: 8, isSigned: false, location: .register(.r8))),
            ("-4@-1204(%rbp)", USDTArgument(size: 4, isSigned: true, location: .memory(base: .rbp, offset: -1204))),
            ("8@(%rsp)", USDTArgument(size: 8, isSigned: false, location: .memory(base: .rsp, offset: 0))),
            ("-1@-96(%rbp,%rax,8)", USDTArgument(size: 1, isSigned: true, location: .indexed(base: .rbp, index: .rax, scale: 8, offset: -96))),
            ("2@(%rdi,%rcx)", USDTArgument(size: 2, isSigned: false, location: .indexed(base: .rdi, index: .rcx, scale: 1, offset: 0))),
        ]
        for (text, expected) in cases {
            #expect(try USDTArgument(parsing: text, place: "t") == expected, "\(text)")
        }
        let spec = try USDTSpec(arguments: "-4@-1204(%rbp) -4@%edi -8@-1216(%rbp) -8@%r8 -4@$5 -8@%r9 8@%rdx 8@%r10 -4@$-9 -2@%cx -2@%ax -1@%sil",
                                probe: "test:usdt12")
        #expect(spec.arguments.count == 12)
        #expect(try USDTSpec(arguments: "", probe: "p").arguments.isEmpty)
    }

    @Test func badArgumentsNameTheProbeAndTheArgument() {
        let cases: [(String, String)] = [
            ("4@%eax 3@%ebx", "argument 1: '3@%ebx': the size 3 is not 1, 2, 4 or 8 bytes"),
            ("4@%xmm0", "argument 0: '4@%xmm0': unknown x86-64 register '%xmm0'"),
            ("4@%ah", "unknown x86-64 register '%ah'"),
            ("8@counter(%rip)", "the offset 'counter' is not an integer"),
            ("4@$sym", "the constant '$sym' is not an integer"),
            ("eax", "expected SIZE@LOCATION"),
            ("8@-8(%rbp,%rax,3)", "the scale '3' is not 1, 2, 4 or 8"),
            ("x@%eax", "the size 'x' is not a number"),
            (Array(repeating: "4@%eax", count: 13).joined(separator: " "), "13 arguments, more than 12"),
        ]
        for (text, message) in cases {
            do {
                _ = try USDTSpec(arguments: text, probe: "app:probe")
                Issue.record("'\(text)' parsed")
            } catch {
                #expect(error.description.contains("USDT probe 'app:probe'"), "\(error)")
                #expect(error.description.contains(message), "\(error)")
            }
        }
    }

    // MARK: Spec bytes

    static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[o + $1]) << (8 * $1) } }
    static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }

    @Test func specBytesFollowUsdtBpfH() throws {
        let spec = try USDTSpec(arguments: "-4@$-9 8@%rdx -2@-20(%rbp) 1@-96(%rbp,%rax,8)", probe: "p", cookie: 0xdead)
        let b = try spec.encoded(layout: .libbpf)
        #expect(b.count == 304)
        // Argument 0: constant -9, signed, 4 bytes.
        #expect(Self.u64(b, 0) == UInt64(bitPattern: -9))
        #expect(b[8] == 0 && b[16] == 1 && b[17] == 32)
        // Argument 1: register rdx (pt_regs offset 96), unsigned, 8 bytes.
        #expect(b[24 + 8] == 1 && Self.u16(b, 24 + 14) == 96 && b[24 + 16] == 0 && b[24 + 17] == 0)
        // Argument 2: memory at rbp (32) - 20, signed, 2 bytes.
        #expect(Self.u64(b, 48) == UInt64(bitPattern: -20))
        #expect(b[48 + 8] == 2 && Self.u16(b, 48 + 14) == 32 && b[48 + 16] == 1 && b[48 + 17] == 48)
        // Argument 3: rbp + rax (80) << 3 - 96: the index register and the scale's shift share 16 bits.
        #expect(b[72 + 8] == 3 && Self.u16(b, 72 + 10) == 80 | 3 << 12 && Self.u16(b, 72 + 14) == 32)
        #expect(Self.u64(b, 288) == 0xdead)
        #expect(Self.u16(b, 296) == 4)

        // libbpf before 1.7: 16-byte arguments, a 4-byte type, no indexed arguments.
        let old = try USDTSpec(arguments: "-4@$-9 8@%rdx", probe: "p", cookie: 7).encoded(layout: .legacy)
        #expect(old.count == 208)
        #expect(old[16 + 8] == 1 && Self.u16(old, 16 + 12) == 96 && old[16 + 14] == 0 && old[16 + 15] == 0)
        #expect(old[14] == 1 && old[15] == 32)
        #expect(Self.u64(old, 192) == 7 && Self.u16(old, 200) == 2)
        #expect(throws: ObjectError.self) { try spec.encoded(layout: .legacy) }
        #expect(USDTSpec.Layout(valueSize: 304) == .libbpf)
        #expect(USDTSpec.Layout(valueSize: 208) == .legacy)
        #expect(USDTSpec.Layout(valueSize: 100) == nil)
    }

    /// usdt.bpf.h's structs, written from its field list (bitfields as it declares them).
    static let layoutSource = """
        typedef unsigned long long __u64; typedef unsigned short __u16; typedef unsigned char __u8;
        enum arg_type { A_CONST, A_REG, A_REG_DEREF, A_SIB };
        struct arg_spec { __u64 val_off; enum arg_type arg_type: 8; __u16 idx_reg_off: 12; __u16 scale_bitshift: 4;
                          __u8 reserved: 8; short reg_off; _Bool arg_signed; char arg_bitshift; };
        struct spec { struct arg_spec args[12]; __u64 usdt_cookie; short arg_cnt; };
        struct old_arg_spec { __u64 val_off; enum arg_type arg_type; short reg_off; _Bool arg_signed; char arg_bitshift; };
        struct old_spec { struct old_arg_spec args[12]; __u64 usdt_cookie; short arg_cnt; };
        """

    /// The bytes clang gives `const TYPE probe = INITIALIZER;` (compiled for BPF, read back from the object).
    static func clangBytes(_ declaration: String) throws -> [UInt8] {
        let clang = try #require(BPFClang.executable)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-usdt-layout-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("layout.c"), object = dir.appendingPathComponent("layout.o")
        try Data((layoutSource + "\n" + declaration + "\n").utf8).write(to: source)
        let process = Process()
        process.executableURL = clang
        process.arguments = ["-target", "bpf", "-O2", "-c", source.path, "-o", object.path]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let diagnostics = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(diagnostics)")
        let elf = try ELFFile(bytes: [UInt8](try Data(contentsOf: object)))
        let symbol = try #require(elf.symbols.first { $0.name == "probe" })
        let section = elf.sections[Int(symbol.sectionIndex)]
        return Array(elf.bytes[(section.offset + Int(symbol.value))..<(section.offset + Int(symbol.value + symbol.size))])
    }

    @Test(.enabled(if: BPFClang.executable != nil, "\(BPFClang.skipReason)"))
    func specBytesAreWhatClangLaysOutForUsdtBpfHsFields() throws {
        let spec = try USDTSpec(arguments: "-4@$-9 8@%rdx -2@-20(%rbp) 1@-96(%rbp,%rax,8)", probe: "p", cookie: 0xdead)
        let expected = try Self.clangBytes("""
            const struct spec probe = { .args = {
                { .val_off = -9, .arg_type = A_CONST, .arg_signed = 1, .arg_bitshift = 32 },
                { .arg_type = A_REG, .reg_off = 96 },
                { .val_off = -20, .arg_type = A_REG_DEREF, .reg_off = 32, .arg_signed = 1, .arg_bitshift = 48 },
                { .val_off = -96, .arg_type = A_SIB, .idx_reg_off = 80, .scale_bitshift = 3, .reg_off = 32, .arg_bitshift = 56 },
            }, .usdt_cookie = 0xdead, .arg_cnt = 4 };
            """)
        #expect(try spec.encoded(layout: .libbpf) == expected)

        let old = try USDTSpec(arguments: "-4@$-9 8@%rdx", probe: "p", cookie: 7)
        let oldExpected = try Self.clangBytes("""
            const struct old_spec probe = { .args = {
                { .val_off = -9, .arg_type = A_CONST, .arg_signed = 1, .arg_bitshift = 32 },
                { .arg_type = A_REG, .reg_off = 96 },
            }, .usdt_cookie = 7, .arg_cnt = 2 };
            """)
        #expect(try old.encoded(layout: .legacy) == oldExpected)
    }
}
