/// A section of an ELF file.
public struct ELFSection: Hashable, Sendable {
    public var index: Int
    public var name: String
    public var type: UInt32
    public var flags: UInt64
    public var offset: Int
    public var size: Int
    public var link: UInt32
    public var info: UInt32
    public var alignment: UInt64
    public var entrySize: UInt64

    public static let typeProgBits: UInt32 = 1
    public static let typeSymbolTable: UInt32 = 2
    public static let typeStringTable: UInt32 = 3
    public static let typeRela: UInt32 = 4
    public static let typeNoBits: UInt32 = 8
    public static let typeRel: UInt32 = 9

    public static let flagWrite: UInt64 = 0x1
    public static let flagAlloc: UInt64 = 0x2
    public static let flagExecutable: UInt64 = 0x4

    /// Whether the section holds code.
    public var isExecutable: Bool { flags & Self.flagExecutable != 0 && type == Self.typeProgBits }

    /// How to name it in messages.
    public var label: String { "section '\(name)' (index \(index))" }
}

/// A symbol of an ELF file.
public struct ELFSymbol: Hashable, Sendable {
    public var index: Int
    public var name: String
    public var info: UInt8
    public var other: UInt8
    public var sectionIndex: UInt16
    public var value: UInt64
    public var size: UInt64

    public var type: UInt8 { info & 0xf }
    public var binding: UInt8 { info >> 4 }
    public var visibility: UInt8 { other & 0x3 }

    public static let typeNone: UInt8 = 0, typeObject: UInt8 = 1, typeFunc: UInt8 = 2, typeSection: UInt8 = 3
    public static let bindingLocal: UInt8 = 0, bindingGlobal: UInt8 = 1, bindingWeak: UInt8 = 2

    public static let undefinedSection: UInt16 = 0
    public static let absoluteSection: UInt16 = 0xfff1
    public static let commonSection: UInt16 = 0xfff2
}

/// A relocation entry.
public struct ELFRelocation: Hashable, Sendable {
    /// Byte offset in the target section.
    public var offset: UInt64
    /// The symbol table index.
    public var symbolIndex: Int
    /// The relocation type (`R_BPF_*`).
    public var type: UInt32
    /// The explicit addend (RELA sections only).
    public var addend: Int64?

    public static let bpfNone: UInt32 = 0
    public static let bpf64_64: UInt32 = 1
    public static let bpf64_ABS64: UInt32 = 2
    public static let bpf64_ABS32: UInt32 = 3
    public static let bpf64_NODYLD32: UInt32 = 4
    public static let bpf64_32: UInt32 = 10
}

/// A little-endian ELF64 relocatable object, as `clang -target bpf` writes it: sections, symbols
/// and the relocations of each section. Parsing only; nothing here touches the kernel.
///
/// ```swift
/// let elf = try ELFFile(bytes: Array(data))
/// for section in elf.sections where section.isExecutable { print(section.name) }
/// ```
public struct ELFFile: Sendable {
    public let bytes: [UInt8]
    public let sections: [ELFSection]
    public let symbols: [ELFSymbol]
    /// Relocations by the index of the section they apply to.
    public let relocations: [Int: [ELFRelocation]]
    public let machine: UInt16

    public static let machineBPF: UInt16 = 247

    public init(bytes: [UInt8]) throws(ObjectError) {
        self.bytes = bytes
        let header = ByteReader(bytes, place: "ELF header")
        guard bytes.count >= 64 else {
            throw ObjectError("ELF header", "file is \(bytes.count) bytes, too short for an ELF header (64)")
        }
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw ObjectError("ELF header", "not an ELF file (bad magic)")
        }
        guard bytes[4] == 2 else { throw ObjectError("ELF header", "only 64-bit ELF is supported (class \(bytes[4]))") }
        guard bytes[5] == 1 else {
            throw ObjectError("ELF header", bytes[5] == 2
                ? "big-endian objects are unsupported: rebuild with -target bpfel (or bpf on a little-endian host)"
                : "unknown data encoding \(bytes[5])")
        }
        machine = try header.u16(18)
        let sectionHeaderOffset = Int(clamping: try header.u64(0x28))
        let sectionHeaderSize = Int(try header.u16(0x3a))
        let sectionCount = Int(try header.u16(0x3c))
        let stringSectionIndex = Int(try header.u16(0x3e))
        guard sectionCount > 0 else { throw ObjectError("ELF header", "the object has no sections") }
        guard sectionHeaderSize >= 64 else {
            throw ObjectError("ELF header", "section header size \(sectionHeaderSize) is smaller than 64")
        }
        let table = ByteReader(bytes, place: "section header table")
        try table.check(sectionHeaderOffset, sectionHeaderSize * sectionCount)

        var raw: [ELFSection] = []
        for i in 0..<sectionCount {
            let o = sectionHeaderOffset + i * sectionHeaderSize
            let section = ELFSection(
                index: i, name: "", type: try table.u32(o + 4), flags: try table.u64(o + 8),
                offset: Int(clamping: try table.u64(o + 24)), size: Int(clamping: try table.u64(o + 32)),
                link: try table.u32(o + 40), info: try table.u32(o + 44),
                alignment: try table.u64(o + 48), entrySize: try table.u64(o + 56))
            if section.type != ELFSection.typeNoBits && section.type != 0 {
                guard section.offset >= 0, section.size >= 0, section.offset <= bytes.count,
                      section.size <= bytes.count - section.offset else {
                    throw ObjectError("section index \(i)", "contents (offset \(section.offset), size \(section.size)) extend past the end of the file (\(bytes.count) bytes)")
                }
            }
            raw.append(section)
        }
        guard stringSectionIndex < raw.count else {
            throw ObjectError("ELF header", "section-name string table index \(stringSectionIndex) is out of range")
        }
        let names = raw[stringSectionIndex]
        let nameReader = ByteReader(Self.contents(of: names, in: bytes), place: "section-name string table")
        var named: [ELFSection] = []
        for var section in raw {
            let nameOffset = try table.u32(sectionHeaderOffset + section.index * sectionHeaderSize)
            section.name = try nameReader.cString(Int(nameOffset))
            named.append(section)
        }
        sections = named

        // Symbols.
        var symbols: [ELFSymbol] = []
        if let symtab = named.first(where: { $0.type == ELFSection.typeSymbolTable }) {
            guard Int(symtab.link) < named.count else {
                throw ObjectError(symtab.label, "string table index \(symtab.link) is out of range")
            }
            let strings = ByteReader(Self.contents(of: named[Int(symtab.link)], in: bytes), place: "symbol string table")
            let data = ByteReader(Self.contents(of: symtab, in: bytes), place: symtab.label)
            let count = symtab.size / 24
            for i in 0..<count {
                let o = i * 24
                let symbol = ELFSymbol(
                    index: i, name: try strings.cString(Int(try data.u32(o))), info: try data.u8(o + 4),
                    other: try data.u8(o + 5), sectionIndex: try data.u16(o + 6),
                    value: try data.u64(o + 8), size: try data.u64(o + 16))
                // Offsets must stay small enough for arithmetic; defined symbols must lie inside their section.
                guard symbol.value < 1 << 40, symbol.size < 1 << 40 else {
                    throw ObjectError(symtab.label, "symbol '\(symbol.name)' has an impossible value 0x\(String(symbol.value, radix: 16)) or size \(symbol.size)")
                }
                if symbol.sectionIndex != ELFSymbol.undefinedSection, Int(symbol.sectionIndex) < named.count {
                    let section = named[Int(symbol.sectionIndex)]
                    guard Int(symbol.value + symbol.size) <= section.size || section.index == 0 else {
                        throw ObjectError(symtab.label, "symbol '\(symbol.name)' (offset \(symbol.value), size \(symbol.size)) extends past the end of \(section.label)")
                    }
                }
                symbols.append(symbol)
            }
        }
        self.symbols = symbols

        // Relocations.
        var relocations: [Int: [ELFRelocation]] = [:]
        for section in named where section.type == ELFSection.typeRel || section.type == ELFSection.typeRela {
            let target = Int(section.info)
            guard target < named.count else {
                throw ObjectError(section.label, "applies to section index \(target), which does not exist")
            }
            let isRela = section.type == ELFSection.typeRela
            let entry = isRela ? 24 : 16
            let data = ByteReader(Self.contents(of: section, in: bytes), place: section.label)
            var list: [ELFRelocation] = []
            for i in 0..<(section.size / entry) {
                let o = i * entry
                let info = try data.u64(o + 8)
                let symbol = Int(info >> 32)
                guard symbol < symbols.count else {
                    throw ObjectError(section.label, "relocation \(i) names symbol index \(symbol), but there are \(symbols.count) symbols")
                }
                let offset = try data.u64(o)
                guard offset < UInt64(named[target].size) else {
                    throw ObjectError(section.label, "relocation \(i) at offset \(offset) is past the end of \(named[target].label)")
                }
                list.append(ELFRelocation(offset: offset, symbolIndex: symbol, type: UInt32(truncatingIfNeeded: info),
                                          addend: isRela ? Int64(bitPattern: try data.u64(o + 16)) : nil))
            }
            relocations[target, default: []] += list
        }
        self.relocations = relocations
    }

    static func contents(of section: ELFSection, in bytes: [UInt8]) -> [UInt8] {
        // Contents of every other section type were bounds-checked when the header was read.
        guard section.type != ELFSection.typeNoBits, section.type != 0, section.size > 0,
              section.offset >= 0, section.offset <= bytes.count, section.size <= bytes.count - section.offset
        else { return [] }
        return Array(bytes[section.offset..<(section.offset + section.size)])
    }

    /// The bytes of a section (zeros are not materialised for `.bss`-like NOBITS sections).
    public func contents(of section: ELFSection) -> [UInt8] { Self.contents(of: section, in: bytes) }

    /// The section with this name.
    public func section(named name: String) -> ELFSection? { sections.first { $0.name == name } }
}
