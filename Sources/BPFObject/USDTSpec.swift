/// An x86-64 register a USDT argument names, by any of its widths (`%rax`, `%eax`, `%ax`, `%al`),
/// with its offset in the kernel's `struct pt_regs` (what a uprobe program's context points to).
public enum USDTRegister: String, Hashable, Sendable, CaseIterable {
    case r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8, rax, rcx, rdx, rsi, rdi, rip, rsp

    /// The offset of the register in x86-64's `struct pt_regs`.
    public var ptRegsOffset: Int {
        switch self {
        case .r15: 0
        case .r14: 8
        case .r13: 16
        case .r12: 24
        case .rbp: 32
        case .rbx: 40
        case .r11: 48
        case .r10: 56
        case .r9: 64
        case .r8: 72
        case .rax: 80
        case .rcx: 88
        case .rdx: 96
        case .rsi: 104
        case .rdi: 112
        case .rip: 128
        case .rsp: 152
        }
    }

    /// The register an assembler name stands for, at any width; nil for a name that is not one of
    /// them (or a high-byte register such as `ah`, which no argument reader can take).
    public init?(assemblerName name: String) {
        let legacy: [String: USDTRegister] = [
            "rip": .rip, "eip": .rip,
            "rax": .rax, "eax": .rax, "ax": .rax, "al": .rax,
            "rbx": .rbx, "ebx": .rbx, "bx": .rbx, "bl": .rbx,
            "rcx": .rcx, "ecx": .rcx, "cx": .rcx, "cl": .rcx,
            "rdx": .rdx, "edx": .rdx, "dx": .rdx, "dl": .rdx,
            "rsi": .rsi, "esi": .rsi, "si": .rsi, "sil": .rsi,
            "rdi": .rdi, "edi": .rdi, "di": .rdi, "dil": .rdi,
            "rbp": .rbp, "ebp": .rbp, "bp": .rbp, "bpl": .rbp,
            "rsp": .rsp, "esp": .rsp, "sp": .rsp, "spl": .rsp,
        ]
        if let register = legacy[name] {
            self = register
            return
        }
        // r8 ... r15 with an optional d, w or b suffix.
        var digits = Substring(name)
        guard digits.hasPrefix("r") else { return nil }
        digits = digits.dropFirst()
        if let last = digits.last, "dwb".contains(last) { digits = digits.dropLast() }
        guard let number = Int(digits), (8...15).contains(number), let register = USDTRegister(rawValue: "r\(number)") else { return nil }
        self = register
    }
}

/// One argument of a USDT probe: its size and signedness, and where its value is when the probe
/// fires (the part after `@` of an x86-64 argument string such as `-4@-20(%rbp)`).
public struct USDTArgument: Hashable, Sendable, CustomStringConvertible {
    /// Where the value is.
    public enum Location: Hashable, Sendable {
        /// An immediate: `$5`, `$-9`.
        case constant(Int64)
        /// In a register: `%edi`.
        case register(USDTRegister)
        /// In memory at a register plus an offset: `-20(%rbp)`, `(%rsp)`.
        case memory(base: USDTRegister, offset: Int64)
        /// In memory at base + index × scale + offset: `-96(%rbp,%rax,8)`.
        case indexed(base: USDTRegister, index: USDTRegister, scale: Int, offset: Int64)
    }

    /// The size in bytes: 1, 2, 4 or 8.
    public var size: Int
    /// Whether the value is signed (a negative size in the argument string).
    public var isSigned: Bool
    public var location: Location

    public init(size: Int, isSigned: Bool, location: Location) {
        self.size = size
        self.isSigned = isSigned
        self.location = location
    }

    public var description: String {
        let prefix = "\(isSigned ? "-" : "")\(size)@"
        switch location {
        case .constant(let value): return prefix + "$\(value)"
        case .register(let register): return prefix + "%\(register.rawValue)"
        case .memory(let base, let offset): return prefix + (offset == 0 ? "" : "\(offset)") + "(%\(base.rawValue))"
        case .indexed(let base, let index, let scale, let offset):
            return prefix + (offset == 0 ? "" : "\(offset)") + "(%\(base.rawValue),%\(index.rawValue),\(scale))"
        }
    }

    /// Parses one x86-64 argument, `SIZE@LOCATION`; `place` names the probe and argument in errors.
    public init(parsing text: String, place: String) throws(ObjectError) {
        func fail(_ why: String) -> ObjectError { ObjectError(place, "'\(text)': \(why)") }
        guard let at = text.firstIndex(of: "@") else { throw fail("expected SIZE@LOCATION (e.g. -4@%eax)") }
        let sizeText = text[..<at], where_ = String(text[text.index(after: at)...])
        guard let size = Int(sizeText), size != 0 else { throw fail("the size '\(sizeText)' is not a number") }
        guard [1, 2, 4, 8].contains(abs(size)) else { throw fail("the size \(abs(size)) is not 1, 2, 4 or 8 bytes") }
        self.size = abs(size)
        isSigned = size < 0

        func register(_ token: Substring) throws(ObjectError) -> USDTRegister {
            let name = token.trimmingSpaces
            guard name.hasPrefix("%") else { throw fail("expected a register such as %rbp, found '\(name)'") }
            guard let register = USDTRegister(assemblerName: String(name.dropFirst())) else {
                throw fail("unknown x86-64 register '\(name)'")
            }
            return register
        }
        if where_.hasPrefix("$") {
            guard let value = Self.integer(where_.dropFirst()) else {
                throw fail("the constant '\(where_)' is not an integer (symbolic constants are not supported)")
            }
            location = .constant(value)
        } else if where_.hasPrefix("%") {
            location = .register(try register(where_[...]))
        } else if let open = where_.firstIndex(of: "("), where_.hasSuffix(")") {
            let offsetText = where_[..<open]
            guard let offset = offsetText.isEmpty ? 0 : Self.integer(offsetText) else {
                throw fail("the offset '\(offsetText)' is not an integer (symbol-relative addresses are not supported)")
            }
            let inside = where_[where_.index(after: open)..<where_.index(before: where_.endIndex)]
            let parts = inside.split(separator: ",", omittingEmptySubsequences: false)
            switch parts.count {
            case 1:
                location = .memory(base: try register(parts[0]), offset: offset)
            case 2, 3:
                var scale = 1
                if parts.count == 3 {
                    guard let s = Int(parts[2].trimmingSpaces), [1, 2, 4, 8].contains(s) else {
                        throw fail("the scale '\(parts[2])' is not 1, 2, 4 or 8")
                    }
                    scale = s
                }
                location = .indexed(base: try register(parts[0]), index: try register(parts[1]), scale: scale, offset: offset)
            default:
                throw fail("expected (%BASE), (%BASE,%INDEX) or (%BASE,%INDEX,SCALE)")
            }
        } else {
            throw fail("expected $CONSTANT, %REGISTER or OFFSET(%REGISTER)")
        }
    }

    /// A decimal or `0x` hexadecimal integer with an optional sign.
    static func integer(_ text: Substring) -> Int64? {
        var digits = text
        var negative = false
        if digits.hasPrefix("-") { negative = true; digits = digits.dropFirst() } else if digits.hasPrefix("+") { digits = digits.dropFirst() }
        let magnitude: UInt64?
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { magnitude = UInt64(digits.dropFirst(2), radix: 16) } else { magnitude = UInt64(digits) }
        guard let magnitude, !digits.isEmpty else { return nil }
        return negative ? Int64(bitPattern: 0 &- magnitude) : Int64(bitPattern: magnitude)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}

/// A USDT probe's argument specification as BPF programs read it through libbpf's `usdt.bpf.h`
/// (`struct __bpf_usdt_spec`, the value of the `__bpf_usdt_specs` array map): up to 12 arguments,
/// the USDT cookie of the attachment and the argument count.
///
/// ```swift
/// let spec = try USDTSpec(arguments: "-4@%edi 8@-16(%rbp)", probe: "app:request")
/// let value = try spec.encoded(layout: .libbpf)   // 304 bytes for the map
/// ```
public struct USDTSpec: Hashable, Sendable {
    public var arguments: [USDTArgument]
    /// The cookie the user gave the attachment (`bpf_usdt_cookie()`), not the BPF cookie.
    public var cookie: UInt64

    /// At most this many arguments (`BPF_USDT_MAX_ARG_CNT`).
    public static let maximumArguments = 12

    public init(arguments: [USDTArgument], cookie: UInt64 = 0) {
        self.arguments = arguments
        self.cookie = cookie
    }

    /// Parses an x86-64 argument string (space-separated `SIZE@LOCATION`s); errors name `probe`
    /// and the argument's number.
    public init(arguments text: String, probe: String, cookie: UInt64 = 0) throws(ObjectError) {
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard tokens.count <= Self.maximumArguments else {
            throw ObjectError("USDT probe '\(probe)'", "\(tokens.count) arguments, more than \(Self.maximumArguments) ('\(text)')")
        }
        var arguments: [USDTArgument] = []
        for (i, token) in tokens.enumerated() {
            arguments.append(try USDTArgument(parsing: String(token), place: "USDT probe '\(probe)', argument \(i)"))
        }
        self.arguments = arguments
        self.cookie = cookie
    }

    /// Where the fields of `struct __bpf_usdt_spec` are. libbpf changed the layout in 1.7 (to add
    /// scale-index-base arguments); the two are told apart by the map's value size.
    public struct Layout: Hashable, Sendable {
        /// The size of one `struct __bpf_usdt_arg_spec`.
        public var argumentSize: Int
        /// The size of `struct __bpf_usdt_spec` (the map's value size).
        public var size: Int
        /// Whether the argument type is one byte with the index register and scale after it (1.7);
        /// otherwise a 4-byte enum and no indexed arguments.
        public var hasIndexedArguments: Bool
        /// Offsets in an argument of `reg_off`, `arg_signed` and `arg_bitshift`.
        public var registerOffset: Int, signedOffset: Int, bitShiftOffset: Int
        /// Offsets in the spec of `usdt_cookie` and `arg_cnt`.
        public var cookieOffset: Int, countOffset: Int

        /// libbpf 1.7 and later: `val_off` (u64), `arg_type` (8 bits), `idx_reg_off` (12 bits) and
        /// `scale_bitshift` (4 bits) in the next 16-bit unit, 8 reserved bits, `reg_off` (s16 at
        /// 14), `arg_signed` (16), `arg_bitshift` (17); 24 bytes an argument, 304 the spec.
        public static let libbpf = Layout(argumentSize: 24, size: 304, hasIndexedArguments: true,
                                          registerOffset: 14, signedOffset: 16, bitShiftOffset: 17, cookieOffset: 288, countOffset: 296)
        /// libbpf 0.8 to 1.6: `val_off` (u64), `arg_type` (a 4-byte enum), `reg_off` (s16 at 12),
        /// `arg_signed` (14), `arg_bitshift` (15); 16 bytes an argument, 208 the spec.
        public static let legacy = Layout(argumentSize: 16, size: 208, hasIndexedArguments: false,
                                          registerOffset: 12, signedOffset: 14, bitShiftOffset: 15, cookieOffset: 192, countOffset: 200)

        /// The layout whose spec is `valueSize` bytes; nil when neither is.
        public init?(valueSize: Int) {
            switch valueSize {
            case Self.libbpf.size: self = .libbpf
            case Self.legacy.size: self = .legacy
            default: return nil
            }
        }

        init(argumentSize: Int, size: Int, hasIndexedArguments: Bool, registerOffset: Int, signedOffset: Int,
             bitShiftOffset: Int, cookieOffset: Int, countOffset: Int) {
            self.argumentSize = argumentSize
            self.size = size
            self.hasIndexedArguments = hasIndexedArguments
            self.registerOffset = registerOffset
            self.signedOffset = signedOffset
            self.bitShiftOffset = bitShiftOffset
            self.cookieOffset = cookieOffset
            self.countOffset = countOffset
        }
    }

    /// `enum __bpf_usdt_arg_type`.
    public static func argumentType(_ location: USDTArgument.Location) -> UInt8 {
        switch location {
        case .constant: 0
        case .register: 1
        case .memory: 2
        case .indexed: 3
        }
    }

    /// The spec's bytes in `layout`, the value of its `__bpf_usdt_specs` entry. Throws for an
    /// indexed argument in the legacy layout, which cannot express it.
    public func encoded(layout: Layout = .libbpf, probe: String = "") throws(ObjectError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: layout.size)
        func put(_ value: UInt64, at offset: Int, size: Int) {
            for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        for (i, argument) in arguments.enumerated() {
            let base = i * layout.argumentSize
            var valueOffset: Int64 = 0, register = 0
            switch argument.location {
            case .constant(let value): valueOffset = value
            case .register(let r): register = r.ptRegsOffset
            case .memory(let r, let offset): register = r.ptRegsOffset; valueOffset = offset
            case .indexed(let r, let index, let scale, let offset):
                guard layout.hasIndexedArguments else {
                    throw ObjectError("USDT probe '\(probe)', argument \(i)",
                                      "'\(argument)' is a scale-index-base address, which the object's usdt.bpf.h (before libbpf 1.7: a \(layout.size)-byte spec) cannot read")
                }
                register = r.ptRegsOffset
                valueOffset = offset
                let shift = UInt64(scale.trailingZeroBitCount)
                put(UInt64(index.ptRegsOffset) | shift << 12, at: base + 10, size: 2)
            }
            put(UInt64(bitPattern: valueOffset), at: base, size: 8)
            put(UInt64(Self.argumentType(argument.location)), at: base + 8, size: layout.hasIndexedArguments ? 1 : 4)
            put(UInt64(register), at: base + layout.registerOffset, size: 2)
            put(argument.isSigned ? 1 : 0, at: base + layout.signedOffset, size: 1)
            put(UInt64(64 - argument.size * 8), at: base + layout.bitShiftOffset, size: 1)
        }
        put(cookie, at: layout.cookieOffset, size: 8)
        put(UInt64(arguments.count), at: layout.countOffset, size: 2)
        return bytes
    }
}
