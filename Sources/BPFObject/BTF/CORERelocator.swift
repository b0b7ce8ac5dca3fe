import BPFCore

/// The kinds of CO-RE relocation (`enum bpf_core_relo_kind`).
public enum CORERelocationKind: UInt32, Sendable, CaseIterable {
    case fieldByteOffset = 0, fieldByteSize, fieldExists, fieldSigned, fieldLShiftU64, fieldRShiftU64
    case typeIDLocal, typeIDTarget, typeExists, typeSize, enumValueExists, enumValue, typeMatches

    var isFieldBased: Bool { rawValue <= 5 }
    var isEnumBased: Bool { self == .enumValueExists || self == .enumValue }
}

/// Resolves CO-RE relocations (`.BTF.ext` core relocs) of a program's BTF (`local`) against a target
/// kernel's BTF, as libbpf does: candidates are target types of the same kind whose name equals the
/// local name without its `___flavor` suffix; fields are matched by name (through anonymous members),
/// and every candidate that matches must give the same answer.
///
/// ```swift
/// let relocator = CORERelocator(local: object.btf!, target: vmlinux)   // e.g. KernelBTF.vmlinux() in BPFLinux
/// let value = try relocator.resolve(relocation)   // .value(2344) for task_struct->pid
/// ```
public struct CORERelocator: Sendable {
    public let local: BTF
    public let target: BTF
    let targetIndex: [Substring: [Int]]

    public init(local: BTF, target: BTF) {
        self.local = local
        self.target = target
        self.targetIndex = Self.index(target)
    }

    /// The target's types by name, the candidates of relocations: build it once for a BTF that many
    /// objects are relocated against (the running kernel's).
    public struct CandidateIndex: Sendable {
        let names: [Substring: [Int]]
        public init(_ target: BTF) { names = CORERelocator.index(target) }
    }

    /// A relocator whose target's index is already built.
    public init(local: BTF, target: BTF, index: CandidateIndex) {
        self.init(local: local, target: target, targetIndex: index.names)
    }

    init(local: BTF, target: BTF, targetIndex: [Substring: [Int]]) {
        self.local = local
        self.target = target
        self.targetIndex = targetIndex
    }

    /// Target types by essential name (the name without `___flavor`).
    static func index(_ btf: BTF) -> [Substring: [Int]] {
        var index: [Substring: [Int]] = [:]
        for type in btf.types.dropFirst() where !type.name.isEmpty {
            switch type.kind {
            case .structure, .union, .enumeration, .enumeration64, .typedef, .int, .float, .forward, .function:
                index[essentialName(type.name), default: []].append(type.id)
            default: break
            }
        }
        return index
    }

    /// The name without a `___flavor` suffix: `task_struct___v2` → `task_struct`.
    public static func essentialName(_ name: String) -> Substring {
        let bytes = Array(name.utf8)
        guard bytes.count >= 5 else { return Substring(name) }
        var i = bytes.count - 5
        while i >= 0 {
            if bytes[i] != 0x5f && bytes[i + 1] == 0x5f && bytes[i + 2] == 0x5f && bytes[i + 3] == 0x5f && bytes[i + 4] != 0x5f {
                return Substring(name.utf8.prefix(i + 1))
            }
            i -= 1
        }
        return Substring(name)
    }

    /// What a relocation resolves to.
    public enum Resolution: Hashable, Sendable {
        /// Patch the instruction with this value; for a field offset whose field has another size in
        /// the target, `resize` says how a load of it changes size.
        case value(UInt64, resize: Resize? = nil)
        /// Nothing in the target matches: the instruction is replaced by a call that fails
        /// verification if it is reached (as libbpf does).
        case poison(String)
    }

    /// A field's byte size locally and in the target, when they differ.
    public struct Resize: Hashable, Sendable {
        public var from: Int
        public var to: Int
        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    /// A failure to resolve, with the reason.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// One step of an access path, after anonymous members are folded away.
    enum Access {
        case member(String)
        case index(Int)
    }

    /// The local side of a field relocation.
    struct LocalField {
        var root: Int
        var rootIndex: Int
        var accesses: [Access]
        var description: String
    }

    /// Resolves one relocation.
    public func resolve(_ relocation: CORERelocation) throws(Failure) -> Resolution {
        guard let kind = CORERelocationKind(rawValue: relocation.kind) else {
            throw Failure(message: "unknown CO-RE relocation kind \(relocation.kind)")
        }
        let path = relocation.accessString.split(separator: ":").map { Int($0) }
        guard !path.isEmpty, path.allSatisfy({ $0 != nil && $0! >= 0 }) else {
            throw Failure(message: "bad CO-RE access string '\(relocation.accessString)'")
        }
        let indices = path.map { $0! }
        guard let localType = local[relocation.typeID] else {
            throw Failure(message: "CO-RE relocation names local BTF type \(relocation.typeID), which does not exist")
        }
        if kind == .typeIDLocal { return .value(UInt64(relocation.typeID)) }
        if kind.isFieldBased {
            return try resolveField(kind, root: relocation.typeID, indices: indices)
        }
        if kind.isEnumBased {
            return try resolveEnum(kind, type: localType, index: indices.count > 1 ? indices[1] : indices[0])
        }
        // Type-based.
        let candidates = candidates(for: localType).filter { typesCompatible(relocation.typeID, $0, depth: 0) }
        guard let first = candidates.first else {
            // As libbpf's bpf_core_calc_type_relo: type-based relocations are 0 when the target
            // has no such type (a type id, a size, existence alike).
            return .value(0)
        }
        switch kind {
        case .typeIDTarget: return .value(UInt64(first))
        case .typeExists, .typeMatches: return .value(1)
        case .typeSize:
            let sizes = Set(candidates.compactMap { try? target.size(of: $0) })
            guard sizes.count == 1, let size = sizes.first else {
                throw Failure(message: "type '\(local.typeName(relocation.typeID))' has \(sizes.count) different sizes in the target kernel")
            }
            return .value(UInt64(size))
        default:
            throw Failure(message: "unexpected relocation kind \(kind)")
        }
    }

    /// The first typedef met from `id` through qualifiers, when it has a name.
    func namedTypedef(_ id: Int) -> BTFType? {
        var current = id
        for _ in 0..<64 {
            guard let t = local[current] else { return nil }
            switch t.kind {
            case .typedef: return t.name.isEmpty ? nil : t
            case .volatile, .const, .restrict, .typeTag: current = t.referencedType
            default: return nil
            }
        }
        return nil
    }

    /// Target types of the same kind whose essential names match.
    func candidates(for localType: BTFType) -> [Int] {
        let name = Self.essentialName(localType.name)
        guard !name.isEmpty else { return [] }
        return (targetIndex[name] ?? []).filter { id in
            guard let t = target[id] else { return false }
            return t.kind == localType.kind
                || (t.kind == .enumeration || t.kind == .enumeration64) && (localType.kind == .enumeration || localType.kind == .enumeration64)
        }
    }

    // MARK: - Enums

    func resolveEnum(_ kind: CORERelocationKind, type localType: BTFType, index: Int) throws(Failure) -> Resolution {
        guard let resolved = local[local.resolve(localType.id)], case let .enumerators(values, _) = resolved.detail else {
            throw Failure(message: "enum relocation on '\(local.typeName(localType.id))', which is not an enum")
        }
        guard index < values.count else {
            throw Failure(message: "enumerator \(index) of '\(local.typeName(localType.id))' does not exist (it has \(values.count))")
        }
        let name = Self.essentialName(values[index].name)
        var found: Set<UInt64> = []
        for candidate in candidates(for: resolved) {
            guard case let .enumerators(targetValues, _) = target[candidate]?.detail else { continue }
            if let match = targetValues.first(where: { Self.essentialName($0.name) == name }) { found.insert(match.value) }
        }
        if kind == .enumValueExists { return .value(found.isEmpty ? 0 : 1) }
        guard let value = found.first else { return .poison("no enumerator '\(name)' of '\(local.typeName(localType.id))' in the target kernel") }
        guard found.count == 1 else {
            throw Failure(message: "enumerator '\(name)' has \(found.count) different values in the target kernel's candidates")
        }
        return .value(value)
    }

    // MARK: - Fields

    /// A field as found in one BTF: byte offset of its bits, and its type.
    struct FieldPlace: Hashable {
        var bitOffset: Int
        var bitfieldSize: Int
        var type: Int
    }

    func resolveField(_ kind: CORERelocationKind, root: Int, indices: [Int]) throws(Failure) -> Resolution {
        // Walk the local side, recording named accesses and array indices.
        var accesses: [Access] = []
        var current = local.resolve(root)
        var localPlace = FieldPlace(bitOffset: 0, bitfieldSize: 0, type: root)
        do {
            localPlace.bitOffset = indices[0] * (try local.size(of: root)) * 8
        } catch {
            throw Failure(message: "local type '\(local.typeName(root))': \(error.message)")
        }
        for index in indices.dropFirst() {
            guard let t = local[current] else { throw Failure(message: "access string goes through void") }
            switch t.detail {
            case .members(let members):
                guard index < members.count else {
                    throw Failure(message: "member \(index) of '\(local.typeName(current))' does not exist (it has \(members.count))")
                }
                let member = members[index]
                if !member.name.isEmpty { accesses.append(.member(member.name)) }
                localPlace.bitOffset += member.bitOffset
                localPlace.bitfieldSize = member.bitfieldSize
                localPlace.type = member.type
                current = local.resolve(member.type)
            case let .array(element, _, _):
                accesses.append(.index(index))
                let size: Int
                do { size = try local.size(of: element) } catch { throw Failure(message: error.message) }
                localPlace.bitOffset += index * size * 8
                localPlace.bitfieldSize = 0
                localPlace.type = element
                current = local.resolve(element)
            default:
                throw Failure(message: "access string steps into '\(local.typeName(current))', which is neither a struct, union nor array")
            }
        }
        let localDescription = "\(local.typeName(root))" + accesses.map { access -> String in
            switch access {
            case .member(let name): "." + name
            case .index(let i): "[\(i)]"
            }
        }.joined()
        guard let rootType = local[local.resolve(root)] else { throw Failure(message: "local root type is void") }
        var results: Set<FieldPlace> = []
        var rootCandidates = candidates(for: rootType)
        if rootCandidates.isEmpty, let named = namedTypedef(root) {
            // A typedef of an anonymous struct (`typedef struct { ... } siphash_key_t`): libbpf
            // finds the target's typedef of that name.
            rootCandidates = candidates(for: named)
        }
        for candidate in rootCandidates {
            if let place = matchField(candidate: candidate, rootIndex: indices[0], accesses: accesses, localType: localPlace.type) {
                results.insert(place)
            }
        }
        if kind == .fieldExists { return .value(results.isEmpty ? 0 : 1) }
        guard let place = results.first else { return .poison("field \(localDescription) does not exist in the target kernel") }
        guard results.count == 1 else {
            throw Failure(message: "field \(localDescription) is at \(results.count) different places among the target kernel's candidates")
        }
        var resolution = try fieldValue(kind, place, description: localDescription)
        if case let .value(value, _) = resolution, kind == .fieldByteOffset, place.bitfieldSize == 0, localPlace.bitfieldSize == 0,
           let from = try? local.size(of: localPlace.type), let to = try? target.size(of: place.type), from != to {
            resolution = .value(value, resize: Resize(from: from, to: to))
        }
        return resolution
    }

    /// Follows the named accesses through a target type; nil when a member is missing or incompatible.
    func matchField(candidate: Int, rootIndex: Int, accesses: [Access], localType: Int) -> FieldPlace? {
        guard let rootSize = try? target.size(of: candidate) else { return nil }
        var place = FieldPlace(bitOffset: rootIndex * rootSize * 8, bitfieldSize: 0, type: candidate)
        var current = target.resolve(candidate)
        for access in accesses {
            switch access {
            case .member(let name):
                guard let (offset, member) = findMember(named: name, in: current, depth: 0) else { return nil }
                place.bitOffset += offset
                place.bitfieldSize = member.bitfieldSize
                place.type = member.type
                current = target.resolve(member.type)
            case .index(let index):
                guard case let .array(element, _, _) = target[current]?.detail, let size = try? target.size(of: element) else { return nil }
                place.bitOffset += index * size * 8
                place.bitfieldSize = 0
                place.type = element
                current = target.resolve(element)
            }
        }
        guard fieldsCompatible(localType, place.type) else { return nil }
        return place
    }

    /// A member by name, searching anonymous struct/union members too; its bit offset from `type`.
    func findMember(named name: String, in type: Int, depth: Int) -> (Int, BTFMember)? {
        guard depth < 32, case let .members(members) = target[type]?.detail else { return nil }
        for member in members {
            if member.name == name { return (member.bitOffset, member) }
            if member.name.isEmpty, let (offset, found) = findMember(named: name, in: target.resolve(member.type), depth: depth + 1) {
                return (member.bitOffset + offset, found)
            }
        }
        return nil
    }

    /// Whether a local field type and a target field type are compatible (libbpf's rules: composite
    /// types by kind, ints and pointers by kind, enums by name, arrays by element).
    func fieldsCompatible(_ localID: Int, _ targetID: Int) -> Bool {
        let l = local.resolve(localID)
        let t = target.resolve(targetID)
        guard let lt = local[l], let tt = target[t] else { return l == 0 && t == 0 }
        let lComposite = lt.kind == .structure || lt.kind == .union
        let tComposite = tt.kind == .structure || tt.kind == .union
        if lComposite && tComposite { return true }
        let lEnum = lt.kind == .enumeration || lt.kind == .enumeration64
        let tEnum = tt.kind == .enumeration || tt.kind == .enumeration64
        if lEnum && tEnum || lEnum && tt.kind == .int || lt.kind == .int && tEnum { return true }
        guard lt.kind == tt.kind else { return false }
        switch lt.kind {
        case .pointer, .float, .int: return true
        case .forward: return Self.essentialName(lt.name) == Self.essentialName(tt.name)
        case .array:
            guard case let .array(le, _, _) = lt.detail, case let .array(te, _, _) = tt.detail else { return false }
            return fieldsCompatible(le, te)
        default: return false
        }
    }

    /// Whether a local type and a target type are compatible for type-based relocations.
    func typesCompatible(_ localID: Int, _ targetID: Int, depth: Int) -> Bool {
        Self.typesCompatible(localID, in: local, targetID, in: target, depth: depth)
    }

    /// libbpf's `bpf_core_types_are_compat`: whether type `localID` of `local` and `targetID` of
    /// `target` are compatible — the same kind through typedefs and qualifiers (any enums together),
    /// structs, unions and forwards by kind alone, integers that are not bitfields, pointers and
    /// arrays by what they hold, function prototypes by return and parameter types. A loader checks
    /// an extern function (a kfunc) or typed ksym against the kernel's with it.
    public static func typesCompatible(_ localID: Int, in local: BTF, _ targetID: Int, in target: BTF, depth: Int = 0) -> Bool {
        guard depth < 16 else { return false }
        let l = local.resolve(localID)
        let t = target.resolve(targetID)
        guard let lt = local[l], let tt = target[t] else { return l == 0 && t == 0 }
        let lEnum = lt.kind == .enumeration || lt.kind == .enumeration64
        let tEnum = tt.kind == .enumeration || tt.kind == .enumeration64
        if lEnum && tEnum { return true }
        guard lt.kind == tt.kind else { return false }
        func compatible(_ a: Int, _ b: Int) -> Bool { typesCompatible(a, in: local, b, in: target, depth: depth + 1) }
        switch lt.kind {
        case .structure, .union, .forward, .float: return true
        case .int:
            guard case let .integer(_, _, _, lo, _) = lt.detail, case let .integer(_, _, _, to, _) = tt.detail else { return false }
            return lo == 0 && to == 0
        case .pointer: return compatible(lt.referencedType, tt.referencedType)
        case .array:
            guard case let .array(le, _, _) = lt.detail, case let .array(te, _, _) = tt.detail else { return false }
            return compatible(le, te)
        case .functionPrototype:
            guard case let .parameters(lp) = lt.detail, case let .parameters(tp) = tt.detail, lp.count == tp.count else { return false }
            return compatible(lt.referencedType, tt.referencedType) && zip(lp, tp).allSatisfy { compatible($0.type, $1.type) }
        default: return false
        }
    }

    /// The value a field relocation asks for, from the field's place in the target.
    func fieldValue(_ kind: CORERelocationKind, _ place: FieldPlace, description: String) throws(Failure) -> Resolution {
        let typeSize: Int
        do { typeSize = try target.size(of: place.type) } catch { throw Failure(message: "field \(description): \(error.message)") }
        var byteSize = typeSize
        var byteOffset = place.bitOffset / 8
        let bitSize = place.bitfieldSize > 0 ? place.bitfieldSize : typeSize * 8
        if place.bitfieldSize > 0 {
            // The smallest aligned load of the underlying type's size (doubling) that holds the bits.
            byteOffset = place.bitOffset / 8 / byteSize * byteSize
            while place.bitOffset + place.bitfieldSize - byteOffset * 8 > byteSize * 8 {
                guard byteSize < 8 else { throw Failure(message: "bitfield \(description) does not fit an 8-byte load") }
                byteSize *= 2
                byteOffset = place.bitOffset / 8 / byteSize * byteSize
            }
        }
        switch kind {
        case .fieldByteOffset: return .value(UInt64(byteOffset))
        case .fieldByteSize: return .value(UInt64(byteSize))
        case .fieldSigned:
            let resolved = target[target.resolve(place.type)]
            var signed = false
            if case let .integer(s, _, _, _, _)? = resolved?.detail { signed = s }
            if case let .enumerators(_, s)? = resolved?.detail { signed = s }
            return .value(signed ? 1 : 0)
        case .fieldLShiftU64: return .value(UInt64(64 - (place.bitOffset + bitSize - byteOffset * 8)))
        case .fieldRShiftU64: return .value(UInt64(64 - bitSize))
        default: throw Failure(message: "unexpected relocation kind \(kind)")
        }
    }

    // MARK: - Patching

    /// The helper id libbpf uses for a poisoned instruction (`0xbad2310`): the verifier refuses it if reached.
    public static let poisonHelper: Int32 = 0xbad2310

    /// Applies a resolution to the instruction at `index`.
    public static func patch(_ instructions: inout [Instruction], at index: Int, with resolution: Resolution,
                             kind: CORERelocationKind) throws(Failure) {
        guard index < instructions.count else { throw Failure(message: "relocated instruction \(index) is past the program's end") }
        let ins = instructions[index]
        switch resolution {
        case .poison:
            let wide = ins.opcode == Opcode.lddw
            instructions[index] = Instruction(opcode: Opcode.call, imm: poisonHelper)
            if wide && index + 1 < instructions.count { instructions[index + 1] = Instruction(opcode: Opcode.ja) }
        case let .value(value, resize):
            switch ins.instructionClass {
            case .alu, .alu64:
                guard ins.opcode & 0x08 == 0 else { throw Failure(message: "the relocated ALU instruction has a register operand, not an immediate") }
                guard value <= UInt64(Int32.max) else { throw Failure(message: "value \(value) does not fit a 32-bit immediate") }
                instructions[index].imm = Int32(value)
            case .ldx, .st, .stx:
                guard value <= UInt64(Int16.max) else { throw Failure(message: "offset \(value) does not fit a 16-bit instruction offset") }
                instructions[index].offset = Int16(value)
                if kind == .fieldByteOffset, let resize, ins.opcode & 0xe0 == MemoryMode.memory.rawValue,
                   MemorySize(rawValue: ins.opcode & 0x18)?.bytes == resize.from {
                    guard let newSize = MemorySize.allCases.first(where: { $0.bytes == resize.to }), ins.instructionClass == .ldx else {
                        throw Failure(message: "the field is \(resize.to) bytes in the target kernel but the instruction accesses \(resize.from)")
                    }
                    instructions[index].opcode = ins.opcode & ~0x18 | newSize.rawValue
                }
            case .ld where ins.opcode == Opcode.lddw:
                guard index + 1 < instructions.count else { throw Failure(message: "lddw without its second slot") }
                instructions[index].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value))
                instructions[index + 1].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))
            default:
                throw Failure(message: "opcode 0x\(String(ins.opcode, radix: 16)) cannot carry a CO-RE relocation")
            }
        }
    }
}

extension ProgramSpec {
    /// The program with its CO-RE relocations applied against `relocator`'s target (the kernel's BTF),
    /// as a loader gives it to the kernel. A relocation that cannot be resolved poisons its
    /// instruction as libbpf does (a call to helper 0xbad2310, which the kernel refuses if reached),
    /// and is reported.
    public func relocated(with relocator: CORERelocator) -> (spec: ProgramSpec, failures: [String]) {
        var copy = self
        var failures: [String] = []
        for relocation in coreRelocations {
            guard let kind = CORERelocationKind(rawValue: relocation.kind) else { continue }
            do {
                let resolution = try relocator.resolve(relocation)
                try CORERelocator.patch(&copy.instructions, at: relocation.instruction, with: resolution, kind: kind)
                if case .poison(let why) = resolution { copy.poisoned[relocation.instruction] = why }
            } catch {
                failures.append("instruction \(relocation.instruction): CO-RE relocation (access \(relocation.accessString)): \(error.message)")
                let i = relocation.instruction
                if i >= 0 && i < copy.instructions.count && copy.instructions[i].opcode != Opcode.lddw {
                    copy.instructions[i] = Instruction(opcode: Opcode.call, dst: 0, src: 0, offset: 0, imm: 0xbad2310)
                    copy.poisoned[i] = error.message
                }
            }
        }
        return (copy, failures)
    }
}
