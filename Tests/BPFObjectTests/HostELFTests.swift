import BPFObject
import Foundation
import Testing

@Suite("Host ELF symbols (uprobe offsets) without a kernel")
struct HostELFTests {
    /// This test process's own executable: an ELF64 little-endian file with a symbol table.
    static let executable: [UInt8]? = FileManager.default.contents(atPath: "/proc/self/exe").map { [UInt8]($0) }

    @Test("a function of this executable maps to a file offset inside the file", .enabled(if: executable != nil, "no /proc/self/exe"))
    func functionOffset() throws {
        let bytes = try #require(Self.executable)
        let offset = try HostELF.fileOffset(ofFunction: "main", in: bytes)
        #expect(offset > 0 && offset < UInt64(bytes.count))
        let missing = #expect(throws: ObjectError.self) { try HostELF.fileOffset(ofFunction: "no_such_function_swiftbpf", in: bytes) }
        #expect(missing?.message.contains("no function symbol 'no_such_function_swiftbpf'") == true)
    }

    @Test("what is not a 64-bit little-endian ELF file, or is cut short, is refused with the reason")
    func refusals() throws {
        let notELF = #expect(throws: ObjectError.self) { try HostELF.fileOffset(ofFunction: "f", in: [UInt8](repeating: 1, count: 100)) }
        #expect(notELF?.message == "not an ELF file")
        var elf32 = [UInt8](repeating: 0, count: 64)
        elf32[0...5] = [0x7f, 0x45, 0x4c, 0x46, 1, 1]
        let bits = #expect(throws: ObjectError.self) { try HostELF.fileOffset(ofFunction: "f", in: elf32) }
        #expect(bits?.message.contains("64-bit") == true)
        if let bytes = Self.executable {
            let cut = #expect(throws: ObjectError.self) { try HostELF.fileOffset(ofFunction: "main", in: Array(bytes.prefix(200))) }
            #expect(cut?.message.contains("truncated") == true)
        }
    }
}
