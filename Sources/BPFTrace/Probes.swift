import BPFLinux
import Foundation

/// Where a compiled probe fires.
public enum ProbeKind: Sendable, Hashable {
    case begin
    case end
    /// `interval:s:N`, `interval:ms:N`, `interval:us:N`: on one CPU, every `nanoseconds`.
    case interval(nanoseconds: UInt64)
    case tracepoint(category: String, name: String)
    case rawTracepoint(String)
    case kprobe(String)
    case kretprobe(String)
    case uprobe(binary: String, symbol: String)
    case uretprobe(binary: String, symbol: String)
    /// `profile:hz:N`: on every CPU, N times a second.
    case profile(hertz: UInt64)
    /// `app:NAME`: an `AppProbe` a Swift app fires (the Swift runtime only); `arg0`... are its arguments.
    case app(String)
    /// `fentry:FUNC` / `fexit:FUNC`: a kernel function's entry and return through BTF trampolines;
    /// `args.NAME` from its BTF prototype.
    case fentry(String)
    case fexit(String)
    /// `software:EVENT:N`: every N occurrences of a perf software event on each CPU.
    case software(event: String, period: UInt64)

    /// Whether the probe runs from user space (a test run) rather than from a kernel hook.
    public var runsFromUserSpace: Bool {
        switch self {
        case .begin, .end, .interval: true
        default: false
        }
    }
}

/// A probe's attach point after wildcard expansion: one program each.
public struct ResolvedProbe: Sendable, Hashable {
    public var kind: ProbeKind
    /// The full name, as the `probe` builtin gives it: `tracepoint:syscalls:sys_enter_openat`.
    public var name: String
}

/// A field of a tracepoint's record, from its tracefs `format` file.
public struct TracepointField: Sendable, Hashable {
    public var name: String
    /// The C type as written (`const char *`, `char[16]`, `int`).
    public var type: String
    public var offset: Int
    public var size: Int
    public var isSigned: Bool
    /// For `char name[N]`: the array length.
    public var arrayLength: Int?
    /// `__data_loc` fields (dynamic arrays) hold an offset and length, not the data.
    public var isDataLocation: Bool

    /// Parses the `field:` lines of a tracefs `format` file.
    public static func parseFormat(_ text: String) -> [TracepointField] {
        var fields: [TracepointField] = []
        for line in text.split(separator: "\n") {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = parts.first, first.hasPrefix("field:") else { continue }
            var declaration = String(first.dropFirst("field:".count))
            var values: [String: Int] = [:]
            for part in parts.dropFirst() {
                let kv = part.split(separator: ":", maxSplits: 1)
                if kv.count == 2, let v = Int(kv[1]) { values[String(kv[0])] = v }
            }
            guard let offset = values["offset"], let size = values["size"] else { continue }
            var arrayLength: Int?
            if declaration.hasSuffix("]"), let open = declaration.lastIndex(of: "[") {
                arrayLength = Int(declaration[declaration.index(after: open)..<declaration.index(before: declaration.endIndex)])
                declaration = String(declaration[..<open])
            }
            let isDataLocation = declaration.hasPrefix("__data_loc")
            guard let split = declaration.lastIndex(where: { $0 == " " || $0 == "*" }) else { continue }
            let name = String(declaration[declaration.index(after: split)...])
            var type = String(declaration[...split]).trimmingCharacters(in: .whitespaces)
            if isDataLocation { type = String(type.dropFirst("__data_loc".count)).trimmingCharacters(in: .whitespaces) }
            if let arrayLength { type += "[\(arrayLength)]" }
            fields.append(TracepointField(name: name, type: type, offset: offset, size: size, isSigned: values["signed"] == 1,
                                          arrayLength: arrayLength, isDataLocation: isDataLocation))
        }
        return fields
    }
}

/// What the machine offers to attach to: tracepoints and their formats (tracefs), kernel
/// functions. Tests give a directory laid out as tracefs.
public struct ProbeCatalog: Sendable {
    /// The tracefs mount (`/sys/kernel/tracing`).
    public var tracefs: String

    public init(tracefs: String = "/sys/kernel/tracing") { self.tracefs = tracefs }

    /// `category:name` of every tracepoint whose category and name match the globs.
    public func tracepoints(category: String, name: String) -> [(category: String, name: String)] {
        let events = tracefs + "/events"
        let fm = FileManager.default
        let categories: [String]
        if ProbeCatalog.isGlob(category) {
            categories = ((try? fm.contentsOfDirectory(atPath: events)) ?? []).filter { ProbeCatalog.matches(category, $0) }.sorted()
        } else {
            categories = [category]
        }
        var result: [(String, String)] = []
        for c in categories {
            if ProbeCatalog.isGlob(name) {
                let names = ((try? fm.contentsOfDirectory(atPath: events + "/" + c)) ?? []).filter {
                    ProbeCatalog.matches(name, $0) && fm.fileExists(atPath: events + "/" + c + "/" + $0 + "/format")
                }
                result += names.sorted().map { (c, $0) }
            } else if fm.fileExists(atPath: events + "/" + c + "/" + name + "/format") {
                result.append((c, name))
            }
        }
        return result
    }

    /// The fields of a tracepoint's record, or nil when tracefs has no such tracepoint.
    public func format(category: String, name: String) -> [TracepointField]? {
        guard let text = try? String(contentsOfFile: "\(tracefs)/events/\(category)/\(name)/format", encoding: .utf8) else { return nil }
        return TracepointField.parseFormat(text)
    }

    /// Kernel functions a kprobe can attach to whose names match the glob
    /// (`available_filter_functions`, else `/proc/kallsyms` text symbols).
    public func kernelFunctions(matching pattern: String) -> [String] {
        var names: [String] = []
        if let text = try? String(contentsOfFile: tracefs + "/available_filter_functions", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let name = String(line.split(separator: " ").first ?? "")
                if ProbeCatalog.matches(pattern, name) { names.append(name) }
            }
        } else if let text = try? String(contentsOfFile: "/proc/kallsyms", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count >= 3, parts[1] == "t" || parts[1] == "T" else { continue }
                let name = String(parts[2])
                if ProbeCatalog.matches(pattern, name) { names.append(name) }
            }
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }.sorted()
    }

    /// perf's software events as bpftrace names them: the `perf_sw_ids` value and the default
    /// count between firings.
    static let softwareEvents: [(name: String, alias: String?, config: UInt64, period: UInt64)] = [
        ("cpu-clock", "cpu", 0, 1_000_000), ("task-clock", nil, 1, 1_000_000), ("page-faults", "faults", 2, 100),
        ("context-switches", "cs", 3, 1000), ("cpu-migrations", nil, 4, 1), ("minor-faults", nil, 5, 100),
        ("major-faults", nil, 6, 1), ("alignment-faults", nil, 7, 1), ("emulation-faults", nil, 8, 1), ("dummy", nil, 9, 1),
        ("bpf-output", nil, 10, 1),
    ]

    static func isGlob(_ text: String) -> Bool { text.contains("*") || text.contains("?") || text.contains("[") }

    /// Shell-style matching: `*` any run, `?` one character.
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8), t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) {
                pi += 1; ti += 1
            } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// Expands an attach point as written into the probes it names (wildcards against tracefs and
    /// the kernel's functions). An attach point that matches nothing is an error naming it.
    public func resolve(_ point: ProbeDefinition.AttachPoint) throws(TraceError) -> [ResolvedProbe] {
        let parts = point.text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let provider = parts[0]
        func fail(_ message: String) -> TraceError { TraceError(message, at: point.location) }
        func count(_ n: Int, _ usage: String) throws(TraceError) {
            if parts.count != n { throw fail("'\(point.text)': expected \(usage)") }
        }
        switch provider {
        case "BEGIN", "END":
            try count(1, provider)
            return [ResolvedProbe(kind: provider == "BEGIN" ? .begin : .end, name: provider)]
        case "interval", "i":
            try count(3, "interval:s:N, interval:ms:N or interval:us:N")
            let unit: UInt64
            switch parts[1] {
            case "s": unit = 1_000_000_000
            case "ms": unit = 1_000_000
            case "us": unit = 1_000
            case "hz": unit = 0
            default: throw fail("'\(point.text)': unknown interval unit '\(parts[1])' (s, ms, us, hz)")
            }
            guard let n = UInt64(parts[2]), n > 0 else { throw fail("'\(point.text)': the interval must be a positive integer") }
            let ns = unit == 0 ? 1_000_000_000 / n : n * unit
            return [ResolvedProbe(kind: .interval(nanoseconds: ns), name: "interval:\(parts[1]):\(parts[2])")]
        case "profile", "p":
            try count(3, "profile:hz:N")
            guard parts[1] == "hz" else { throw fail("'\(point.text)': only profile:hz:N is supported") }
            guard let n = UInt64(parts[2]), n > 0 else { throw fail("'\(point.text)': the rate must be a positive integer") }
            return [ResolvedProbe(kind: .profile(hertz: n), name: "profile:hz:\(n)")]
        case "tracepoint", "t":
            try count(3, "tracepoint:CATEGORY:NAME")
            let found = tracepoints(category: parts[1], name: parts[2])
            if found.isEmpty { throw fail("tracepoint '\(parts[1]):\(parts[2])' does not exist on this kernel (see swiftbpf trace -l 'tracepoint:\(parts[1]):*')") }
            return found.map { ResolvedProbe(kind: .tracepoint(category: $0.category, name: $0.name), name: "tracepoint:\($0.category):\($0.name)") }
        case "rawtracepoint", "rt":
            let name = parts.last!
            guard parts.count == 2 || parts.count == 3, !name.isEmpty else { throw fail("'\(point.text)': expected rawtracepoint:NAME") }
            return [ResolvedProbe(kind: .rawTracepoint(name), name: "rawtracepoint:\(name)")]
        case "kprobe", "k", "kretprobe", "kr":
            guard parts.count == 2, !parts[1].isEmpty else { throw fail("'\(point.text)': expected \(provider):FUNCTION") }
            let isReturn = provider.hasPrefix("kr")
            let functions = ProbeCatalog.isGlob(parts[1]) ? kernelFunctions(matching: parts[1]) : [parts[1]]
            if functions.isEmpty { throw fail("no kernel function matches '\(parts[1])'") }
            return functions.map {
                ResolvedProbe(kind: isReturn ? .kretprobe($0) : .kprobe($0), name: (isReturn ? "kretprobe:" : "kprobe:") + $0)
            }
        case "fentry", "f", "kfunc", "fexit", "fr", "kretfunc":
            let name = parts.count == 3 ? parts[2] : parts.count == 2 ? parts[1] : ""   // fentry:MODULE:FUNC takes vmlinux only
            guard !name.isEmpty, parts.count <= 3 else { throw fail("'\(point.text)': expected \(provider):FUNCTION") }
            let isReturn = ["fexit", "fr", "kretfunc"].contains(provider)
            var functions = [name]
            if ProbeCatalog.isGlob(name) {
                guard let btf = try? KernelBTF.vmlinux() else { throw fail("\(provider) wildcards need the kernel's BTF (\(KernelBTF.vmlinuxPath))") }
                functions = btf.types.filter { $0.kind == .function && ProbeCatalog.matches(name, $0.name) }.map(\.name).sorted()
                if functions.isEmpty { throw fail("no kernel function in BTF matches '\(name)'") }
            }
            return functions.map {
                ResolvedProbe(kind: isReturn ? .fexit($0) : .fentry($0), name: (isReturn ? "fexit:" : "fentry:") + $0)
            }
        case "software", "s":
            guard parts.count == 2 || parts.count == 3, let event = ProbeCatalog.softwareEvents.first(where: { $0.name == parts[1] || $0.alias == parts[1] }) else {
                let names = ProbeCatalog.softwareEvents.map(\.name).joined(separator: ", ")
                throw fail("'\(point.text)': expected software:EVENT[:COUNT] with an event of \(names)")
            }
            var period = event.period
            if parts.count == 3 {
                guard let n = UInt64(parts[2]), n > 0 else { throw fail("'\(point.text)': the count must be a positive integer") }
                period = n
            }
            return [ResolvedProbe(kind: .software(event: event.name, period: period), name: "software:\(event.name):\(period)")]
        case "app":
            guard parts.count == 2, !parts[1].isEmpty else { throw fail("'\(point.text)': expected app:NAME") }
            return [ResolvedProbe(kind: .app(parts[1]), name: "app:\(parts[1])")]
        case "uprobe", "u", "uretprobe", "ur":
            guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else { throw fail("'\(point.text)': expected \(provider):BINARY:SYMBOL") }
            let isReturn = provider.hasPrefix("ur")
            return [ResolvedProbe(kind: isReturn ? .uretprobe(binary: parts[1], symbol: parts[2]) : .uprobe(binary: parts[1], symbol: parts[2]),
                                  name: (isReturn ? "uretprobe:" : "uprobe:") + parts[1] + ":" + parts[2])]
        default:
            throw fail("unknown probe type '\(provider)' (BEGIN, END, interval, profile, software, tracepoint, rawtracepoint, kprobe, kretprobe, fentry, fexit, uprobe, uretprobe, app)")
        }
    }

    /// Every probe whose full name matches `pattern` (`swiftbpf trace -l`): tracepoints, kprobes
    /// and the fixed ones.
    public func list(matching pattern: String = "*") -> [String] {
        var pattern = pattern.isEmpty ? "*" : pattern
        if !pattern.contains(":") { pattern = "*:" + pattern }   // a bare name matches any provider
        var names: [String] = []
        for fixed in ["BEGIN", "END"] where ProbeCatalog.matches(pattern, fixed) { names.append(fixed) }
        let parts = pattern.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let provider = parts[0]
        if ProbeCatalog.matches(provider, "tracepoint") {
            let category = parts.count >= 3 ? parts[1] : "*"
            for tp in tracepoints(category: category, name: "*") {
                let full = "tracepoint:\(tp.category):\(tp.name)"
                if ProbeCatalog.matches(pattern, full) { names.append(full) }
            }
        }
        if ProbeCatalog.matches(provider, "kprobe") {
            let function = parts.count == 2 ? parts[1] : "*"
            for f in kernelFunctions(matching: function) where ProbeCatalog.matches(pattern, "kprobe:" + f) { names.append("kprobe:" + f) }
        }
        for event in ProbeCatalog.softwareEvents where ProbeCatalog.matches(pattern, "software:\(event.name):") {
            names.append("software:\(event.name):")
        }
        // The kernel's BTF functions only when fentry/fexit are asked for by name (there are tens of thousands).
        if !ProbeCatalog.isGlob(provider), ["fentry", "fexit"].contains(provider), let btf = try? KernelBTF.vmlinux() {
            for t in btf.types where t.kind == .function && ProbeCatalog.matches(pattern, provider + ":" + t.name) { names.append(provider + ":" + t.name) }
        }
        return names
    }
}
