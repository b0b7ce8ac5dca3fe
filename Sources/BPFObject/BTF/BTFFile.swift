extension BTF {
    /// Reads the BTF of a file's bytes: the `.BTF` section of an ELF object (as `clang -g -target bpf`
    /// writes it), or a raw BTF blob that starts with the 0xeb9f magic, such as
    /// `/sys/kernel/btf/vmlinux`. Data sections are left as the file has them (no loader fix-ups).
    ///
    /// ```swift
    /// let btf = try BTF(fileBytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
    /// ```
    public init(fileBytes bytes: [UInt8]) throws(ObjectError) {
        if bytes.count >= 4, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 {
            let elf = try ELFFile(bytes: bytes)
            guard let section = elf.section(named: ".BTF") else {
                throw ObjectError("ELF object", "has no .BTF section (compile with clang -g to get one)")
            }
            try self.init(bytes: elf.contents(of: section))
            return
        }
        guard bytes.count >= 2 else {
            throw ObjectError("file header", "the file is \(bytes.count) bytes, too short for BTF or ELF")
        }
        switch UInt16(bytes[0]) | UInt16(bytes[1]) << 8 {
        case Self.magic:
            do {
                try self.init(bytes: bytes)
            } catch {
                // The parser names the section an object keeps BTF in; this blob is the whole file.
                throw ObjectError(error.place == "section '.BTF'" ? "raw BTF" : error.place, error.message)
            }
        case Self.magic.byteSwapped:
            throw ObjectError("raw BTF", "is big-endian (magic 0x9feb), which is unsupported")
        default:
            throw ObjectError("file header", "neither an ELF object (\\x7fELF) nor raw BTF (magic 0xeb9f)")
        }
    }
}
