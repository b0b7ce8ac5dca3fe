import Foundation
import Synchronization

/// What runs a compiled script: the kernel (`KernelTraceBackend`) or the Swift runtime
/// (`RuntimeTraceBackend`).
public protocol TraceBackend: AnyObject {
    /// Loads the script's maps and programs.
    func load(_ compiled: CompiledScript) throws(TraceError)
    /// Attaches a probe that fires in the kernel (not BEGIN, END or interval); returns what it attached to.
    func attach(_ probe: CompiledProbe) throws -> String
    /// Runs a BEGIN, END or interval program once.
    func run(_ probe: CompiledProbe) throws
    /// Waits up to `milliseconds` for event records.
    func waitForEvents(milliseconds: Int)
    /// The event records written since the last call, in order.
    func drainEvents() throws -> [[UInt8]]
    /// Every entry of a map: its key and one value per CPU (one for maps that are not per-CPU).
    func entries(of map: MapLayout) throws -> [(key: [UInt8], values: [[UInt8]])]
    /// Removes every entry of a map.
    func clear(_ map: MapLayout) throws
    /// Records the event buffer had no room for.
    func lostEvents() throws -> UInt64
    /// Detaches every probe.
    func detach()
    /// The addresses of stack `id` of the script's stack map (`kstack`, `ustack`), innermost first.
    func stack(_ id: UInt32) throws -> [UInt64]
}

extension TraceBackend {
    public func stack(_ id: UInt32) throws -> [UInt64] { [] }
}

/// Where output goes: whole lines to standard output (or a test's buffer), notes to standard error.
public final class TraceSink: Sendable {
    private let write: @Sendable (String) -> Void
    private let note: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void, note: @escaping @Sendable (String) -> Void) {
        self.write = write
        self.note = note
    }

    /// Standard output and standard error.
    public static let standard = TraceSink(write: { text in
        FileHandle.standardOutput.write(Data(text.utf8))
    }, note: { text in
        FileHandle.standardError.write(Data(text.utf8))
    })

    public func output(_ text: String) { write(text) }
    public func warn(_ text: String) { note(text) }
}

/// Ends a run as Ctrl-C does; set from any thread.
public final class TraceStopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func request() { flag.store(true, ordering: .relaxed) }
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
}

/// Options of a run.
public struct TraceOptions: Sendable {
    /// bpftrace's JSON lines instead of text.
    public var json = false
    /// Stop after this long (nil: at `exit()` or when `stop` is set).
    public var duration: Duration?
    public init() {}
}

/// Runs a compiled script on a backend, as bpftrace does: attach, BEGIN, events until `exit()`,
/// the duration or a stop request, then END and every map printed.
///
/// ```swift
/// let script = try TraceScript(parsing: #"BEGIN { @n = count(); printf("hi\n"); exit(); }"#)
/// let compiled = try TraceCompiler().compile(script)
/// let session = TraceSession(compiled, backend: RuntimeTraceBackend(), sink: .standard)
/// try session.run()                         // hi, then "@n: 1"
/// ```
public final class TraceSession {
    public let compiled: CompiledScript
    public let backend: TraceBackend
    public let sink: TraceSink
    public var options: TraceOptions
    /// Set (from a signal handler's queue, another thread) to end the run as Ctrl-C does.
    public let stopSignal: TraceStopSignal
    /// Names stack addresses (`kstack`, `ustack`).
    public var symbolizer = Symbolizer()
    private var exitRequested = false

    public init(_ compiled: CompiledScript, backend: TraceBackend, sink: TraceSink, options: TraceOptions = TraceOptions(),
                stopSignal: TraceStopSignal = TraceStopSignal()) {
        self.stopSignal = stopSignal
        self.compiled = compiled
        self.backend = backend
        self.sink = sink
        self.options = options
    }

    /// Loads, attaches and runs until the end; prints the maps.
    public func run() throws {
        try backend.load(compiled)
        let kernelProbes = compiled.probes.filter { !$0.probe.kind.runsFromUserSpace }
        let userSpace = compiled.probes.filter { $0.probe.kind.runsFromUserSpace }
        var attached = 0
        for probe in kernelProbes {
            do {
                _ = try backend.attach(probe)
                attached += 1
            } catch {
                sink.warn("WARNING: \(probe.probe.name): could not attach: \(error)\n")
            }
        }
        if !kernelProbes.isEmpty && attached == 0 {
            throw TraceError("no probe could be attached (see the warnings above)", sourceName: compiled.sourceName)
        }
        attached += userSpace.count
        if options.json {
            sink.output(TraceFormatter.jsonEvent("attached_probes", "{\"probes\": \(attached)}") + "\n")
        } else {
            sink.output("Attaching \(attached) probe\(attached == 1 ? "" : "s")...\n")
        }
        defer { backend.detach() }

        for probe in userSpace where probe.probe.kind == .begin { try backend.run(probe) }
        try processEvents()

        let clock = ContinuousClock()
        let start = clock.now
        var intervals: [(probe: CompiledProbe, period: Duration, next: ContinuousClock.Instant)] = userSpace.compactMap { probe in
            guard case .interval(let ns) = probe.probe.kind else { return nil }
            let period = Duration.nanoseconds(Int64(ns))
            return (probe, period, start + period)
        }
        while !exitRequested && !stopSignal.isRequested {
            let now = clock.now
            if let duration = options.duration, now - start >= duration { break }
            for i in intervals.indices where intervals[i].next <= now {
                try backend.run(intervals[i].probe)
                intervals[i].next += intervals[i].period
                if intervals[i].next <= now { intervals[i].next = now + intervals[i].period }
            }
            try processEvents()
            if exitRequested { break }
            var wait = Duration.milliseconds(100)
            if let soonest = intervals.map(\.next).min() { wait = min(wait, soonest - clock.now) }
            if let duration = options.duration { wait = min(wait, start + duration - clock.now) }
            let ms = max(0, Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000))
            backend.waitForEvents(milliseconds: max(ms, 1))
        }
        backend.detach()
        exitRequested = false
        for probe in userSpace where probe.probe.kind == .end { try backend.run(probe) }
        try processEvents()
        sink.output("\n\n")
        for map in compiled.maps {
            let printed = try read(map)
            if printed.entries.isEmpty { continue }
            sink.output(options.json ? TraceFormatter.json(printed) + "\n" : TraceFormatter.text(printed))
        }
        let lost = try backend.lostEvents()
        if lost > 0 {
            if options.json {
                sink.output(TraceFormatter.jsonEvent("lost_events", "{\"events\": \(lost)}") + "\n")
            } else {
                sink.warn("Lost \(lost) events\n")
            }
        }
    }

    /// Handles the records in the event buffer: printf output, time, print, clear, exit.
    func processEvents() throws {
        for record in try backend.drainEvents() {
            guard record.count >= 8 else { continue }
            let id = Int(TraceSession.u64(record, 0))
            guard id < compiled.events.count else { continue }
            switch compiled.events[id] {
            case .printf(let format, let arguments):
                let text = PrintfFormat.format(format, arguments.map { decode($0, record) })
                sink.output(options.json ? TraceFormatter.jsonEvent("printf", TraceFormatter.jsonString(text)) + "\n" : text)
            case .printValue(let argument):
                let value = decode(argument, record)
                let text: String
                switch value {
                case .signed(let v): text = String(v)
                case .unsigned(let v): text = String(v)
                case .string(let s): text = s
                }
                sink.output(options.json ? TraceFormatter.jsonEvent("value", argument.type.isInteger ? text : TraceFormatter.jsonString(text)) + "\n" : text + "\n")
            case .time(let format):
                let text = TraceSession.strftime(format)
                sink.output(options.json ? TraceFormatter.jsonEvent("time", TraceFormatter.jsonString(text)) + "\n" : text)
            case .exit:
                exitRequested = true
            case .printMap(let name):
                guard let map = compiled.maps.first(where: { $0.name == "@" + name }) else { continue }
                let printed = try read(map)
                sink.output(options.json ? TraceFormatter.json(printed) + "\n" : TraceFormatter.text(printed))
            case .clearMap(let name), .zeroMap(let name):
                guard let map = compiled.maps.first(where: { $0.name == "@" + name }) else { continue }
                try backend.clear(map)
            }
        }
    }

    func decode(_ argument: EventArgument, _ record: [UInt8]) -> FormatValue {
        switch argument.type {
        case .integer(let signed):
            let v = TraceSession.u64(record, argument.offset)
            return signed ? .signed(Int64(bitPattern: v)) : .unsigned(v)
        case .string(let n):
            return .string(TraceSession.cString(record, argument.offset, n))
        case .stack(let user, let limit):
            return .string(Symbolizer.render(Array(stackFrames(TraceSession.u64(record, argument.offset), user: user).prefix(limit)), indent: 8))
        case .none:
            return .signed(0)
        }
    }

    /// A map's entries, combined over CPUs, as printed.
    public func read(_ map: MapLayout) throws -> PrintedMap {
        TraceSession.combine(map, try backend.entries(of: map)) { self.stackFrames($0, user: $1) }
    }

    /// The symbolized frames of a `kstack`/`ustack` value (`ustack`: the process id in the upper 32 bits).
    func stackFrames(_ value: UInt64, user: Bool) -> [String] {
        let id = Int32(truncatingIfNeeded: value)
        guard id >= 0, let addresses = try? backend.stack(UInt32(id)) else { return [] }
        let pid = Int32(truncatingIfNeeded: value >> 32)
        return addresses.map { user ? symbolizer.user($0, pid: pid) : symbolizer.kernel($0) }
    }

    /// Decodes a map's raw entries; `frames` symbolizes stacks.
    public static func combine(_ map: MapLayout, _ raw: [(key: [UInt8], values: [[UInt8]])],
                               frames: (UInt64, Bool) -> [String] = { _, _ in [] }) -> PrintedMap {
        var entries: [(keys: [KeyValue], value: AggregateValue)] = []
        var histograms: [[KeyValue]: [Int: UInt64]] = [:]
        var histogramOrder: [[KeyValue]] = []
        for (key, values) in raw {
            var keys: [KeyValue] = []
            for (type, offset) in zip(map.keys, map.keyOffsets) {
                switch type {
                case .integer(let signed):
                    let v = u64(key, offset)
                    keys.append(signed ? .signed(Int64(bitPattern: v)) : .unsigned(v))
                case .string(let n): keys.append(.string(cString(key, offset, n)))
                case .stack(let user, let limit): keys.append(.string(Symbolizer.render(Array(frames(u64(key, offset), user).prefix(limit)), indent: 4)))
                case .none: break
                }
            }
            func sum(_ offset: Int) -> UInt64 { values.reduce(0) { $0 &+ u64($1, offset) } }
            switch map.kind {
            case .count: entries.append((keys, .unsigned(sum(0))))
            case .sum: entries.append((keys, .signed(Int64(bitPattern: sum(0)))))
            case .min, .max:
                let set = values.filter { u64($0, 8) != 0 }.map { Int64(bitPattern: u64($0, 0)) }
                guard let v = map.kind == .min ? set.min() : set.max() else { continue }
                entries.append((keys, .signed(v)))
            case .avg: entries.append((keys, .average(total: Int64(bitPattern: sum(0)), count: sum(8))))
            case .stats: entries.append((keys, .stats(total: Int64(bitPattern: sum(0)), count: sum(8))))
            case .hist, .lhist:
                let bucket = Int(u64(key, key.count - 8))
                if histograms[keys] == nil {
                    histograms[keys] = [:]
                    histogramOrder.append(keys)
                }
                histograms[keys]![bucket, default: 0] += sum(0)
            case .value(let type):
                switch type {
                case .integer(let signed):
                    let v = u64(values.first ?? [], 0)
                    entries.append((keys, signed ? .signed(Int64(bitPattern: v)) : .unsigned(v)))
                case .string(let n): entries.append((keys, .string(cString(values.first ?? [], 0, n))))
                case .stack(let user, let limit):
                    entries.append((keys, .string(Symbolizer.render(Array(frames(u64(values.first ?? [], 0), user).prefix(limit)), indent: 8))))
                case .none: break
                }
            }
        }
        for keys in histogramOrder {
            let buckets = histograms[keys]!
            if case .lhist(let low, let high, let step) = map.kind {
                entries.append((keys, .linearHistogram(buckets, min: low, max: high, step: step)))
            } else {
                entries.append((keys, .histogram(buckets)))
            }
        }
        return PrintedMap(name: map.name, entries: entries)
    }

    static func u64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 where offset + i < bytes.count { v |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return v
    }

    static func cString(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> String {
        guard offset < bytes.count else { return "" }
        let slice = bytes[offset..<min(bytes.count, offset + size)]
        let end = slice.firstIndex(of: 0) ?? slice.endIndex
        return String(decoding: slice[..<end], as: UTF8.self)
    }

    static func strftime(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 256)
        let n = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
