// `swiftbpf-bench trace`: time from command to probes attached for bpftrace's tutorial one-liners
// (the ones this kernel can attach), ours beside bpftrace's when it is installed, same machine, same
// run. Both are timed to the moment a `BEGIN` probe's printf arrives: bpftrace runs BEGIN once every
// probe is attached, and so does `TraceSession`.
import BPFRuntime
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

/// The program with a BEGIN probe that prints `ready` (bpftrace takes one BEGIN probe only).
func withReadyProbe(_ program: String) -> String {
    program.hasPrefix("BEGIN") ? #"BEGIN { printf("ready\n"); }"# : program + #" BEGIN { printf("ready\n"); }"#
}

/// Milliseconds from start to the BEGIN probe's `ready` line, in this process.
func swiftbpfStartup(_ program: String) -> Result<Double, any Error> {
    let source = withReadyProbe(program)
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

/// The program with a BEGIN probe that exits (bpftrace takes one BEGIN probe only).
func withExitProbe(_ program: String) -> String {
    program.hasPrefix("BEGIN") ? #"BEGIN { printf("hello world\n"); exit(); }"# : program + " BEGIN { exit(); }"
}

/// Milliseconds from start to the end of a whole run that exits in BEGIN, in this process.
func swiftbpfWholeRun(_ program: String) -> Double? {
    let source = withExitProbe(program)
    let clock = ContinuousClock()
    let start = clock.now
    do {
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
        try TraceSession(compiled, backend: KernelTraceBackend(), sink: TraceSink(write: { _ in }, note: { _ in })).run()
    } catch {
        return nil
    }
    let d = clock.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// Milliseconds from spawning bpftrace to its exit, for a run that exits in BEGIN (bpftrace runs
/// BEGIN once every probe is attached; its output to a pipe is buffered, so the end is what we
/// can time); nil when it fails.
func bpftraceWholeRun(_ program: String, path: String) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["-e", withExitProbe(program)]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    let clock = ContinuousClock()
    let start = clock.now
    do { try process.run() } catch { return nil }
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    let d = clock.now - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// A line to standard output, unbuffered.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func runTraceBenchmark() {
    let bpftrace = ["/usr/bin/bpftrace", "/usr/local/bin/bpftrace"].first { FileManager.default.isExecutableFile(atPath: $0) }
    say("Startup (ms, best of 3): swiftbpf from compile to probes attached (its BEGIN printing), and whole runs that exit()")
    say("in BEGIN (compile, load, attach, BEGIN, detach, print) for swiftbpf and bpftrace (\(bpftrace ?? "not installed"))")
    say("one-liner".padding(toLength: 26, withPad: " ", startingAt: 0) + "attached    run: swiftbpf  bpftrace")
    func best(_ f: () -> Double?) -> String {
        let runs = (0..<3).compactMap { _ in f() }
        return runs.min().map { String(format: "%.1f", $0) } ?? "failed"
    }
    for (name, program) in traceOneLiners {
        let attached = best { try? swiftbpfStartup(program).get() }
        let ours = best { swiftbpfWholeRun(program) }
        let theirs = bpftrace.map { path in best { bpftraceWholeRun(program, path: path) } } ?? "-"
        say(name.padding(toLength: 26, withPad: " ", startingAt: 0) + attached.padding(toLength: 17, withPad: " ", startingAt: 0)
            + ours.padding(toLength: 10, withPad: " ", startingAt: 0) + theirs)
    }
    // An app probe: nothing attached, then a count() program attached (Swift runtime).
    let probe = AppProbe(named: "bench")
    let clock0 = ContinuousClock()
    let n = 200_000
    var t0 = clock0.now
    for i in 0..<n { probe.fire(UInt64(i)) }
    let idle = clock0.now - t0
    let appSource = "app:bench { @[arg0 & 7] = count(); }"
    if let compiled = try? TraceCompiler().compile(try TraceScript(parsing: appSource), source: appSource) {
        let backend = RuntimeTraceBackend()
        if (try? backend.load(compiled)) != nil, (try? backend.attach(compiled.probes[0])) != nil {
            let m = 20_000
            t0 = clock0.now
            for i in 0..<m { probe.fire(UInt64(i)) }
            let busy = clock0.now - t0
            backend.detach()
            func ns(_ d: Duration, _ k: Int) -> Double { (Double(d.components.seconds) * 1e18 + Double(d.components.attoseconds)) / 1e9 / Double(k) }
            say(String(format: "App probe fired: %.2f ns with nothing attached, %.0f ns with a count() program attached (bpftime's published userspace uprobe: ~190 ns)", ns(idle, n), ns(busy, m)))
        }
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
        say(String(format: "1,000-line script: parsed and compiled (%d programs, %d instructions) in %.1f ms", compiled.object.programs.count,
                     compiled.object.programs.reduce(0) { $0 + $1.instructions.count },
                     Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15))
    } catch {
        say("1,000-line script: \(error)")
    }
}
