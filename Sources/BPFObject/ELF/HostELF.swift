/// Symbols of host executables and shared libraries (ELF64, little-endian), as uprobes need them:
/// pure logic on the file's bytes, no system calls.
///
/// ```swift
/// let offset = try HostELF.fileOffset(ofFunction: "malloc", in: libcBytes)
/// ```
public enum HostELF {
    /// The file offset of function `symbol` (from `.symtab` or `.dynsym`; a versioned name such as
    /// `malloc@GLIBC_2.2.5` matches too): its address mapped through the PT_LOAD segment holding it.
    public static func fileOffset(ofFunction symbol: String, in bytes: [UInt8]) throws(ObjectError) -> UInt64 {
        func need(_ offset: Int, _ size: Int, _ what: String) throws(ObjectError) {
            guard offset >= 0, size >= 0, offset <= bytes.count - size else { throw ObjectError("ELF file", "truncated \(what) at offset \(offset)") }
        }
        func u16(_ o: Int) throws(ObjectError) -> Int { try need(o, 2, "field"); return Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) throws(ObjectError) -> UInt32 { try need(o, 4, "field"); return (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) throws(ObjectError) -> UInt64 { try need(o, 8, "field"); return (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }

        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw ObjectError("ELF file", "not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw ObjectError("ELF file", "only 64-bit little-endian ELF files are supported") }
        let phoff = Int(clamping: try u64(0x20)), shoff = Int(clamping: try u64(0x28))
        let phentsize = try u16(0x36), phnum = try u16(0x38), shentsize = try u16(0x3a), shnum = try u16(0x3c)

        // Sections: find .symtab (2) and .dynsym (11) and their string tables.
        var candidates: [(value: UInt64, type: UInt8)] = []
        for i in 0..<shnum {
            let s = shoff + i * shentsize
            try need(s, 64, "section header \(i)")
            let type = try u32(s + 4)
            guard type == 2 || type == 11 else { continue }
            let offset = Int(clamping: try u64(s + 24)), size = Int(clamping: try u64(s + 32))
            let link = Int(try u32(s + 40)), entsize = max(Int(clamping: try u64(s + 56)), 24)
            guard link < shnum else { continue }
            let strings = shoff + link * shentsize
            let stroff = Int(clamping: try u64(strings + 24)), strsize = Int(clamping: try u64(strings + 32))
            try need(offset, size, "symbol table")
            try need(stroff, strsize, "string table")
            let wanted = Array(symbol.utf8)
            for j in 0..<(size / entsize) {
                let e = offset + j * entsize
                let nameOffset = Int(try u32(e))
                let start = stroff + nameOffset
                guard nameOffset < strsize, start + wanted.count < stroff + strsize else { continue }
                // Compare the name in place; a match ends in NUL (or `@` of a version).
                var matches = true
                for k in 0..<wanted.count where bytes[start + k] != wanted[k] { matches = false; break }
                guard matches, bytes[start + wanted.count] == 0 || bytes[start + wanted.count] == 0x40 else { continue }
                let info = bytes[e + 4]
                let sectionIndex = try u16(e + 6)
                let value = try u64(e + 8)
                guard sectionIndex != 0, value != 0 else { continue }   // undefined (imported)
                candidates.append((value, info & 0xf))
            }
        }
        guard let found = candidates.first(where: { $0.type == 2 }) ?? candidates.first(where: { $0.type == 10 }) ?? candidates.first else {
            throw ObjectError("ELF file", "no function symbol '\(symbol)' (stripped, or defined in another library?)")
        }
        // Program headers: the PT_LOAD segment that holds the address.
        for i in 0..<phnum {
            let p = phoff + i * phentsize
            try need(p, 56, "program header \(i)")
            guard try u32(p) == 1 else { continue }   // PT_LOAD
            let offset = try u64(p + 8), vaddr = try u64(p + 16), memsz = try u64(p + 40)
            if found.value >= vaddr && found.value < vaddr &+ memsz {
                return found.value - vaddr + offset
            }
        }
        throw ObjectError("ELF file", "symbol '\(symbol)' at 0x\(String(found.value, radix: 16)) is in no loadable segment")
    }

}
