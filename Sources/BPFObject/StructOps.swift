/// What a struct_ops map of an object holds: a kernel struct of function pointers (and a few data
/// members) filled by the object — a TCP congestion control (`struct tcp_congestion_ops`), a
/// `sched_ext` scheduler (`struct sched_ext_ops`), ... Each function pointer names a program of the
/// object (`SEC("struct_ops/...")`) that implements that member. Pure data: laying it out for a
/// kernel (``kernelLayout(in:map:)``) needs that kernel's BTF, not the kernel.
///
/// ```swift
/// let cc = object.map(named: "swiftbpf_cc")!.structOps!
/// print(cc.typeName, cc.isLink)                            // tcp_congestion_ops false
/// for member in cc.members where member.program != nil {
///     print(member.name, "→", member.program!)           // ssthresh → swiftbpf_cc_ssthresh ...
/// }
/// ```
public struct StructOpsSpec: Hashable, Sendable {
    /// The struct type's name in the object's BTF, as written (`tcp_congestion_ops`, or with a
    /// `___flavor` suffix, which is dropped when the kernel's type is looked up).
    public var typeName: String
    /// The struct type's id in the object's BTF.
    public var typeID: Int
    /// The ELF section the map's variable is in: `.struct_ops` or `.struct_ops.link`.
    public var section: String
    /// Registered through a struct_ops link (`.struct_ops.link`: the map is created `BPF_F_LINK`)
    /// rather than by updating the map.
    public var isLink: Bool
    /// The struct's bytes as the object initialises them (function pointers are relocations, so 0 here).
    public var data: [UInt8]
    /// Every member of the struct type, in order.
    public var members: [Member]

    /// A member of the struct type.
    public struct Member: Hashable, Sendable {
        public var name: String
        /// Its index among the members of the object's struct type.
        public var index: Int
        /// Its byte offset and size in `data`.
        public var offset: Int
        public var size: Int
        /// Whether it is a pointer to a function.
        public var isFunctionPointer: Bool
        /// The program the object puts in it (function pointers only; nil when left NULL).
        public var program: String?
        /// Its type as the object declares it (`__u32`, `char[16]`, `u32 (*)(struct sock *)` ...).
        public var typeName: String
        /// The kind of its type, typedefs and qualifiers resolved.
        public var typeKind: BTFKind?
    }

    /// The essential name of the type: `typeName` without a `___flavor` suffix, as the kernel names it.
    public var kernelTypeName: String { StructOpsSpec.essentialName(typeName) }

    /// The member `name`.
    public func member(named name: String) -> Member? { members.first { $0.name == name } }

    /// `name` without its CO-RE flavor suffix (`___...`).
    static func essentialName(_ name: String) -> String {
        String(CORERelocator.essentialName(name))
    }

    /// The prefix of the kernel's value type for a struct_ops type (`bpf_struct_ops_tcp_congestion_ops`).
    public static let kernelValuePrefix = "bpf_struct_ops_"

    /// Map flag `BPF_F_LINK`: a struct_ops map registered through a link.
    public static let linkFlag: UInt32 = 1 << 13
}

/// Which struct_ops member a program implements: the map that names it, the struct type and the
/// member. A loader loads the program with the kernel's struct as its attach BTF id and the member's
/// index (in the kernel's struct) as its expected attach type; a verifier types the program's
/// arguments from the member's function prototype in the kernel's BTF
/// (``BTF/structOpsPrototype(type:member:)``).
///
/// ```swift
/// let implemented = object.program(named: "swiftbpf_cc_ssthresh")!.structOps!
/// print(implemented.typeName, implemented.member)             // tcp_congestion_ops ssthresh
/// let proto = kernelBTF.structOpsPrototype(type: implemented.kernelTypeName, member: implemented.member)
/// ```
public struct StructOpsImplementation: Hashable, Sendable {
    /// The first struct_ops map (in the object's order) whose member names the program.
    public var map: String
    /// The struct type's name in the object's BTF (maybe with a `___flavor` suffix).
    public var typeName: String
    /// The member's name.
    public var member: String
    /// The struct type's name in the kernel (`typeName` without a flavor suffix).
    public var kernelTypeName: String { StructOpsSpec.essentialName(typeName) }

    public init(map: String, typeName: String, member: String) {
        self.map = map
        self.typeName = typeName
        self.member = member
    }
}

/// A struct_ops map laid out for one kernel: the kernel's types and the value its map takes, with
/// the slots where the loader puts program fds. Made by ``StructOpsSpec/kernelLayout(in:map:)`` from
/// the kernel's BTF alone (no syscall), as libbpf lays out a struct_ops map.
public struct StructOpsKernelLayout: Hashable, Sendable {
    /// The kernel struct's BTF id (`tcp_congestion_ops`): the attach BTF id of the programs.
    public var typeID: Int
    /// The kernel's value type's BTF id (`bpf_struct_ops_tcp_congestion_ops`): the map's
    /// `btf_vmlinux_value_type_id`.
    public var valueTypeID: Int
    /// The value: the value type's size, the object's data members copied in at the kernel's
    /// offsets, everything else zero (function pointers are filled with program fds at load).
    public var value: [UInt8]
    /// The byte offset of the struct inside the value (after the kernel's common header).
    public var dataOffset: Int
    /// The function pointers the object sets, in member order.
    public var functions: [Function]
    /// Members of the object's type the kernel lacks, left zero and so skipped (as libbpf does).
    public var skippedMembers: [String]

    /// A function pointer member and the program that fills it.
    public struct Function: Hashable, Sendable {
        /// The member's name.
        public var member: String
        /// Its index in the kernel's struct: the program's expected attach type.
        public var memberIndex: Int
        /// The program's name.
        public var program: String
        /// Where its fd goes in `value` (8 bytes).
        public var valueOffset: Int
    }
}

extension StructOpsSpec {
    /// Lays this map out for the kernel whose BTF is `kernel`: finds `bpf_struct_ops_<type>` and
    /// `<type>`, matches every member of the object's type to the kernel's by name, copies data
    /// members (sizes must agree) and records function pointers (the kernel's member must be one
    /// too). A member the kernel lacks is skipped if it is zero (NULL), and refused otherwise.
    /// Errors name the map, the member and both types.
    ///
    /// ```swift
    /// let layout = try spec.kernelLayout(in: try BTF(fileBytes: vmlinux), map: "swiftbpf_cc")
    /// print(layout.value.count, layout.functions.map(\.member))
    /// ```
    public func kernelLayout(in kernel: BTF, map: String) throws(ObjectError) -> StructOpsKernelLayout {
        let place = "struct_ops map '\(map)' (struct \(typeName))"
        let name = kernelTypeName
        guard let valueTypeID = kernel.typeID(named: Self.kernelValuePrefix + name, kind: .structure) else {
            if kernel.typeID(named: name, kind: .structure) != nil {
                throw ObjectError(place, "the kernel has struct \(name) but no struct \(Self.kernelValuePrefix)\(name): it does not register \(name) from BPF (struct_ops) — too old, or the subsystem is not built in")
            }
            throw ObjectError(place, "the kernel's BTF has no struct_ops type \(name) (no struct \(Self.kernelValuePrefix)\(name)): this kernel cannot register it")
        }
        guard let typeID = kernel.typeID(named: name, kind: .structure), let kernelType = kernel[typeID],
              case let .members(kernelMembers) = kernelType.detail else {
            throw ObjectError(place, "the kernel's BTF has no struct \(name)")
        }
        guard let valueType = kernel[valueTypeID], case let .members(valueMembers) = valueType.detail,
              let dataMember = valueMembers.first(where: { $0.type == typeID }) else {
            throw ObjectError(place, "the kernel's struct \(Self.kernelValuePrefix)\(name) holds no struct \(name)")
        }
        let dataOffset = dataMember.bitOffset / 8
        var value = [UInt8](repeating: 0, count: valueType.sizeOrType)
        var functions: [StructOpsKernelLayout.Function] = []
        var skipped: [String] = []
        for member in members {
            let memberPlace = "\(place), member '\(member.name)'"
            let bytes = data[member.offset..<(member.offset + member.size)]
            guard let kernelIndex = kernelMembers.firstIndex(where: { $0.name == member.name }) else {
                if bytes.allSatisfy({ $0 == 0 }) && member.program == nil {
                    skipped.append(member.name)
                    continue
                }
                let what = member.program.map { "is set to program '\($0)'" } ?? "is set (non-zero)"
                throw ObjectError(memberPlace, "the kernel's struct \(name) has no member '\(member.name)', and the object's \(what); leave it zero to load on this kernel")
            }
            let kernelMember = kernelMembers[kernelIndex]
            if kernelMember.bitfieldSize != 0 {
                throw ObjectError(memberPlace, "is a bitfield in the kernel's struct \(name); struct_ops bitfields are not supported")
            }
            let kernelMemberType = kernel.resolve(kernelMember.type)
            let kernelIsFunction = kernel[kernelMemberType].map { pointer in
                pointer.kind == .pointer && kernel[kernel.resolve(pointer.referencedType)]?.kind == .functionPrototype
            } ?? false
            let kernelKind = kernel[kernelMemberType]?.kind
            let kernelOffset = dataOffset + kernelMember.bitOffset / 8
            if member.isFunctionPointer || member.program != nil {
                guard kernelIsFunction else {
                    throw ObjectError(memberPlace, "is a function pointer in the object, but the kernel's member is \(kernel.typeName(kernelMember.type)): a struct_ops member of the wrong type")
                }
                guard let program = member.program else { continue }
                functions.append(.init(member: member.name, memberIndex: kernelIndex, program: program, valueOffset: kernelOffset))
                continue
            }
            if kernelIsFunction {
                throw ObjectError(memberPlace, "is \(member.typeName) in the object, but the kernel's member is a function pointer (\(kernel.typeName(kernelMember.type))): a struct_ops member of the wrong type")
            }
            let kernelSize: Int
            do { kernelSize = try kernel.size(of: kernelMember.type) } catch {
                throw ObjectError(memberPlace, "the kernel's member type has no size: \(error.message)")
            }
            guard kernelSize == member.size, kernelKind == member.typeKind else {
                throw ObjectError(memberPlace, "is \(member.typeName) (\(member.size) bytes) in the object, but \(kernel.typeName(kernelMember.type)) (\(kernelSize) bytes) in the kernel: a struct_ops member of the wrong type")
            }
            value.replaceSubrange(kernelOffset..<(kernelOffset + kernelSize), with: bytes)
        }
        return StructOpsKernelLayout(typeID: typeID, valueTypeID: valueTypeID, value: value, dataOffset: dataOffset,
                                     functions: functions, skippedMembers: skipped)
    }

}

extension BTF {
    /// The prototype of member `member` of the kernel's struct_ops type `type` (a pointer to a
    /// function), with the member's index: what a struct_ops program implementing it receives (its
    /// `ctx` is an array of these arguments, as u64) and returns. nil when this BTF has no such
    /// struct or member, or the member is not a function pointer.
    ///
    /// ```swift
    /// let p = vmlinux.structOpsPrototype(type: "tcp_congestion_ops", member: "cong_avoid")!
    /// print(p.prototype.parameters.count, p.memberIndex)   // 3 1  (struct sock *, u32, u32)
    /// ```
    public func structOpsPrototype(type: String, member: String) -> (prototype: TracingPrototype, memberIndex: Int, structID: Int)? {
        guard let structID = typeID(named: StructOpsSpec.essentialName(type), kind: .structure),
              case let .members(members)? = self[structID]?.detail,
              let index = members.firstIndex(where: { $0.name == member }),
              let pointer = self[resolve(members[index].type)], pointer.kind == .pointer,
              let proto = self[resolve(pointer.referencedType)], proto.kind == .functionPrototype,
              case let .parameters(parameters) = proto.detail else { return nil }
        return (TracingPrototype(name: "\(type).\(member)", parameters: parameters, returnType: proto.referencedType), index, structID)
    }
}

extension MapReader {
    /// Whether a section holds struct_ops maps: `.struct_ops`, `.struct_ops.link` (a leading `?`
    /// is libbpf's "not created by default" mark, read as the same section).
    static func isStructOpsSection(_ name: String) -> Bool {
        let bare = name.hasPrefix("?") ? String(name.dropFirst()) : name
        return bare == ".struct_ops" || bare == ".struct_ops.link"
    }

    /// Reads the struct_ops maps: one per variable of each struct_ops section, its struct type from
    /// BTF, its bytes from the section, and for each function pointer the program its relocation names.
    mutating func readStructOps() throws(ObjectError) {
        for section in elf.sections where Self.isStructOpsSection(section.name) && section.type == ELFSection.typeProgBits {
            guard let btf else { throw ObjectError(section.label, "struct_ops maps need a .BTF section (build with -g)") }
            guard let datasecID = btf.typeID(named: section.name, kind: .dataSection), let datasec = btf[datasecID],
                  case let .variables(vars) = datasec.detail else {
                throw ObjectError(section.label, "no BTF data section '\(section.name)' describes its struct_ops maps")
            }
            let contents = elf.contents(of: section)
            let isLink = section.name.hasSuffix(".link")
            var placed: [(start: Int, end: Int, index: Int)] = []
            for v in vars {
                guard let variable = btf[v.type], variable.kind == .variable else {
                    throw ObjectError(section.label, "BTF entry at offset \(v.offset) is not a variable")
                }
                let place = "struct_ops map '\(variable.name)' in \(section.label)"
                let typeID = btf.resolve(variable.referencedType)
                guard let type = btf[typeID], type.kind == .structure, case let .members(btfMembers) = type.detail else {
                    throw ObjectError(place, "its type \(btf.typeName(variable.referencedType)) is not a struct")
                }
                guard !type.name.isEmpty else { throw ObjectError(place, "its struct type has no name (an anonymous struct cannot name a kernel type)") }
                var offset = v.offset
                if let symbol = elf.symbols.first(where: { Int($0.sectionIndex) == section.index && $0.name == variable.name }) {
                    offset = Int(symbol.value)
                }
                let size = type.sizeOrType
                guard offset >= 0, offset + size <= contents.count else {
                    throw ObjectError(place, "its \(size) bytes at offset \(offset) run past the section's \(contents.count)")
                }
                var members: [StructOpsSpec.Member] = []
                for (i, m) in btfMembers.enumerated() {
                    let memberPlace = "\(place), member '\(m.name)'"
                    if m.bitfieldSize != 0 { throw ObjectError(memberPlace, "bitfields are not supported in struct_ops maps") }
                    let memberSize = try btf.size(of: m.type)
                    let resolved = btf.resolve(m.type)
                    let isFunction = btf[resolved].map { $0.kind == .pointer && btf[btf.resolve($0.referencedType)]?.kind == .functionPrototype } ?? false
                    members.append(.init(name: m.name, index: i, offset: m.bitOffset / 8, size: memberSize, isFunctionPointer: isFunction,
                                         program: nil, typeName: btf.typeName(m.type), typeKind: btf[resolved]?.kind))
                }
                var map = MapSpec(name: variable.name, type: .structOps, keySize: 4, valueSize: size, maxEntries: 1,
                                  flags: isLink ? StructOpsSpec.linkFlag : 0, origin: .structOps(section: section.name))
                var spec = StructOpsSpec(typeName: type.name, typeID: typeID, section: section.name, isLink: isLink,
                                         data: Array(contents[offset..<(offset + size)]), members: members)
                map.structOps = spec
                map.valueType = typeID
                maps.append(map)
                placed.append((offset, offset + size, maps.count - 1))
            }
            // Function pointers: relocations against the programs' symbols.
            for relocation in elf.relocations[section.index] ?? [] {
                let at = Int(relocation.offset)
                guard let variable = placed.first(where: { at >= $0.start && at < $0.end }), var spec = maps[variable.index].structOps else {
                    throw ObjectError(section.label, "relocation at offset \(at) is inside no struct_ops map")
                }
                let mapName = maps[variable.index].name
                let offset = at - variable.start
                guard let m = spec.members.firstIndex(where: { $0.offset == offset }) else {
                    throw ObjectError("struct_ops map '\(mapName)' in \(section.label)", "relocation at byte \(offset) of the struct is at no member's start")
                }
                guard spec.members[m].isFunctionPointer else {
                    throw ObjectError("struct_ops map '\(mapName)' in \(section.label), member '\(spec.members[m].name)'", "a relocation sets it, but it is not a function pointer")
                }
                guard relocation.symbolIndex < elf.symbols.count else {
                    throw ObjectError(section.label, "relocation at offset \(at) names symbol \(relocation.symbolIndex), past the symbol table")
                }
                let symbol = elf.symbols[relocation.symbolIndex]
                let program: String?
                if symbol.type == ELFSymbol.typeFunc {
                    program = symbol.name
                } else {
                    // A section symbol: the function at that offset of its section (static functions).
                    program = elf.symbols.first { $0.sectionIndex == symbol.sectionIndex && $0.type == ELFSymbol.typeFunc && $0.value == symbol.value }?.name
                }
                guard let program, let codeSection = elf.sections.first(where: { $0.index == Int(symbol.sectionIndex) }),
                      codeSection.isExecutable else {
                    throw ObjectError("struct_ops map '\(mapName)' in \(section.label), member '\(spec.members[m].name)'", "its relocation names '\(symbol.name)', which is not a program of the object")
                }
                guard SectionKind(section: codeSection.name)?.type == .structOps else {
                    throw ObjectError("struct_ops map '\(mapName)' in \(section.label), member '\(spec.members[m].name)'", "program '\(program)' is in section '\(codeSection.name)', not a struct_ops program (SEC(\"struct_ops/...\"))")
                }
                spec.members[m].program = program
                maps[variable.index].structOps = spec
            }
        }
    }
}

extension ObjectFile {
    /// The struct_ops maps of the object (`.struct_ops` and `.struct_ops.link` sections).
    public var structOpsMaps: [MapSpec] { maps.filter { $0.structOps != nil } }

    /// Which struct_ops member program `name` implements (the first map naming it), or nil when no
    /// struct_ops map names it. Same as `program(named: name)?.structOps`.
    public func structOpsImplementation(ofProgram name: String) -> StructOpsImplementation? {
        ObjectFile.structOpsImplementations(maps)[name]
    }

    /// Which struct_ops member each program of `maps` implements, by program name.
    static func structOpsImplementations(_ maps: [MapSpec]) -> [String: StructOpsImplementation] {
        var result: [String: StructOpsImplementation] = [:]
        for map in maps {
            guard let spec = map.structOps else { continue }
            for member in spec.members {
                guard let program = member.program, result[program] == nil else { continue }
                result[program] = StructOpsImplementation(map: map.name, typeName: spec.typeName, member: member.name)
            }
        }
        return result
    }
}
