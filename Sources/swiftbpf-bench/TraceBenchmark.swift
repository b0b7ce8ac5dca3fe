// `swiftbpf-bench trace`: time from command to probes attached for bpftrace's tutorial one-liners
// (the ones this kernel can attach), ours beside bpftrace's when it is installed, same machine, same
// run. Both are timed to the moment a `BEGIN` probe's printf arrives: bpftrace runs BEGIN once every
// probe is attached, and so does `TraceSession`.
import BPFLinux
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
    ("task member (BTF)", "tracepoint:raw_syscalls:sys_enter { @[curtask->real_parent->comm] = count(); }"),
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

/// Milliseconds from spawning `swiftbpf trace -e PROGRAM` to the `ready` line of its BEGIN probe
/// (then it is interrupted, as Ctrl-C does); nil when it fails.
func commandStartup(_ swiftbpf: String, _ program: String) -> Double? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: swiftbpf)
    process.arguments = ["trace", "-e", program]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    let clock = ContinuousClock()
    let start = clock.now
    do { try process.run() } catch { return nil }
    var seen = Data()
    var at: ContinuousClock.Instant?
    while at == nil {
        let chunk = pipe.fileHandleForReading.availableData
        if chunk.isEmpty { break }
        seen.append(chunk)
        if String(decoding: seen, as: UTF8.self).contains("ready\n") { at = clock.now }
    }
    process.interrupt()
    // A run that does not end within 5 s of the interrupt is killed (its time is already taken).
    let pid = process.processIdentifier
    let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: watchdog)
    _ = try? pipe.fileHandleForReading.readToEnd()
    process.waitUntilExit()
    watchdog.cancel()
    guard let at else { return nil }
    let d = at - start
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// A line to standard output, unbuffered.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

/// `only`: the names of the one-liners to time (all when empty).
func runTraceBenchmark(only: Set<String> = []) {
    let chosen = traceOneLiners.filter { only.isEmpty || only.contains($0.name) }
    let bpftrace = ["/usr/bin/bpftrace", "/usr/local/bin/bpftrace"].first { FileManager.default.isExecutableFile(atPath: $0) }
    say("Startup (ms, best of 3): swiftbpf from compile to probes attached (its BEGIN printing), and whole runs that exit()")
    say("in BEGIN (compile, load, attach, BEGIN, detach, print) for swiftbpf and bpftrace (\(bpftrace ?? "not installed"))")
    say("one-liner".padding(toLength: 26, withPad: " ", startingAt: 0) + "attached    run: swiftbpf  bpftrace")
    func best(_ f: () -> Double?) -> String {
        let runs = (0..<3).compactMap { _ in f() }
        return runs.min().map { String(format: "%.1f", $0) } ?? "failed"
    }
    for (name, program) in chosen {
        let attached = best { try? swiftbpfStartup(program).get() }
        let ours = best { swiftbpfWholeRun(program) }
        let theirs = bpftrace.map { path in best { bpftraceWholeRun(program, path: path) } } ?? "-"
        say(name.padding(toLength: 26, withPad: " ", startingAt: 0) + attached.padding(toLength: 17, withPad: " ", startingAt: 0)
            + ours.padding(toLength: 10, withPad: " ", startingAt: 0) + theirs)
    }
    appProbeBenchmark()
    // From the command: the release swiftbpf beside this binary, spawned, to its BEGIN's line.
    let swiftbpf = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("swiftbpf").path
    if FileManager.default.isExecutableFile(atPath: swiftbpf) {
        say("From the command (ms, best of 3): \(swiftbpf) spawned until its BEGIN probe's line arrives (every probe attached)")
        for (name, program) in chosen {
            say(name.padding(toLength: 26, withPad: " ", startingAt: 0) + best { commandStartup(swiftbpf, withReadyProbe(program)) })
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

/// The function the kernel uprobe of ``appProbeBenchmark()`` is attached to (a symbol of this executable).
@_cdecl("swiftbpf_bench_uprobe_target") @inline(never)
public func swiftbpfBenchUprobeTarget(_ x: UInt64) -> UInt64 { x &* 3 &+ 1 }

/// The uprobe target called through its C entry point (a direct Swift call would go to the Swift
/// function, not to the `@_cdecl` symbol the uprobe is on).
nonisolated(unsafe) var benchUprobeTarget: @convention(c) (UInt64) -> UInt64 = swiftbpfBenchUprobeTarget

/// Keeps a value alive so the optimizer does not remove the loop that made it.
@inline(never) func benchKeep(_ x: UInt64) { if x == 0x5eed_5eed { say("") } }

/// `swiftbpf-bench app-probe`: ns per firing of an app probe with nothing attached and with a
/// count() program attached (the JIT's direct entry, and the interpreter's), against a kernel uprobe
/// with the same program on a function of this executable, called from here, and a plain call of it.
func appProbeBenchmark() {
    let clock = ContinuousClock()
    func ns(_ n: Int, _ body: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<5 {
            let start = clock.now
            body()
            let d = clock.now - start
            best = min(best, (Double(d.components.seconds) * 1e18 + Double(d.components.attoseconds)) / 1e9 / Double(n))
        }
        return best
    }
    let probe = AppProbe(named: "bench")
    let n = 2_000_000
    let idle = ns(n) { for i in 0..<n { probe.fire(UInt64(i)) } }
    let plain = ns(n) {
        var acc: UInt64 = 0
        let target = benchUprobeTarget
        for i in 0..<n { acc &+= target(UInt64(i)) }
        benchKeep(acc)
    }
    var attached: [(String, Double)] = []
    let programs = [("count()", "app:bench { @[arg0 & 7] = count(); }"), ("empty", "app:bench { }")]
    for (what, source) in programs {
        for engine in [ExecutionEngine.jit, .interpreter] where engine != .jit || JITProgram.isSupported {
            do {
                let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
                let loaded = try LoadedObject(compiled.object, engine: engine)
                let handle = probe.attach(loaded.program(named: compiled.probes[0].programName)!)
                let m = 500_000
                attached.append(("\(what) program attached, \(engine.rawValue)", ns(m) { for i in 0..<m { probe.fire(UInt64(i)) } }))
                probe.detach(handle)
            } catch {
                say("app probe (\(engine.rawValue)): \(error)")
            }
        }
    }
    // The same program as a kernel uprobe on swiftbpf_bench_uprobe_target, this process only.
    var kernel = "not measured"
    let uprobeSource = "uprobe:/proc/self/exe:swiftbpf_bench_uprobe_target { @[arg0 & 7] = count(); }"
    do {
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: uprobeSource), source: uprobeSource)
        try TraceCompiler.verify(compiled)
        let object = try KernelObject(compiled.object)
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let link = try object.program(named: compiled.probes[0].programName)!.attachUprobe(binary: binary, symbol: "swiftbpf_bench_uprobe_target",
                                                                                        pid: getpid())
        let m = 200_000
        let fired = ns(m) {
            var acc: UInt64 = 0
            let target = benchUprobeTarget
            for i in 0..<m { acc &+= target(UInt64(i)) }
            benchKeep(acc)
        }
        link.close()
        let layout = compiled.maps[0]
        let map = object.map(named: layout.bpfName)!
        var counted: UInt64 = 0
        for key in try map.keys() {
            let value = try map.lookup(key: key) ?? []
            for slot in stride(from: 0, to: value.count, by: 8) { counted &+= value[slot..<slot + 8].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        }
        kernel = String(format: "%.0f ns per call (the program counted %llu calls of %d)", fired, counted, 5 * m)
    } catch {
        kernel = "not measured: \(error)"
    }
    say(String(format: "App probe, ns per firing (best of 5): nothing attached %.2f; a plain call of the uprobe target %.2f", idle, plain))
    for (engine, t) in attached {
        say(String(format: "  %@: %.1f ns (%.2fx bpftime's published ~190 ns userspace uprobe)", engine, t, t / 190))
    }
    say("  kernel uprobe, count() program, same run: \(kernel)")
}
