/// Writes BTF types back into the kernel's binary format (little-endian, version 1), with a fresh
/// string table. Loaders use it to upload an object's BTF after fixing it up for the running kernel.
///
/// ```swift
/// var encoder = BTFEncoder(types: object.btf!.types)
/// let file = encoder.string("prog.c")      // offsets for line info records
/// let blob = encoder.encoded()              // ready for BPF_BTF_LOAD
/// ```
public struct BTFEncoder: Sendable {
    /// The types, index 0 being the `void` placeholder (as in `BTF.types`).
    public var types: [BTFType]
    private var strings: [UInt8] = [0]
    private var stringOffsets: [String: UInt32] = ["": 0]

    public init(types: [BTFType]) {
        self.types = types
    }

    /// The offset of `text` in the string table, adding it when new.
    public mutating func string(_ text: String) -> UInt32 {
        if let offset = stringOffsets[text] { return offset }
        let offset = UInt32(strings.count)
        strings += Array(text.utf8) + [0]
        stringOffsets[text] = offset
        return offset
    }

    /// The encoded BTF: header, type section, string section.
    public mutating func encoded() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        func u32(_ value: Int) { u32(UInt32(truncatingIfNeeded: value)) }
        for type in types.dropFirst() {
            var vlen = 0
            switch type.detail {
            case .members(let m): vlen = m.count
            case .enumerators(let e, _): vlen = e.count
            case .parameters(let p): vlen = p.count
            case .variables(let v): vlen = v.count
            case .linkage(let l) where type.kind == .function: vlen = Int(l)
            default: break
            }
            u32(string(type.name))
            u32(UInt32(vlen & 0xffff) | UInt32(type.kind.rawValue) << 24 | (type.kindFlag ? 1 << 31 : 0))
            u32(type.sizeOrType)
            switch type.detail {
            case let .integer(signed, char, bool, bitOffset, bits):
                let encoding: UInt32 = (signed ? 1 : 0) | (char ? 2 : 0) | (bool ? 4 : 0)
                u32(encoding << 24 | UInt32(bitOffset & 0xff) << 16 | UInt32(bits & 0xff))
            case let .array(element, index, count):
                u32(element); u32(index); u32(count)
            case .members(let members):
                for member in members {
                    u32(string(member.name))
                    u32(member.type)
                    u32(type.kindFlag ? UInt32(member.bitfieldSize) << 24 | UInt32(member.bitOffset & 0xffffff) : UInt32(member.bitOffset))
                }
            case .enumerators(let values, _):
                for value in values {
                    u32(string(value.name))
                    u32(UInt32(truncatingIfNeeded: value.value))
                    if type.kind == .enumeration64 { u32(UInt32(truncatingIfNeeded: value.value >> 32)) }
                }
            case .parameters(let params):
                for param in params { u32(string(param.name)); u32(param.type) }
            case .linkage(let linkage):
                if type.kind == .variable { u32(linkage) }
            case .variables(let vars):
                for v in vars { u32(v.type); u32(v.offset); u32(v.size) }
            case .componentIndex(let index):
                u32(UInt32(bitPattern: index))
            case .none:
                break
            }
        }
        let typeLength = out.count
        var header: [UInt8] = [0x9f, 0xeb, 1, 0]
        func h32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { header += $0 } }
        h32(24); h32(0); h32(typeLength); h32(typeLength); h32(strings.count)
        return header + out + strings
    }
}
