import BPFLinux
import BPFObject

/// The kernel's types, by name, for struct member access in scripts (`((struct task_struct
/// *)curtask)->pid`, `curtask->comm`): the running kernel's BTF, so offsets are this kernel's (no
/// CO-RE needed, the program is built here for here).
///
/// ```swift
/// let types = KernelTypes(btf: try KernelBTF.vmlinux())
/// let task = types.record(named: "task_struct")!
/// print(types.member("pid", of: task)!.offset)   // e.g. 2464
/// ```
public struct KernelTypes: Sendable {
    public let btf: BTF

    public init(btf: BTF) { self.btf = btf }

    /// What a member (or a value) of a BTF type is, as scripts use it.
    public enum Shape: Sendable, Hashable {
        /// An integer (or enum) of `size` bytes.
        case integer(size: Int, signed: Bool)
        /// A pointer; `pointee` is the type it points to (resolved; 0 for `void`).
        case pointer(pointee: Int)
        /// `char[N]`: a string of at most N bytes.
        case characters(Int)
        /// A struct or union held inline (its members are reached with `.`).
        case record(Int)
        /// Anything else (other arrays, floats, functions), with its C spelling.
        case unsupported(String)
    }

    /// A member found by name: where it is in its struct and what it is.
    public struct Member: Sendable, Hashable {
        /// Bytes from the start of the struct.
        public var offset: Int
        public var type: Int
        /// Bit offset and width for a bitfield (width 0 otherwise).
        public var bitOffset: Int
        public var bitfieldSize: Int
    }

    /// The struct or union named `name` (a `struct `/`union ` prefix is allowed), resolved.
    public func record(named name: String) -> Int? {
        var bare = name
        var kinds: [BTFKind] = [.structure, .union]
        if bare.hasPrefix("struct ") { bare = String(bare.dropFirst(7)); kinds = [.structure] }
        else if bare.hasPrefix("union ") { bare = String(bare.dropFirst(6)); kinds = [.union] }
        bare = bare.trimmingSpaces()
        for kind in kinds { if let id = btf.typeID(named: bare, kind: kind) { return id } }
        // A typedef of a struct.
        if let id = btf.typeID(named: bare, kind: .typedef), let t = btf[btf.resolve(id)], t.kind == .structure || t.kind == .union {
            return t.id
        }
        return nil
    }

    /// The member `name` of struct or union `type`, looking inside anonymous members as C does.
    public func member(_ name: String, of type: Int) -> Member? {
        guard let t = btf[btf.resolve(type)], case .members(let members) = t.detail else { return nil }
        for m in members where m.name == name {
            return Member(offset: m.bitOffset / 8, type: m.type, bitOffset: m.bitOffset, bitfieldSize: m.bitfieldSize)
        }
        for m in members where m.name.isEmpty {
            if var inner = member(name, of: m.type) {
                inner.offset += m.bitOffset / 8
                inner.bitOffset += m.bitOffset
                return inner
            }
        }
        return nil
    }

    /// The names of a struct's members (anonymous members' own, inlined), for error messages.
    public func memberNames(of type: Int) -> [String] {
        guard let t = btf[btf.resolve(type)], case .members(let members) = t.detail else { return [] }
        return members.flatMap { $0.name.isEmpty ? memberNames(of: $0.type) : [$0.name] }
    }

    /// How a script uses a value of type `id`.
    public func shape(of id: Int) -> Shape {
        let resolved = btf.resolve(id)
        guard let t = btf[resolved] else { return .unsupported("void") }
        switch t.kind {
        case .int:
            guard case .integer(let signed, _, _, _, let bits) = t.detail, [8, 16, 32, 64].contains(bits) else {
                return .unsupported(name(of: resolved))
            }
            return .integer(size: bits / 8, signed: signed)
        case .enumeration, .enumeration64:
            let signed: Bool = if case .enumerators(_, let s) = t.detail { s } else { false }
            return [1, 2, 4, 8].contains(t.sizeOrType) ? .integer(size: t.sizeOrType, signed: signed) : .unsupported(name(of: resolved))
        case .pointer:
            return .pointer(pointee: btf.resolve(t.referencedType))
        case .structure, .union:
            return .record(resolved)
        case .array:
            if case .array(let element, _, let count) = t.detail, let e = btf[btf.resolve(element)], e.kind == .int,
               case .integer(_, _, _, _, 8) = e.detail, e.name.contains("char") {
                return .characters(count)
            }
            return .unsupported(name(of: resolved))
        default:
            return .unsupported(name(of: resolved))
        }
    }

    /// The C spelling of a type: `struct task_struct`, `int`, `char *`, `u8[16]`.
    public func name(of id: Int) -> String {
        guard let t = btf[id] else { return "void" }
        switch t.kind {
        case .structure: return "struct \(t.name.isEmpty ? "(anonymous)" : t.name)"
        case .union: return "union \(t.name.isEmpty ? "(anonymous)" : t.name)"
        case .enumeration, .enumeration64: return "enum \(t.name)"
        case .pointer: return name(of: t.referencedType) + " *"
        case .const: return "const " + name(of: t.referencedType)
        case .volatile: return "volatile " + name(of: t.referencedType)
        case .array:
            if case .array(let element, _, let count) = t.detail { return "\(name(of: element))[\(count)]" }
            return "array"
        case .typeTag, .restrict: return name(of: t.referencedType)
        case .functionPrototype: return "function"
        default: return t.name
        }
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
