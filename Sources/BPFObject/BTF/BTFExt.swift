/// A source line of a program instruction, from `.BTF.ext` line info.
public struct SourceLine: Hashable, Sendable, CustomStringConvertible {
    /// Instruction index within its section.
    public var instruction: Int
    public var file: String
    public var line: Int
    public var column: Int
    /// The text of the source line, as clang recorded it.
    public var text: String

    public var description: String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return "\(base):\(line)" + (text.isEmpty ? "" : ": \(text.trimmingLeadingSpaces)")
    }
}

/// A function's BTF type, from `.BTF.ext` func info.
public struct FunctionInfo: Hashable, Sendable {
    /// Instruction index within its section.
    public var instruction: Int
    public var typeID: Int

    public init(instruction: Int, typeID: Int) {
        self.instruction = instruction
        self.typeID = typeID
    }
}

/// A CO-RE relocation record from `.BTF.ext`.
public struct CORERelocation: Hashable, Sendable {
    /// Instruction index within its section.
    public var instruction: Int
    public var typeID: Int
    /// The access string, e.g. `0:1:2`.
    public var accessString: String
    /// The relocation kind (`BPF_CORE_FIELD_BYTE_OFFSET` = 0, ...).
    public var kind: UInt32

    public init(instruction: Int, typeID: Int, accessString: String, kind: UInt32) {
        self.instruction = instruction
        self.typeID = typeID
        self.accessString = accessString
        self.kind = kind
    }
}

/// Parsed `.BTF.ext`: per-section func info, line info and CO-RE relocations.
public struct BTFExt: Sendable {
    public var functions: [String: [FunctionInfo]] = [:]
    public var lines: [String: [SourceLine]] = [:]
    public var coreRelocations: [String: [CORERelocation]] = [:]

    public init() {}

    /// Parses `.BTF.ext`, whose strings live in the `.BTF` string section.
    public init(bytes: [UInt8], btf: BTF) throws(ObjectError) {
        let place = "section '.BTF.ext'"
        let r = ByteReader(bytes, place: place)
        guard try r.u16(0) == BTF.magic else { throw ObjectError(place, "bad magic") }
        let headerLength = Int(try r.u32(4))
        let strings = ByteReader(btf.strings, place: "BTF string section")
        func records(_ offsetField: Int, _ body: (ByteReader, String, Int, Int) throws(ObjectError) -> Void) throws(ObjectError) {
            guard offsetField + 8 <= headerLength else { return }
            let start = headerLength + Int(try r.u32(offsetField))
            let length = Int(try r.u32(offsetField + 4))
            if length == 0 { return }
            try r.check(start, length)
            let recordSize = Int(try r.u32(start))
            guard recordSize > 0 else { throw ObjectError(place, "record size 0") }
            var o = start + 4
            while o < start + length {
                let section = try strings.cString(Int(try r.u32(o)))
                let count = Int(try r.u32(o + 4))
                o += 8
                try r.check(o, count * recordSize)
                for i in 0..<count { try body(r, section, o + i * recordSize, i) }
                o += count * recordSize
            }
        }
        var functions: [String: [FunctionInfo]] = [:]
        var lines: [String: [SourceLine]] = [:]
        var relocations: [String: [CORERelocation]] = [:]
        try records(8) { r, section, o, _ throws(ObjectError) in
            functions[section, default: []].append(FunctionInfo(instruction: Int(try r.u32(o)) / 8, typeID: Int(try r.u32(o + 4))))
        }
        try records(16) { r, section, o, _ throws(ObjectError) in
            let lineColumn = try r.u32(o + 12)
            lines[section, default: []].append(SourceLine(
                instruction: Int(try r.u32(o)) / 8, file: try strings.cString(Int(try r.u32(o + 4))),
                line: Int(lineColumn >> 10), column: Int(lineColumn & 0x3ff), text: try strings.cString(Int(try r.u32(o + 8)))))
        }
        try records(24) { r, section, o, _ throws(ObjectError) in
            relocations[section, default: []].append(CORERelocation(
                instruction: Int(try r.u32(o)) / 8, typeID: Int(try r.u32(o + 4)),
                accessString: try strings.cString(Int(try r.u32(o + 8))), kind: try r.u32(o + 12)))
        }
        self.functions = functions
        self.lines = lines
        self.coreRelocations = relocations
    }
}

extension String {
    var trimmingLeadingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" })
    }
}
