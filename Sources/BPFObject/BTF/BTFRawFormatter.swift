/// Lists BTF types one per line, in the text `bpftool btf dump file FILE` prints by default (its
/// "raw" format): the id, the kind, the name (`(anon)` when empty) and the kind's fields, with
/// members, enumerators, parameters and section variables on indented lines below.
///
/// ```swift
/// print(BTFRawFormatter(btf: btf).format(), terminator: "")
/// // [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
/// // [2] PTR '(anon)' type_id=3
/// // [3] STRUCT 'pair' size=8 vlen=2
/// //         'a' type_id=1 bits_offset=0
/// //         'b' type_id=1 bits_offset=32
/// ```
public struct BTFRawFormatter: Sendable {
    public let btf: BTF

    public init(btf: BTF) { self.btf = btf }

    /// Every type, in id order, each ending with a newline.
    public func format() -> String {
        var out = ""
        out.reserveCapacity(btf.types.count * 48)
        for id in btf.types.indices.dropFirst() { append(id, to: &out) }
        return out
    }

    /// One type's text (with its member lines), without the final newline.
    public func text(for id: Int) -> String {
        var out = ""
        append(id, to: &out)
        out.removeLast()
        return out
    }

    /// bpftool's name for each kind.
    public static func kindName(_ kind: BTFKind) -> String {
        switch kind {
        case .int: "INT"
        case .pointer: "PTR"
        case .array: "ARRAY"
        case .structure: "STRUCT"
        case .union: "UNION"
        case .enumeration: "ENUM"
        case .forward: "FWD"
        case .typedef: "TYPEDEF"
        case .volatile: "VOLATILE"
        case .const: "CONST"
        case .restrict: "RESTRICT"
        case .function: "FUNC"
        case .functionPrototype: "FUNC_PROTO"
        case .variable: "VAR"
        case .dataSection: "DATASEC"
        case .float: "FLOAT"
        case .declTag: "DECL_TAG"
        case .typeTag: "TYPE_TAG"
        case .enumeration64: "ENUM64"
        }
    }

    private static func label(_ name: String) -> String { name.isEmpty ? "(anon)" : name }

    private static func linkage(_ value: UInt32) -> String {
        switch value {
        case 0: "static"
        case 1: "global"
        case 2: "extern"
        default: "(unknown)"
        }
    }

    private func append(_ id: Int, to out: inout String) {
        guard id > 0, id < btf.types.count else { return }
        let t = btf.types[id]
        out += "[\(id)] \(Self.kindName(t.kind)) '\(Self.label(t.name))'"
        switch (t.kind, t.detail) {
        case let (.int, .integer(signed, char, bool, bitOffset, bits)):
            let encoding = switch (signed, char, bool) {
            case (false, false, false): "(none)"
            case (true, false, false): "SIGNED"
            case (false, true, false): "CHAR"
            case (false, false, true): "BOOL"
            default: "UNKN"
            }
            out += " size=\(t.sizeOrType) bits_offset=\(bitOffset) nr_bits=\(bits) encoding=\(encoding)"
        case (.pointer, _), (.const, _), (.volatile, _), (.restrict, _), (.typedef, _), (.typeTag, _):
            out += " type_id=\(t.referencedType)"
        case let (.array, .array(element, index, count)):
            out += " type_id=\(element) index_type_id=\(index) nr_elems=\(count)"
        case let (.structure, .members(members)), let (.union, .members(members)):
            out += " size=\(t.sizeOrType) vlen=\(members.count)"
            for m in members {
                out += "\n\t'\(Self.label(m.name))' type_id=\(m.type) bits_offset=\(m.bitOffset)"
                if m.bitfieldSize != 0 { out += " bitfield_size=\(m.bitfieldSize)" }
            }
        case let (.enumeration, .enumerators(values, signed)), let (.enumeration64, .enumerators(values, signed)):
            out += " encoding=\(signed ? "SIGNED" : "UNSIGNED") size=\(t.sizeOrType) vlen=\(values.count)"
            let is32 = t.kind == .enumeration
            for v in values {
                let text = signed
                    ? (is32 ? "\(Int32(truncatingIfNeeded: v.value))" : "\(Int64(bitPattern: v.value))")
                    : (is32 ? "\(UInt32(truncatingIfNeeded: v.value))" : "\(v.value)")
                out += "\n\t'\(Self.label(v.name))' val=\(text)"
            }
        case (.forward, _):
            out += " fwd_kind=\(t.kindFlag ? "union" : "struct")"
        case let (.function, .linkage(linkage)):
            out += " type_id=\(t.referencedType) linkage=\(Self.linkage(linkage))"
        case let (.functionPrototype, .parameters(parameters)):
            out += " ret_type_id=\(t.referencedType) vlen=\(parameters.count)"
            for p in parameters { out += "\n\t'\(Self.label(p.name))' type_id=\(p.type)" }
        case let (.variable, .linkage(linkage)):
            out += " type_id=\(t.referencedType), linkage=\(Self.linkage(linkage))"
        case let (.dataSection, .variables(variables)):
            out += " size=\(t.sizeOrType) vlen=\(variables.count)"
            for v in variables {
                out += "\n\ttype_id=\(v.type) offset=\(v.offset) size=\(v.size)"
                if let vt = btf[v.type] {
                    out += " (\(Self.kindName(vt.kind)) '\(Self.label(vt.name))')"
                } else if v.type == 0 {
                    out += " (UNKNOWN '(anon)')"
                }
            }
        case (.float, _):
            out += " size=\(t.sizeOrType)"
        case let (.declTag, .componentIndex(index)):
            out += " type_id=\(t.referencedType) component_idx=\(index)"
        default:
            break
        }
        out += "\n"
    }
}
