/// A failure reading a bpf_conformance `.data` file: the line and what is wrong.
public struct ConformanceTestError: Error, Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var message: String
    public var description: String { "line \(line): \(message)" }
}

/// One test of the bpf_conformance suite, as stored in its `.data` files:
///
/// ```text
/// -- asm
/// ldxb %r0, [%r1+2]
/// exit
/// -- mem
/// aa bb 11 cc dd
/// -- result
/// 0x11
/// ```
///
/// `-- raw` holds encoded slots (one 64-bit hex value or eight hex bytes per line), `-- error` an
/// expected error text, `-- c` the C source the assembly came from.
///
/// ```swift
/// let test = try ConformanceTest(parsing: text)
/// let program = try test.program()
/// ```
public struct ConformanceTest: Sendable, Hashable {
    /// The assembly text of `-- asm`, if present.
    public var assembly: String?
    /// The slots of `-- raw`, if present.
    public var raw: [Instruction]?
    /// The input memory of `-- mem` (empty when absent).
    public var memory: [UInt8] = []
    /// The expected r0 of `-- result`.
    public var expectedResult: UInt64?
    /// The expected error text of `-- error`.
    public var expectedError: String?

    static let knownSections: Set<String> = ["asm", "raw", "mem", "result", "error", "c", "no register offset"]

    public init(parsing text: String) throws(ConformanceTestError) {
        var section: String?
        var bodies: [String: [(Int, Substring)]] = [:]
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.hasPrefix("-- ") || line == "--" {
                let name = line.dropFirst(2).trimmed.lowercased()
                guard Self.knownSections.contains(name) else {
                    throw ConformanceTestError(line: lineNumber, message: "unknown directive '-- \(name)'")
                }
                section = name
                bodies[name, default: []] = bodies[name, default: []]
                continue
            }
            if section == nil && line.hasPrefix("#") { continue }
            guard let section else {
                if line.trimmed.isEmpty { continue }
                throw ConformanceTestError(line: lineNumber, message: "text outside any '-- section'")
            }
            bodies[section, default: []].append((lineNumber, Substring(line)))
        }
        if let asm = bodies["asm"] {
            assembly = asm.map { String($0.1) }.joined(separator: "\n")
        }
        if let raw = bodies["raw"] {
            var slots: [Instruction] = []
            for (number, line) in raw {
                let text = line.trimmed
                if text.isEmpty || text.hasPrefix("#") { continue }
                if text.lowercased().hasPrefix("0x") {
                    guard let value = UInt64(text.dropFirst(2), radix: 16) else {
                        throw ConformanceTestError(line: number, message: "invalid raw instruction '\(text)'")
                    }
                    slots.append(Instruction(rawValue: value))
                } else {
                    let bytes: [UInt8]
                    do { bytes = try Hex.bytes(String(text)) } catch {
                        throw ConformanceTestError(line: number, message: error.description)
                    }
                    do { slots += try Instruction.slots(fromBytes: bytes) } catch {
                        throw ConformanceTestError(line: number, message: "raw line is \(bytes.count) bytes, not 8")
                    }
                }
            }
            self.raw = slots
        }
        if let mem = bodies["mem"] {
            for (number, line) in mem {
                do { memory += try Hex.bytes(String(line)) } catch {
                    throw ConformanceTestError(line: number, message: error.description)
                }
            }
        }
        if let result = bodies["result"] {
            let text = result.map { $0.1.trimmed }.first { !$0.isEmpty } ?? ""
            let digits = text.lowercased().hasPrefix("0x") ? text.dropFirst(2) : text
            guard let value = UInt64(digits, radix: text.lowercased().hasPrefix("0x") ? 16 : 10) else {
                throw ConformanceTestError(line: result.first?.0 ?? lineNumber, message: "invalid result '\(text)'")
            }
            expectedResult = value
        }
        if let error = bodies["error"] {
            expectedError = error.map { String($0.1.trimmed) }.filter { !$0.isEmpty }.joined(separator: "\n")
        }
    }

    /// The program's slots: `-- raw` when present, else the assembled `-- asm`.
    public func program() throws -> [Instruction] {
        if let raw { return raw }
        guard let assembly else {
            throw ConformanceTestError(line: 0, message: "the test has no '-- asm' or '-- raw' section")
        }
        return try Assembler().assemble(assembly)
    }
}

/// Hex text in the forms the conformance suite and the plugin protocol use.
public enum Hex {
    /// An error reading hex text.
    public struct ParseError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads bytes written as hex: pairs of digits, optionally separated by whitespace
    /// (`"aa bb 11"` or `"aabb11"`), case-insensitive.
    public static func bytes(_ text: String) throws(ParseError) -> [UInt8] {
        var result: [UInt8] = []
        var pending: UInt8?
        var position = 0
        for ch in text.utf8 {
            position += 1
            if ch == 0x20 || ch == 0x09 || ch == 0x0a || ch == 0x0d || ch == 0x2c {
                if pending != nil {
                    throw ParseError(message: "odd number of hex digits before position \(position)")
                }
                continue
            }
            let digit: UInt8
            switch ch {
            case 0x30...0x39: digit = ch - 0x30
            case 0x61...0x66: digit = ch - 0x61 + 10
            case 0x41...0x46: digit = ch - 0x41 + 10
            default:
                throw ParseError(message: "invalid hex character '\(Character(Unicode.Scalar(ch)))' at position \(position)")
            }
            if let high = pending {
                result.append(high << 4 | digit)
                pending = nil
            } else {
                pending = digit
            }
        }
        if pending != nil { throw ParseError(message: "odd number of hex digits") }
        return result
    }

    /// Lowercase hex pairs separated by single spaces, as the conformance plugin protocol sends them.
    public static func string(_ bytes: some Sequence<UInt8>, separator: String = " ") -> String {
        bytes.map { String(format2: $0) }.joined(separator: separator)
    }
}
