/// Writes BTF as C declarations, as `bpftool btf dump file FILE format c` does: a `vmlinux.h`-style
/// header for `clang -target bpf`.
///
/// Every named struct, union, enum and typedef appears once, in an order C accepts: a type used by
/// value (a member, an array element, a typedef's target) is complete before it is used, and a named
/// struct or union reached only through pointers is forward-declared (`struct foo;`), which also
/// breaks cycles. Anonymous structs, unions and enums are written inline where they are used;
/// anonymous enums nothing refers to become top-level `enum { ... };` (they carry constants).
///
/// Layouts are exact: the compiled sizes and member offsets equal the BTF ones. Gaps that natural
/// alignment does not produce are filled with unnamed bitfields (`long: 64;`, `char: 3;`); a struct
/// whose members sit off their natural alignment, or whose size is not a multiple of it, gets
/// `__attribute__((packed))`; an enum whose BTF size is not the one C gives its values gets
/// `__attribute__((mode(QI|HI|SI|DI)))`. A `__builtin_va_list` typedef (clang predefines the name,
/// as `void *` for BPF) is written as the type it names, e.g. `struct __va_list_tag[1]` for x86-64.
///
/// Integers keep their BTF name when it is C (`long unsigned int`, `char`, `_Bool`; so `char` stays
/// `char` even where the kernel's is unsigned, as with bpftool); other names (`u8`, `bool`) are spelled
/// from the size and encoding (`unsigned char`, `_Bool`).
///
/// Names: an identifier that is a C keyword gets a trailing `_` (`int_`), characters C does not allow
/// become `_`, and a second, different type with the same C name gets bpftool's `___2` suffix (tags
/// and ordinary identifiers are counted apart, as C keeps them apart). Type tags become
/// `__attribute__((btf_type_tag("...")))`, or are dropped with `Options(typeTags: false)`. Decl tags,
/// functions, variables and data sections are not written: the header holds types only.
///
/// ```swift
/// let btf = try BTF(fileBytes: Array(try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
/// let header = try BTFCFormatter(btf: btf).format()   // "#ifndef __VMLINUX_H__\n..."
/// ```
public struct BTFCFormatter: Sendable {
    /// What to write besides the declarations themselves.
    public struct Options: Sendable, Hashable {
        /// Write BTF type tags as `__attribute__((btf_type_tag("name")))` (clang 14 and newer accept
        /// them); when false they are dropped, which changes no layout.
        public var typeTags: Bool
        /// Also declare the kernel's kfuncs (the functions BTF tags `bpf_kfunc`) as `extern ...
        /// __weak __ksym;`, inside `#ifndef BPF_NO_KFUNC_PROTOTYPES`, as bpftool 7.4 and newer do,
        /// so programs can call them (and test them with `bpf_ksym_exists`) without declaring them.
        public var kfuncPrototypes: Bool

        public init(typeTags: Bool = true, kfuncPrototypes: Bool = false) {
            self.typeTags = typeTags
            self.kfuncPrototypes = kfuncPrototypes
        }
    }

    public let btf: BTF
    public let options: Options

    public init(btf: BTF, options: Options = Options()) {
        self.btf = btf
        self.options = options
    }

    /// The whole header. Throws when a type refers to a missing type, uses a non-type (a variable, a
    /// data section) as a type, or nests too deeply (a loop in corrupt BTF).
    public func format() throws(ObjectError) -> String {
        var writer = try CHeaderWriter(types: btf.types, typeTags: options.typeTags)
        writer.kfuncPrototypes = options.kfuncPrototypes
        try writer.writeHeader()
        return writer.output
    }

    /// The C spelling of a BTF name: characters outside `[A-Za-z0-9_]` become `_`, a leading digit
    /// gets a `_` before it, and a C keyword gets a `_` after it (`int` → `int_`).
    public static func identifier(_ name: String) -> String {
        var valid = true
        var first = true
        for byte in name.utf8 {
            let letter = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || byte == 0x5f
            let digit = byte >= 0x30 && byte <= 0x39
            if !(letter || (digit && !first)) {
                valid = false
                break
            }
            first = false
        }
        var result = name
        if !valid {
            var bytes: [UInt8] = []
            for byte in name.utf8 {
                let allowed = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || byte == 0x5f
                    || (byte >= 0x30 && byte <= 0x39)
                bytes.append(allowed ? byte : 0x5f)
            }
            if let head = bytes.first, head >= 0x30 && head <= 0x39 { bytes.insert(0x5f, at: 0) }
            result = String(decoding: bytes, as: UTF8.self)
        }
        if keywords.contains(result) { result += "_" }
        return result
    }

    /// C17 keywords and the GNU spellings clang reserves in C. C23's (`bool`, `true`, `false`, …) are
    /// not here: vmlinux defines `bool`, `true` and `false` itself, and clang's default C dialect allows it.
    static let keywords: Set<String> = [
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
        "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
        "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
        "volatile", "while", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic",
        "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local", "asm", "typeof", "__asm", "__asm__",
        "__attribute", "__attribute__", "__const", "__const__", "__extension__", "__inline", "__inline__",
        "__int128", "__label__", "__restrict", "__restrict__", "__signed", "__signed__", "__typeof",
        "__typeof__", "__volatile", "__volatile__", "__alignof__", "__real__", "__imag__",
    ]
}

/// The state of one C header being written: which types are declared, the names given out, and the
/// layout facts of each struct and union.
struct CHeaderWriter {
    private struct Layout {
        var packed: Bool
        var alignment: Int
    }

    /// Per-type flags.
    private static let declared: UInt8 = 1, defined: UInt8 = 2, inProgress: UInt8 = 4
    /// A typedef clang predefines (for BPF as `void *`, unlike the kernel's): written as what it names.
    private static let builtinVaList = "__builtin_va_list"
    /// Deepest nesting of types followed before giving up (real BTF stays far below).
    static let maxDepth = 256
    /// Gaps wider than this many bytes are filled with a byte array rather than bitfield lines.
    private static let largestBitfieldGap = 1 << 16

    let types: [BTFType]
    let typeTags: Bool
    var kfuncPrototypes = false
    private(set) var output = ""
    private var state: [UInt8]
    private var names: [String?]
    private var tagUses: [String: Int] = [:]
    private var identifierUses: [String: Int] = [:]
    private var declaredTags: Set<String> = []
    private var referenced: [Bool]
    private var layouts: [Layout?]
    /// The top-level declaration being prepared: a pointer to it from its own body needs no forward
    /// declaration.
    private var current = 0
    private var depth = 0
    /// Lines left to write: bounds the output when corrupt BTF inlines anonymous types over and over.
    private var lineBudget = 0

    init(types: [BTFType], typeTags: Bool) throws(ObjectError) {
        self.types = types
        self.typeTags = typeTags
        state = Array(repeating: 0, count: types.count)
        names = Array(repeating: nil, count: types.count)
        referenced = Array(repeating: false, count: types.count)
        layouts = Array(repeating: nil, count: types.count)
        var lines = 0
        for t in types.dropFirst() {
            switch t.detail {
            case .members(let members):
                lines += members.count
                for m in members { try markReferenced(m.type, from: t) }
            case .parameters(let parameters):
                for p in parameters { try markReferenced(p.type, from: t) }
            case .array(let element, let index, _):
                try markReferenced(element, from: t)
                try markReferenced(index, from: t)
            case .variables(let variables):
                for v in variables { try markReferenced(v.type, from: t) }
            case .enumerators(let values, _):
                lines += values.count
            default:
                break
            }
            switch t.kind {
            case .pointer, .typedef, .volatile, .const, .restrict, .function, .functionPrototype, .variable,
                 .declTag, .typeTag:
                try markReferenced(t.referencedType, from: t)
            default:
                break
            }
        }
        lineBudget = 8 * lines + 4 * types.count + 1_000_000
    }

    private mutating func markReferenced(_ id: Int, from t: BTFType) throws(ObjectError) {
        guard id >= 0, id < types.count else {
            throw ObjectError("BTF type \(t.id)", "\(describe(t)) refers to type \(id), but the last type is \(types.count - 1)")
        }
        referenced[id] = true
    }

    private func describe(_ t: BTFType) -> String {
        "\(BTFRawFormatter.kindName(t.kind)) '\(t.name.isEmpty ? "(anon)" : t.name)'"
    }

    private func tooDeep(_ id: Int) -> ObjectError {
        ObjectError("BTF type \(id)", "types nest more than \(Self.maxDepth) levels deep (a loop?)")
    }

    // MARK: - The header

    mutating func writeHeader() throws(ObjectError) {
        output.reserveCapacity(types.count * 32)
        output += """
            #ifndef __VMLINUX_H__
            #define __VMLINUX_H__

            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
            #endif


            """
        for id in types.indices.dropFirst() {
            let t = types[id]
            switch t.kind {
            case .structure, .union, .typedef:
                if !t.name.isEmpty { try require(id, complete: true) }
            case .enumeration, .enumeration64:
                if !t.name.isEmpty {
                    try defineEnum(id)
                } else if !referenced[id], case .enumerators(let values, _) = t.detail, !values.isEmpty {
                    output += try enumBody(id, level: 0) + ";\n\n"
                }
            case .forward:
                declareForward(id)
            default:
                break
            }
        }
        if kfuncPrototypes { try writeKfuncPrototypes() }
        output += """
            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute pop
            #endif

            #endif /* __VMLINUX_H__ */

            """
    }

    /// `extern <prototype> __weak __ksym;` for every function tagged `bpf_kfunc`, in id order.
    private mutating func writeKfuncPrototypes() throws(ObjectError) {
        var kfuncs: [Int] = []
        var seen = Set<Int>()
        for t in types where t.kind == .declTag && t.name == "bpf_kfunc" {
            guard case .componentIndex(-1) = t.detail, t.referencedType > 0, t.referencedType < types.count,
                  types[t.referencedType].kind == .function, seen.insert(t.referencedType).inserted else { continue }
            kfuncs.append(t.referencedType)
        }
        guard !kfuncs.isEmpty else { return }
        output += """
            #ifndef __ksym
            #define __ksym __attribute__((section(".ksyms")))
            #endif

            #ifndef __weak
            #define __weak __attribute__((weak))
            #endif

            /* BPF kfuncs */
            #ifndef BPF_NO_KFUNC_PROTOTYPES

            """
        for id in kfuncs.sorted() {
            let function = types[id]
            output += "extern " + (try declaration(of: function.referencedType, named: BTFCFormatter.identifier(function.name), level: 0)) + " __weak __ksym;\n"
        }
        output += "#endif\n\n"
    }

    // MARK: - Ordering

    /// Writes whatever `id` needs before it can be used: complete definitions for types used by value,
    /// forward declarations for named structs and unions used through pointers.
    private mutating func require(_ id: Int, complete: Bool) throws(ObjectError) {
        guard id != 0 else { return }
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw tooDeep(id) }
        let t = types[id]
        switch t.kind {
        case .int, .float:
            return
        case .pointer:
            try require(t.referencedType, complete: false)
        case .array:
            // C wants a complete element type even for an array behind a pointer.
            if case .array(let element, _, _) = t.detail { try require(element, complete: true) }
        case .const, .volatile, .restrict, .typeTag:
            try require(t.referencedType, complete: complete)
        case .function:
            try require(t.referencedType, complete: false)
        case .functionPrototype:
            try require(t.referencedType, complete: false)
            if case .parameters(let parameters) = t.detail {
                for p in parameters { try require(p.type, complete: false) }
            }
        case .structure, .union:
            if !t.name.isEmpty {
                if complete { try define(id) } else { declareTag(id) }
            } else if state[id] == 0 {
                // Written inline, so everything its members use comes first.
                state[id] = Self.inProgress
                for m in members(t) { try require(m.type, complete: true) }
                state[id] = Self.defined
            }
        case .enumeration, .enumeration64:
            if !t.name.isEmpty { try defineEnum(id) }
        case .forward:
            declareForward(id)
        case .typedef:
            if t.name.isEmpty || t.name == Self.builtinVaList {
                try require(t.referencedType, complete: complete)
                return
            }
            if complete { try require(t.referencedType, complete: true) }
            try declareTypedef(id)
        case .variable, .dataSection, .declTag:
            throw ObjectError("BTF type \(id)", "\(describe(t)) is used as a type")
        }
    }

    private mutating func define(_ id: Int) throws(ObjectError) {
        if state[id] & Self.defined != 0 { return }
        if state[id] & Self.inProgress != 0 {
            // Contains itself by value: impossible in C, so a forward declaration is all there is.
            declareTag(id)
            return
        }
        state[id] |= Self.inProgress
        let saved = current
        current = id
        for m in members(types[id]) { try require(m.type, complete: true) }
        output += try compositeBody(id, level: 0) + ";\n\n"
        declaredTags.insert(tagName(id))
        state[id] = Self.declared | Self.defined
        current = saved
    }

    private mutating func declareTag(_ id: Int) {
        guard state[id] & Self.declared == 0, id != current else { return }
        let t = types[id]
        let name = tagName(id)
        output += "\(t.kind == .union ? "union" : "struct") \(name);\n\n"
        declaredTags.insert(name)
        state[id] |= Self.declared
    }

    private mutating func declareForward(_ id: Int) {
        let t = types[id]
        let name = BTFCFormatter.identifier(t.name)
        guard !name.isEmpty, !declaredTags.contains(name) else { return }
        output += "\(t.kindFlag ? "union" : "struct") \(name);\n\n"
        declaredTags.insert(name)
    }

    private mutating func defineEnum(_ id: Int) throws(ObjectError) {
        guard state[id] & Self.declared == 0 else { return }
        state[id] = Self.declared | Self.defined
        let t = types[id]
        if case .enumerators(let values, _) = t.detail, !values.isEmpty {
            output += try enumBody(id, level: 0) + ";\n\n"
        } else {
            output += "enum \(tagName(id));\n\n"
        }
        declaredTags.insert(tagName(id))
    }

    private mutating func declareTypedef(_ id: Int) throws(ObjectError) {
        guard state[id] & (Self.declared | Self.inProgress) == 0 else { return }
        state[id] |= Self.inProgress
        let saved = current
        current = id
        let t = types[id]
        try require(t.referencedType, complete: false)
        output += "typedef " + (try declaration(of: t.referencedType, named: identifierName(id), level: 0)) + ";\n\n"
        state[id] = Self.declared | Self.defined
        current = saved
    }

    // MARK: - Names

    private mutating func tagName(_ id: Int) -> String {
        if let name = names[id] { return name }
        let t = types[id]
        let base = BTFCFormatter.identifier(t.name)
        var name = base
        var countsAsDefinition = t.kind != .forward
        if case .enumerators(let values, _) = t.detail, values.isEmpty { countsAsDefinition = false }
        if countsAsDefinition && !base.isEmpty {
            let uses = tagUses[base, default: 0] + 1
            tagUses[base] = uses
            if uses > 1 { name = "\(base)___\(uses)" }
        }
        names[id] = name
        return name
    }

    private mutating func identifierName(_ id: Int) -> String {
        if let name = names[id] { return name }
        let name = uniqueIdentifier(BTFCFormatter.identifier(types[id].name))
        names[id] = name
        return name
    }

    /// Typedef names and enumerators share C's ordinary namespace; a repeat gets `___N`.
    private mutating func uniqueIdentifier(_ base: String) -> String {
        let uses = identifierUses[base, default: 0] + 1
        identifierUses[base] = uses
        return uses > 1 ? "\(base)___\(uses)" : base
    }

    // MARK: - Declarators

    /// `type name` in C syntax: `unsigned int x`, `struct foo *p`, `int (*fn)(int, char *)`, `char s[16]`.
    /// Anonymous structs, unions and enums are written out in full, indented for `level`.
    private mutating func declaration(of start: Int, named name: String, level: Int) throws(ObjectError) -> String {
        var id = start
        var inner = name
        var qualifiers = Qualifiers()
        var attributes = ""   // after it: " __attribute__((btf_type_tag("user")))"
        var steps = 0
        while true {
            steps += 1
            guard steps <= Self.maxDepth else { throw tooDeep(start) }
            guard id != 0 else { return Self.compose(qualifiers.text, "void", attributes, inner) }
            let t = types[id]
            switch t.kind {
            case .const:
                qualifiers.const = true
                id = t.referencedType
            case .volatile:
                qualifiers.volatile = true
                id = t.referencedType
            case .restrict:
                qualifiers.restrict = true
                id = t.referencedType
            case .typeTag:
                if typeTags { attributes += " __attribute__((btf_type_tag(\"\(Self.escaped(t.name))\")))" }
                id = t.referencedType
            case .pointer:
                // Qualifiers and tags met so far belong to the pointer itself.
                var star = "*"
                if !attributes.isEmpty { star += attributes.dropFirst() + " " }
                inner = star + qualifiers.text + inner
                qualifiers = Qualifiers()
                attributes = ""
                id = t.referencedType
            case .array:
                guard case .array(let element, _, let count) = t.detail else { return "int" }
                if inner.hasPrefix("*") { inner = "(" + inner + ")" }
                inner += "[\(count)]"
                id = element
            case .functionPrototype:
                if inner.hasPrefix("*") { inner = "(" + inner + ")" }
                inner += "(" + (try parameterList(t, level: level)) + ")"
                qualifiers = Qualifiers()
                attributes = ""
                id = t.referencedType
            case .function:
                id = t.referencedType
            case .typedef where t.name.isEmpty || (t.name == Self.builtinVaList && t.referencedType != 0):
                id = t.referencedType
            default:
                return Self.compose(qualifiers.text, try baseName(id, level: level), attributes, inner)
            }
        }
    }

    /// Type qualifiers met along a chain, each written once (BTF may repeat them: `const` of a
    /// typedef that is already const).
    private struct Qualifiers {
        var const = false, volatile = false, restrict = false

        var text: String { (const ? "const " : "") + (volatile ? "volatile " : "") + (restrict ? "restrict " : "") }
    }

    private static func compose(_ qualifiers: String, _ base: String, _ attributes: String, _ inner: String) -> String {
        var text = qualifiers + base + attributes
        if !inner.isEmpty { text += " " + inner }
        while text.last == " " { text.removeLast() }
        return text
    }

    private static func escaped(_ text: String) -> String {
        var out = ""
        for c in text.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private mutating func parameterList(_ t: BTFType, level: Int) throws(ObjectError) -> String {
        guard case .parameters(let parameters) = t.detail, !parameters.isEmpty else { return "void" }
        var text = ""
        for (i, p) in parameters.enumerated() {
            if i > 0 { text += ", " }
            if p.type == 0 && i == parameters.count - 1 {
                text += "..."
            } else {
                text += try declaration(of: p.type, named: BTFCFormatter.identifier(p.name), level: level)
            }
        }
        return text
    }

    /// The type specifier of a type that is not a pointer, array, function or qualifier.
    private mutating func baseName(_ id: Int, level: Int) throws(ObjectError) -> String {
        let t = types[id]
        switch t.kind {
        case .int:
            if let name = names[id] { return name }
            let name = Self.integerSpelling(t)
            names[id] = name
            return name
        case .float:
            switch t.name {
            case "float", "double", "long double": return t.name
            default: return t.sizeOrType == 4 ? "float" : t.sizeOrType == 8 ? "double" : "long double"
            }
        case .structure, .union:
            if t.name.isEmpty { return try compositeBody(id, level: level) }
            return (t.kind == .union ? "union " : "struct ") + tagName(id)
        case .enumeration, .enumeration64:
            if !t.name.isEmpty { return "enum " + tagName(id) }
            if case .enumerators(let values, let signed) = t.detail, values.isEmpty {
                return Self.integerSpelling(size: t.sizeOrType, signed: signed)
            }
            return try enumBody(id, level: level)
        case .forward:
            return (t.kindFlag ? "union " : "struct ") + BTFCFormatter.identifier(t.name)
        case .typedef:
            // A __builtin_va_list of nothing: clang's own is the best guess.
            return t.name == Self.builtinVaList ? t.name : identifierName(id)
        default:
            throw ObjectError("BTF type \(id)", "\(describe(t)) is used as a type")
        }
    }

    private static let integerWords: Set<Substring> = ["signed", "unsigned", "char", "short", "int", "long", "_Bool", "__int128"]

    /// The BTF name when it is a C integer type (`long unsigned int`), else one chosen from the encoding.
    private static func integerSpelling(_ t: BTFType) -> String {
        let words = t.name.split(separator: " ")
        if !words.isEmpty && words.allSatisfy({ integerWords.contains($0) }) { return t.name }
        guard case .integer(let signed, let char, let bool, _, _) = t.detail else { return "int" }
        if bool { return "_Bool" }
        if char && t.sizeOrType == 1 { return "char" }
        return integerSpelling(size: t.sizeOrType, signed: signed)
    }

    private static func integerSpelling(size: Int, signed: Bool) -> String {
        switch size {
        case 1: signed ? "signed char" : "unsigned char"
        case 2: signed ? "short" : "unsigned short"
        case 8: signed ? "long" : "unsigned long"
        case 16: signed ? "__int128" : "unsigned __int128"
        default: signed ? "int" : "unsigned int"
        }
    }

    // MARK: - Bodies

    private static let indents: [String] = (0..<16).map { String(repeating: "\t", count: $0) }

    private static func indent(_ level: Int) -> String {
        level < indents.count ? indents[level] : String(repeating: "\t", count: level)
    }

    private mutating func spend(_ lines: Int = 1) throws(ObjectError) {
        lineBudget -= lines
        guard lineBudget >= 0 else {
            throw ObjectError("BTF", "the C text grows too large: anonymous types are inlined too often (corrupt BTF?)")
        }
    }

    private func members(_ t: BTFType) -> [BTFMember] {
        if case .members(let members) = t.detail { return members }
        return []
    }

    /// `struct name { ... }` (no final `;`), with padding and `packed` where the layout needs them.
    private mutating func compositeBody(_ id: Int, level: Int) throws(ObjectError) -> String {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw tooDeep(id) }
        let t = types[id]
        let isStruct = t.kind == .structure
        var text = isStruct ? "struct" : "union"
        if !t.name.isEmpty { text += " " + tagName(id) }
        let members = members(t)
        let size = t.sizeOrType
        let layout = layout(id)
        if members.isEmpty && size == 0 { return text + " {}" }
        text += " {\n"
        let pad = Self.indent(level + 1)
        var offset = 0   // bits, where the member after the last one written would start
        var largest = 0  // bytes, the largest union member
        for m in members {
            let width = m.bitfieldSize
            if isStruct {
                if width == 0 {
                    let alignment = layout.packed ? 1 : self.alignment(m.type)
                    if m.bitOffset > Self.roundUp(offset, to: alignment * 8) {
                        try appendPadding(to: &text, from: offset, to: m.bitOffset, level: level + 1)
                    }
                    offset = m.bitOffset + self.size(m.type) * 8
                } else {
                    var natural = offset
                    if !layout.packed {
                        // A bitfield that would straddle a unit of its type starts at the next unit.
                        let unit = self.alignment(m.type) * 8
                        if offset / unit != (offset + width - 1) / unit { natural = Self.roundUp(offset, to: unit) }
                    }
                    if m.bitOffset > natural {
                        try appendPadding(to: &text, from: offset, to: m.bitOffset, level: level + 1)
                    }
                    offset = m.bitOffset + width
                }
            } else {
                largest = max(largest, width == 0 ? self.size(m.type) : (width + 7) / 8)
            }
            try spend()
            text += pad + (try declaration(of: m.type, named: BTFCFormatter.identifier(m.name), level: level + 1))
            if width != 0 { text += ": \(width)" }
            text += ";\n"
        }
        if isStruct {
            try appendPadding(to: &text, from: offset, to: size * 8, level: level + 1)
        } else if Self.roundUp(largest, to: layout.alignment) < size {
            // A union larger than its members: an anonymous struct of padding gives it its size.
            text += pad + "struct {\n"
            try appendPadding(to: &text, from: 0, to: size * 8, level: level + 2)
            text += pad + "};\n"
        }
        text += Self.indent(level) + "}"
        if layout.packed { text += " __attribute__((packed))" }
        return text
    }

    /// Unnamed bitfields from bit `from` to bit `to`, each on a boundary of its own type so the
    /// compiler places it exactly there; very wide gaps become a byte array.
    private mutating func appendPadding(to text: inout String, from: Int, to end: Int, level: Int) throws(ObjectError) {
        var at = from
        let pad = Self.indent(level)
        while at < end {
            try spend()
            let left = end - at
            if at % 8 != 0 {
                let bits = min(8 - at % 8, left)
                text += pad + "char: \(bits);\n"
                at += bits
            } else if left / 8 > Self.largestBitfieldGap {
                text += pad + "unsigned char __pad_\(at / 8)[\(left / 8)];\n"
                at += left / 8 * 8
            } else if at % 64 == 0 && left >= 64 {
                text += pad + "long: 64;\n"
                at += 64
            } else if at % 32 == 0 && left >= 32 {
                text += pad + "int: 32;\n"
                at += 32
            } else if at % 16 == 0 && left >= 16 {
                text += pad + "short: 16;\n"
                at += 16
            } else {
                let bits = min(8, left)
                text += pad + "char: \(bits);\n"
                at += bits
            }
        }
    }

    /// `enum name { A = 0, ... }` (no final `;`), sized with `mode` when C would size it differently.
    private mutating func enumBody(_ id: Int, level: Int) throws(ObjectError) -> String {
        let t = types[id]
        guard case .enumerators(let values, let signed) = t.detail else { return "int" }
        var text = "enum"
        if !t.name.isEmpty { text += " " + tagName(id) }
        text += " {\n"
        let pad = Self.indent(level + 1)
        var fitsInt = true, fitsUnsignedInt = true
        for v in values {
            try spend()
            var name = BTFCFormatter.identifier(v.name)
            if name.isEmpty { name = "_" }
            text += pad + uniqueIdentifier(name) + " = "
            if signed {
                let value = Int64(bitPattern: v.value)
                text += value == .min ? "(-9223372036854775807LL - 1)" : "\(value)"
                if value < Int64(Int32.min) || value > Int64(Int32.max) { fitsInt = false }
                if value < 0 || value > Int64(UInt32.max) { fitsUnsignedInt = false }
            } else {
                text += v.value > UInt64(Int64.max) ? "\(v.value)ULL" : "\(v.value)"
                if v.value > UInt64(Int32.max) { fitsInt = false }
                if v.value > UInt64(UInt32.max) { fitsUnsignedInt = false }
            }
            text += ",\n"
        }
        text += Self.indent(level) + "}"
        let natural = fitsInt || fitsUnsignedInt ? 4 : 8
        if t.sizeOrType != natural {
            switch t.sizeOrType {
            case 1: text += " __attribute__((mode(QI)))"
            case 2: text += " __attribute__((mode(HI)))"
            case 4: text += " __attribute__((mode(SI)))"
            case 8: text += " __attribute__((mode(DI)))"
            default: break
            }
        }
        return text
    }

    // MARK: - Layout

    private static func roundUp(_ value: Int, to alignment: Int) -> Int {
        guard alignment > 1 else { return value }
        return (value + alignment - 1) / alignment * alignment
    }

    /// Whether the struct or union must be packed to get its BTF offsets and size, and its alignment
    /// as written (1 when packed).
    private mutating func layout(_ id: Int) -> Layout {
        if let layout = layouts[id] { return layout }
        layouts[id] = Layout(packed: false, alignment: 1)   // a loop in corrupt BTF ends here
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { return Layout(packed: false, alignment: 1) }
        let t = types[id]
        var largest = 1
        var packed = false
        for m in members(t) {
            let alignment = alignment(m.type)
            largest = max(largest, alignment)
            if m.bitfieldSize == 0 {
                if m.bitOffset % (alignment * 8) != 0 { packed = true }
            } else {
                let unit = alignment * 8
                if m.bitOffset / unit != (m.bitOffset + m.bitfieldSize - 1) / unit { packed = true }
            }
        }
        if t.sizeOrType % largest != 0 { packed = true }
        let layout = Layout(packed: packed, alignment: packed ? 1 : largest)
        layouts[id] = layout
        return layout
    }

    /// The alignment clang gives the type as written for `-target bpf`.
    private mutating func alignment(_ start: Int) -> Int {
        var id = start
        for _ in 0..<Self.maxDepth {
            guard id > 0, id < types.count else { return 1 }
            let t = types[id]
            switch t.kind {
            case .typedef, .const, .volatile, .restrict, .typeTag:
                id = t.referencedType
            case .array:
                guard case .array(let element, _, _) = t.detail else { return 1 }
                id = element
            case .int, .float, .enumeration, .enumeration64:
                let size = t.sizeOrType
                return size > 0 && size <= 16 && size & (size - 1) == 0 ? size : 1
            case .pointer:
                return 8
            case .structure, .union:
                return layout(id).alignment
            default:
                return 1
            }
        }
        return 1
    }

    /// The size in bytes (0 for what has none), capped so bit arithmetic cannot overflow.
    private func size(_ start: Int) -> Int {
        let cap = 1 << 40
        var id = start
        var factor = 1
        for _ in 0..<Self.maxDepth {
            guard id > 0, id < types.count else { return 0 }
            let t = types[id]
            switch t.kind {
            case .typedef, .const, .volatile, .restrict, .typeTag:
                id = t.referencedType
            case .array:
                guard case .array(let element, _, let count) = t.detail else { return 0 }
                let (product, overflow) = factor.multipliedReportingOverflow(by: count)
                factor = overflow ? cap : min(product, cap)
                id = element
            case .int, .float, .enumeration, .enumeration64, .structure, .union:
                let (product, overflow) = factor.multipliedReportingOverflow(by: t.sizeOrType)
                return overflow ? cap : min(product, cap)
            case .pointer:
                return min(factor * 8, cap)
            default:
                return 0
            }
        }
        return 0
    }
}
