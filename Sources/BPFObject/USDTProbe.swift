/// One USDT probe site of a host executable or shared library, from a `stapsdt` note of its
/// `.note.stapsdt` section (what `<sys/sdt.h>`'s `STAP_PROBEn` macros emit): where it is, its
/// optional semaphore and its argument string.
///
/// ```swift
/// let binary = try USDTBinary(bytes: [UInt8](data), path: "/usr/bin/app")
/// for probe in binary.probes(provider: "app", name: "request") {
///     print(probe.fileOffset, probe.arguments)   // 4656 "-4@%edi 8@-16(%rbp)"
/// }
/// ```
public struct USDTProbe: Hashable, Sendable, CustomStringConvertible {
    /// The provider, the first half of the probe's name (`STAP_PROBE(provider, name)`).
    public var provider: String
    /// The probe's name.
    public var name: String
    /// The probe's address (its `nop`) as the note records it, at link time.
    public var noteAddress: UInt64
    /// The link-time address of `.stapsdt.base` the note records (0 when it records none).
    public var noteBase: UInt64
    /// The probe's virtual address in the file as it is now: the note's address moved by as much as
    /// prelink moved `.stapsdt.base` since the link.
    public var address: UInt64
    /// The virtual address of the probe's semaphore (a 16-bit counter the program reads to learn
    /// whether anything is attached), moved as `address` is; 0 when the probe has none.
    public var semaphoreAddress: UInt64
    /// The argument string, e.g. `-4@%edi 8@-16(%rbp) 4@$5` (empty for a probe without arguments).
    public var arguments: String
    /// The file offset of the probe's address, as a uprobe is placed.
    public var fileOffset: UInt64
    /// The file offset of the semaphore (a uprobe's `ref_ctr_offset`); 0 when there is none.
    public var semaphoreOffset: UInt64

    public init(provider: String, name: String, noteAddress: UInt64, noteBase: UInt64, address: UInt64,
                semaphoreAddress: UInt64, arguments: String, fileOffset: UInt64, semaphoreOffset: UInt64) {
        self.provider = provider
        self.name = name
        self.noteAddress = noteAddress
        self.noteBase = noteBase
        self.address = address
        self.semaphoreAddress = semaphoreAddress
        self.arguments = arguments
        self.fileOffset = fileOffset
        self.semaphoreOffset = semaphoreOffset
    }

    /// `provider:name`.
    public var qualifiedName: String { "\(provider):\(name)" }

    public var description: String {
        "\(qualifiedName) at 0x\(String(address, radix: 16)) (file offset 0x\(String(fileOffset, radix: 16)))"
            + (semaphoreAddress != 0 ? ", semaphore 0x\(String(semaphoreAddress, radix: 16))" : "")
            + (arguments.isEmpty ? "" : ", arguments '\(arguments)'")
    }

    /// The probe's argument specification: its arguments parsed for x86-64.
    public func specification() throws(ObjectError) -> USDTSpec {
        try USDTSpec(arguments: arguments, probe: qualifiedName)
    }
}

/// The USDT probes of a host executable or shared library (ELF64, little-endian), with what is
/// needed to place uprobes on them: pure logic on the file's bytes, no system calls.
///
/// Each probe's address is corrected for prelink (the difference between `.stapsdt.base`'s address
/// now and the one its note recorded) and turned into a file offset through the loadable segment
/// that holds it, which must be executable; a semaphore must lie in a loadable segment that is not.
public struct USDTBinary: Sendable {
    /// A loadable segment (`PT_LOAD`).
    public struct Segment: Hashable, Sendable {
        public var virtualAddress: UInt64
        public var memorySize: UInt64
        public var fileOffset: UInt64
        public var isExecutable: Bool

        /// Whether `address` lies in the segment.
        public func contains(_ address: UInt64) -> Bool {
            address >= virtualAddress && address - virtualAddress < memorySize
        }
    }

    /// Every probe, in the notes' order.
    public let probes: [USDTProbe]
    /// The loadable segments.
    public let segments: [Segment]
    /// Whether the file is position-independent (`ET_DYN`: a shared library or a PIE executable),
    /// so a probe's run-time address depends on where the file is mapped.
    public let isPositionIndependent: Bool

    /// The name of the notes' section.
    public static let notesSection = ".note.stapsdt"
    /// The name of the prelink marker section.
    public static let baseSection = ".stapsdt.base"

    /// Reads the probes of the ELF file `bytes`; `path` names the file in errors. A file without a
    /// `.note.stapsdt` section has no probes.
    public init(bytes: [UInt8], path: String = "ELF file") throws(ObjectError) {
        let file = ByteReader(bytes, place: path)
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw ObjectError(path, "not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw ObjectError(path, "only 64-bit little-endian ELF files are supported") }
        let type = try file.u16(0x10)
        isPositionIndependent = type == 3   // ET_DYN
        let phoff = Int(clamping: try file.u64(0x20)), shoff = Int(clamping: try file.u64(0x28))
        let phentsize = Int(try file.u16(0x36)), phnum = Int(try file.u16(0x38))
        let shentsize = Int(try file.u16(0x3a)), shnum = Int(try file.u16(0x3c)), shstrndx = Int(try file.u16(0x3e))

        var segments: [Segment] = []
        if phnum > 0 {
            guard phentsize >= 56 else { throw ObjectError(path, "program header size \(phentsize) is smaller than 56") }
            for i in 0..<phnum {
                let p = phoff + i * phentsize
                guard try file.u32(p) == 1 else { continue }   // PT_LOAD
                segments.append(Segment(virtualAddress: try file.u64(p + 16), memorySize: try file.u64(p + 40),
                                        fileOffset: try file.u64(p + 8), isExecutable: try file.u32(p + 4) & 1 != 0))
            }
        }
        self.segments = segments

        // Sections: the notes and the base marker, by name.
        var notes: (offset: Int, size: Int, type: UInt32)?
        var baseAddress: UInt64 = 0
        if shnum > 0 {
            guard shentsize >= 64 else { throw ObjectError(path, "section header size \(shentsize) is smaller than 64") }
            guard shstrndx < shnum else { throw ObjectError(path, "section-name string table index \(shstrndx) is out of range") }
            let namesOffset = Int(clamping: try file.u64(shoff + shstrndx * shentsize + 24))
            let namesSize = Int(clamping: try file.u64(shoff + shstrndx * shentsize + 32))
            try file.check(namesOffset, namesSize)
            let names = ByteReader(Array(bytes[namesOffset..<namesOffset + namesSize]), place: "\(path): section-name string table")
            for i in 0..<shnum {
                let s = shoff + i * shentsize
                let name = try names.cString(Int(try file.u32(s)))
                if name == Self.notesSection {
                    notes = (Int(clamping: try file.u64(s + 24)), Int(clamping: try file.u64(s + 32)), try file.u32(s + 4))
                } else if name == Self.baseSection {
                    baseAddress = try file.u64(s + 16)
                }
            }
        }
        guard let notes else {
            probes = []
            return
        }
        let place = "\(path): section '\(Self.notesSection)'"
        guard notes.type == 7 else { throw ObjectError(place, "is not a note section (type \(notes.type), expected SHT_NOTE)") }
        guard notes.offset >= 0, notes.size >= 0, notes.offset <= bytes.count, notes.size <= bytes.count - notes.offset else {
            throw ObjectError(place, "contents (offset \(notes.offset), size \(notes.size)) extend past the end of the file (\(bytes.count) bytes)")
        }
        let data = ByteReader(Array(bytes[notes.offset..<notes.offset + notes.size]), place: place)
        var probes: [USDTProbe] = []
        var offset = 0
        func aligned(_ n: Int) -> Int { (n + 3) & ~3 }
        while offset + 12 <= notes.size {
            let noteStart = offset
            let nameSize = Int(try data.u32(offset)), descSize = Int(try data.u32(offset + 4)), noteType = try data.u32(offset + 8)
            let nameStart = offset + 12
            let descStart = nameStart + aligned(nameSize)
            let next = descStart + aligned(descSize)
            guard nameSize <= notes.size, descSize <= notes.size, next <= aligned(notes.size) else {
                throw ObjectError(place, "note at offset \(noteStart): its name (\(nameSize) bytes) and description (\(descSize) bytes) extend past the section (\(notes.size) bytes)")
            }
            offset = next
            // Other owners' notes are not probes.
            let owner = try data.slice(nameStart, nameSize)
            guard owner.prefix(while: { $0 != 0 }).elementsEqual("stapsdt".utf8), noteType == 3 else { continue }
            probes.append(try Self.probe(data: data, at: descStart, size: descSize, noteOffset: noteStart, place: place,
                                         baseAddress: baseAddress, segments: segments))
        }
        self.probes = probes
    }

    /// The probes named `provider:name`.
    public func probes(provider: String, name: String) -> [USDTProbe] {
        probes.filter { $0.provider == provider && $0.name == name }
    }

    /// The loadable segment holding virtual address `address`.
    public func segment(containing address: UInt64) -> Segment? {
        segments.first { $0.contains(address) }
    }

    /// One `stapsdt` note's description: the probe's address, `.stapsdt.base`'s and the semaphore's
    /// (three 64-bit words), then the provider, the name and the arguments, each ending in NUL.
    static func probe(data: ByteReader, at start: Int, size: Int, noteOffset: Int, place: String,
                      baseAddress: UInt64, segments: [Segment]) throws(ObjectError) -> USDTProbe {
        let notePlace = "\(place), note at offset \(noteOffset)"
        guard size >= 24 + 3 else {
            throw ObjectError(notePlace, "a stapsdt note's description is \(size) bytes, too short for three addresses and three strings")
        }
        let pc = try data.u64(start), base = try data.u64(start + 8), semaphore = try data.u64(start + 16)
        let strings = try data.slice(start + 24, size - 24)
        var fields: [String] = []
        var rest = strings[...]
        for what in ["provider", "name", "argument string"] {
            guard let end = rest.firstIndex(of: 0) else {
                throw ObjectError(notePlace, "the \(what) \(fields.isEmpty ? "" : "of probe '\(fields.joined(separator: ":"))' ")does not end in NUL")
            }
            fields.append(String(decoding: rest[..<end], as: UTF8.self))
            rest = rest[(end + 1)...]
        }
        let provider = fields[0], name = fields[1]
        let label = "probe '\(provider):\(name)'"
        guard !provider.isEmpty, !name.isEmpty else { throw ObjectError(notePlace, "\(label) has an empty provider or name") }
        // Prelink moved the file by as much as it moved .stapsdt.base.
        let delta = baseAddress != 0 && base != 0 ? baseAddress &- base : 0
        let address = pc &+ delta
        guard let segment = segments.first(where: { $0.contains(address) }) else {
            throw ObjectError(notePlace, "\(label) at 0x\(String(address, radix: 16)) is in no loadable segment")
        }
        guard segment.isExecutable else {
            throw ObjectError(notePlace, "\(label) at 0x\(String(address, radix: 16)) is in a segment that is not executable")
        }
        var semaphoreAddress: UInt64 = 0, semaphoreOffset: UInt64 = 0
        if semaphore != 0 {
            semaphoreAddress = semaphore &+ delta
            guard let holder = segments.first(where: { $0.contains(semaphoreAddress) }) else {
                throw ObjectError(notePlace, "the semaphore of \(label) at 0x\(String(semaphoreAddress, radix: 16)) is in no loadable segment")
            }
            guard !holder.isExecutable else {
                throw ObjectError(notePlace, "the semaphore of \(label) at 0x\(String(semaphoreAddress, radix: 16)) is in an executable segment")
            }
            semaphoreOffset = semaphoreAddress - holder.virtualAddress + holder.fileOffset
        }
        // sys/sdt.h writes a lone ':' for a probe without arguments in some versions.
        let arguments = fields[2] == ":" ? "" : fields[2]
        return USDTProbe(provider: provider, name: name, noteAddress: pc, noteBase: base, address: address,
                         semaphoreAddress: semaphoreAddress, arguments: arguments,
                         fileOffset: address - segment.virtualAddress + segment.fileOffset, semaphoreOffset: semaphoreOffset)
    }
}
