import Foundation

/// A value printf formats.
public enum FormatValue: Sendable, Hashable {
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)
}

/// printf formats as bpftrace takes them: `%d %i %u %x %X %o %c %s %p %%` with flags (`-`, `0`,
/// `+`, space), width, precision and length modifiers (`l`, `ll`, `h`, `hh`, `z`; values are 64-bit).
public enum PrintfFormat {
    /// The conversion character of each `%` directive, in order.
    static func conversions(in format: String) -> Result<[Character], TraceError> {
        var result: [Character] = []
        var iterator = Array(format).makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { continue }
            var spec = iterator.next()
            if spec == "%" { continue }
            while let s = spec, "-+ #0123456789.lhz".contains(s) { spec = iterator.next() }
            guard let s = spec, "diuxXocsp".contains(s) else {
                return .failure(TraceError("printf(): unsupported conversion '%\(spec.map(String.init) ?? "")' in \"\(format)\" (use %d %u %x %s %c %p)"))
            }
            result.append(s)
        }
        return .success(result)
    }

    /// Formats `values` into `format`.
    public static func format(_ format: String, _ values: [FormatValue]) -> String {
        var out = ""
        let chars = Array(format)
        var i = 0
        var next = 0
        while i < chars.count {
            let c = chars[i]
            i += 1
            guard c == "%" else { out.append(c); continue }
            if i < chars.count && chars[i] == "%" { out.append("%"); i += 1; continue }
            var leftAlign = false, zeroPad = false, plus = false, space = false, alternate = false
            while i < chars.count, "-+ #0".contains(chars[i]) {
                switch chars[i] {
                case "-": leftAlign = true
                case "0": zeroPad = true
                case "+": plus = true
                case " ": space = true
                default: alternate = true
                }
                i += 1
            }
            var width = 0
            while i < chars.count, let d = chars[i].wholeNumberValue { width = width * 10 + d; i += 1 }
            var precision: Int?
            if i < chars.count && chars[i] == "." {
                i += 1
                var p = 0
                while i < chars.count, let d = chars[i].wholeNumberValue { p = p * 10 + d; i += 1 }
                precision = p
            }
            var bits = 64
            while i < chars.count, "lhz".contains(chars[i]) {
                if chars[i] == "h" { bits = bits == 16 ? 8 : 16 }
                i += 1
            }
            guard i < chars.count else { break }
            let conversion = chars[i]
            i += 1
            let value = next < values.count ? values[next] : .signed(0)
            next += 1
            var text: String
            var numeric = true
            func raw() -> UInt64 {
                switch value {
                case .signed(let v): UInt64(bitPattern: v)
                case .unsigned(let v): v
                case .string: 0
                }
            }
            func truncated(_ v: UInt64) -> UInt64 { bits == 64 ? v : v & ((1 << UInt64(bits)) - 1) }
            switch conversion {
            case "d", "i":
                var v = Int64(bitPattern: raw())
                if bits < 64 { v = (v << Int64(64 - bits)) >> Int64(64 - bits) }
                text = String(v.magnitude)
                if let precision { text = String(repeating: "0", count: max(0, precision - text.count)) + text }
                text = (v < 0 ? "-" : plus ? "+" : space ? " " : "") + text
            case "u":
                text = String(truncated(raw()))
            case "x", "X", "o":
                let v = truncated(raw())
                text = String(v, radix: conversion == "o" ? 8 : 16, uppercase: conversion == "X")
                if alternate && v != 0 { text = (conversion == "o" ? "0" : conversion == "x" ? "0x" : "0X") + text }
            case "p":
                text = "0x" + String(raw(), radix: 16)
            case "c":
                numeric = false
                text = String(Character(Unicode.Scalar(UInt8(truncatingIfNeeded: raw()))))
            default:
                numeric = false
                if case .string(let s) = value { text = s } else { text = String(Int64(bitPattern: raw())) }
                if let precision { text = String(text.prefix(precision)) }
            }
            if text.count < width {
                let padding = width - text.count
                if leftAlign {
                    text += String(repeating: " ", count: padding)
                } else if zeroPad && numeric && precision == nil {
                    let signs = text.prefix { $0 == "-" || $0 == "+" || $0 == " " }
                    text = signs + String(repeating: "0", count: padding) + text.dropFirst(signs.count)
                } else {
                    text = String(repeating: " ", count: padding) + text
                }
            }
            out += text
        }
        return out
    }
}

/// A map key's part as printed.
public enum KeyValue: Sendable, Hashable, Comparable, CustomStringConvertible {
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)

    public var description: String {
        switch self {
        case .signed(let v): String(v)
        case .unsigned(let v): String(v)
        case .string(let s): s
        }
    }

    public static func < (a: KeyValue, b: KeyValue) -> Bool {
        switch (a, b) {
        case let (.signed(x), .signed(y)): x < y
        case let (.unsigned(x), .unsigned(y)): x < y
        case let (.string(x), .string(y)): x < y
        default: a.description < b.description
        }
    }
}

/// A map's value, combined over CPUs.
public enum AggregateValue: Sendable, Hashable {
    case signed(Int64)
    case unsigned(UInt64)
    case string(String)
    case average(total: Int64, count: UInt64)
    case stats(total: Int64, count: UInt64)
    /// Bucket index to count (see ``HistogramBuckets``).
    case histogram([Int: UInt64])
    case linearHistogram([Int: UInt64], min: Int64, max: Int64, step: Int64)

    var average: Int64 {
        switch self {
        case .average(let total, let count), .stats(let total, let count): count == 0 ? 0 : total / Int64(count)
        default: 0
        }
    }

    /// What the map is sorted by when printed.
    var sortKey: Int64 {
        switch self {
        case .signed(let v): v
        case .unsigned(let v): Int64(bitPattern: v)
        case .string: 0
        case .average, .stats: average
        case .histogram(let b), .linearHistogram(let b, _, _, _): Int64(bitPattern: b.values.reduce(0, +))
        }
    }
}

/// A map as printed: its name (`@bytes`) and entries.
public struct PrintedMap: Sendable, Hashable {
    public var name: String
    public var entries: [(keys: [KeyValue], value: AggregateValue)]

    public init(name: String, entries: [(keys: [KeyValue], value: AggregateValue)]) {
        self.name = name
        self.entries = entries
    }

    public static func == (a: PrintedMap, b: PrintedMap) -> Bool {
        a.name == b.name && a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.keys == $1.keys && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// Entries in print order: by value, then by key.
    var sorted: [(keys: [KeyValue], value: AggregateValue)] {
        entries.sorted { a, b in
            let (ka, kb) = (a.value.sortKey, b.value.sortKey)
            if ka != kb { return ka < kb }
            if case .string(let x) = a.value, case .string(let y) = b.value, x != y { return x < y }
            return a.keys.lexicographicallyPrecedes(b.keys)
        }
    }

    func label(_ keys: [KeyValue]) -> String {
        keys.isEmpty ? name : name + "[" + keys.map(\.description).joined(separator: ", ") + "]"
    }
}

/// Histogram buckets: index 0 holds negative values, 1 zero, 2 + k the values in [2^k, 2^(k+1)).
public enum HistogramBuckets {
    /// A power of two with bpftrace's suffixes: 512, 1K, 2M.
    static func size(_ n: UInt64) -> String {
        let suffixes = ["", "K", "M", "G", "T", "P", "E"]
        var value = n
        var index = 0
        while value >= 1024 && value % 1024 == 0 && index < suffixes.count - 1 {
            value /= 1024
            index += 1
        }
        return "\(value)\(suffixes[index])"
    }

    static func label(_ index: Int) -> String {
        switch index {
        case 0: return "(..., 0)"
        case 1: return "[0]"
        case 2: return "[1]"
        default:
            let low = UInt64(1) << UInt64(index - 2)
            return "[\(size(low)), \(index - 1 >= 64 ? "..." : size(low << 1)))"
        }
    }

    /// `min`/`max` of a bucket for JSON (nil for an open end).
    static func bounds(_ index: Int) -> (min: Int64?, max: Int64?) {
        switch index {
        case 0: return (nil, -1)
        case 1: return (0, 0)
        default:
            let low = Int64(1) << Int64(index - 2)
            return (low, index - 1 >= 63 ? Int64.max : (low << 1) - 1)
        }
    }

    static func linearLabel(_ index: Int, min: Int64, max: Int64, step: Int64) -> String {
        let buckets = Int((max - min) / step)
        if index == 0 { return "(..., \(min))" }
        if index > buckets { return "[\(max), ...)" }
        let low = min + Int64(index - 1) * step
        return "[\(low), \(low + step))"
    }

    static func linearBounds(_ index: Int, min: Int64, max: Int64, step: Int64) -> (min: Int64?, max: Int64?) {
        let buckets = Int((max - min) / step)
        if index == 0 { return (nil, min - 1) }
        if index > buckets { return (max, nil) }
        let low = min + Int64(index - 1) * step
        return (low, low + step - 1)
    }
}

/// Text and JSON output in bpftrace's formats.
public enum TraceFormatter {
    /// A map as bpftrace prints it at exit or on `print()`.
    public static func text(_ map: PrintedMap) -> String {
        var out = ""
        var blankAfterMap = false
        for entry in map.sorted {
            let label = map.label(entry.keys)
            switch entry.value {
            case .signed(let v): out += "\(label): \(v)\n"
            case .unsigned(let v): out += "\(label): \(v)\n"
            case .string(let s): out += "\(label): \(s)\n"
            case .average:
                out += "\(label): \(entry.value.average)\n"
                blankAfterMap = true
            case .stats(let total, let count):
                out += "\(label): count \(count), average \(entry.value.average), total \(total)\n"
                blankAfterMap = true
            case .histogram(let buckets):
                out += "\(label): \n" + bars(buckets, HistogramBuckets.label) + "\n"
            case .linearHistogram(let buckets, let low, let high, let step):
                out += "\(label): \n" + bars(buckets) { HistogramBuckets.linearLabel($0, min: low, max: high, step: step) } + "\n"
            }
        }
        return out + (blankAfterMap ? "\n" : "")
    }

    /// The buckets from the first to the last non-empty one, each `label count |@@@   |`.
    static func bars(_ buckets: [Int: UInt64], _ label: (Int) -> String) -> String {
        let used = buckets.filter { $0.value > 0 }.keys
        guard let first = used.min(), let last = used.max() else { return "" }
        let top = buckets.values.max() ?? 1
        var out = ""
        for index in first...last {
            let count = buckets[index] ?? 0
            let width = Int(count * 52 / max(top, 1))
            let name = label(index)
            out += name.padding(toLength: max(16, name.count), withPad: " ", startingAt: 0)
            let number = String(count)
            out += String(repeating: " ", count: max(0, 8 - number.count)) + number
            out += " |" + String(repeating: "@", count: width) + String(repeating: " ", count: 52 - width) + "|\n"
        }
        return out
    }

    /// A map as one bpftrace JSON line (without the newline).
    public static func json(_ map: PrintedMap) -> String {
        let entries = map.sorted
        var type = "map"
        func encode(_ value: AggregateValue) -> String {
            switch value {
            case .signed(let v): return String(v)
            case .unsigned(let v): return String(v)
            case .string(let s): return jsonString(s)
            case .average:
                type = "stats"
                return String(value.average)
            case .stats(let total, let count):
                type = "stats"
                return "{\"count\": \(count), \"average\": \(value.average), \"total\": \(total)}"
            case .histogram(let buckets):
                type = "hist"
                return histogramJSON(buckets, HistogramBuckets.bounds)
            case .linearHistogram(let buckets, let low, let high, let step):
                type = "hist"
                return histogramJSON(buckets) { HistogramBuckets.linearBounds($0, min: low, max: high, step: step) }
            }
        }
        var data: String
        if entries.count == 1 && entries[0].keys.isEmpty {
            data = encode(entries[0].value)
        } else {
            data = "{" + entries.map { entry in
                jsonString(entry.keys.map(\.description).joined(separator: ",")) + ": " + encode(entry.value)
            }.joined(separator: ", ") + "}"
        }
        return "{\"type\": \"\(type)\", \"data\": {\(jsonString(map.name)): \(data)}}"
    }

    static func histogramJSON(_ buckets: [Int: UInt64], _ bounds: (Int) -> (min: Int64?, max: Int64?)) -> String {
        let used = buckets.filter { $0.value > 0 }.keys
        guard let first = used.min(), let last = used.max() else { return "[]" }
        return "[" + (first...last).map { index in
            let (low, high) = bounds(index)
            var fields: [String] = []
            if let low { fields.append("\"min\": \(low)") }
            if let high { fields.append("\"max\": \(high)") }
            fields.append("\"count\": \(buckets[index] ?? 0)")
            return "{" + fields.joined(separator: ", ") + "}"
        }.joined(separator: ", ") + "]"
    }

    /// A JSON string literal.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `{"type": TYPE, "data": DATA}` with `data` already encoded.
    public static func jsonEvent(_ type: String, _ data: String) -> String {
        "{\"type\": \(jsonString(type)), \"data\": \(data)}"
    }
}
