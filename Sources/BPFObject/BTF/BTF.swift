/// The kinds of BTF type (the kernel's `BTF_KIND_*`).
public enum BTFKind: UInt8, Sendable, Hashable, CaseIterable {
    case int = 1, pointer, array, structure, union, enumeration, forward, typedef, volatile, const, restrict
    case function, functionPrototype, variable, dataSection, float, declTag, typeTag, enumeration64
}

/// A member of a struct or union.
public struct BTFMember: Hashable, Sendable {
    public var name: String
    public var type: Int
    /// Offset from the start of the aggregate, in bits.
    public var bitOffset: Int
    /// Width of a bitfield in bits, or 0 for an ordinary member.
    public var bitfieldSize: Int
}

/// An enumerator of an enum or enum64.
public struct BTFEnumerator: Hashable, Sendable {
    public var name: String
    /// The value as stored (sign-extend for signed enums).
    public var value: UInt64
}

/// A parameter of a function prototype.
public struct BTFParameter: Hashable, Sendable {
    public var name: String
    public var type: Int

    public init(name: String, type: Int) {
        self.name = name
        self.type = type
    }
}

/// A variable placed in a data section.
public struct BTFSectionVariable: Hashable, Sendable {
    public var type: Int
    public var offset: Int
    public var size: Int
}

/// One BTF type. Type id 0 is `void` and has no entry of its own.
public struct BTFType: Hashable, Sendable {
    /// Kind-specific contents.
    public enum Detail: Hashable, Sendable {
        case none
        case integer(signed: Bool, char: Bool, bool: Bool, bitOffset: Int, bits: Int)
        case array(element: Int, index: Int, count: Int)
        case members([BTFMember])
        case enumerators([BTFEnumerator], signed: Bool)
        case parameters([BTFParameter])
        case linkage(UInt32)
        case variables([BTFSectionVariable])
        case componentIndex(Int32)
    }

    public var id: Int
    public var kind: BTFKind
    public var name: String
    public var kindFlag: Bool
    /// `size` for int, struct, union, enum, datasec, float; `type` for the others.
    public var sizeOrType: Int
    public var detail: Detail

    /// The referenced type id (for ptr, typedef, qualifiers, func, var, decl/type tags).
    public var referencedType: Int { sizeOrType }
}

/// Parsed BTF: the types of an object or of the kernel (`/sys/kernel/btf/vmlinux`).
///
/// ```swift
/// let btf = try BTF(bytes: section)
/// let id = btf.typeID(named: "xdp_md", kind: .structure)
/// print(try btf.size(of: id!))   // 24
/// ```
public struct BTF: Sendable {
    /// Types by id; index 0 is a placeholder for `void`.
    public let types: [BTFType]
    let strings: [UInt8]

    /// The NUL-terminated string at `offset` of the string section (line info's file names and
    /// source lines), or nil past its end.
    public func string(at offset: Int) -> String? {
        guard offset >= 0, offset < strings.count else { return nil }
        let end = strings[offset...].firstIndex(of: 0) ?? strings.count
        return String(decoding: strings[offset..<end], as: UTF8.self)
    }
    let nameIndex: [String: [Int]]
    /// The ids of the declaration tags (`BTF_KIND_DECL_TAG`), which few objects have: what
    /// ``functionTags(of:prefix:)`` reads instead of every type.
    let declTags: [Int]

    public static let magic: UInt16 = 0xeb9f

    public init(bytes: [UInt8]) throws(ObjectError) {
        try self.init(bytes: bytes, base: nil)
    }

    /// Parses split BTF (a kernel module's, `/sys/kernel/btf/<module>`) on top of `base` (the
    /// kernel's): its type ids continue after the base's last one and its string offsets after the
    /// base's strings, so the result holds both, and every id of either means what the kernel says.
    ///
    /// ```swift
    /// let module = try BTF(splitBytes: moduleBytes, base: vmlinux)
    /// let id = module.typeID(named: "bpf_xdp_ct_lookup", kind: .function)   // > vmlinux.types.count
    /// ```
    public init(splitBytes bytes: [UInt8], base: BTF) throws(ObjectError) {
        try self.init(bytes: bytes, base: base)
    }

    private init(bytes: [UInt8], base: BTF?) throws(ObjectError) {
        let r = ByteReader(bytes, place: "section '.BTF'")
        guard try r.u16(0) == Self.magic else {
            throw ObjectError("section '.BTF'", "bad magic 0x\(String(try r.u16(0), radix: 16)) (a big-endian BTF is unsupported)")
        }
        let headerLength = Int(try r.u32(4))
        let typeOffset = headerLength + Int(try r.u32(8))
        let typeLength = Int(try r.u32(12))
        let stringOffset = headerLength + Int(try r.u32(16))
        let stringLength = Int(try r.u32(20))
        try r.check(typeOffset, typeLength)
        try r.check(stringOffset, stringLength)
        strings = (base?.strings ?? []) + bytes[stringOffset..<(stringOffset + stringLength)]
        let s = ByteReader(strings, place: "BTF string section")

        var types = base?.types ?? [BTFType(id: 0, kind: .int, name: "void", kindFlag: false, sizeOrType: 0, detail: .none)]
        let firstID = types.count
        var o = typeOffset
        let end = typeOffset + typeLength
        while o < end {
            let id = types.count
            let place = "BTF type \(id)"
            let t = ByteReader(bytes, place: place)
            let name = try s.cString(Int(try t.u32(o)))
            let info = try t.u32(o + 4)
            let vlen = Int(info & 0xffff)
            let rawKind = UInt8((info >> 24) & 0x1f)
            guard let kind = BTFKind(rawValue: rawKind) else {
                throw ObjectError(place, "unknown BTF kind \(rawKind)")
            }
            let kindFlag = info >> 31 != 0
            let sizeOrType = Int(try t.u32(o + 8))
            o += 12
            var detail = BTFType.Detail.none
            switch kind {
            case .int:
                let v = try t.u32(o); o += 4
                let encoding = (v >> 24) & 0xf
                detail = .integer(signed: encoding & 1 != 0, char: encoding & 2 != 0, bool: encoding & 4 != 0,
                                  bitOffset: Int((v >> 16) & 0xff), bits: Int(v & 0xff))
            case .array:
                detail = .array(element: Int(try t.u32(o)), index: Int(try t.u32(o + 4)), count: Int(try t.u32(o + 8)))
                o += 12
            case .structure, .union:
                var members: [BTFMember] = []
                for _ in 0..<vlen {
                    let raw = try t.u32(o + 8)
                    members.append(BTFMember(
                        name: try s.cString(Int(try t.u32(o))), type: Int(try t.u32(o + 4)),
                        bitOffset: Int(kindFlag ? raw & 0xffffff : raw), bitfieldSize: kindFlag ? Int(raw >> 24) : 0))
                    o += 12
                }
                detail = .members(members)
            case .enumeration:
                var values: [BTFEnumerator] = []
                for _ in 0..<vlen {
                    let value = Int32(bitPattern: try t.u32(o + 4))
                    values.append(BTFEnumerator(name: try s.cString(Int(try t.u32(o))),
                                                value: kindFlag ? UInt64(bitPattern: Int64(value)) : UInt64(UInt32(bitPattern: value))))
                    o += 8
                }
                detail = .enumerators(values, signed: kindFlag)
            case .enumeration64:
                var values: [BTFEnumerator] = []
                for _ in 0..<vlen {
                    values.append(BTFEnumerator(name: try s.cString(Int(try t.u32(o))),
                                                value: UInt64(try t.u32(o + 4)) | UInt64(try t.u32(o + 8)) << 32))
                    o += 12
                }
                detail = .enumerators(values, signed: kindFlag)
            case .functionPrototype:
                var params: [BTFParameter] = []
                for _ in 0..<vlen {
                    params.append(BTFParameter(name: try s.cString(Int(try t.u32(o))), type: Int(try t.u32(o + 4))))
                    o += 8
                }
                detail = .parameters(params)
            case .variable:
                detail = .linkage(try t.u32(o)); o += 4
            case .dataSection:
                var vars: [BTFSectionVariable] = []
                for _ in 0..<vlen {
                    vars.append(BTFSectionVariable(type: Int(try t.u32(o)), offset: Int(try t.u32(o + 4)), size: Int(try t.u32(o + 8))))
                    o += 12
                }
                detail = .variables(vars)
            case .declTag:
                detail = .componentIndex(Int32(bitPattern: try t.u32(o))); o += 4
            case .function:
                detail = .linkage(UInt32(vlen))
            case .pointer, .forward, .typedef, .volatile, .const, .restrict, .float, .typeTag:
                break
            }
            types.append(BTFType(id: id, kind: kind, name: name, kindFlag: kindFlag, sizeOrType: sizeOrType, detail: detail))
        }
        guard o == end else { throw ObjectError("section '.BTF'", "type section ends inside a type") }
        self.types = types
        var index: [String: [Int]] = base?.nameIndex ?? [:]
        for type in types[max(firstID, 1)...] where !type.name.isEmpty { index[type.name, default: []].append(type.id) }
        nameIndex = index
        declTags = types.indices.filter { types[$0].kind == .declTag }
    }

    /// Returns a copy whose data sections have the offsets, sizes and section sizes clang leaves to
    /// the loader, taken from `resolve(section, variable)` → (offset, size) and `sectionSize(section)`.
    func fixingDataSections(sectionSize: (String) -> Int?, variable: (String, String) -> (offset: Int, size: Int)?) -> BTF {
        var copy = types
        for (i, type) in types.enumerated() where type.kind == .dataSection {
            guard case var .variables(vars) = type.detail else { continue }
            for j in vars.indices {
                guard let v = self[vars[j].type], let place = variable(type.name, v.name) else { continue }
                vars[j].offset = place.offset
                vars[j].size = place.size
            }
            copy[i].detail = .variables(vars)
            if let size = sectionSize(type.name) { copy[i].sizeOrType = size }
        }
        return BTF(types: copy, strings: strings, nameIndex: nameIndex, declTags: declTags)
    }

    init(types: [BTFType], strings: [UInt8], nameIndex: [String: [Int]], declTags: [Int]) {
        self.types = types
        self.strings = strings
        self.nameIndex = nameIndex
        self.declTags = declTags
    }

    /// The type with this id, or nil (0 is `void`).
    public subscript(id: Int) -> BTFType? {
        id > 0 && id < types.count ? types[id] : nil
    }

    /// The first type with this name (and kind, if given).
    public func typeID(named name: String, kind: BTFKind? = nil) -> Int? {
        nameIndex[name]?.first { kind == nil || types[$0].kind == kind }
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type id.
    public func resolve(_ id: Int) -> Int {
        var current = id
        var steps = 0
        while let t = self[current], steps < 64 {
            switch t.kind {
            case .typedef, .volatile, .const, .restrict, .typeTag: current = t.referencedType
            default: return current
            }
            steps += 1
        }
        return current
    }

    /// The size in bytes of a type.
    public func size(of id: Int) throws(ObjectError) -> Int {
        var steps = 0
        var current = id
        while steps < 64 {
            steps += 1
            guard let t = self[current] else {
                throw ObjectError("BTF type \(id)", current == 0 ? "void has no size" : "refers to missing type \(current)")
            }
            switch t.kind {
            case .int, .structure, .union, .enumeration, .enumeration64, .dataSection, .float:
                return t.sizeOrType
            case .pointer:
                return 8
            case .typedef, .volatile, .const, .restrict, .typeTag, .variable:
                current = t.referencedType
            case .array:
                guard case let .array(element, _, count) = t.detail else { return 0 }
                let elementSize = try size(of: element)
                let (total, overflow) = elementSize.multipliedReportingOverflow(by: count)
                if overflow { throw ObjectError("BTF type \(id)", "array size overflows") }
                return total
            case .forward, .function, .functionPrototype, .declTag:
                throw ObjectError("BTF type \(id)", "\(t.kind) '\(t.name)' has no size")
            }
        }
        throw ObjectError("BTF type \(id)", "type chain is too deep (a loop?)")
    }

    /// The alignment in bytes of a type.
    public func alignment(of id: Int) throws(ObjectError) -> Int {
        let resolved = resolve(id)
        guard let t = self[resolved] else { return 1 }
        switch t.kind {
        case .int, .enumeration, .enumeration64, .float: return min(max(t.sizeOrType, 1), 8)
        case .pointer: return 8
        case .array:
            guard case let .array(element, _, _) = t.detail else { return 1 }
            return try alignment(of: element)
        case .structure, .union:
            guard case let .members(members) = t.detail else { return 1 }
            var result = 1
            for member in members { result = max(result, try alignment(of: member.type)) }
            return result
        default: return 1
        }
    }

    /// A readable name for a type: `struct xdp_md`, `__u32`, `int *`, `char[16]`.
    public func typeName(_ id: Int) -> String {
        guard let t = self[id] else { return "void" }
        switch t.kind {
        case .structure: return "struct \(t.name.isEmpty ? "<anon>" : t.name)"
        case .union: return "union \(t.name.isEmpty ? "<anon>" : t.name)"
        case .enumeration, .enumeration64: return "enum \(t.name.isEmpty ? "<anon>" : t.name)"
        case .pointer: return typeName(t.referencedType) + " *"
        case .const: return "const " + typeName(t.referencedType)
        case .volatile: return "volatile " + typeName(t.referencedType)
        case .array:
            guard case let .array(element, _, count) = t.detail else { return "?" }
            return "\(typeName(element))[\(count)]"
        default: return t.name.isEmpty ? "\(t.kind)" : t.name
        }
    }
}
