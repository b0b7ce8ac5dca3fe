/// Formats raw bytes by their BTF type: `{packets: 10, bytes: 900}`, `3`, `"eth0"`, `[1, 2]`.
///
/// ```swift
/// let text = BTFValueFormatter(btf: btf).format(valueBytes, type: spec.valueType!)
/// ```
public struct BTFValueFormatter: Sendable {
    public let btf: BTF

    public init(btf: BTF) { self.btf = btf }

    /// Formats `bytes` as type `id`; falls back to hex when the type is unknown or the bytes are short.
    public func format(_ bytes: [UInt8], type id: Int) -> String {
        format(bytes[...], type: id, depth: 0)
    }

    /// Hex for bytes with no type information.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined(separator: " ")
    }

    private func integer(_ bytes: ArraySlice<UInt8>, size: Int) -> UInt64 {
        var v: UInt64 = 0
        for (i, b) in bytes.prefix(min(size, 8)).enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }

    private func format(_ bytes: ArraySlice<UInt8>, type id: Int, depth: Int) -> String {
        let resolved = btf.resolve(id)
        guard depth < 16, let t = btf[resolved], let size = try? btf.size(of: resolved), bytes.count >= size else {
            return Self.hex(Array(bytes))
        }
        let start = bytes.startIndex
        switch t.kind {
        case .int:
            guard case let .integer(signed, char, bool, _, bits) = t.detail else { return Self.hex(Array(bytes)) }
            let raw = integer(bytes, size: size)
            if bool { return raw != 0 ? "true" : "false" }
            if char && size == 1, raw >= 0x20 && raw < 0x7f { return "'\(Character(Unicode.Scalar(UInt8(raw))))'" }
            if signed && bits > 0 && bits < 64 {
                let shift = UInt64(64 - bits)
                return String(Int64(bitPattern: raw << shift) >> Int64(shift))
            }
            return signed ? String(Int64(bitPattern: raw)) : String(raw)
        case .enumeration, .enumeration64:
            let raw = integer(bytes, size: size)
            if case let .enumerators(values, _) = t.detail, let match = values.first(where: { $0.value & mask(size) == raw }) {
                return match.name
            }
            return String(raw)
        case .pointer:
            return "0x" + String(integer(bytes, size: 8), radix: 16)
        case .float:
            if size == 8 { return String(Double(bitPattern: integer(bytes, size: 8))) }
            if size == 4 { return String(Float(bitPattern: UInt32(integer(bytes, size: 4)))) }
            return Self.hex(Array(bytes.prefix(size)))
        case .array:
            guard case let .array(element, _, count) = t.detail, let elementSize = try? btf.size(of: element), elementSize > 0 else {
                return Self.hex(Array(bytes.prefix(size)))
            }
            if let e = btf[btf.resolve(element)], case let .integer(_, char, _, _, _) = e.detail, char || (e.name == "char") , elementSize == 1 {
                let chars = bytes.prefix(count).prefix { $0 != 0 }
                return "\"" + String(decoding: chars, as: UTF8.self) + "\""
            }
            let items = (0..<count).map { i in
                format(bytes[(start + i * elementSize)...], type: element, depth: depth + 1)
            }
            return "[" + items.joined(separator: ", ") + "]"
        case .structure, .union:
            guard case let .members(members) = t.detail else { return "{}" }
            let fields = members.map { member -> String in
                let name = member.name.isEmpty ? "<anon>" : member.name
                if member.bitfieldSize > 0 {
                    let word = integer(bytes[(start + member.bitOffset / 8)...], size: 8)
                    let value = (word >> UInt64(member.bitOffset % 8)) & ((1 << UInt64(member.bitfieldSize)) - 1)
                    return "\(name): \(value)"
                }
                return "\(name): \(format(bytes[(start + member.bitOffset / 8)...], type: member.type, depth: depth + 1))"
            }
            return "{" + fields.joined(separator: ", ") + "}"
        case .dataSection:
            guard case let .variables(vars) = t.detail else { return Self.hex(Array(bytes.prefix(size))) }
            let fields = vars.compactMap { v -> String? in
                guard let variable = btf[v.type], v.offset + v.size <= bytes.count else { return nil }
                return "\(variable.name): \(format(bytes[(start + v.offset)...], type: variable.referencedType, depth: depth + 1))"
            }
            return "{" + fields.joined(separator: ", ") + "}"
        default:
            return Self.hex(Array(bytes.prefix(size)))
        }
    }

    private func mask(_ size: Int) -> UInt64 { size >= 8 ? .max : (1 << UInt64(size * 8)) - 1 }
}
