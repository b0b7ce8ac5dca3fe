import BPFObject

/// Encodes BTF by hand (little-endian, version 1), for cases the clang-built fixtures do not have.
/// Each method appends one type and returns its id; `nextID` is the id the next type will get, for
/// types that refer ahead (cycles).
struct BTFBuilder {
    typealias Member = (name: String, type: Int, bitOffset: Int, bits: Int)

    private(set) var count = 0
    private var typeBytes: [UInt8] = []
    private var strings: [UInt8] = [0]
    /// Where this blob's strings start in the string space (a split blob's follow its base's).
    private var stringBase = 0

    var nextID: Int { count + 1 }

    init() {}

    /// Split BTF on a base built with `base`: ids continue after its types, string offsets after
    /// its strings (a module's BTF on the kernel's).
    init(splitOn base: BTFBuilder) {
        count = base.count
        strings = []
        stringBase = base.stringBase + base.strings.count
    }

    private mutating func string(_ s: String) -> UInt32 {
        guard !s.isEmpty else { return 0 }
        let offset = UInt32(stringBase + strings.count)
        strings += Array(s.utf8) + [0]
        return offset
    }

    private mutating func u32(_ value: UInt32) {
        for i in 0..<4 { typeBytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    private mutating func type(_ name: String, _ kind: BTFKind, vlen: Int = 0, kindFlag: Bool = false, _ sizeOrType: Int) -> Int {
        u32(string(name))
        u32(UInt32(vlen) | UInt32(kind.rawValue) << 24 | (kindFlag ? 1 << 31 : 0))
        u32(UInt32(truncatingIfNeeded: sizeOrType))
        count += 1
        return count
    }

    @discardableResult
    mutating func int(_ name: String, size: Int, signed: Bool = false, char: Bool = false, bool: Bool = false) -> Int {
        let id = type(name, .int, size)
        let encoding: UInt32 = (signed ? 1 : 0) | (char ? 2 : 0) | (bool ? 4 : 0)
        u32(encoding << 24 | UInt32(size * 8))
        return id
    }

    mutating func float(_ name: String, size: Int) -> Int { type(name, .float, size) }

    mutating func pointer(_ target: Int) -> Int { type("", .pointer, target) }

    mutating func qualifier(_ kind: BTFKind, _ target: Int) -> Int { type("", kind, target) }

    mutating func typedef(_ name: String, _ target: Int) -> Int { type(name, .typedef, target) }

    mutating func typeTag(_ name: String, _ target: Int) -> Int { type(name, .typeTag, target) }

    mutating func declTag(_ name: String, _ target: Int, component: Int32 = -1) -> Int {
        let id = type(name, .declTag, target)
        u32(UInt32(bitPattern: component))
        return id
    }

    mutating func array(_ element: Int, index: Int, count: Int) -> Int {
        let id = type("", .array, 0)
        u32(UInt32(element))
        u32(UInt32(index))
        u32(UInt32(count))
        return id
    }

    /// A struct or union; the kind flag (bitfield encoding) is set when any member has `bits`.
    mutating func structure(_ name: String, size: Int, union: Bool = false, _ members: [Member]) -> Int {
        let bitfields = members.contains { $0.bits != 0 }
        let id = type(name, union ? .union : .structure, vlen: members.count, kindFlag: bitfields, size)
        for m in members {
            u32(string(m.name))
            u32(UInt32(m.type))
            u32(bitfields ? UInt32(m.bits) << 24 | UInt32(m.bitOffset) : UInt32(m.bitOffset))
        }
        return id
    }

    mutating func enumeration(_ name: String, size: Int = 4, signed: Bool = false, _ values: [(String, Int64)]) -> Int {
        let id = type(name, .enumeration, vlen: values.count, kindFlag: signed, size)
        for (n, v) in values {
            u32(string(n))
            u32(UInt32(truncatingIfNeeded: v))
        }
        return id
    }

    mutating func enumeration64(_ name: String, size: Int = 8, signed: Bool = false, _ values: [(String, UInt64)]) -> Int {
        let id = type(name, .enumeration64, vlen: values.count, kindFlag: signed, size)
        for (n, v) in values {
            u32(string(n))
            u32(UInt32(truncatingIfNeeded: v))
            u32(UInt32(truncatingIfNeeded: v >> 32))
        }
        return id
    }

    mutating func forward(_ name: String, union: Bool = false) -> Int { type(name, .forward, kindFlag: union, 0) }

    mutating func functionPrototype(returning result: Int, _ parameters: [(String, Int)]) -> Int {
        let id = type("", .functionPrototype, vlen: parameters.count, result)
        for (n, t) in parameters {
            u32(string(n))
            u32(UInt32(t))
        }
        return id
    }

    mutating func function(_ name: String, _ prototype: Int, linkage: Int = 1) -> Int {
        type(name, .function, vlen: linkage, prototype)
    }

    mutating func variable(_ name: String, _ target: Int, linkage: UInt32 = 1) -> Int {
        let id = type(name, .variable, target)
        u32(linkage)
        return id
    }

    mutating func dataSection(_ name: String, size: Int, _ variables: [(type: Int, offset: Int, size: Int)]) -> Int {
        let id = type(name, .dataSection, vlen: variables.count, size)
        for v in variables {
            u32(UInt32(v.type))
            u32(UInt32(v.offset))
            u32(UInt32(v.size))
        }
        return id
    }

    /// The blob: header, types, strings.
    var bytes: [UInt8] {
        var out: [UInt8] = [0x9f, 0xeb, 1, 0]
        for value in [UInt32(24), 0, UInt32(typeBytes.count), UInt32(typeBytes.count), UInt32(strings.count)] {
            for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
        }
        return out + typeBytes + strings
    }
}

/// `_Static_assert`s of C layouts computed straight from BTF (sizes and bit offsets), not from the C
/// formatter: the size of every named struct, union and enum and every typedef, and the offset of
/// every named non-bitfield member (members of anonymous members too, as C reaches them). Names that
/// are not unique in their C namespace, or that are not plain identifiers, are left out.
enum LayoutAsserts {
    static func make(for btf: BTF, including include: (String) -> Bool = { _ in true }) -> (text: String, count: Int) {
        var tags: [String: Int] = [:]
        var identifiers: [String: Int] = [:]
        for t in btf.types.dropFirst() {
            switch (t.kind, t.detail) {
            case (.structure, _), (.union, _):
                if !t.name.isEmpty { tags[t.name, default: 0] += 1 }
            case let (.enumeration, .enumerators(values, _)), let (.enumeration64, .enumerators(values, _)):
                if !t.name.isEmpty && !values.isEmpty { tags[t.name, default: 0] += 1 }
                for v in values { identifiers[v.name, default: 0] += 1 }
            case (.typedef, _):
                identifiers[t.name, default: 0] += 1
            default:
                break
            }
        }
        func plain(_ name: String) -> Bool { !name.isEmpty && BTFCFormatter.identifier(name) == name }

        var text = ""
        var count = 0
        func assert(_ condition: String, _ label: String) {
            text += "_Static_assert(\(condition), \"\(label)\");\n"
            count += 1
        }
        for t in btf.types.dropFirst() where plain(t.name) && include(t.name) {
            switch t.kind {
            case .structure, .union:
                guard tags[t.name] == 1 else { continue }
                let type = "\(t.kind == .union ? "union" : "struct") \(t.name)"
                assert("sizeof(\(type)) == \(t.sizeOrType)", "sizeof \(type)")
                var seen: [String: Int] = [:]
                var fields: [(String, Int)] = []
                collectFields(btf, t, base: 0, into: &fields)
                for (name, _) in fields { seen[name, default: 0] += 1 }
                for (name, offset) in fields where seen[name] == 1 && plain(name) {
                    assert("__builtin_offsetof(\(type), \(name)) == \(offset)", "\(t.name).\(name)")
                }
            case .enumeration, .enumeration64:
                guard tags[t.name] == 1, case .enumerators(let values, _) = t.detail, !values.isEmpty else { continue }
                assert("sizeof(enum \(t.name)) == \(t.sizeOrType)", "sizeof enum \(t.name)")
            case .typedef:
                guard identifiers[t.name] == 1, t.name != "__builtin_va_list",
                      let size = try? btf.size(of: t.id), size > 0 else { continue }
                assert("sizeof(\(t.name)) == \(size)", "sizeof \(t.name)")
            default:
                continue
            }
        }
        return (text, count)
    }

    /// Named, byte-aligned, non-bitfield members with their byte offsets, looking into anonymous
    /// struct and union members.
    private static func collectFields(_ btf: BTF, _ t: BTFType, base: Int, into fields: inout [(String, Int)]) {
        guard case .members(let members) = t.detail else { return }
        for m in members {
            let offset = base + m.bitOffset
            if m.name.isEmpty {
                var inner = m.type
                while let q = btf[inner], q.kind == .const || q.kind == .volatile { inner = q.referencedType }
                if let anonymous = btf[inner], anonymous.name.isEmpty, anonymous.kind == .structure || anonymous.kind == .union {
                    collectFields(btf, anonymous, base: offset, into: &fields)
                }
            } else if m.bitfieldSize == 0 && offset % 8 == 0 {
                fields.append((m.name, offset / 8))
            }
        }
    }
}
