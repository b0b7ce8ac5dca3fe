// `swiftbpf-bench trace`: time from command to probes attached for bpftrace's tutorial one-liners
// (the ones this kernel can attach), ours beside bpftrace's when it is installed, same machine, same
// run. Both are timed to the moment a `BEGIN` probe's printf arrives: bpftrace runs BEGIN once every
// probe is attached, and so does `TraceSession`.
import BPFTrace
import Foundation
import Synchronization

let traceOneLiners: [(name: String, program: String)] = [
    ("hello world", #"BEGIN { printf("hello world\n"); }"#),
    ("opensnoop", #"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }"#),
    ("syscall count", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"),
    ("read size hist", "tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }"),
    ("sched* (wildcard)", "tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }"),
    ("block I/O hist", "tracepoint:block:block_rq_issue { @ = hist(args->bytes); }"),
    ("profile", "profile:hz:99 { @[cpu] = count(); }"),
    ("sys_enter_* (wildcard)", "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }"),
]

/// Milliseconds from start to the BEGIN probe's `ready` line, in this process.
func swiftbpfStartup(_ program: String) -> Result<Double, any Error> {
    let source = program + #" BEGIN { printf("ready\n"); }"#
    let clock = ContinuousClock()
    let start = clock.now
    let ready = Mutex<ContinuousClock.Instant?>(nil)
    do {
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
        let stop = TraceStopSignal()
        let sink = TraceSink(write: { text in
            if text.contains("ready") {
                ready.withLock { $0 = $0 ?? clock.now }
                stop.request()
            }
        }, note: { _ in })
        let session = TraceSession(compiled, backend: KernelTraceBackend(), sink: sink, stopSignal: stop)
        try session.run()
    } catch {
        return .failure(error)
    }
    guard let at = ready.withLock({ $0 }) else { return .failure(CocoaError(.featureUnsupported)) }
    return .success(Double((at - start).components.attoseconds) / 1e15 + Double((at - start).components.seconds) * 1000)
}

/// Milliseconds from spawning bpftrace to its BEGIN's `ready` line; nil when it is not installed
/// or fails.
func bpftraceStartup(_ program: String, path: String) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["-e", program + #" BEGIN { printf("ready\n"); }"#]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    let clock = ContinuousClock()
    let start = clock.now
    do { try process.run() } catch { return nil }
    var seen = ""
    var elapsed: Double?
    while true {
        let data = pipe.fileHandleForReading.availableData
        if data.isEmpty { break }
        seen += String(decoding: data, as: UTF8.self)
        if seen.contains("ready") {
            let d = clock.now - start
            elapsed = Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
            break
        }
    }
    process.interrupt()
    process.waitUntilExit()
    return elapsed
}

func runTraceBenchmark() {
    let bpftrace = ["/usr/bin/bpftrace", "/usr/local/bin/bpftrace"].first { FileManager.default.isExecutableFile(atPath: $0) }
    print("Startup: command to probes attached (ms, best of 3), bpftrace \(bpftrace == nil ? "not installed" : "from \(bpftrace!)")")
    print("one-liner".padding(toLength: 26, withPad: " ", startingAt: 0) + "swiftbpf".padding(toLength: 12, withPad: " ", startingAt: 0) + "bpftrace")
    for (name, program) in traceOneLiners {
        var ours: [Double] = []
        var failure: String?
        for _ in 0..<3 {
            switch swiftbpfStartup(program) {
            case .success(let ms): ours.append(ms)
            case .failure(let error): failure = "\(error)"
            }
        }
        var theirs: [Double] = []
        if let bpftrace { for _ in 0..<3 { if let ms = bpftraceStartup(program, path: bpftrace) { theirs.append(ms) } } }
        let oursText = ours.min().map { String(format: "%.1f", $0) } ?? "failed: \(failure ?? "")"
        let theirsText = theirs.min().map { String(format: "%.1f", $0) } ?? (bpftrace == nil ? "-" : "failed")
        print(name.padding(toLength: 26, withPad: " ", startingAt: 0) + oursText.padding(toLength: 12, withPad: " ", startingAt: 0) + theirsText)
    }
    // A 1,000-line script: parse and compile (two passes), no kernel.
    var lines: [String] = ["BEGIN {"]
    for i in 0..<998 { lines.append("  @m\(i % 50)[\(i)] = count(); $v\(i % 20) = \(i) * 3 + nsecs % 7;") }
    lines.append("}")
    let source = lines.joined(separator: "\n")
    let clock = ContinuousClock()
    let start = clock.now
    do {
        var remaining = source
        // Split into probes of 40 lines so each stays within eBPF's stack and instruction limits.
        var probes: [String] = []
        let body = lines.dropFirst().dropLast()
        for chunk in stride(from: 0, to: body.count, by: 40) {
            probes.append("BEGIN {\n" + body.dropFirst(chunk).prefix(40).joined(separator: "\n") + "\n}")
        }
        remaining = probes.joined(separator: "\n")
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: remaining), source: remaining)
        let d = clock.now - start
        print(String(format: "1,000-line script: parsed and compiled (%d programs, %d instructions) in %.1f ms", compiled.object.programs.count,
                     compiled.object.programs.reduce(0) { $0 + $1.instructions.count },
                     Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15))
    } catch {
        print("1,000-line script: \(error)")
    }
}
