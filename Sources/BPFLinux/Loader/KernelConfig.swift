import BPFObject
import Foundation

/// What the running kernel says about itself for `.kconfig` externs: its version
/// (`LINUX_KERNEL_VERSION`) and its build configuration (`CONFIG_*`, from `/proc/config.gz` or
/// `/boot/config-$(uname -r)` when either is there).
///
/// ```swift
/// print(String(KernelConfig.runningVersionCode, radix: 16))   // 6122c for 6.18.44
/// print(KernelConfig.running["CONFIG_BPF_SYSCALL"] ?? "absent") // y
/// ```
public enum KernelConfig {
    /// The kernel release (`uname -r`), from `/proc/sys/kernel/osrelease`.
    public static let release: String = {
        (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }()

    /// `KERNEL_VERSION(major, minor, patch)` of a release string like `6.18.44-generic`
    /// (the patch level saturates at 255, as the kernel's macro does).
    public static func versionCode(release: String) -> UInt32? {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { UInt32($0) }
        guard numbers.count >= 2 else { return nil }
        return numbers[0] << 16 | min(numbers[1], 255) << 8 | min(numbers.count > 2 ? numbers[2] : 0, 255)
    }

    /// The running kernel's version code (0 when it cannot be read).
    public static let runningVersionCode: UInt32 = versionCode(release: release) ?? 0

    /// The running kernel's configuration, `CONFIG_NAME` → the text after `=` (`y`, `m`, `"text"`,
    /// a number); empty when neither `/boot/config-<release>` nor `/proc/config.gz` can be read.
    public static let running: [String: String] = {
        if let text = try? String(contentsOfFile: "/boot/config-\(release)", encoding: .utf8) { return parse(text) }
        if let text = gunzip("/proc/config.gz") { return parse(text) }
        return [:]
    }()

    /// Parses kernel config text (`CONFIG_X=y` lines; `# CONFIG_X is not set` lines are left out).
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            result[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return result
    }

    /// Decompresses a gzip file with the system's `gzip` (nil when it is missing or fails).
    static func gunzip(_ path: String) -> String? {
        guard FileManager.default.isReadableFile(atPath: path) else { return nil }
        for tool in ["/usr/bin/gzip", "/bin/gzip"] where FileManager.default.isExecutableFile(atPath: tool) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = ["-dc", path]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch { continue }
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            if process.terminationStatus == 0 { return String(decoding: data, as: UTF8.self) }
        }
        return nil
    }

    /// The bytes of a `.kconfig` extern of BTF type `type` and `size` bytes for config text `text`
    /// (`y`/`n`/`m` for bools and tristates, numbers, quoted strings for char arrays); nil when the
    /// text does not fit the type.
    /// The `.kconfig` map's value for `object` on the running kernel, as the loader fills it (nil when
    /// the object has no `.kconfig` externs).
    public static func kconfigValue(for object: ObjectFile, overrides: [String: [UInt8]] = [:]) throws(BPFError) -> [UInt8]? {
        guard var value = object.maps.first(where: { $0.name == ".kconfig" })?.initialValue else { return nil }
        try KernelObject.fillKconfig(&value, object: object, btf: object.btf, overrides: overrides)
        return value
    }

    public static func value(_ text: String, type: Int, size: Int, btf: BTF) -> [UInt8]? {
        let resolved = btf[btf.resolve(type)]
        if case let .array(element, _, _)? = resolved?.detail {
            guard btf[btf.resolve(element)].map({ $0.kind == .int && $0.sizeOrType == 1 }) == true else { return nil }
            var string = text
            if string.hasPrefix("\""), string.hasSuffix("\""), string.count >= 2 { string = String(string.dropFirst().dropLast()) }
            var bytes = Array(string.utf8.prefix(max(size - 1, 0)))
            bytes += [UInt8](repeating: 0, count: size - bytes.count)
            return bytes
        }
        let number: UInt64
        switch text {
        case "y": number = 1
        case "n": number = 0
        case "m":
            if case let .integer(_, _, bool, _, _)? = resolved?.detail, bool { return nil }
            number = 2
        default:
            if text.hasPrefix("0x") || text.hasPrefix("0X") {
                guard let n = UInt64(text.dropFirst(2), radix: 16) else { return nil }
                number = n
            } else if let n = Int64(text) {
                number = UInt64(bitPattern: n)
            } else {
                return nil
            }
        }
        return (0..<size).map { UInt8(truncatingIfNeeded: number >> (8 * UInt64(min($0, 7)))) & ($0 < 8 ? 0xff : 0) }
    }

    /// The bytes of `.kconfig` extern `name` of `object` for a value given as libbpf reads one from a
    /// config file, strictly: `y`, `n` or `m` (bools take `y`/`n`, tristates all three, `char`s store the
    /// letter), a quoted string (`"text"`, for char arrays), or an integer — decimal, `0x` hex or
    /// `0` octal, with an optional `-` — that fits the extern's type (size and signedness). Throws a
    /// sentence saying what does not fit; an extern without BTF takes integers, `y` and `n`.
    public static func externValue(_ text: String, name: String, object: ObjectFile) throws(KconfigValueError) -> [UInt8] {
        guard let entry = object.kconfigExterns[name] else {
            let names = object.kconfigExterns.keys.sorted()
            throw KconfigValueError("the object has no .kconfig extern '\(name)'"
                                    + (names.isEmpty ? "" : " (its externs: \(names.joined(separator: ", ")))"))
        }
        let size = entry.size
        var resolved: BTFType?
        var typeName = "\(size)-byte value"
        if let btf = object.btf, let variable = btf.typeID(named: name, kind: .variable).flatMap({ btf[$0] }) {
            resolved = btf[btf.resolve(variable.referencedType)]
            typeName = btf.typeName(variable.referencedType)
        }
        func fail(_ why: String) -> KconfigValueError { KconfigValueError("'\(text)' \(why) (\(name) is \(typeName))") }
        // Char arrays: a quoted string.
        if case let .array(element, _, _)? = resolved?.detail,
           let btf = object.btf, btf[btf.resolve(element)].map({ $0.kind == .int && $0.sizeOrType == 1 }) == true {
            guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { throw fail("is not a quoted string \"...\"") }
            let bytes = Array(text.utf8.dropFirst().dropLast())
            guard bytes.count < size else { throw fail("is longer than \(size - 1) characters") }
            return bytes + [UInt8](repeating: 0, count: size - bytes.count)
        }
        if resolved != nil, resolved?.kind != .int, resolved?.kind != .enumeration, resolved?.kind != .enumeration64 {
            throw fail("cannot be set: only integers, bools, tristates and char arrays can")
        }
        var signed = false, isBool = false, isChar = false
        if case let .integer(s, c, b, _, _)? = resolved?.detail { signed = s; isBool = b; isChar = c && size == 1 }
        let isTristate = resolved?.kind == .enumeration || resolved?.kind == .enumeration64
        if case let .enumerators(_, s)? = resolved?.detail { signed = s }
        let number: UInt64
        switch text {
        case "y", "n", "m":
            if isChar {
                number = UInt64(text.utf8.first!)
            } else if text == "m" {
                guard isTristate else { throw fail("(module) needs a tristate") }
                number = 2
            } else {
                guard isBool || isTristate || resolved == nil else { throw fail("needs a bool, tristate or char; give a number") }
                number = text == "y" ? 1 : 0
            }
        default:
            if text.hasPrefix("\"") { throw fail("is a string; only char arrays take strings") }
            guard !isTristate else { throw fail("is not y, n or m") }
            let negative = text.hasPrefix("-")
            var digits = Substring(negative ? String(text.dropFirst()) : text)
            var radix = 10
            if digits.lowercased().hasPrefix("0x") { radix = 16; digits = digits.dropFirst(2) }
            else if digits.count > 1 && digits.hasPrefix("0") { radix = 8; digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }), let magnitude = UInt64(digits, radix: radix) else {
                throw fail("is not y, n, m, a quoted string or a number (decimal, 0x hex, 0 octal)")
            }
            let bits = UInt64(min(size, 8) * 8)
            if isBool {
                guard !negative, magnitude <= 1 else { throw fail("is not 0 or 1") }
                number = magnitude
            } else if signed {
                let limit: UInt64 = 1 << (bits - 1)
                guard negative ? magnitude <= limit : magnitude < limit else { throw fail("is out of range for \(bits)-bit signed") }
                number = negative ? 0 &- magnitude : magnitude
            } else {
                let maximum: UInt64 = bits >= 64 ? .max : (1 << bits) - 1
                guard !negative || magnitude == 0, magnitude <= maximum else { throw fail("is out of range for \(bits)-bit unsigned") }
                number = magnitude
            }
        }
        return (0..<size).map { $0 < 8 ? UInt8(truncatingIfNeeded: number >> (8 * UInt64($0))) : (signed && Int64(bitPattern: number) < 0 ? 0xff : 0) }
    }

    /// The address of a kernel symbol from `/proc/kallsyms` (nil when absent or hidden as 0, as it is
    /// without CAP_SYSLOG). The file is read whole, once per process (`kernelSymbols`).
    public static func kernelSymbolAddress(_ name: String) -> UInt64? {
        guard let address = kernelSymbols[name], address != 0 else { return nil }
        return address
    }

    /// Every symbol of `/proc/kallsyms` → its address (the first one listed when a name repeats;
    /// module symbols by their name, without the `[module]` suffix). Read once per process.
    public static var kernelSymbols: [String: UInt64] { kallsyms }

    private static let kallsyms: [String: UInt64] = {
        guard let bytes = readWhole("/proc/kallsyms") else { return [:] }
        return parseKallsyms(String(decoding: bytes, as: UTF8.self))
    }()

    /// Parses `/proc/kallsyms` text: `ADDRESS TYPE NAME [MODULE]` lines.
    public static func parseKallsyms(_ text: String) -> [String: UInt64] {
        var symbols: [String: UInt64] = [:]
        symbols.reserveCapacity(1 << 18)
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(omittingEmptySubsequences: true) { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            guard fields.count >= 3, let address = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16) else { continue }
            let name = String(decoding: fields[2], as: UTF8.self)
            if symbols[name] == nil { symbols[name] = address }
        }
        return symbols
    }

    /// A file read to its end with read(2) in a loop: procfs files report size 0 and return at most a
    /// page per read, so reading "the file's size" (or once) gets only the first few kilobytes.
    public static func readWhole(_ path: String) -> [UInt8]? {
        #if os(Linux)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
        #else
        return FileManager.default.contents(atPath: path).map { [UInt8]($0) }
        #endif
    }
}

/// Why a `.kconfig` value does not fit its extern.
public struct KconfigValueError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
