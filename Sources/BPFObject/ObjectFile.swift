import BPFCore

/// An eBPF object file read into pure data — programs, maps, BTF, license — as `clang -target bpf`
/// produces it. No runtime or kernel is involved; both backends load from this.
///
/// ```swift
/// let object = try ObjectFile(bytes: Array(try Data(contentsOf: url)))
/// for program in object.programs { print(program.name, program.section, program.type) }
/// for map in object.maps { print(map.name, map.type, map.maxEntries) }
/// ```
public struct ObjectFile: Sendable {
    /// Programs in section order, each linked with its subprograms.
    public private(set) var programs: [ProgramSpec]
    /// The global functions of `.text`, each linked with what it calls, of no type: entry points a
    /// caller names with a type (`swiftbpf verify OBJ --program NAME --type TYPE`,
    /// ``entryPoint(named:type:)``).
    public private(set) var textFunctions: [ProgramSpec] = []
    /// Maps in the order the object defines them (BTF maps, legacy maps, then global data).
    public private(set) var maps: [MapSpec]
    public let license: String
    public let kernelVersion: UInt32?
    public let btf: BTF?
    public let btfExt: BTFExt?
    /// `.kconfig` externs: name → (offset, size) in the `.kconfig` map's value.
    public let kconfigExterns: [String: (offset: Int, size: Int)]
    /// Every extern the object declares (undefined global or weak symbols without a type: `.kconfig`
    /// values, ksyms and kfuncs), in libbpf's order: `.kconfig` ones first, then the others by name.
    /// An extern's index in this list is libbpf's extern index (it numbers poisoned kfunc calls).
    public private(set) var externs: [ExternSymbol] = []
    /// Global functions with hidden or internal visibility (`__hidden`): loaders send their BTF
    /// `FUNC` as static, so the kernel verifies them with their callers' context, as libbpf does.
    public private(set) var hiddenFunctions: Set<String> = []
    /// The global variables of `.rodata`, `.data` and `.bss` (see ``GlobalVariable``).
    public private(set) var globals: [GlobalVariable] = []

    /// Replaces the initial bytes of the map at `index` (a global variable's section).
    mutating func setInitialValue(_ value: [UInt8], ofMap index: Int) { maps[index].initialValue = value }

    /// The map with this name.
    public func map(named name: String) -> MapSpec? { maps.first { $0.name == name } }

    /// Sizes a map before it is created, as libbpf's `bpf_map__set_max_entries` does (tools leave
    /// `max_entries` 0 for their user space to fill in, e.g. with the number of CPUs).
    ///
    /// ```swift
    /// try object.setMaxEntries(ofMap: "rx_cnt", to: 64)
    /// ```
    public mutating func setMaxEntries(ofMap name: String, to entries: Int) throws(ObjectError) {
        guard let i = maps.firstIndex(where: { $0.name == name }) else {
            throw ObjectError("map '\(name)'", "no such map (maps: \(maps.map(\.name).joined(separator: ", ")))")
        }
        guard entries > 0, entries <= Int(UInt32.max) else {
            throw ObjectError("map '\(name)'", "max_entries \(entries) is out of range (1 to \(UInt32.max))")
        }
        if case .globalData = maps[i].origin {
            throw ObjectError("map '\(name)'", "global data has one entry; its size cannot change")
        }
        maps[i].maxEntries = entries
    }

    /// The program with this function name.
    public func program(named name: String) -> ProgramSpec? { programs.first { $0.name == name } }

    /// A program by name, given a type: a program of the object (retyped), or a global function
    /// of `.text` run as an entry point, as `bpftool prog load ... type` loads one.
    ///
    /// ```swift
    /// let entry = try object.entryPoint(named: "classify", type: "sched_cls")
    /// ```
    public func entryPoint(named name: String, type: String) throws(ObjectError) -> ProgramSpec {
        guard let spec = program(named: name) ?? textFunctions.first(where: { $0.name == name }) else {
            let names = (programs + textFunctions).map(\.name)
            throw ObjectError("function '\(name)'", "not a program or global function of the object (it has \(names.joined(separator: ", ")))")
        }
        return try spec.withType(type)
    }

    /// Gives a program the type its section does not name (or another), in place; a global
    /// function of `.text` becomes a program of the object. What `--type` does on the command line.
    ///
    /// ```swift
    /// try object.setType("sched_cls", ofProgram: "classify")
    /// ```
    public mutating func setType(_ type: String, ofProgram name: String) throws(ObjectError) {
        let spec = try entryPoint(named: name, type: type)
        if let i = programs.firstIndex(where: { $0.name == name }) {
            programs[i] = spec
        } else {
            programs.append(spec)
        }
    }

    /// An object made in memory from programs and maps rather than read from an ELF file, with no
    /// BTF: for programs assembled by hand that a backend loads as it loads a clang-built object.
    ///
    /// ```swift
    /// let object = ObjectFile(programs: [spec], maps: [MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 4)])
    /// ```
    public init(programs: [ProgramSpec], maps: [MapSpec], license: String = "GPL", kernelVersion: UInt32? = nil) {
        self.programs = programs
        self.maps = maps
        self.license = license
        self.kernelVersion = kernelVersion
        self.btf = nil
        self.btfExt = nil
        self.kconfigExterns = [:]
    }

    public init(bytes: [UInt8]) throws(ObjectError) {
        let elf = try ELFFile(bytes: bytes)
        // Older LLVM wrote machine 0 (EM_NONE); libbpf accepts it, as we do.
        guard elf.machine == ELFFile.machineBPF || elf.machine == 0 else {
            throw ObjectError("ELF header", "machine \(elf.machine) is not BPF (247): build with clang -target bpf")
        }
        var license = ""
        if let section = elf.section(named: "license") {
            license = String(decoding: elf.contents(of: section).prefix { $0 != 0 }, as: UTF8.self)
        }
        self.license = license
        if let section = elf.section(named: "version") {
            let data = elf.contents(of: section)
            guard data.count >= 4 else { throw ObjectError(section.label, "is \(data.count) bytes, expected 4") }
            kernelVersion = try ByteReader(data, place: section.label).u32(0)
        } else {
            kernelVersion = nil
        }
        var btf: BTF?
        var btfExt: BTFExt?
        if let section = elf.section(named: ".BTF") {
            btf = try BTF(bytes: elf.contents(of: section)).fixingDataSections(
                sectionSize: { name in elf.section(named: name)?.size },
                variable: { sectionName, variable in
                    guard let section = elf.section(named: sectionName),
                          let symbol = elf.symbols.first(where: { Int($0.sectionIndex) == section.index && $0.name == variable })
                    else { return nil }
                    return (Int(symbol.value), Int(symbol.size))
                })
            if let ext = elf.section(named: ".BTF.ext"), let btf {
                btfExt = try BTFExt(bytes: elf.contents(of: ext), btf: btf)
            }
        }
        self.btf = btf
        self.btfExt = btfExt

        var reader = MapReader(elf: elf, btf: btf)
        try reader.readAll()
        self.maps = reader.maps
        self.kconfigExterns = reader.kconfig
        self.globals = reader.globalVariables()

        externs = ExternSymbol.collect(elf: elf, btf: btf)
        hiddenFunctions = Set(elf.symbols.filter {
            $0.type == ELFSymbol.typeFunc && $0.binding != ELFSymbol.bindingLocal && $0.sectionIndex != ELFSymbol.undefinedSection
                && ($0.visibility == 2 || $0.visibility == 1)   // STV_HIDDEN, STV_INTERNAL
        }.map(\.name))

        var linker = Linker(elf: elf, btf: btf, btfExt: btfExt, maps: reader, license: license, kernelVersion: kernelVersion)
        self.programs = ObjectFile.typingTailCallSections(try linker.linkAll())
        self.textFunctions = linker.linkTextFunctions()
        if !hiddenFunctions.isEmpty {
            for i in programs.indices { programs[i].hiddenFunctions = hiddenFunctions }
            for i in textFunctions.indices { textFunctions[i].hiddenFunctions = hiddenFunctions }
        }
        let implementations = ObjectFile.structOpsImplementations(maps)
        if !implementations.isEmpty {
            for i in programs.indices { programs[i].structOps = implementations[programs[i].name] }
        }
    }
}

extension ObjectFile {
    /// Whether a section is iproute2's tail-call form, `__section_tail(ID, KEY)` → "ID/KEY" (cilium's
    /// `2/7`): a program array's id and the key the program is stored at.
    public static func isTailCallSection(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Programs in tail-call sections name no type: iproute2 (and cilium's loader) load them with the
    /// type of the object's entry programs, which they are tail-called from. They take the type and
    /// attach type the object's typed programs share; when those differ, or there are none, they
    /// stay untyped (`--type` gives one).
    public static func typingTailCallSections(_ programs: [ProgramSpec]) -> [ProgramSpec] {
        let typed = programs.filter { $0.type != .unspecified }
        guard let first = typed.first,
              typed.allSatisfy({ $0.type == first.type && $0.attachType == first.attachType }),
              programs.contains(where: { $0.type == .unspecified && isTailCallSection($0.section) }) else { return programs }
        return programs.map { program in
            guard program.type == .unspecified, isTailCallSection(program.section) else { return program }
            var program = program
            program.type = first.type
            program.attachType = first.attachType
            return program
        }
    }
}

/// Reads map definitions: BTF `.maps`, the legacy `maps` section, and global data sections.
struct MapReader {
    let elf: ELFFile
    let btf: BTF?
    var maps: [MapSpec] = []
    /// Section index → the name of the map it defines (global data) or nil for map-definition sections.
    var globalDataMaps: [Int: String] = [:]
    var mapSectionIndices: Set<Int> = []
    /// For BTF maps: (start, end, name, offset of the `values` member) of each variable in `.maps`.
    var btfMapVariables: [(start: Int, end: Int, name: String, valuesOffset: Int?)] = []
    var kconfig: [String: (offset: Int, size: Int)] = [:]

    init(elf: ELFFile, btf: BTF?) {
        self.elf = elf
        self.btf = btf
    }

    /// The largest global-data section accepted (the kernel's array value limit is smaller still).
    static let maxGlobalDataSize = 1 << 26

    /// The section of arena globals (`address_space(1)` variables).
    static let arenaSection = ".addr_space.1"

    static func isGlobalData(_ name: String) -> Bool {
        name == ".data" || name == ".rodata" || name == ".bss"
            || name.hasPrefix(".data.") || name.hasPrefix(".rodata.") || name.hasPrefix(".bss.")
    }

    mutating func readAll() throws(ObjectError) {
        if let section = elf.section(named: ".maps") {
            mapSectionIndices.insert(section.index)
            try readBTFMaps(section)
        }
        // Legacy definitions: all in "maps", or one per "maps/NAME" section (older loaders).
        for section in elf.sections where section.name == "maps" || section.name.hasPrefix("maps/") {
            mapSectionIndices.insert(section.index)
            try readLegacyMaps(section)
        }
        // Arena globals (`__arena_global`, section .addr_space.1) live in the object's arena map,
        // as libbpf places them: their addresses are addresses in the arena.
        if let section = elf.section(named: Self.arenaSection), section.size > 0 {
            let arenas = maps.filter { $0.type == .arena }
            guard arenas.count == 1 else {
                throw ObjectError(section.label, arenas.isEmpty ? "arena globals need an arena map (BPF_MAP_TYPE_ARENA) in the object"
                                  : "arena globals with \(arenas.count) arena maps: a program has at most one arena")
            }
            globalDataMaps[section.index] = arenas[0].name
            // Their initial bytes, placed at the arena's start.
            if let i = maps.firstIndex(where: { $0.type == .arena }) {
                maps[i].initialValue = section.type == ELFSection.typeNoBits
                    ? [UInt8](repeating: 0, count: section.size) : elf.contents(of: section)
            }
        }
        for section in elf.sections where Self.isGlobalData(section.name) && section.size > 0
            && (section.type == ELFSection.typeProgBits || section.type == ELFSection.typeNoBits) {
            guard section.size <= Self.maxGlobalDataSize else {
                throw ObjectError(section.label, "global data of \(section.size) bytes is larger than the \(Self.maxGlobalDataSize)-byte limit")
            }
            var spec = MapSpec(name: section.name, type: .array, keySize: 4, valueSize: section.size, maxEntries: 1,
                               origin: .globalData(section: section.name))
            spec.initialValue = section.type == ELFSection.typeNoBits
                ? [UInt8](repeating: 0, count: section.size) : elf.contents(of: section)
            spec.readOnly = section.name.hasPrefix(".rodata")
            if let btf, let id = btf.typeID(named: section.name, kind: .dataSection) {
                spec.valueType = id
                spec.spinLockOffset = Self.spinLockOffset(in: id, btf: btf)
            }
            maps.append(spec)
            globalDataMaps[section.index] = section.name
        }
        if let btf, let id = btf.typeID(named: ".kconfig", kind: .dataSection), let datasec = btf[id],
           case let .variables(vars) = datasec.detail {
            // Externs have no symbols to place them: lay them out in order, each aligned to its size.
            var size = 0
            for v in vars {
                guard let variable = btf[v.type] else { continue }
                let width = (try? btf.size(of: variable.referencedType)) ?? v.size
                let alignment = min(max(width, 1), 8)
                let offset = (size + alignment - 1) / alignment * alignment
                kconfig[variable.name] = (offset, width)
                size = offset + width
            }
            guard size <= Self.maxGlobalDataSize else {
                throw ObjectError("BTF data section '.kconfig'", "size \(size) is larger than the \(Self.maxGlobalDataSize)-byte limit")
            }
            if size > 0 {
                var spec = MapSpec(name: ".kconfig", type: .array, keySize: 4, valueSize: size, maxEntries: 1,
                                   origin: .globalData(section: ".kconfig"))
                spec.initialValue = [UInt8](repeating: 0, count: size)
                spec.readOnly = true
                spec.valueType = id
                maps.append(spec)
            }
        }
        // struct_ops maps last, as libbpf numbers them.
        try readStructOps()
    }

    mutating func readBTFMaps(_ section: ELFSection) throws(ObjectError) {
        guard let btf else { throw ObjectError(section.label, "BTF-defined maps need a .BTF section (build with -g)") }
        guard let id = btf.typeID(named: ".maps", kind: .dataSection), let datasec = btf[id],
              case let .variables(vars) = datasec.detail else {
            throw ObjectError(section.label, "no BTF data section '.maps' describes the maps")
        }
        for v in vars {
            guard let variable = btf[v.type], variable.kind == .variable else {
                throw ObjectError(section.label, "BTF entry at offset \(v.offset) is not a variable")
            }
            // clang leaves data-section offsets to the loader: take them from the symbol table.
            var v = v
            if let symbol = elf.symbols.first(where: { Int($0.sectionIndex) == section.index && $0.name == variable.name }) {
                v.offset = Int(symbol.value)
                v.size = Int(symbol.size)
            }
            let (spec, valuesOffset) = try Self.btfMap(name: variable.name, structType: variable.referencedType, btf: btf,
                                                       place: "map '\(variable.name)' in \(section.label)")
            maps.append(spec)
            btfMapVariables.append((v.offset, v.offset + v.size, variable.name, valuesOffset))
        }
        // Initial values of prog arrays and maps of maps: relocations in .rel.maps.
        for relocation in elf.relocations[section.index] ?? [] {
            let offset = Int(relocation.offset)
            guard let variable = btfMapVariables.first(where: { offset >= $0.start && offset < $0.end }),
                  let valuesOffset = variable.valuesOffset else {
                throw ObjectError(section.label, "relocation at offset \(offset) is not inside a map's 'values' member")
            }
            let slot = (offset - variable.start - valuesOffset) / 8
            let symbol = elf.symbols[relocation.symbolIndex]
            guard let index = maps.firstIndex(where: { $0.name == variable.name }) else { continue }
            maps[index].initialReferences[slot] = symbol.name
        }
    }

    /// Reads the integer a `__uint(name, N)` member encodes: a pointer to an array of N elements.
    static func encodedInteger(_ type: Int, btf: BTF, place: String) throws(ObjectError) -> Int {
        // libbpf's __ulong(name, value): an enum whose one enumerator is the (64-bit) value.
        if let t = btf[btf.resolve(type)], t.kind == .enumeration || t.kind == .enumeration64,
           case let .enumerators(values, _) = t.detail, values.count == 1 {
            return Int(truncatingIfNeeded: values[0].value)
        }
        guard let pointer = btf[btf.resolve(type)], pointer.kind == .pointer,
              let array = btf[btf.resolve(pointer.referencedType)], case let .array(_, _, count) = array.detail else {
            throw ObjectError(place, "expected an integer declared with __uint(), found \(btf.typeName(type))")
        }
        return count
    }

    static func btfMap(name: String, structType: Int, btf: BTF, place: String) throws(ObjectError) -> (MapSpec, Int?) {
        guard let definition = btf[btf.resolve(structType)], definition.kind == .structure,
              case let .members(members) = definition.detail else {
            throw ObjectError(place, "a BTF map definition must be a struct")
        }
        var spec = MapSpec(name: name, type: .unspecified, keySize: 0, valueSize: 0, maxEntries: 0)
        var valuesOffset: Int?
        for member in members {
            let memberPlace = "\(place), member '\(member.name)'"
            switch member.name {
            case "type":
                let raw = try encodedInteger(member.type, btf: btf, place: memberPlace)
                guard let type = MapType(rawValue: UInt32(raw)) else { throw ObjectError(memberPlace, "unknown map type \(raw)") }
                spec.type = type
            case "key_size": spec.keySize = try encodedInteger(member.type, btf: btf, place: memberPlace)
            case "value_size": spec.valueSize = try encodedInteger(member.type, btf: btf, place: memberPlace)
            case "max_entries": spec.maxEntries = try encodedInteger(member.type, btf: btf, place: memberPlace)
            case "map_flags": spec.flags = UInt32(truncatingIfNeeded: try encodedInteger(member.type, btf: btf, place: memberPlace))
            case "pinning": spec.pinning = UInt32(truncatingIfNeeded: try encodedInteger(member.type, btf: btf, place: memberPlace))
            case "numa_node": spec.numaNode = UInt32(truncatingIfNeeded: try encodedInteger(member.type, btf: btf, place: memberPlace))
            case "map_extra": spec.mapExtra = UInt64(try encodedInteger(member.type, btf: btf, place: memberPlace))
            case "key", "value":
                guard let pointer = btf[btf.resolve(member.type)], pointer.kind == .pointer else {
                    throw ObjectError(memberPlace, "expected a pointer declared with __type()")
                }
                let size = try btf.size(of: pointer.referencedType)
                if member.name == "key" {
                    spec.keySize = size; spec.keyType = pointer.referencedType
                } else {
                    spec.valueSize = size; spec.valueType = pointer.referencedType
                }
            case "values":
                valuesOffset = member.bitOffset / 8
                guard let array = btf[btf.resolve(member.type)], case let .array(element, _, _) = array.detail,
                      let pointer = btf[btf.resolve(element)], pointer.kind == .pointer else {
                    throw ObjectError(memberPlace, "expected an array of pointers declared with __array()")
                }
                let target = btf.resolve(pointer.referencedType)
                if btf[target]?.kind == .structure {
                    let (inner, _) = try btfMap(name: name + ".inner", structType: target, btf: btf, place: "\(memberPlace) (inner map)")
                    spec.innerMap = MapSpec.Box(inner)
                }
            default:
                break  // unknown members are ignored, as libbpf does for forward compatibility
            }
        }
        if spec.type == .arrayOfMaps || spec.type == .hashOfMaps || spec.type == .programArray {
            if spec.valueSize == 0 { spec.valueSize = 4 }
            if spec.keySize == 0 { spec.keySize = 4 }
        }
        if spec.type == .unspecified { throw ObjectError(place, "the map has no type") }
        if let value = spec.valueType { spec.spinLockOffset = spinLockOffset(in: value, btf: btf) }
        return (spec, valuesOffset)
    }

    /// The offset of a top-level `struct bpf_spin_lock` member of a value type (or variable of a
    /// global-data section: `private(X) struct bpf_spin_lock lock;`), if it has one.
    static func spinLockOffset(in type: Int, btf: BTF, depth: Int = 0) -> Int? {
        if let section = btf[type], section.kind == .dataSection, case let .variables(vars) = section.detail {
            for v in vars {
                guard let variable = btf[v.type], let t = btf[btf.resolve(variable.referencedType)], t.kind == .structure else { continue }
                if t.name == "bpf_spin_lock" { return v.offset }
                if let inner = spinLockOffset(in: t.id, btf: btf, depth: depth + 1) { return v.offset + inner }
            }
            return nil
        }
        guard depth < 8, let value = btf[btf.resolve(type)], case let .members(members) = value.detail else { return nil }
        for member in members {
            guard let t = btf[btf.resolve(member.type)], t.kind == .structure else { continue }
            if t.name == "bpf_spin_lock" { return member.bitOffset / 8 }
            // A struct of the value holding the lock (the kernel finds it in nested structs too).
            if depth < 7, let inner = spinLockOffset(in: t.id, btf: btf, depth: depth + 1) { return member.bitOffset / 8 + inner }
        }
        return nil
    }

    /// Reads pre-BTF map definitions: records of `__u32` fields, one per symbol of the section.
    /// Each record's size is its symbol's size (records of different layouts may share the
    /// section); without sizes, the distance to the next symbol or an equal share of the section.
    /// Layouts: 20 bytes (`struct bpf_map_def`: type, key size, value size, max entries, flags);
    /// 28 bytes (samples/bpf's with `inner_map_idx`, `numa_node`, or iproute2's older
    /// `bpf_elf_map` with `id`, `pinning`: the field at 24 is read as pinning); 36 bytes or more
    /// (iproute2's `struct bpf_elf_map`: `id`, `pinning`, `inner_id`, `inner_idx`).
    mutating func readLegacyMaps(_ section: ELFSection) throws(ObjectError) {
        let symbols = elf.symbols.filter { Int($0.sectionIndex) == section.index && !$0.name.isEmpty && $0.type != ELFSymbol.typeSection }
            .sorted { $0.value < $1.value }
        guard !symbols.isEmpty else { return }
        let data = elf.contents(of: section)
        let r = ByteReader(data, place: section.label)
        // (map index, record size, the u32 at 20: iproute2's id or samples/bpf's inner_map_idx, inner_id)
        var records: [(index: Int, size: Int, id: UInt32, innerID: UInt32, place: String)] = []
        for (i, symbol) in symbols.enumerated() {
            let o = Int(symbol.value)
            let place = "legacy map '\(symbol.name)' in \(section.label)"
            var size = Int(symbol.size)
            if size == 0 {
                size = i + 1 < symbols.count ? Int(symbols[i + 1].value) - o : data.count / symbols.count
            }
            guard size >= 20 else {
                throw ObjectError(place, "its definition of \(size) bytes is too small (a map definition has at least 20)")
            }
            guard o >= 0, o + size <= data.count else {
                throw ObjectError(place, "its definition at offset \(o) (\(size) bytes) runs past the section's \(data.count) bytes")
            }
            let raw = try r.u32(o)
            guard let type = MapType(rawValue: raw) else { throw ObjectError(place, "unknown map type \(raw)") }
            var spec = MapSpec(name: symbol.name, type: type, keySize: Int(try r.u32(o + 4)), valueSize: Int(try r.u32(o + 8)),
                               maxEntries: Int(try r.u32(o + 12)), flags: try r.u32(o + 16), origin: .legacy)
            if size >= 28 { spec.pinning = try r.u32(o + 24) }
            maps.append(spec)
            records.append((maps.count - 1, size, size >= 28 ? try r.u32(o + 20) : 0, size >= 36 ? try r.u32(o + 28) : 0, place))
        }
        // Maps of maps: the inner map is the record whose `id` is the outer one's `inner_id`
        // (iproute2's 36-byte `bpf_elf_map`), or the record at index `inner_map_idx` (samples/bpf's
        // 28-byte layout).
        for record in records where maps[record.index].type == .arrayOfMaps || maps[record.index].type == .hashOfMaps {
            var inner: Int?
            if record.size >= 36, record.innerID != 0 {
                inner = records.first { $0.size >= 36 && $0.id == record.innerID && $0.index != record.index }?.index
                guard inner != nil else {
                    throw ObjectError(record.place, "inner_id \(record.innerID) names no map definition of the section (by its id)")
                }
            } else if record.size >= 28, record.size < 36, Int(record.id) < records.count, records[Int(record.id)].index != record.index {
                inner = records[Int(record.id)].index
            }
            if let inner { maps[record.index].innerMap = MapSpec.Box(maps[inner]) }
        }
    }
}

/// An extern of an object: a symbol it uses but does not define, which the loader supplies (a
/// `.kconfig` value, a kernel variable or a kernel function).
public struct ExternSymbol: Hashable, Sendable {
    public var name: String
    /// Declared `__weak`: a loader that cannot find it gives 0 (a kfunc call is poisoned) rather
    /// than failing.
    public var isWeak: Bool
    /// A function (a kfunc), by its BTF (`FUNC` with extern linkage).
    public var isFunction: Bool
    /// A `.kconfig` value.
    public var isKconfig: Bool

    public init(name: String, isWeak: Bool, isFunction: Bool, isKconfig: Bool) {
        self.name = name
        self.isWeak = isWeak
        self.isFunction = isFunction
        self.isKconfig = isKconfig
    }

    /// The externs of an ELF object in libbpf's order (`.kconfig` first, then by name; within
    /// `.kconfig` libbpf sorts by alignment and size, which no index we compute depends on, so by name).
    static func collect(elf: ELFFile, btf: BTF?) -> [ExternSymbol] {
        var kconfigNames: Set<String> = []
        if let btf, let id = btf.typeID(named: ".kconfig", kind: .dataSection), case let .variables(vars)? = btf[id]?.detail {
            for v in vars { if let name = btf[v.type]?.name { kconfigNames.insert(name) } }
        }
        var seen: Set<String> = []
        var result: [ExternSymbol] = []
        for symbol in elf.symbols where symbol.sectionIndex == ELFSymbol.undefinedSection && symbol.type == ELFSymbol.typeNone
            && (symbol.binding == ELFSymbol.bindingGlobal || symbol.binding == ELFSymbol.bindingWeak) && !symbol.name.isEmpty {
            guard seen.insert(symbol.name).inserted else { continue }
            let isFunction = btf?.typeID(named: symbol.name, kind: .function) != nil
            result.append(ExternSymbol(name: symbol.name, isWeak: symbol.binding == ELFSymbol.bindingWeak,
                                       isFunction: isFunction, isKconfig: kconfigNames.contains(symbol.name)))
        }
        return result.sorted { a, b in
            if a.isKconfig != b.isKconfig { return a.isKconfig }
            return Array(a.name.utf8).lexicographicallyPrecedes(Array(b.name.utf8))
        }
    }
}
