import BPFObject

/// The type of a value in a script: a 64-bit integer or a fixed-size string.
public enum ValueType: Hashable, Sendable, CustomStringConvertible {
    case integer(signed: Bool)
    /// A NUL-terminated string in a buffer of this many bytes.
    case string(Int)
    /// `kstack` / `ustack` (`kstack(N)`: its innermost N frames): a stack id of the script's stack
    /// map (for `ustack`, the process id in the upper 32 bits), printed symbolized.
    case stack(user: Bool, frames: Int)
    /// Statements such as `printf()` have no value.
    case none

    public var description: String {
        switch self {
        case .integer(let signed): signed ? "int64" : "uint64"
        case .string(let n): "string[\(n)]"
        case .stack(let user, let frames): (user ? "ustack" : "kstack") + (frames == ProbeCodeGen.stackDepth ? "" : "(\(frames))")
        case .none: "none"
        }
    }

    var isString: Bool { if case .string = self { true } else { false } }
    var isInteger: Bool { if case .integer = self { true } else { false } }

    /// Bytes the value takes in a record or map (strings rounded up to 8).
    var storageSize: Int {
        switch self {
        case .integer, .stack: 8
        case .string(let n): (n + 7) & ~7
        case .none: 0
        }
    }

    /// The same kind of type, with the larger string size (map keys and values take the largest).
    func widened(with other: ValueType) -> ValueType? {
        switch (self, other) {
        case let (.integer(a), .integer(b)): .integer(signed: a && b)
        case let (.string(a), .string(b)): .string(max(a, b))
        case let (.stack(a, n), .stack(b, m)) where a == b && n == m: .stack(user: a, frames: n)
        default: nil
        }
    }
}

/// What a map holds: an aggregation (per-CPU, combined when read) or a plain value.
public enum MapKind: Hashable, Sendable, CustomStringConvertible {
    case count, sum, min, max, avg, stats, hist
    case lhist(min: Int64, max: Int64, step: Int64)
    case value(ValueType)

    public var description: String {
        switch self {
        case .count: "count()"
        case .sum: "sum()"
        case .min: "min()"
        case .max: "max()"
        case .avg: "avg()"
        case .stats: "stats()"
        case .hist: "hist()"
        case .lhist: "lhist()"
        case .value(let t): t.isString ? "a string" : t.isInteger ? "an integer" : "a \(t)"
        }
    }

    var isPerCPU: Bool { if case .value = self { false } else { true } }
    var isHistogram: Bool {
        switch self {
        case .hist, .lhist: true
        default: false
        }
    }

    var valueSize: Int {
        switch self {
        case .count, .sum, .hist, .lhist: 8
        case .min, .max, .avg, .stats: 16
        case .value(let t): t.storageSize
        }
    }

    func sameKind(_ other: MapKind) -> Bool {
        switch (self, other) {
        case (.value(let a), .value(let b)): a.widened(with: b) != nil
        default: self == other
        }
    }
}

/// A map of the script, as the compiler lays it out.
public struct MapLayout: Sendable, Hashable {
    /// The name as written, with its `@` (`@`, `@bytes`).
    public var name: String
    /// The name of the BPF map (`m0`, `m1`, ...).
    public var bpfName: String
    public var kind: MapKind
    /// The key's parts; empty for `@x`.
    public var keys: [ValueType]
    /// Where it is first assigned.
    public var location: SourceLocation

    var keySize: Int {
        let base = keys.isEmpty ? 8 : keys.reduce(0) { $0 + $1.storageSize }
        return base + (kind.isHistogram ? 8 : 0)
    }

    var keyOffsets: [Int] {
        var offsets: [Int] = []
        var offset = 0
        for key in keys {
            offsets.append(offset)
            offset += key.storageSize
        }
        return offsets
    }

    /// The map's spec: a per-CPU hash for aggregations, a hash for values.
    var spec: MapSpec {
        MapSpec(name: bpfName, type: kind.isPerCPU ? .perCPUHash : .hash, keySize: keySize, valueSize: kind.valueSize,
                maxEntries: 4096, origin: .legacy)
    }
}

/// One argument of a recorded event, at its offset in the record.
public struct EventArgument: Sendable, Hashable {
    public var type: ValueType
    public var offset: Int
}

/// What a record of the event ring buffer means, by the id in its first 8 bytes.
public enum EventKind: Sendable, Hashable {
    case printf(format: String, arguments: [EventArgument])
    /// `print(value)`: one argument.
    case printValue(EventArgument)
    case time(format: String)
    case exit
    case printMap(String)
    case clearMap(String)
    case zeroMap(String)
}
